// The pages in a real browser (Debian's Chromium, headless, driven by
// playwright-core from web/node_modules) against a real sugarcastd:
//   node pages.mjs SCENARIO CONFIG_JSON
// SCENARIO is "main" (what the daemon on main serves) or "contract" (the
// stats/record/schedule routes). CONFIG_JSON: {base, stream, push_url,
// admin, tokens: {alice, bob, mod, streamer}, out}. Prints one JSON line:
// {"checks": {name: {"ok": bool, "detail": "..."}}, "missing": [...]}.
// Every wait polls a condition with a deadline; nothing sleeps in place of
// one. One browser, a few contexts (the machine's cores are shared).
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';

const require = createRequire(`${process.env.SUGARCAST_WEB_DIR}/`);
const { chromium } = require('playwright-core');
const axePath = require.resolve('axe-core/axe.min.js');

const [scenario, configText] = process.argv.slice(2);
const cfg = JSON.parse(configText);
mkdirSync(cfg.out, { recursive: true });
const checks = {};
const missing = [];
const pageErrors = [];
function check(name, ok, detail = '') {
  checks[name] = { ok: Boolean(ok), detail: String(detail) };
}
async function attempt(name, fn) {
  try {
    await fn();
  } catch (e) {
    if (!checks[name] || checks[name].ok)
      check(name, false, String(e).slice(0, 600));
  }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--autoplay-policy=no-user-gesture-required'],
});
const contexts = [];
async function open(path, { width = 1280, height = 800, bypassCSP = false } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, bypassCSP });
  contexts.push(context);
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${path}: ${e}`));
  page.on('dialog', (d) => d.accept());
  await page.goto(cfg.base + path);
  return page;
}
const until = (page, fn, arg, timeout = 20000) => page.waitForFunction(fn, arg, { timeout, polling: 100 });

/* axe-core in the page; serious and critical violations, by rule. */
async function audit(page) {
  await page.addScriptTag({ path: axePath });
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
}

/* Each page at phone and desktop width: a screenshot, keyboard reach (Tab
 * lands on something focusable), and axe. */
async function survey(name, path, ready) {
  for (const [label, width, height] of [['phone', 375, 812], ['desktop', 1280, 800]]) {
    const page = await open(path, { width, height, bypassCSP: true });
    await until(page, ready);
    await page.screenshot({ path: `${cfg.out}/${name}-${label}.png` });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(`${name}_${label}_fits`, overflow <= 1, `horizontal overflow ${overflow}px at ${width}px`);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement && document.activeElement !== document.body
      ? document.activeElement.tagName : '');
    check(`${name}_${label}_keyboard`, focused !== '', `Tab reached ${focused || 'nothing'}`);
    const violations = await audit(page);
    check(`${name}_${label}_axe`, violations.length === 0, violations.join('; '));
    await page.context().close();
  }
}

let encoder = null;
function push() {
  /* 1280x720 30 fps with a tone, keyframes every second (the daemon cuts
   * 1 s segments), until killed. */
  encoder = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re',
    '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '240', '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30',
    '-pix_fmt', 'yuv420p', '-b:v', '2000k', '-c:a', 'aac', '-f', 'flv', cfg.push_url], { stdio: 'ignore' });
}
async function poll(what, fn, timeout = 30000) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await fn())
      return;
    if (Date.now() > end)
      throw new Error(`${what}: not within ${timeout} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const get = (path, token) => fetch(cfg.base + path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
const watchPath = (token) => `/watch/${cfg.stream}${token ? `#token=${token}` : ''}`;
const lastMessages = (page) => page.evaluate(() => [...document.querySelectorAll('#messages li')].map((li) => li.textContent));

async function sendChat(page, text) {
  await page.fill('#chat-text', text);
  await page.press('#chat-text', 'Enter');
}

async function mainScenario() {
  push();
  await poll('the master playlist', async () => (await get(`/hls/${cfg.stream}/master.m3u8`)).status === 200, 60000);

  const alice = await open(watchPath(cfg.tokens.alice));
  const sessions = [];
  alice.on('request', (r) => { if (r.url().includes('.m3u8')) sessions.push(r.url()); });

  await attempt('watch_plays', async () => {
    await until(alice, () => window.sugarcast && window.sugarcast.playing, null, 30000);
    const t0 = await alice.evaluate(() => document.getElementById('video').currentTime);
    await until(alice, (t) => document.getElementById('video').currentTime > t + 1, t0);
    /* The displayed frame, drawn to a canvas: testsrc2 is colourful, black is not. */
    const luma = await alice.evaluate(() => {
      const v = document.getElementById('video');
      const c = document.createElement('canvas');
      c.width = 160; c.height = 90;
      const g = c.getContext('2d');
      g.drawImage(v, 0, 0, 160, 90);
      const d = g.getImageData(0, 0, 160, 90).data;
      let sum = 0;
      for (let i = 0; i < d.length; i += 4)
        sum += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
      return sum / (d.length / 4);
    });
    check('watch_plays', luma > 20, `currentTime advanced from ${t0.toFixed(2)}; mean luma ${luma.toFixed(1)}`);
    const state = await alice.textContent('#state');
    check('watch_state_live', state === 'live', `state "${state}"`);
  });
  await attempt('watch_session_param', async () => {
    await poll('a playlist request', async () => sessions.length > 1);
    const all = sessions.every((u) => /[?&]session=[0-9a-f]{24}(&|$)/.test(u));
    check('watch_session_param', all, sessions.slice(0, 3).join(' '));
  });
  await attempt('watch_quality', async () => {
    await until(alice, () => document.getElementById('quality').options.length > 1);
    const options = await alice.$$eval('#quality option', (o) => o.map((x) => x.textContent));
    await alice.selectOption('#quality', '1');
    await until(alice, () => window.sugarcast.manualLevel() === 1);
    await alice.selectOption('#quality', '-1');
    await until(alice, () => window.sugarcast.manualLevel() === -1);
    check('watch_quality', options[0] === 'Auto' && options.length > 1, options.join(', '));
  });

  const bob = await open(watchPath(cfg.tokens.bob));
  await until(bob, () => !document.getElementById('send').hidden);
  await until(alice, () => !document.getElementById('send').hidden);

  await attempt('chat_between_contexts', async () => {
    await sendChat(alice, 'hello from alice');
    await until(bob, () => window.sugarcast.chat.includes('hello from alice'));
    check('chat_between_contexts', true, 'bob saw alice\'s message');
  });

  await attempt('anonymous_read_only', async () => {
    const anon = await open(watchPath(''));
    await until(anon, () => window.sugarcast.chat.includes('hello from alice'));
    const form = await anon.isVisible('#send');
    const hint = await anon.isVisible('#anonymous');
    check('anonymous_read_only', !form && hint, `send form visible ${form}, sign-in hint visible ${hint}`);
    await anon.context().close();
  });

  await attempt('chat_escaped', async () => {
    let alerted = false;
    bob.on('dialog', () => { alerted = true; });
    const evil = '<img src=x onerror=alert(1)>';
    await sendChat(alice, evil);
    await until(bob, (t) => window.sugarcast.chat.includes(t), evil);
    const shown = await bob.evaluate((t) => [...document.querySelectorAll('#messages .text')].some((e) => e.textContent === t), evil);
    const imgs = await bob.evaluate(() => document.querySelectorAll('#messages img').length);
    check('chat_escaped', shown && imgs === 0 && !alerted, `shown as text ${shown}, <img> in chat ${imgs}, alert ${alerted}`);
  });

  await attempt('gift_animation_leaderboard', async () => {
    await until(alice, () => document.querySelectorAll('#gifts button').length > 0);
    /* The stream's description has no giftoverlay: the page animates gifts. */
    await until(bob, () => window.sugarcast.giftsDrawnByPage());
    await alice.click('#gifts button');
    await until(bob, () => window.sugarcast.gifts > 0 && document.querySelector('#gift-layer .gift-anim'));
    const anim = await bob.evaluate(() => getComputedStyle(document.querySelector('#gift-layer .gift-anim')).animationName);
    await bob.screenshot({ path: `${cfg.out}/watch-gift-desktop.png` });
    await until(bob, () => document.getElementById('leaderboard').textContent.includes('alice'));
    const board = await bob.textContent('#leaderboard');
    check('gift_animation_leaderboard', anim === 'gift-rise' || anim === 'gift-fade', `animation ${anim}; leaderboard "${board}"`);
    /* Hidden gifts are not drawn. */
    await bob.uncheck('#show-gifts');
    const hidden = await bob.evaluate(() => document.querySelectorAll('#gift-layer .gift-anim').length);
    check('gift_hideable', hidden === 0, `${hidden} animations left after hiding`);
  });

  await attempt('moderator_deletes', async () => {
    const mod = await open(watchPath(cfg.tokens.mod));
    await sendChat(alice, 'please delete me');
    await until(bob, () => window.sugarcast.chat.includes('please delete me'));
    await until(mod, () => [...document.querySelectorAll('#messages li')].some((li) => li.querySelector('.text')
      && li.querySelector('.text').textContent === 'please delete me' && li.querySelector('.mod button')));
    await mod.evaluate(() => {
      const li = [...document.querySelectorAll('#messages li')].find((x) => x.querySelector('.text') && x.querySelector('.text').textContent === 'please delete me');
      li.querySelector('.mod button').focus();
    });
    await mod.keyboard.press('Enter'); /* the Delete button, by keyboard */
    await until(bob, () => ![...document.querySelectorAll('#messages .text')].some((e) => e.textContent === 'please delete me'));
    check('moderator_deletes', true, 'gone from bob\'s page');
    await mod.screenshot({ path: `${cfg.out}/watch-moderator-desktop.png` });
    await mod.context().close();
  });

  await attempt('admin_bans', async () => {
    const admin = await open(`/admin#token=${cfg.admin}`);
    await until(admin, (id) => document.querySelector(`#rooms tr[data-stream="${id}"] button`), cfg.stream);
    await admin.click(`#rooms tr[data-stream="${cfg.stream}"] button`);
    await admin.fill('#user', 'bob');
    await admin.click('#moderate button[data-action="ban"]');
    await until(admin, () => /banned/.test(document.getElementById('user-note').textContent));
    /* bob's socket is closed with 4003; what he types goes nowhere. */
    await until(bob, () => window.sugarcast.errors.includes('banned') || [...document.querySelectorAll('#messages .system')].some((e) => /banned/i.test(e.textContent)));
    await sendChat(bob, 'bob after the ban');
    await sendChat(alice, 'marker after the ban');
    await until(alice, () => window.sugarcast.chat.includes('marker after the ban'));
    /* Messages are delivered before they are stored: wait for the marker
     * in the store, then bob's message must not be there. */
    let texts = [];
    await poll('the marker in the stored chat', async () => {
      texts = (await (await get(`/api/streams/${cfg.stream}/chat?limit=50`)).json()).messages.map((m) => m.text);
      return texts.includes('marker after the ban');
    });
    const aliceSaw = await alice.evaluate(() => window.sugarcast.chat.includes('bob after the ban'));
    check('admin_bans', !texts.includes('bob after the ban') && !aliceSaw && texts.includes('marker after the ban'),
          `stored: ${texts.slice(0, 4).join(' | ')}`);
    await admin.screenshot({ path: `${cfg.out}/admin-room-desktop.png`, fullPage: true });
    await admin.context().close();
  });

  await attempt('offline_without_reload', async () => {
    await alice.screenshot({ path: `${cfg.out}/watch-live-desktop.png` });
    await alice.evaluate(() => { window.sugarcast.loadedOnce = true; });
    /* The encoder drops: the daemon waits streams.grace_period_ms (10 s) for
     * it, and the page says so; it comes back and the same page plays on. */
    encoder.kill('SIGKILL');
    await until(alice, () => document.getElementById('state').textContent === 'reconnecting', null, 20000);
    const notice = await alice.textContent('#notice');
    check('reconnecting_without_reload', /waiting for them to reconnect/.test(notice), `notice: ${notice}`);
    await alice.screenshot({ path: `${cfg.out}/watch-reconnecting-desktop.png` });
    push();
    await until(alice, () => document.getElementById('state').textContent === 'live', null, 20000);
    const before = await alice.evaluate(() => document.querySelector('video').currentTime);
    await until(alice, (t) => document.querySelector('video').currentTime > t + 2, before, 30000);
    check('reconnected_plays_on', await alice.evaluate(() => window.sugarcast.loadedOnce === true),
          'the same page plays the stream again');
    encoder.kill('SIGKILL');
    await until(alice, () => document.getElementById('state').textContent === 'offline', null, 40000);
    const same = await alice.evaluate(() => window.sugarcast.loadedOnce === true);
    check('offline_without_reload', same, 'the same page (no reload) says offline');
  });

  await attempt('studio_key', async () => {
    const studio = await open(`/studio#token=${cfg.admin}&stream=${cfg.stream}`);
    await until(studio, () => window.sugarcast.ready);
    const url = await studio.evaluate(() => location.href);
    check('token_leaves_url', !url.includes(cfg.admin), url);
    await studio.click('#rotate');
    await until(studio, () => !document.getElementById('key-box').hidden && document.getElementById('key').value);
    const key = await studio.inputValue('#key');
    const ffmpeg = await studio.textContent('#ffmpeg');
    const server = await studio.textContent('#server-url');
    /* The new key works: a push with it goes live. */
    const before = (await (await get(`/api/streams/${cfg.stream}`, cfg.admin)).json()).key_updated_at;
    check('studio_key', key.length > 10 && ffmpeg.includes(key) && server.startsWith('rtmp://') && before > 0,
          `server ${server}; ffmpeg line names the key: ${ffmpeg.includes(key)}`);
    await studio.context().close();
  });

  /* Every page at both widths, with axe and keyboard checks. */
  await attempt('survey', async () => {
    await survey('home', '/', () => window.sugarcast && window.sugarcast.loaded);
    await survey('watch', watchPath(cfg.tokens.alice), () => window.sugarcast && window.sugarcast.state);
    await survey('studio', `/studio#token=${cfg.admin}&stream=${cfg.stream}`, () => window.sugarcast && window.sugarcast.ready);
    await survey('admin', `/admin#token=${cfg.admin}`, () => window.sugarcast && window.sugarcast.ready);
    check('survey', true);
  });
}

/* The routes of the stats and record helpers (docs/api.md); on a daemon
 * without them each check says "route missing on this branch". */
async function contractScenario() {
  const routes = {
    channels: '/api/channels',
    recordings: '/api/recordings',
    stats: `/api/streams/${cfg.stream}/stats`,
  };
  for (const [name, path] of Object.entries(routes)) {
    const r = await get(path, cfg.admin);
    if (r.status === 404)
      missing.push(`${name}: GET ${path} → 404`);
  }
  const streamerRead = await get(`/api/streams/${cfg.stream}`, cfg.tokens.streamer);
  if (streamerRead.status === 401 || streamerRead.status === 403)
    missing.push(`streamer access: GET /api/streams/{id} with a streamer token → ${streamerRead.status}`);
  if (missing.length)
    return;

  /* The streamer turns recording on in the studio before going live. */
  await attempt('studio_records', async () => {
    const studio = await open(`/studio#token=${cfg.tokens.streamer}`);
    await until(studio, () => window.sugarcast.ready);
    await studio.click('#record-on');
    await until(studio, () => document.querySelector('#recordings tr'));
    const problem = await studio.evaluate(() => document.getElementById('problem').hidden ? '' : document.getElementById('problem').textContent);
    check('studio_records', problem === '', problem || 'recording on');
    await studio.context().close();
  });

  push();
  await poll('the master playlist', async () => (await get(`/hls/${cfg.stream}/master.m3u8`)).status === 200, 60000);

  await attempt('home_lists_live_with_thumbnail', async () => {
    const home = await open('/');
    await until(home, (id) => document.querySelector(`#live li[data-stream="${id}"] img.thumb`), cfg.stream, 40000);
    await until(home, (id) => { const i = document.querySelector(`#live li[data-stream="${id}"] img.thumb`); return i.complete && i.naturalWidth > 0; }, cfg.stream, 30000);
    const text = await home.textContent(`#live li[data-stream="${cfg.stream}"]`);
    check('home_lists_live_with_thumbnail', /watching/.test(text) && /live for/.test(text), text);
    await home.screenshot({ path: `${cfg.out}/home-live-desktop.png` });
    await home.context().close();
  });

  await attempt('studio_ingest_and_viewers', async () => {
    const viewer = await open(watchPath(''));
    await until(viewer, () => window.sugarcast.playing, null, 30000);
    const studio = await open(`/studio#token=${cfg.tokens.streamer}`);
    await until(studio, () => /kb\/s/.test(document.getElementById('h-bitrate').textContent) &&
                              Number(document.getElementById('h-viewers').textContent) >= 1, null, 60000);
    const bitrate = await studio.textContent('#h-bitrate');
    const res = await studio.textContent('#h-resolution');
    check('studio_ingest_and_viewers', /kb\/s/.test(bitrate) && res === '1280×720', `bitrate ${bitrate}, resolution ${res}`);
    /* A gift during the show, for the replay to draw (replay_draws_gifts). */
    const alice = await open(watchPath(cfg.tokens.alice));
    await until(alice, () => document.querySelectorAll('#gifts button').length > 0 && !document.getElementById('gifts').hidden, null, 30000);
    await alice.click('#gifts button');
    await until(alice, () => window.sugarcast.giftsReceived > 0, null, 20000);
    await alice.context().close();
    await studio.screenshot({ path: `${cfg.out}/studio-live-desktop.png`, fullPage: true });
    await studio.context().close();
    await viewer.context().close();
  });

  encoder.kill('SIGKILL');
  /* The show's recording: listed on / once it is no longer recording,
   * replayed by its watch URL, and cut into a highlight in the studio. */
  await attempt('recordings_listed', async () => {
    let rec = null;
    await poll('a finished recording', async () => {
      const r = await (await get(`/api/streams/${cfg.stream}/recordings`, cfg.admin)).json();
      rec = (r.recordings || []).find((x) => x.state !== 'recording');
      return rec;
    }, 60000);
    const home = await open('/');
    await until(home, (u) => [...document.querySelectorAll('#recordings a')].some((a) => a.getAttribute('href') === u), rec.watch_url, 30000);
    check('recordings_listed', true, `${rec.id} (${rec.state}, ${rec.duration} s) on /`);
    await home.context().close();

    const replay = await open(rec.watch_url);
    await until(replay, () => window.sugarcast.playing, null, 30000);
    const title = await replay.textContent('#title');
    check('recording_replays', /\(recording\)/.test(title), title);
    /* The gift sent during the show is drawn over the replay when the video
     * reaches it (the recording's pixels never carry it): the replay is
     * sought to 1.5 s before the gift's offset and must draw it as it
     * reaches the offset, not at the seek. */
    const history = await (await get(`/api/recordings/${rec.id}/chat`, cfg.admin)).json();
    const gift = (history.messages || []).find((m) => m.kind === 'gift');
    if (!gift)
      throw new Error(`the recording's chat lists no gift: ${JSON.stringify(history).slice(0, 300)}`);
    const seekTo = Math.max(0, gift.offset - 1.5);
    await replay.evaluate((t) => {
      /* counted from the seek on, whatever the replay drew before it */
      document.getElementById('video').currentTime = t;
      window.sugarcast.gifts = 0;
      document.querySelectorAll('#gift-layer .gift-anim').forEach((a) => a.remove());
    }, seekTo);
    const drawn = await (await until(replay, () => {
      const a = document.querySelector('#gift-layer .gift-anim');
      return window.sugarcast.gifts > 0 && a && { at: document.getElementById('video').currentTime, text: a.textContent };
    }, null, 30000)).jsonValue();
    const inTime = drawn.at >= gift.offset - 0.5 && drawn.at < gift.offset + 2;
    check('replay_draws_gifts', inTime && /alice sent 1 ×/.test(drawn.text),
          `"${drawn.text}" at ${drawn.at.toFixed(1)} s, the gift's offset ${gift.offset.toFixed(1)} s (sought to ${seekTo.toFixed(1)} s)`);
    await replay.context().close();

    const studio = await open(`/studio#token=${cfg.tokens.streamer}`);
    await until(studio, () => document.querySelector('#recordings tr .in'));
    await studio.fill('#recordings tr .in', '1');
    await studio.fill('#recordings tr .out', String(Math.max(2, Math.min(20, Math.floor(rec.duration)))));
    await studio.click('#recordings tr button');
    await until(studio, () => document.querySelector('#recordings tr .cut-state').textContent !== '');
    const cut = await studio.textContent('#recordings tr .cut-state');
    check('studio_cuts_highlight', /^Highlight \S+: /.test(cut), cut);
    await studio.context().close();
  });

  await attempt('scheduled_starting_soon', async () => {
    const startsAt = Date.now() + 3600 * 1000;
    const studio = await open(`/studio#token=${cfg.tokens.streamer}`);
    await until(studio, () => window.sugarcast.ready);
    await studio.fill('#schedule-title-input', 'Tomorrow <b>show</b>');
    await studio.fill('#schedule-at', new Date(startsAt - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16));
    await studio.click('#schedule button[type=submit], #schedule button:not([type])');
    await until(studio, () => /Scheduled:/.test(document.getElementById('schedule-now').textContent));
    const home = await open('/');
    await until(home, (id) => document.querySelector(`#upcoming li[data-stream="${id}"]`), cfg.stream, 20000);
    const watch = await open(watchPath(''));
    await until(watch, () => document.getElementById('state').textContent === 'starting soon', null, 40000);
    const notice = await watch.textContent('#notice');
    check('scheduled_starting_soon', notice.includes('Tomorrow <b>show</b>'), notice);
    for (const p of [studio, home, watch])
      await p.context().close();
  });
}

try {
  if (scenario === 'main')
    await mainScenario();
  else
    await contractScenario();
} catch (e) {
  check('scenario', false, String(e));
} finally {
  if (encoder)
    encoder.kill('SIGKILL');
  for (const c of contexts)
    await c.close().catch(() => {});
  await browser.close();
}
console.log(JSON.stringify({ checks, missing, pageErrors }));
