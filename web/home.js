/* Sugarcast home page: what is live now (title, viewers, a thumbnail from
 * the live stream, time live), upcoming scheduled shows, recent recordings
 * and the newest short videos — for anyone, no token. The lists refresh
 * every 10 s; "live for" ticks every second. See docs/pages.md. */
'use strict';

const $ = (id) => document.getElementById(id);
window.sugarcast = { loaded: false, missing: [] };

function empty(list, text) {
  list.textContent = '';
  list.append(SC.el('li', { class: 'empty', text }));
}

function card(href, thumb, alt, title, ...meta) {
  return SC.el('li', { class: 'card' },
               SC.el('a', { href },
                     thumb ? SC.el('img', { class: 'thumb', src: thumb, alt, loading: 'lazy' })
                           : SC.el('div', { class: 'thumb', 'aria-hidden': 'true' }),
                     SC.el('span', { class: 'body' }, SC.el('span', { class: 'title', text: title }),
                           ...meta.map((m) => SC.el('span', { class: 'meta', text: m })),
                     )));
}

function sinceText(startedAt) {
  return startedAt ? `live for ${SC.duration((Date.now() - startedAt) / 1000)}` : 'live';
}

/* A route the daemon does not have (an older daemon): the section says so. */
function missing(list, what, reply) {
  if (reply.status === 404)
    window.sugarcast.missing.push(what);
  empty(list, reply.status === 404 ? `This server does not list ${what}.` : `Cannot load ${what}: ${SC.why(reply)}`);
}

async function channels() {
  const r = await SC.api('/api/channels');
  if (!r.ok) {
    missing($('live'), 'live streams', r);
    missing($('upcoming'), 'scheduled streams', r);
    return;
  }
  const all = r.data.channels || [];
  const live = all.filter((c) => c.state === 'live');
  const upcoming = all.filter((c) => c.state !== 'live' && c.schedule && c.schedule.starts_at)
                      .sort((a, b) => a.schedule.starts_at - b.schedule.starts_at);
  $('live').textContent = '';
  if (!live.length)
    empty($('live'), 'Nobody is live right now.');
  for (const c of live) {
    /* The thumbnail changes every few seconds: ask for a fresh one each time. */
    const thumb = c.thumbnail_url ? `${c.thumbnail_url}${c.thumbnail_url.includes('?') ? '&' : '?'}t=${Date.now()}` : null;
    const li = card(c.watch_url || `/watch/${encodeURIComponent(c.id)}`, thumb, `Now on ${c.title}`, c.title,
                    `${c.viewers || 0} watching`, sinceText(c.started_at));
    li.dataset.stream = c.id;
    li.dataset.startedAt = c.started_at || '';
    $('live').append(li);
  }
  $('upcoming').textContent = '';
  if (!upcoming.length)
    empty($('upcoming'), 'Nothing scheduled.');
  for (const c of upcoming) {
    const li = card(c.watch_url || `/watch/${encodeURIComponent(c.id)}`, null, '', c.schedule.title || c.title,
                    c.title, `starts ${SC.when(c.schedule.starts_at)}`);
    li.dataset.stream = c.id;
    $('upcoming').append(li);
  }
}

async function recordings() {
  const r = await SC.api('/api/recordings?limit=12');
  if (!r.ok)
    return missing($('recordings'), 'recordings', r);
  const list = (r.data.recordings || []).filter((x) => x.state !== 'recording');
  $('recordings').textContent = '';
  if (!list.length)
    empty($('recordings'), 'No recordings yet.');
  for (const x of list)
    $('recordings').append(card(x.watch_url || `/watch/${encodeURIComponent(x.stream)}?recording=${encodeURIComponent(x.id)}`,
                                null, '', x.title || 'Recording', `${SC.when(x.started_at)} · ${SC.duration(x.duration)}`));
}

async function clips() {
  const r = await SC.api('/api/clips?state=ready&limit=12');
  if (!r.ok)
    return missing($('clips'), 'short videos', r);
  const list = r.data.clips || [];
  $('clips').textContent = '';
  if (!list.length)
    empty($('clips'), 'No short videos yet.');
  for (const c of list) {
    const name = c.title || c.filename || 'Short video';
    $('clips').append(card(c.outputs ? c.outputs.mp4 : '#', c.outputs ? c.outputs.thumbnail : null,
                           `Short video ${name}`, name,
                           `${c.owner ? `${c.owner} · ` : ''}${SC.duration((c.duration_ms || 0) / 1000)}`));
  }
}

async function refresh() {
  try {
    await Promise.all([channels(), recordings(), clips()]);
    $('problem').hidden = true;
  } catch (e) {
    $('problem').textContent = 'The server cannot be reached; trying again.';
    $('problem').hidden = false;
  }
  window.sugarcast.loaded = true;
}

setInterval(() => {
  for (const li of $('live').querySelectorAll('li[data-started-at]')) {
    const metas = li.querySelectorAll('.meta');
    if (li.dataset.startedAt && metas[1])
      metas[1].textContent = sinceText(Number(li.dataset.startedAt));
  }
}, 1000);
setInterval(refresh, 10000);
refresh();
