/* Sugarcast pages: a room's chat (docs/protocol.md) — the socket, the
 * message list with moderation buttons, the leaderboard and the gift
 * animations. The watch page, the studio and the admin page use it. */
'use strict';

/* One chat socket that reconnects. handlers: {onMessage(m), onState(s)}
 * where s is 'connecting' | 'open' | 'closed' | 'refused'. */
class ChatClient {
  constructor(streamId, token, handlers) {
    this.streamId = streamId;
    this.token = token && token.includes('.') ? token : ''; /* only signed tokens sign in */
    this.handlers = handlers;
    this.socket = null;
    this.you = null;
    this.stopped = false;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const url = `${scheme}://${location.host}/ws/chat/${encodeURIComponent(this.streamId)}`;
    this.handlers.onState && this.handlers.onState('connecting');
    /* The token goes as a subprotocol, not in the URL that proxies log. */
    const s = this.token ? new WebSocket(url, ['sugarcast.v1', `sugarcast.token.${this.token}`])
                         : new WebSocket(url);
    this.socket = s;
    s.onopen = () => this.handlers.onState && this.handlers.onState('open');
    s.onmessage = (event) => {
      let m;
      try {
        m = JSON.parse(event.data);
      } catch {
        return;
      }
      if (m.type === 'welcome')
        this.you = m.you || null;
      this.handlers.onMessage(m);
    };
    s.onclose = (event) => {
      if (this.stopped)
        return;
      if (event.code === 4001 || event.code === 4003) {
        this.handlers.onState && this.handlers.onState('refused');
        return; /* refused: the error said why */
      }
      this.handlers.onState && this.handlers.onState('closed');
      setTimeout(() => this.connect(), 3000);
    };
  }

  get open() {
    return this.socket && this.socket.readyState === WebSocket.OPEN;
  }

  send(message) {
    if (!this.open)
      return false;
    this.socket.send(JSON.stringify(Object.assign({ v: 1 }, message)));
    return true;
  }

  stop() {
    this.stopped = true;
    if (this.socket)
      this.socket.close();
  }
}

/* The message list of one room: shows chat, gifts and system lines, drops
 * deleted messages, and offers moderators delete/mute/ban on each line.
 * moderation: null, or {remove(m), mute(m), ban(m)} called with the message. */
class ChatList {
  constructor(list, moderation) {
    this.list = list;
    this.moderation = moderation;
    this.shown = new Map(); /* message id -> li */
  }

  clear() {
    this.list.textContent = '';
    this.shown.clear();
  }

  add(li) {
    const list = this.list;
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
    list.append(li);
    while (list.children.length > 300)
      list.firstChild.remove();
    if (atBottom)
      list.scrollTop = list.scrollHeight;
    return li;
  }

  chat(m) {
    const who = m.user ? m.user.name || m.user.id : '?';
    const li = SC.el('li', { 'data-id': m.id }, SC.el('span', { class: 'name', text: who }),
                     SC.el('span', { class: 'text', text: m.text }));
    if (this.moderation && m.user) {
      const tools = SC.el('span', { class: 'mod' });
      const button = (label, what, action) =>
        SC.el('button', { type: 'button', class: 'small', 'aria-label': `${label} ${what}`, text: label,
                          onclick: () => action(m) });
      tools.append(button('Delete', `the message from ${who}`, this.moderation.remove),
                   button('Mute', who, this.moderation.mute),
                   button('Ban', who, this.moderation.ban));
      li.append(tools);
    }
    if (m.id)
      this.shown.set(m.id, li);
    return this.add(li);
  }

  gift(g) {
    return this.add(SC.el('li', { class: 'gift' }, SC.el('span', { class: 'name', text: g.user ? g.user.name || g.user.id : '?' }),
                          `sent ${g.count} × ${g.name || g.gift}`));
  }

  system(text) {
    return this.add(SC.el('li', { class: 'system', text }));
  }

  remove(id) {
    const li = this.shown.get(id);
    if (li) {
      li.remove();
      this.shown.delete(id);
    }
  }
}

/* The gift leaderboard: entries [{user:{id,name}, coins, gifts}]. */
function renderLeaderboard(ol, entries) {
  ol.textContent = '';
  if (!entries || !entries.length) {
    ol.append(SC.el('li', { class: 'empty', text: 'No gifts yet.' }));
    return;
  }
  for (const e of entries)
    ol.append(SC.el('li', {}, SC.el('span', { class: 'name', text: e.user ? e.user.name || e.user.id : '?' }),
                    SC.el('span', { class: 'coins', text: `${e.coins} coin${e.coins === 1 ? '' : 's'}` })));
}

/* Gifts drawn by the page over the video, for renditions that do not carry
 * them burned in. layer: an element over the video. */
/* Drawn as SVG, not emoji: the page must not depend on the viewer having
 * an emoji font (headless and minimal systems have none). */
const GIFT_COLOURS = { rose: '#e8336a', heart: '#ff4d6d', rocket: '#6cf', castle: '#c9a0ff', star: '#ffd43b' };
function giftIcon(kind) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 48 48');
  svg.setAttribute('class', 'icon');
  svg.setAttribute('aria-hidden', 'true');
  const colour = GIFT_COLOURS[kind] || '#fc6';
  const shape = (d, fill) => {
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', d);
    p.setAttribute('fill', fill);
    svg.append(p);
  };
  if (kind === 'heart' || kind === 'rose')
    shape('M24 42 L7 25 A9.5 9.5 0 0 1 24 12 A9.5 9.5 0 0 1 41 25 Z', colour);
  else {
    shape('M8 20 H40 V42 H8 Z', colour);            /* a present */
    shape('M5 13 H43 V21 H5 Z', colour);
    shape('M21 13 H27 V42 H21 Z', '#fff');
    shape('M24 13 C18 3 10 8 16 13 Z M24 13 C30 3 38 8 32 13 Z', '#fff');
  }
  return svg;
}

class GiftLayer {
  constructor(layer) {
    this.layer = layer;
    this.enabled = localStorage.getItem('sugarcast.gifts.hidden') !== '1';
    this.active = true; /* false while the rendition shows gifts itself */
    this.shown = 0;
  }

  setEnabled(on) {
    this.enabled = on;
    localStorage.setItem('sugarcast.gifts.hidden', on ? '0' : '1');
    if (!on)
      this.layer.textContent = '';
  }

  show(g) {
    if (!this.enabled || !this.active)
      return null;
    const who = g.user ? g.user.name || g.user.id : '?';
    const item = SC.el('div', { class: 'gift-anim', role: 'status' }, giftIcon(g.animation || g.gift),
                       SC.el('span', { class: 'who', text: `${who} sent ${g.count} × ${g.name || g.gift}` }));
    item.style.left = `${10 + (this.shown++ * 23) % 60}%`;
    item.addEventListener('animationend', () => item.remove());
    this.layer.append(item);
    return item;
  }
}

/* Moderation tools for ChatList: over the chat socket when the signed-in
 * user moderates the room (their token's role), else through the admin
 * REST routes with TOKEN (the admin token). report(text) shows the outcome. */
function moderation(chat, streamId, token, report) {
  const rest = async (method, path, body) => {
    const r = await SC.api(`/api/streams/${encodeURIComponent(streamId)}${path}`, { method, body, token });
    report(r.ok ? '' : `Refused: ${SC.why(r)}`);
    return r.ok;
  };
  const viaSocket = () => chat && chat.you && chat.you.moderator && chat.open;
  return {
    remove: (m) => viaSocket() ? chat.send({ type: 'delete', id: m.id })
                               : rest('DELETE', `/chat/${encodeURIComponent(m.id)}`),
    mute: (m) => viaSocket() ? chat.send({ type: 'mute', user: m.user.id, seconds: 600 })
                             : rest('POST', `/mutes/${encodeURIComponent(m.user.id)}`, { seconds: 600 }),
    ban: (m) => viaSocket() ? chat.send({ type: 'ban', user: m.user.id })
                            : rest('POST', `/bans/${encodeURIComponent(m.user.id)}`, { scope: 'stream' }),
  };
}
