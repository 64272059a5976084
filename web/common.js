/* Sugarcast pages: what every page shares — the signed-in token, API calls,
 * building DOM from user text (always as text, never as markup) and
 * formatting times. Loaded before each page's own script. */
'use strict';

const SC = (() => {
  /* A token arrives in the URL fragment (#token=…), which browsers never
   * send to servers or put in Referer headers, and is kept in this tab's
   * sessionStorage (per page: a streamer and an admin can use two tabs).
   * The fragment is then cleared so it does not linger in the address bar
   * or get copied along with a link. */
  function takeToken(page) {
    const key = `sugarcast.token.${page}`;
    const params = new URLSearchParams(location.hash.slice(1));
    const fromUrl = params.get('token');
    if (fromUrl) {
      sessionStorage.setItem(key, fromUrl);
      params.delete('token');
      const rest = params.toString();
      history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
    }
    return sessionStorage.getItem(key) || '';
  }

  function forgetToken(page) {
    sessionStorage.removeItem(`sugarcast.token.${page}`);
  }

  /* A signed token's claims, for showing who you are; the server checks the
   * signature. The admin token (no dots) has none. */
  function claims(token) {
    const parts = (token || '').split('.');
    if (parts.length !== 3)
      return null;
    try {
      const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
      return JSON.parse(decodeURIComponent(escape(atob(b64))));
    } catch {
      return null;
    }
  }

  /* fetch() of an API route: resolves {status, ok, data} (data: the parsed
   * JSON or null), never rejects on HTTP errors; rejects when the server
   * cannot be reached. */
  async function api(path, { method = 'GET', body, token } = {}) {
    const headers = {};
    if (token)
      headers.Authorization = `Bearer ${token}`;
    if (body !== undefined)
      headers['Content-Type'] = 'application/json';
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let data = null;
    if (r.status !== 204) {
      try {
        data = await r.json();
      } catch {
        data = null;
      }
    }
    return { status: r.status, ok: r.ok, data };
  }

  /* Why a call failed, for a person. */
  function why(reply) {
    if (reply.data && reply.data.error)
      return reply.data.error.message || reply.data.error.code || `HTTP ${reply.status}`;
    if (reply.data && reply.data.message)
      return reply.data.message;
    return `HTTP ${reply.status}`;
  }

  /* el('li', {class: 'x', title: t}, 'text', child, …): strings become text
   * nodes, so user text can never become markup. */
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false)
        continue;
      if (k === 'class')
        e.className = v;
      else if (k === 'text')
        e.textContent = v;
      else if (k.startsWith('on'))
        e.addEventListener(k.slice(2), v);
      else if (k === 'hidden' || k === 'disabled')
        e[k] = Boolean(v);
      else
        e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false)
        continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  /* 3725 → "1:02:05", 65 → "1:05" */
  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds || 0));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, '0');
    return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
  }

  function when(ms) {
    if (!ms)
      return '';
    const d = new Date(ms);
    const sameDay = d.toDateString() === new Date().toDateString();
    return sameDay ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
                   : d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
  }

  /* A random id per page load, for the daemon to count HLS viewers without
   * cookies (docs/api.md, "viewer sessions"). */
  const sessionId = (() => {
    const a = new Uint8Array(12);
    crypto.getRandomValues(a);
    return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
  })();

  function randomKey(prefix) {
    return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  }

  return { takeToken, forgetToken, claims, api, why, el, duration, when, sessionId, randomKey };
})();
