/* Sugarcast studio: the streamer's page. Opened as /studio#token=JWT with a
 * streamer token (its `stream` claim names the stream), or with the admin
 * token as /studio#token=ADMIN&stream=ID. Stream key (shown once, copy,
 * rotate), the server URL and encoder settings, ingest health and viewers
 * (GET /api/streams/{id}/stats, every 5 s, charted with uPlot), chat with
 * moderation, gifts and leaderboard, the next stream's schedule, and the
 * stream's recordings with cutting a highlight. See docs/pages.md. */
'use strict';

const $ = (id) => document.getElementById(id);
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get('stream'))
  sessionStorage.setItem('sugarcast.studio.stream', fragment.get('stream'));
let token = SC.takeToken('studio');
window.sugarcast = { ready: false, stats: null, missing: [], chat: [] };

function problem(text) {
  $('problem').textContent = text;
  $('problem').hidden = !text;
}

/* A contract route this daemon lacks answers 404 with no such route. */
function routeMissing(r) {
  return r.status === 404 && r.data && r.data.error && /No such route/.test(r.data.error.message || '');
}

const claims = SC.claims(token);
const streamId = (claims && claims.stream) || sessionStorage.getItem('sugarcast.studio.stream') || '';
const path = (p) => `/api/streams/${encodeURIComponent(streamId)}${p}`;
const call = (p, opts = {}) => SC.api(path(p), Object.assign({ token }, opts));

$('sign-in').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem('sugarcast.token.studio', $('token-input').value.trim());
  if ($('stream-input').value.trim())
    sessionStorage.setItem('sugarcast.studio.stream', $('stream-input').value.trim());
  location.reload();
});
$('sign-out').addEventListener('click', () => {
  SC.forgetToken('studio');
  sessionStorage.removeItem('sugarcast.studio.stream');
  location.replace('/studio');
});

/* ---- the stream and its key ---- */

let rtmpBase = '';
function showSettings(key) {
  const server = rtmpBase || 'rtmp://HOST:1935/live';
  $('server-url').textContent = server;
  $('ffmpeg').textContent = `ffmpeg -re -i INPUT -c:v libx264 -preset veryfast -tune zerolatency -g 30 ` +
    `-b:v 4500k -maxrate 4500k -bufsize 9000k -pix_fmt yuv420p -c:a aac -b:a 128k -ar 48000 ` +
    `-f flv ${server}/${key || 'STREAM_KEY'}`;
}

$('rotate').addEventListener('click', async () => {
  if (!confirm('Make a new stream key? The current one stops working.'))
    return;
  const r = await call('/key', { method: 'POST' });
  if (!r.ok)
    return problem(`Could not make a new key: ${SC.why(r)}`);
  $('key').value = r.data.key;
  $('key-box').hidden = false;
  showSettings(r.data.key);
  $('key').focus();
  $('key').select();
});

$('copy-key').addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText($('key').value);
    $('copied').textContent = 'Copied.';
  } catch {
    $('key').select();
    $('copied').textContent = 'Select the key and copy it (Ctrl+C).';
  }
});

/* ---- statistics ---- */

const fmt = {
  bitrate: (b) => (b ? `${(b / 1000).toFixed(0)} kb/s` : '–'),
  fps: (f) => (f ? `${Number(f).toFixed(1)} fps` : '–'),
};

async function stats() {
  const from = Date.now() - 3 * 3600 * 1000;
  const r = await call(`/stats?from=${from}&to=${Date.now()}`);
  if (!r.ok) {
    $('stats-note').textContent = routeMissing(r) ? 'This server does not keep statistics.'
                                                  : `Statistics: ${SC.why(r)}`;
    if (routeMissing(r) && !window.sugarcast.missing.includes('stats'))
      window.sugarcast.missing.push('stats');
    $('viewers-chart').hidden = $('bitrate-chart').hidden = true;
    return;
  }
  $('viewers-chart').hidden = $('bitrate-chart').hidden = false;
  const s = r.data;
  window.sugarcast.stats = s;
  const live = s.live;
  const ingest = live && live.ingest;
  $('h-viewers').textContent = live ? String(live.viewers) : 'offline';
  $('h-bitrate').textContent = ingest ? fmt.bitrate(ingest.bitrate) : '–';
  $('h-fps').textContent = ingest ? fmt.fps(ingest.fps) : '–';
  $('h-resolution').textContent = ingest && ingest.width ? `${ingest.width}×${ingest.height}` : '–';
  $('h-keyframe').textContent = ingest && ingest.keyframe_interval ? `${Number(ingest.keyframe_interval).toFixed(2)} s` : '–';
  $('h-dropped').textContent = ingest ? `${ingest.dropped_frames || 0} / ${ingest.late_frames || 0}` : '–';
  const show = (s.shows || [])[0];
  $('stats-note').textContent = show
    ? `This show: peak ${show.peak_viewers} viewers, ${show.unique_viewers} unique, ${Math.round(show.watch_minutes)} watch minutes, ${show.messages} messages, ${show.gifts} gifts.`
    : '';
  const points = s.points || [];
  chart($('viewers-chart'), 'Viewers and chat messages over time', points,
        [{ key: 'viewers', label: 'viewers', color: '#6cf' }, { key: 'chat_messages', label: 'messages', color: '#fc6' }]);
  chart($('bitrate-chart'), 'Ingest bitrate over time', points.map((p) => Object.assign({}, p, { kbps: p.ingest_bitrate / 1000 })),
        [{ key: 'kbps', label: 'ingest kb/s', color: '#8f8' }]);
}

/* ---- chat, gifts, leaderboard ---- */

const chatList = new ChatList($('messages'), null);
let chat = null;

function onChat(m) {
  switch (m.type) {
  case 'welcome':
    chatList.moderation = moderation(chat, streamId, token, (t) => { $('chat-note').textContent = t; });
    chatList.clear();
    (m.history || []).forEach((x) => chatList.chat(x));
    $('send').hidden = !(m.you && m.you.can_chat);
    $('chat-note').textContent = m.you && m.you.can_chat ? '' : 'Signed in with the admin token: you moderate but cannot chat.';
    if (m.live !== undefined)
      setLive(m.live);
    if (m.leaderboard)
      renderLeaderboard($('leaderboard'), m.leaderboard);
    break;
  case 'chat':
    chatList.chat(m);
    window.sugarcast.chat.push(m.text);
    break;
  case 'deleted':
    chatList.remove(m.id);
    break;
  case 'gift':
    chatList.gift(m);
    new ChatList($('gifts-received'), null).gift(m);
    break;
  case 'leaderboard':
    renderLeaderboard($('leaderboard'), m.entries);
    break;
  case 'stream':
    setLive(m.state === 'live');
    break;
  case 'error':
    $('chat-note').textContent = m.message || m.code;
    break;
  }
}

function setLive(live) {
  $('state').textContent = live ? 'live' : 'offline';
  $('state').className = `state${live ? ' live' : ''}`;
}

$('send').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('chat-text').value.trim();
  if (text && chat.send({ type: 'chat', text }))
    $('chat-text').value = '';
});

/* ---- schedule ---- */

async function loadSchedule() {
  const r = await SC.api('/api/channels');
  const c = r.ok && (r.data.channels || []).find((x) => x.id === streamId);
  $('schedule-now').textContent = c && c.schedule
    ? `Scheduled: ${c.schedule.title} at ${SC.when(c.schedule.starts_at)}` : 'Nothing scheduled.';
}

$('schedule').addEventListener('submit', async (e) => {
  e.preventDefault();
  const startsAt = new Date($('schedule-at').value).getTime();
  const r = await call('/schedule', { method: 'PUT', body: { title: $('schedule-title-input').value, starts_at: startsAt } });
  if (!r.ok)
    return problem(`Could not schedule: ${SC.why(r)}`);
  problem('');
  loadSchedule();
});
$('unschedule').addEventListener('click', async () => {
  const r = await call('/schedule', { method: 'DELETE' });
  if (!r.ok && r.status !== 404)
    return problem(`Could not cancel: ${SC.why(r)}`);
  loadSchedule();
});

/* ---- recordings ---- */

async function setRecording(on) {
  const r = await call('/recording', { method: 'POST', body: { recording: on } });
  problem(r.ok ? '' : `Recording: ${SC.why(r)}`);
  loadRecordings();
}
$('record-on').addEventListener('click', () => setRecording(true));
$('record-off').addEventListener('click', () => setRecording(false));

async function cut(rec, row) {
  const from = Number(row.querySelector('.in').value);
  const to = Number(row.querySelector('.out').value);
  const out = row.querySelector('.cut-state');
  if (!(to > from)) {
    out.textContent = 'The end must come after the start.';
    return;
  }
  const r = await SC.api(`/api/recordings/${encodeURIComponent(rec.id)}/clips`, { method: 'POST', token, body: { in: from, out: to } });
  out.textContent = r.ok ? `Highlight ${r.data.id}: ${r.data.state}` : `Refused: ${SC.why(r)}`;
}

async function loadRecordings() {
  const body = $('recordings');
  const r = await SC.api(path('/recordings'), { token });
  body.textContent = '';
  if (!r.ok) {
    body.append(SC.el('tr', {}, SC.el('td', { colspan: 3, class: 'empty',
      text: routeMissing(r) ? 'This server does not record streams.' : `Recordings: ${SC.why(r)}` })));
    return;
  }
  const list = r.data.recordings || [];
  if (!list.length)
    body.append(SC.el('tr', {}, SC.el('td', { colspan: 3, class: 'empty', text: 'No recordings yet.' })));
  for (const rec of list) {
    const label = `${rec.title || 'Recording'}, ${SC.when(rec.started_at)}`;
    const row = SC.el('tr', {},
      SC.el('td', {}, SC.el('a', { href: rec.watch_url, text: label }), SC.el('div', { class: 'meta', text: rec.state })),
      SC.el('td', { text: SC.duration(rec.duration) }),
      SC.el('td', {},
        SC.el('div', { class: 'row' },
          SC.el('label', {}, 'From (s)', SC.el('input', { class: 'in', type: 'number', min: 0, step: 1, value: 0, size: 5 })),
          SC.el('label', {}, 'To (s)', SC.el('input', { class: 'out', type: 'number', min: 1, step: 1, value: Math.min(30, Math.floor(rec.duration || 30)), size: 5 })),
          SC.el('button', { type: 'button', class: 'secondary', 'aria-label': `Cut highlight: ${label}`, text: 'Cut highlight',
                            onclick: () => cut(rec, row) })),
        SC.el('div', { class: 'cut-state meta', role: 'status' })));
    body.append(row);
  }
}

/* ---- start ---- */

async function start() {
  if (!token || !streamId) {
    $('sign-in').hidden = false;
    window.sugarcast.ready = true;
    return;
  }
  $('studio').hidden = false;
  $('sign-out').hidden = false;
  $('watch-link').href = `/watch/${encodeURIComponent(streamId)}`;
  const r = await call('');
  if (r.ok) {
    $('title').textContent = r.data.title;
    rtmpBase = r.data.rtmp_url;
    setLive(r.data.state !== 'idle');
  } else {
    /* A streamer token may not read the stream on a daemon that lets only
     * the admin do that; the public watch info still names it. */
    const w = await SC.api(`/api/watch/${encodeURIComponent(streamId)}`);
    $('title').textContent = w.ok ? w.data.title : streamId;
    problem(`This token cannot manage stream ${streamId}: ${SC.why(r)}`);
  }
  showSettings('');
  chat = new ChatClient(streamId, token, { onMessage: onChat });
  const board = await SC.api(path('/leaderboard'));
  if (board.ok)
    renderLeaderboard($('leaderboard'), board.data.entries);
  await Promise.all([stats(), loadSchedule(), loadRecordings()]);
  setInterval(stats, 5000);
  window.sugarcast.ready = true;
}

start().catch((e) => problem(`The server cannot be reached (${e.message}).`));
