/* Sugarcast admin page: opened as /admin#token=ADMIN_TOKEN (the daemon's
 * admin token; its admin REST routes take only that). Lists every stream,
 * live ones first (GET /api/streams, /api/live); per room: the chat live
 * with delete/mute/ban on each message (REST), ban/unban/mute by user id
 * in this stream or everywhere, revoking the stream key, and the stream's
 * statistics. See docs/pages.md. */
'use strict';

const $ = (id) => document.getElementById(id);
const token = SC.takeToken('admin');
window.sugarcast = { ready: false, room: null, chat: [] };

function problem(text) {
  $('problem').textContent = text;
  $('problem').hidden = !text;
}

$('sign-in').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem('sugarcast.token.admin', $('token-input').value.trim());
  location.reload();
});
$('sign-out').addEventListener('click', () => {
  SC.forgetToken('admin');
  location.replace('/admin');
});

async function rooms() {
  const [all, live] = await Promise.all([SC.api('/api/streams', { token }), SC.api('/api/live', { token })]);
  if (!all.ok) {
    problem(`Cannot list streams: ${SC.why(all)}`);
    if (all.status === 401) {
      SC.forgetToken('admin');
      $('sign-in').hidden = false;
      $('admin').hidden = true;
    }
    return;
  }
  problem('');
  const liveIds = new Map(((live.ok && live.data.streams) || []).map((s) => [s.id, s]));
  const streams = (all.data.streams || []).sort((a, b) => (liveIds.has(b.id) ? 1 : 0) - (liveIds.has(a.id) ? 1 : 0));
  const body = $('rooms');
  body.textContent = '';
  for (const s of streams) {
    const l = liveIds.get(s.id);
    body.append(SC.el('tr', { 'data-stream': s.id },
      SC.el('td', {}, SC.el('a', { href: `/watch/${encodeURIComponent(s.id)}`, text: s.title }),
            SC.el('div', { class: 'meta mono', text: s.id })),
      SC.el('td', {}, SC.el('span', { class: `state${l ? ' live' : ''}`, text: l ? 'live' : 'offline' }),
            l ? SC.el('div', { class: 'meta', text: `for ${SC.duration((Date.now() - l.started_at) / 1000)} · ${l.encoder || ''}` }) : null),
      SC.el('td', {}, SC.el('div', { class: 'row' },
        SC.el('button', { type: 'button', class: 'secondary', 'aria-label': `Open room: ${s.title}`, text: 'Open room',
                          onclick: () => openRoom(s) }),
        SC.el('button', { type: 'button', class: 'danger', 'aria-label': `Revoke key: ${s.title}`, text: 'Revoke key',
                          disabled: !s.has_key, onclick: () => revoke(s) })))));
  }
  if (!streams.length)
    body.append(SC.el('tr', {}, SC.el('td', { colspan: 3, class: 'empty', text: 'No streams.' })));
}

async function revoke(s) {
  if (!confirm(`Revoke the stream key of "${s.title}"? A running push stops.`))
    return;
  const r = await SC.api(`/api/streams/${encodeURIComponent(s.id)}/key`, { method: 'DELETE', token });
  problem(r.ok ? '' : `Could not revoke: ${SC.why(r)}`);
  rooms();
}

/* ---- one room ---- */

let room = null;
let chat = null;
const chatList = new ChatList($('messages'), null);

function openRoom(s) {
  room = s;
  window.sugarcast.room = s.id;
  $('room').hidden = false;
  $('room-title').textContent = s.title;
  if (chat)
    chat.stop();
  /* The admin token does not sign in to chat: the room is read as an
   * anonymous viewer and moderated through the REST routes. */
  chatList.moderation = moderation(null, s.id, token, (t) => { $('mod-note').textContent = t; });
  chatList.clear();
  chat = new ChatClient(s.id, '', { onMessage: (m) => {
    if (m.type === 'welcome')
      (m.history || []).forEach((x) => chatList.chat(x));
    else if (m.type === 'chat') {
      chatList.chat(m);
      window.sugarcast.chat.push(m.text);
    } else if (m.type === 'deleted')
      chatList.remove(m.id);
    else if (m.type === 'gift')
      chatList.gift(m);
    else if (m.type === 'moderation')
      chatList.system(`${m.user}: ${m.action}`);
  } });
  roomStats();
  $('room-title').scrollIntoView();
}

$('moderate').addEventListener('submit', async (e) => {
  e.preventDefault();
  const action = e.submitter ? e.submitter.dataset.action : 'ban';
  const user = $('user').value.trim();
  const scope = $('scope').value;
  const base = `/api/streams/${encodeURIComponent(room.id)}`;
  const u = encodeURIComponent(user);
  const r = action === 'ban' ? await SC.api(`${base}/bans/${u}`, { method: 'POST', token, body: { scope } })
          : action === 'unban' ? await SC.api(`${base}/bans/${u}?scope=${scope}`, { method: 'DELETE', token })
          : await SC.api(`${base}/mutes/${u}`, { method: 'POST', token, body: { seconds: 600 } });
  const done = { ban: 'banned', unban: 'unbanned', mute: 'muted for 10 minutes' }[action];
  const where = scope === 'global' ? 'everywhere' : 'in this stream';
  $('user-note').textContent = r.ok ? `${user} is ${done}${action === 'mute' ? '' : ` ${where}`}.` : `Refused: ${SC.why(r)}`;
  $('user-note').className = r.ok ? 'ok' : 'error';
});

async function roomStats() {
  if (!room)
    return;
  const r = await SC.api(`/api/streams/${encodeURIComponent(room.id)}/stats?from=${Date.now() - 24 * 3600 * 1000}&to=${Date.now()}`, { token });
  if (!r.ok) {
    $('room-stats').textContent = r.status === 404 ? 'This server does not keep statistics.' : `Statistics: ${SC.why(r)}`;
    $('room-chart').hidden = true;
    return;
  }
  $('room-chart').hidden = false;
  const s = r.data;
  const show = (s.shows || [])[0];
  $('room-stats').textContent = [
    s.live ? `${s.live.viewers} watching now` : 'offline',
    show ? `last show: peak ${show.peak_viewers}, average ${Math.round(show.avg_viewers)}, ${show.unique_viewers} unique, ` +
           `${Math.round(show.watch_minutes)} watch minutes, ${show.messages} messages, ${show.gifts} gifts` : '',
  ].filter(Boolean).join(' · ');
  chart($('room-chart'), `Viewers, messages and gifts of ${room.title}`, s.points || [],
        [{ key: 'viewers', label: 'viewers', color: '#6cf' }, { key: 'chat_messages', label: 'messages', color: '#fc6' },
         { key: 'gifts', label: 'gifts', color: '#f8a' }]);
}

async function start() {
  if (!token) {
    $('sign-in').hidden = false;
    window.sugarcast.ready = true;
    return;
  }
  $('admin').hidden = false;
  $('sign-out').hidden = false;
  await rooms();
  setInterval(rooms, 10000);
  setInterval(roomStats, 10000);
  window.sugarcast.ready = true;
}

start().catch((e) => problem(`The server cannot be reached (${e.message}).`));
