/* Sugarcast watch page: plays a stream's HLS (hls.js where the browser has no
 * native HLS), shows its live state, and runs the room's chat and gifts over
 * the chat WebSocket (docs/protocol.md). A signed-in viewer opens the page as
 * /watch/STREAM_ID#token=JWT; without a token the chat is read-only. */
'use strict';

const streamId = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop());
const token = new URLSearchParams(location.hash.slice(1)).get('token') || '';
const $ = (id) => document.getElementById(id);
const video = $('video');

/* What the page exposes for tests and curious people. */
window.sugarcast = { streamId, playing: false, firstFrameMs: null, chat: [], errors: [] };
const startedAt = performance.now();

function notice(text) {
  $('notice').textContent = text;
  $('notice').hidden = !text;
}

function setState(state) {
  const el = $('state');
  el.textContent = state;
  el.className = 'state' + (state === 'live' ? ' live' : '');
}

/* ---- video ---- */

let hls = null;
function play(url) {
  if (window.Hls && Hls.isSupported()) {
    /* Low latency with plain HLS and the shipped 1 s segments: start one
     * segment from the live edge, catch up by playing 10% faster when behind,
     * jump when more than 3 segments behind (docs/benchmarks.md, latency). */
    hls = new Hls({ lowLatencyMode: false, liveSyncDurationCount: 1, liveMaxLatencyDurationCount: 3,
                    maxLiveSyncPlaybackRate: 1.1, backBufferLength: 10 });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (!data.fatal)
        return;
      window.sugarcast.errors.push(data.details);
      /* A stream that is not live yet, or has just ended: try again. */
      hls.destroy();
      hls = null;
      setTimeout(() => play(url), 2000);
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = url;
  } else {
    notice('This browser cannot play HLS.');
  }
}

video.addEventListener('timeupdate', () => {
  if (!window.sugarcast.playing && video.currentTime > 0) {
    window.sugarcast.playing = true;
    window.sugarcast.firstFrameMs = Math.round(performance.now() - startedAt);
  }
});

/* ---- chat ---- */

function line(html, cls) {
  const li = document.createElement('li');
  if (cls)
    li.className = cls;
  li.append(...html);
  const list = $('messages');
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.append(li);
  while (list.children.length > 300)
    list.firstChild.remove();
  if (atBottom)
    list.scrollTop = list.scrollHeight;
  return li;
}

function name(text) {
  const span = document.createElement('span');
  span.className = 'name';
  span.textContent = text;
  return span;
}

const shown = new Map(); /* message id -> li */
function showChat(m) {
  shown.set(m.id, line([name(m.user ? m.user.name : '?'), document.createTextNode(m.text)]));
  window.sugarcast.chat.push(m.text);
}

function showGift(g) {
  line([name(g.user ? g.user.name : '?'),
        document.createTextNode(`sent ${g.count} × ${g.name || g.gift}`)], 'gift');
}

let socket = null;
let catalogue = [];
function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const url = `${scheme}://${location.host}/ws/chat/${encodeURIComponent(streamId)}`;
  /* The token goes as a subprotocol, not in the URL that proxies log. */
  socket = token ? new WebSocket(url, ['sugarcast.v1', `sugarcast.token.${token}`])
                 : new WebSocket(url);
  socket.onmessage = (event) => {
    let m;
    try {
      m = JSON.parse(event.data);
    } catch {
      return;
    }
    switch (m.type) {
    case 'welcome':
      $('messages').textContent = '';
      (m.history || []).forEach(showChat);
      if (m.viewers !== undefined) {
        $('viewers').textContent = `${m.viewers} watching`;
        $('viewers').hidden = false;
      }
      if (m.live !== undefined)
        setState(m.live ? 'live' : 'offline');
      if (m.you && m.you.can_chat) {
        $('send').hidden = false;
        $('anonymous').hidden = true;
        $('gifts').hidden = catalogue.length === 0;
      }
      break;
    case 'chat':
      showChat(m);
      break;
    case 'deleted': {
      const li = shown.get(m.id);
      if (li)
        li.remove();
      break;
    }
    case 'gift':
      showGift(m);
      break;
    case 'viewers':
      $('viewers').textContent = `${m.count} watching`;
      $('viewers').hidden = false;
      break;
    case 'stream':
      setState(m.state === 'live' ? 'live' : 'offline');
      break;
    case 'error':
      line([document.createTextNode(m.message || m.code)], 'system');
      window.sugarcast.errors.push(m.code);
      break;
    }
  };
  socket.onclose = (event) => {
    if (event.code === 4001 || event.code === 4003)
      return; /* refused: the error said why */
    setTimeout(connect, 3000);
  };
}

$('send').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (!text || !socket || socket.readyState !== WebSocket.OPEN)
    return;
  socket.send(JSON.stringify({ v: 1, type: 'chat', text }));
  $('text').value = '';
});

function sendGift(gift) {
  if (!socket || socket.readyState !== WebSocket.OPEN)
    return;
  const key = `web-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  socket.send(JSON.stringify({ v: 1, type: 'gift', gift: gift.id, count: 1, idempotency_key: key }));
}

/* ---- the stream ---- */

fetch(`/api/watch/${encodeURIComponent(streamId)}`)
  .then((r) => r.ok ? r.json() : Promise.reject(new Error(`${r.status}`)))
  .then((s) => {
    document.title = `${s.title} — Sugarcast`;
    $('title').textContent = s.title;
    setState(s.state === 'idle' ? 'offline' : 'live');
    catalogue = s.gifts || [];
    for (const g of catalogue) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = `${g.name} (${g.coins})`;
      b.onclick = () => sendGift(g);
      $('gifts').append(b);
    }
    play(s.hls_url);
    connect();
  })
  .catch((e) => {
    notice(e.message === '404' ? 'There is no such stream.' : 'The server cannot be reached.');
    setState('offline');
  });
