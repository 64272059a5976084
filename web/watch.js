/* Sugarcast watch page: plays a stream's HLS (hls.js where the browser has no
 * native HLS) with a manual quality choice beside automatic, shows its live
 * state (live, offline, starting soon, reconnecting — changing as the chat
 * socket and the player report it), and runs the room's chat, gifts and
 * leaderboard over the chat WebSocket (docs/protocol.md). A signed-in
 * viewer opens /watch/STREAM_ID#token=JWT; without a token the chat is
 * read-only. /watch/STREAM_ID?recording=ID replays a recording with its
 * chat, drawing each gift as the replay reaches it. See docs/pages.md. */
'use strict';

const streamId = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop());
const recordingId = new URLSearchParams(location.search).get('recording');
const token = SC.takeToken('watch');
const $ = (id) => document.getElementById(id);
const video = $('video');

/* What the page exposes for tests and curious people. */
window.sugarcast = { streamId, playing: false, firstFrameMs: null, chat: [], errors: [], gifts: 0, giftsReceived: 0, state: '' };
const startedAt = performance.now();

function notice(text) {
  $('notice').textContent = text;
  $('notice').hidden = !text;
}

/* ---- state: what the viewer is told ---- */

let live = false;
let schedule = null; /* {title, starts_at} of the next show, from /api/channels */
let liveSince = null;
/* The chat says the encoder is gone for now (the daemon's grace period). */
let encoderGone = false;

function showState() {
  let state = live ? 'live' : 'offline';
  if (live && (reconnecting || encoderGone))
    state = 'reconnecting';
  else if (!live && schedule && schedule.starts_at > Date.now() - 15 * 60 * 1000)
    state = 'starting soon';
  if (recordingId)
    state = 'recording';
  const el = $('state');
  el.textContent = state;
  el.className = `state ${state.replace(' ', '-')}`;
  window.sugarcast.state = state;
  if (state === 'starting soon')
    notice(`${schedule.title ? `${schedule.title}: ` : ''}starts at ${SC.when(schedule.starts_at)}`);
  else if (state === 'offline')
    notice('The stream is offline. This page plays it as soon as it goes live.');
  else if (state === 'reconnecting' && encoderGone)
    notice('The streamer’s connection dropped; waiting for them to reconnect…');
  else if (state === 'reconnecting')
    notice('Lost the stream; reconnecting…');
  else
    notice('');
}

setInterval(() => {
  $('uptime').hidden = !(live && liveSince);
  if (live && liveSince)
    $('uptime').textContent = `live for ${SC.duration((Date.now() - liveSince) / 1000)}`;
}, 1000);

/* ---- video ---- */

let hls = null;
/* The rendition chosen by hand, -1 for automatic (for tests). */
window.sugarcast.manualLevel = () => (hls ? hls.manualLevel : null);
let reconnecting = false;
let playUrl = '';
let retry = null;

/* Every playlist and segment request names this page's viewer session, so
 * the daemon counts HLS viewers who never open the chat. */
function withSession(url) {
  if (!/\.m3u8(\?|$)/.test(url))
    return url;
  return url + (url.includes('?') ? '&' : '?') + `session=${SC.sessionId}`;
}

function play(url) {
  playUrl = url;
  clearTimeout(retry);
  if (hls) {
    hls.destroy();
    hls = null;
  }
  if (window.Hls && Hls.isSupported()) {
    /* Low latency with plain HLS and the shipped 1 s segments: ask for the
     * next segment's playlist at once and let the server hold the request
     * until it is listed (lowLatencyMode with CAN-BLOCK-RELOAD: no polling
     * delay), aim 1.75 s behind the live edge (one segment exactly stalled 5
     * times in 10 minutes on this machine, 1.25 s twice; the explicit value
     * overrides the playlist's hold-back of three segments), 0.25 s further
     * after each stall hls.js detects, catch up
     * by playing 10% faster when behind, jump when more than 3 s
     * behind (docs/benchmarks.md, latency). */
    hls = new Hls({ lowLatencyMode: true, liveSyncDuration: 1.75, liveSyncOnStallIncrease: 0.25,
                    liveMaxLatencyDuration: 3,
                    maxLiveSyncPlaybackRate: 1.1, backBufferLength: 10 });
    /* Set apart from the tuning above: hls.js reads it per request. */
    hls.config.xhrSetup = (xhr, u) => xhr.open('GET', withSession(u), true);
    hls.on(Hls.Events.MANIFEST_PARSED, () => listLevels());
    hls.on(Hls.Events.LEVEL_SWITCHED, () => giftsInVideo());
    hls.on(Hls.Events.FRAG_LOADED, () => {
      if (reconnecting) {
        reconnecting = false;
        showState();
      }
    });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (!data.fatal)
        return;
      window.sugarcast.errors.push(data.details);
      /* A stream that is not live yet, or has just ended: try again. */
      hls.destroy();
      hls = null;
      if (live && !reconnecting) {
        reconnecting = true;
        showState();
      }
      retry = setTimeout(() => play(url), 2000);
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = withSession(url);
  } else {
    notice('This browser cannot play HLS.');
  }
}

video.addEventListener('timeupdate', () => {
  if (!window.sugarcast.playing && video.currentTime > 0) {
    window.sugarcast.playing = true;
    window.sugarcast.firstFrameMs = Math.round(performance.now() - startedAt);
  }
  if (recordingId)
    replayChat(video.currentTime);
});

/* Manual quality beside automatic: the master playlist's renditions. */
function listLevels() {
  const select = $('quality');
  select.textContent = '';
  select.append(SC.el('option', { value: '-1', text: 'Auto' }));
  hls.levels.forEach((l, i) => {
    const label = (l.height ? `${l.height}p` : `${Math.round((l.bitrate || 0) / 1000)} kb/s`) +
                  (isSourceRung(l) ? ' (Source)' : '');
    select.append(SC.el('option', { value: String(i), text: l.name && l.name !== label ? `${label} (${l.name})` : label }));
  });
  select.disabled = hls.levels.length < 2;
  select.value = String(hls.manualLevel === undefined ? -1 : hls.manualLevel);
  giftsInVideo();
}

$('quality').addEventListener('change', (event) => {
  if (hls)
    hls.currentLevel = Number(event.target.value); /* -1: automatic */
});

/* ---- gifts drawn by the page ---- */

const giftLayer = new GiftLayer($('gift-layer'));
let overlayInVideo = false; /* the stream's renditions draw gifts (all but the source rung) */
let sourceRung = false; /* video_0 is the publisher's own stream (/api/watch "source_rung") */
$('show-gifts').checked = giftLayer.enabled;
$('show-gifts').addEventListener('change', (e) => giftLayer.setEnabled(e.target.checked));

/* The page animates gifts unless the rendition playing carries them
 * burned in: renditions made by the ladder do when the daemon says so
 * (/api/watch "gift_overlay": true); the passthrough source rung
 * (video_0 when /api/watch says "source_rung": true) never does. */
function isSourceRung(level) {
  return sourceRung && /(^|\/)video_0\.m3u8(\?|$)/.test(String(level.url || level.uri || ''));
}

function giftsInVideo() {
  const level = hls && hls.levels && hls.levels[hls.currentLevel >= 0 ? hls.currentLevel : hls.loadLevel];
  const source = level ? isSourceRung(level) : sourceRung;
  /* A recording is the publisher's own stream (docs/recordings.md): the
   * page draws its gifts whatever the live renditions did. */
  giftLayer.active = Boolean(recordingId) || !overlayInVideo || source;
}
window.sugarcast.giftsDrawnByPage = () => giftLayer.active;

/* ---- chat ---- */

const chatList = new ChatList($('messages'), null);
let chat = null;
let catalogue = [];


function showChat(m) {
  chatList.chat(m);
  window.sugarcast.chat.push(m.text);
}

function onChat(m) {
  switch (m.type) {
  case 'welcome':
    chatList.moderation = m.you && m.you.moderator ? moderation(chat, streamId, token, (t) => t && chatList.system(t)) : null;
    chatList.clear();
    if (!recordingId)
      (m.history || []).forEach(showChat);
    if (m.viewers !== undefined && !recordingId) {
      $('viewers').textContent = `${m.viewers} watching`;
      $('viewers').hidden = false;
    }
    if (m.live !== undefined && !recordingId) {
      const was = live;
      live = m.live;
      encoderGone = live && m.reconnecting === true;
      showState();
      if (live && !was && playUrl)
        play(playUrl);
    }
    if (m.leaderboard)
      renderLeaderboard($('leaderboard'), m.leaderboard);
    if (m.you && m.you.can_chat && !recordingId) {
      $('send').hidden = false;
      $('anonymous').hidden = true;
      $('gifts').hidden = catalogue.length === 0;
    }
    break;
  case 'chat':
    if (!recordingId)
      showChat(m);
    break;
  case 'deleted':
    chatList.remove(m.id);
    break;
  case 'gift':
    if (recordingId)
      break;
    chatList.gift(m);
    window.sugarcast.giftsReceived++;
    if (giftLayer.show(m))
      window.sugarcast.gifts++;
    break;
  case 'leaderboard':
    renderLeaderboard($('leaderboard'), m.entries);
    break;
  case 'viewers':
    if (!recordingId) {
      $('viewers').textContent = `${m.count} watching`;
      $('viewers').hidden = false;
    }
    break;
  case 'stream': {
    if (recordingId)
      break;
    const was = live;
    live = m.state === 'live' || m.state === 'reconnecting';
    /* The encoder dropped: the daemon waits for it to come back, and the
     * player waits on the same playlists. */
    encoderGone = m.state === 'reconnecting';
    if (live && !encoderGone) {
      if (!was) {
        liveSince = Date.now();
        play(playUrl); /* a new show: start at its live edge */
      }
    } else if (!live) {
      reconnecting = false;
      liveSince = null;
      refreshSchedule();
    }
    showState();
    break;
  }
  case 'moderation':
    if (m.action === 'ban' || m.action === 'mute')
      chatList.system(`${m.user} was ${m.action === 'ban' ? 'banned' : 'muted'}`);
    break;
  case 'error':
    chatList.system(m.message || m.code);
    window.sugarcast.errors.push(m.code);
    break;
  }
}

$('send').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('chat-text').value.trim();
  if (!text || !chat || !chat.send({ type: 'chat', text }))
    return;
  $('chat-text').value = '';
});

function sendGift(gift) {
  chat.send({ type: 'gift', gift: gift.id, count: 1, idempotency_key: SC.randomKey('web') });
}

/* ---- the stream ---- */

/* The channel's live time and next scheduled show (GET /api/channels). */
async function refreshSchedule() {
  try {
    const r = await SC.api('/api/channels');
    const c = r.ok && r.data && (r.data.channels || []).find((x) => x.id === streamId);
    if (c) {
      schedule = c.schedule || null;
      if (c.started_at && c.state === 'live')
        liveSince = c.started_at;
    }
  } catch {
    /* keep what we know */
  }
  showState();
}

/* A recording's chat, shown as the replay reaches each message's offset. */
let replayMessages = [];
let replayShown = 0;
function replayChat(t) {
  if (t + 1 < (replayMessages[replayShown - 1] || {}).offset) {
    chatList.clear(); /* seeked back */
    replayShown = 0;
  }
  while (replayShown < replayMessages.length && replayMessages[replayShown].offset <= t) {
    const m = replayMessages[replayShown++];
    if (m.kind === 'gift') {
      /* The list's `name` is the sender's; the gift's own comes from the catalogue. */
      const item = catalogue.find((c) => c.id === m.gift) || {};
      const g = { user: { id: m.user, name: m.name || m.user }, gift: m.gift, count: m.count,
                  coins: m.coins, name: item.name || m.gift, animation: item.animation };
      chatList.gift(g);
      window.sugarcast.giftsReceived++;
      /* Drawn as the replay reaches it, not when a seek jumps past it. */
      if (t - m.offset < 2 && giftLayer.show(g))
        window.sugarcast.gifts++;
    } else
      showChat({ id: m.id, user: { id: m.user, name: m.name || m.user }, text: m.text });
  }
}

async function start() {
  try {
    const r = await SC.api(`/api/watch/${encodeURIComponent(streamId)}`);
    if (!r.ok) {
      notice(r.status === 404 ? 'There is no such stream.' : SC.why(r));
      $('state').textContent = 'offline';
      return;
    }
    const s = r.data;
    document.title = `${s.title} — Sugarcast`;
    $('title').textContent = s.title;
    overlayInVideo = s.gift_overlay === true;
    sourceRung = s.source_rung === true;
    catalogue = s.gifts || [];
    for (const g of catalogue)
      $('gifts').append(SC.el('button', { type: 'button', text: `${g.name} (${g.coins})`,
                                          'aria-label': `Send ${g.name} (${g.coins})`,
                                          onclick: () => sendGift(g) }));
    if (recordingId) {
      const rec = await SC.api(`/api/recordings/${encodeURIComponent(recordingId)}`);
      if (!rec.ok) {
        notice(rec.status === 404 ? 'There is no such recording.' : SC.why(rec));
        return;
      }
      $('title').textContent = `${rec.data.title || s.title} (recording)`;
      const c = await SC.api(`/api/recordings/${encodeURIComponent(recordingId)}/chat`);
      replayMessages = c.ok && c.data ? (c.data.messages || []).sort((a, b) => a.offset - b.offset) : [];
      showState();
      play(rec.data.hls_url);
    } else {
      live = s.state !== 'idle';
      showState();
      refreshSchedule();
      play(s.hls_url);
    }
    chat = new ChatClient(streamId, token, { onMessage: onChat });
    const board = await SC.api(`/api/streams/${encodeURIComponent(streamId)}/leaderboard`);
    if (board.ok)
      renderLeaderboard($('leaderboard'), board.data.entries);
  } catch (e) {
    notice('The server cannot be reached.');
    window.sugarcast.errors.push(String(e));
  }
}

start();
