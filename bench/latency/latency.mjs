// bench/latency/latency.mjs ROOT SECONDS: glass-to-glass latency, Sugarcast
// against nginx-rtmp + hls.js defaults, measured the same way in one run.
//
// The camera: this script draws 1280x720 gray frames at 30 frames/s and
// writes each to ffmpeg's stdin the moment it is "captured", with that wall
// time (Date.now() mod 2^32, in ms) burned into the top 32 rows as 32 black
// or white blocks plus 8 check bits (the sum of the 4 bytes): machine-readable
// at any rung's size, no OCR. ffmpeg encodes it as OBS is told to (libx264
// veryfast zerolatency, 2.5 Mb/s CBR-like, a keyframe every second, AAC) and
// pushes one stream to both servers (tee muxer).
//
// The screen: headless Chromium (playwright-core, /usr/bin/chromium) plays
// Sugarcast's real watch page (/watch/ID: its hls.js settings, the daemon's
// shipped defaults) and, beside it, a page with hls.js and its defaults on
// nginx-rtmp's HLS (hls_fragment 1s). On every frame presented
// (requestVideoFrameCallback) the page reads the blocks off the frame and
// latency = the frame's expected display time - its capture time.
// Reported: glass-to-glass p50/p95 over SECONDS, stalls (`waiting` events)
// with how long each lasted, seeks, playlist and segment requests and bytes
// per viewer with the playlists' statuses, then page load to first frame
// over 5 loads. BENCH_TRACE=1 prints every playlist request as it is answered.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const root = process.argv[2];
const seconds = Number(process.argv[3] || 60);
const require = createRequire(path.join(root, 'web', 'package.json'));
const { chromium } = require('playwright-core');

const [W, H] = (process.env.BENCH_SIZE || '1280x720').split('x').map(Number);
const FPS = 30, BLOCKS = 40, BLOCK_W = W / BLOCKS, BAND = 32;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sugarcast-latency-'));
const children = [];
const log = (...a) => console.error('[latency]', ...a);

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function run(cmd, args, opts = {}) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...opts });
  let err = '';
  p.stderr?.on('data', (d) => { err = (err + d).slice(-4000); });
  p.lastErr = () => err;
  children.push(p);
  return p;
}

async function until(what, fn, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch { /* not yet */ }
    if (Date.now() > end) {
      log('daemon:', daemonLog());
      log('ffmpeg:', typeof ffErr === 'undefined' ? '' : ffErr);
      throw new Error('timed out waiting for ' + what);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// SIGTERM, not SIGKILL: nginx's master stops its worker and cache manager
// on TERM, where a killed master leaves them running, holding the ports.
function cleanup() {
  for (const c of children) {
    try { c.kill('SIGTERM'); } catch { /* gone */ }
  }
}
process.on('exit', cleanup);

// ---- servers
const [httpPort, rtmpPort, ngRtmp, ngHttp] = [await freePort(), await freePort(), await freePort(), await freePort()];
const admin = 'latency-bench-admin-token-0123456789';
const data = path.join(tmp, 'sugarcastd');
fs.mkdirSync(data);
fs.writeFileSync(path.join(tmp, 'sugarcastd.json'), JSON.stringify({
  data_dir: data, admin_token: admin, log_level: 'info', pipelines_dir: path.join(root, 'pipelines'),
  http: { address: '127.0.0.1', port: httpPort }, rtmp: { address: '127.0.0.1', port: rtmpPort },
}));
const daemon = run(path.join(root, 'build/daemon/sugarcastd'), ['--config', path.join(tmp, 'sugarcastd.json')]);
const daemonLog = () => daemon.lastErr();

const ngHls = path.join(tmp, 'nginx-hls');
fs.mkdirSync(ngHls);
fs.chmodSync(tmp, 0o755);
fs.chmodSync(ngHls, 0o777);
const page = path.join(tmp, 'www');
fs.mkdirSync(page);
fs.copyFileSync(path.join(root, 'web/node_modules/hls.js/dist/hls.min.js'), path.join(page, 'hls.min.js'));
fs.writeFileSync(path.join(page, 'index.html'), `<!doctype html><html><body>
<video id="video" muted autoplay playsinline></video>
<script src="/hls.min.js"></script>
<script>const hls = new Hls(); hls.loadSource('/hls/bench.m3u8'); hls.attachMedia(document.getElementById('video'));
hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) setTimeout(() => location.reload(), 1000); });</script>
</body></html>`);
fs.writeFileSync(path.join(tmp, 'nginx.conf'), `daemon off;
master_process on;
worker_processes 1;
pid ${tmp}/nginx.pid;
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
events { worker_connections 256; }
rtmp { server { listen 127.0.0.1:${ngRtmp}; chunk_size 4096;
  application live { live on; record off; wait_key on; wait_video on;
    hls on; hls_path ${ngHls}; hls_fragment 1s; hls_playlist_length 20s; } } }
http { access_log off; types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; text/html html; application/javascript js; }
  server { listen 127.0.0.1:${ngHttp};
    location /hls/ { alias ${ngHls}/; add_header Cache-Control no-cache; }
    location / { root ${page}; } } }
`);
run('nginx', ['-p', tmp, '-c', path.join(tmp, 'nginx.conf'), '-e', path.join(tmp, 'nginx-error.log')]);

const api = (method, p, body) => fetch(`http://127.0.0.1:${httpPort}${p}`, {
  method, headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
  body: body && JSON.stringify(body),
});
await until('sugarcastd', async () => (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).ok, 20000);
await until('nginx', async () => (await fetch(`http://127.0.0.1:${ngHttp}/hls.min.js`)).ok, 20000);
const created = await (await api('POST', '/api/streams', { title: 'latency bench' })).json();

// ---- the camera and the encoder
const ffmpeg = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin',
  '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${W}x${H}`, '-r', String(FPS), '-i', 'pipe:0',
  '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
  '-map', '0:v', '-map', '1:a',
  '-c:v', 'libx264', '-preset', process.env.BENCH_PRESET || 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
  '-b:v', '2500k', '-maxrate', '2500k', '-bufsize', '2500k', '-g', String(FPS), '-keyint_min', String(FPS),
  '-sc_threshold', '0', '-c:a', 'aac', '-b:a', '128k', '-flags', '+global_header', '-flvflags', 'no_duration_filesize',
  '-f', 'tee', `[f=flv:onfail=ignore]rtmp://127.0.0.1:${rtmpPort}/live/${created.key}|` +
  `[f=flv:onfail=ignore]rtmp://127.0.0.1:${ngRtmp}/live/bench`], { stdio: ['pipe', 'ignore', 'pipe'] });
children.push(ffmpeg);
var ffErr = '';
ffmpeg.stderr.on('data', (d) => { ffErr = (ffErr + d).slice(-4000); });
ffmpeg.stdin.on('error', () => {});

const background = Buffer.alloc(W * H, 0);
for (let y = 0; y < H; ++y)
  for (let x = 0; x < W; ++x)
    background[y * W + x] = 40 + ((x * 3 + y * 2) & 127);
let frame = 0;
const t0 = performance.now();
function capture() {
  const buf = Buffer.from(background);
  const ms = Date.now() >>> 0;
  const bytes = [ms >>> 24, (ms >>> 16) & 255, (ms >>> 8) & 255, ms & 255];
  const check = (bytes[0] + bytes[1] + bytes[2] + bytes[3]) & 255;
  const bits = [];
  for (const b of [...bytes, check])
    for (let i = 7; i >= 0; --i) bits.push((b >> i) & 1);
  for (let y = 0; y < BAND; ++y)
    for (let i = 0; i < BLOCKS; ++i)
      buf.fill(bits[i] ? 255 : 0, y * W + i * BLOCK_W, y * W + (i + 1) * BLOCK_W);
  // Something that moves, so the encoder has work like a camera's.
  const sx = (frame * 8) % (W - 160);
  for (let y = 200; y < 360; ++y) buf.fill(230, y * W + sx, y * W + sx + 160);
  ffmpeg.stdin.write(buf);
  ++frame;
  const next = t0 + (frame * 1000) / FPS;
  setTimeout(capture, Math.max(0, next - performance.now()));
}
capture();

await until('Sugarcast HLS', async () => (await fetch(`http://127.0.0.1:${httpPort}/hls/${created.id}/master.m3u8`)).ok, 40000);
await until('nginx HLS', () => fs.existsSync(path.join(ngHls, 'bench.m3u8')), 40000);

// ---- the screen
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--no-first-run', '--autoplay-policy=no-user-gesture-required', '--disable-dev-shm-usage'],
});

// In the page: read the clock off every frame presented.
const probe = `(() => {
  window.__lat = { samples: [], firstFrame: null, waiting: 0, bad: 0, stallMs: [], stalledAt: null, seeks: 0 };
  const start = () => {
    const v = document.querySelector('video');
    if (!v) return setTimeout(start, 5);
    v.addEventListener('waiting', () => {
      if (window.__lat.firstFrame === null) return;
      window.__lat.waiting++;
      window.__lat.stalledAt = performance.now();
    });
    /* How long each stall lasted: until a frame is shown again (a seek by
     * the player's catch-up also waits, and is counted apart). */
    v.addEventListener('seeking', () => { if (window.__lat.firstFrame !== null) window.__lat.seeks++; });
    const resumed = () => {
      if (window.__lat.stalledAt === null) return;
      window.__lat.stallMs.push(Math.round(performance.now() - window.__lat.stalledAt));
      window.__lat.stalledAt = null;
    };
    v.addEventListener('playing', resumed);
    v.addEventListener('timeupdate', resumed);
    const c = document.createElement('canvas');
    c.width = ${BLOCKS * 4}; c.height = 4;
    const g = c.getContext('2d', { willReadFrequently: true });
    const onFrame = (now, meta) => {
      const shown = performance.timeOrigin + meta.expectedDisplayTime;
      if (window.__lat.firstFrame === null) window.__lat.firstFrame = meta.expectedDisplayTime;
      const vh = v.videoHeight, vw = v.videoWidth;
      g.drawImage(v, 0, vh * ${BAND / 4 / H}, vw, vh * ${BAND / 2 / H}, 0, 0, c.width, c.height);
      const px = g.getImageData(0, 0, c.width, c.height).data;
      const bits = [];
      for (let i = 0; i < ${BLOCKS}; ++i) bits.push(px[((2 * c.width) + i * 4 + 2) * 4] > 127 ? 1 : 0);
      const byte = (k) => bits.slice(k * 8, k * 8 + 8).reduce((a, b) => a * 2 + b, 0);
      const b = [byte(0), byte(1), byte(2), byte(3)];
      if (((b[0] + b[1] + b[2] + b[3]) & 255) === byte(4)) {
        const captured = ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3];
        const lat = ((Math.round(shown) >>> 0) - captured) >>> 0;
        if (lat < 60000) window.__lat.samples.push([Math.round(shown), lat]);
      } else window.__lat.bad++;
      v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
  };
  document.addEventListener('DOMContentLoaded', start);
})();`;

const targets = {
  sugarcast: `http://127.0.0.1:${httpPort}/watch/${created.id}`,
  'nginx-rtmp + hls.js defaults': `http://127.0.0.1:${ngHttp}/index.html`,
};

async function open(url) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await ctx.newPage();
  await p.addInitScript(probe);
  const traffic = { playlists: 0, segments: 0, playlistBytes: 0, segmentBytes: 0, playlistStatus: {}, counting: false };
  p.on('response', (r) => {
    if (!traffic.counting) return;
    const u = r.url().split('?')[0];
    const len = Number(r.headers()['content-length'] || 0);
    if (u.endsWith('.m3u8')) {
      traffic.playlists++;
      traffic.playlistBytes += len;
      traffic.playlistStatus[r.status()] = (traffic.playlistStatus[r.status()] || 0) + 1;
      if (process.env.BENCH_TRACE) console.error(`${Date.now()} ${r.status()} ${r.url()}`);
    }
    else if (u.endsWith('.ts') || u.endsWith('.m4s') || u.endsWith('.mp4')) { traffic.segments++; traffic.segmentBytes += len; }
  });
  await p.goto(url);
  return { ctx, p, traffic };
}

const pct = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))] : NaN;
};

const viewers = {};
for (const [name, url] of Object.entries(targets)) viewers[name] = await open(url);
for (const [name, v] of Object.entries(viewers))
  await until(`first frame (${name})`, () => v.p.evaluate(() => window.__lat.firstFrame !== null && window.__lat.samples.length > 0), 30000);
// Let both settle on their live edge (hls.js picks its start position), then measure.
await new Promise((r) => setTimeout(r, 3000));
const from = Date.now();
for (const v of Object.values(viewers)) {
  v.traffic.counting = true;
  await v.p.evaluate(() => { window.__lat.waiting = 0; window.__lat.stallMs = []; window.__lat.seeks = 0; });
}
await new Promise((r) => setTimeout(r, seconds * 1000));
const results = {};
for (const [name, v] of Object.entries(viewers)) {
  v.traffic.counting = false;
  const lat = await v.p.evaluate(() => window.__lat);
  const xs = lat.samples.filter(([t]) => t >= from).map(([, l]) => l);
  results[name] = {
    samples: xs.length, p50: pct(xs, 0.5), p95: pct(xs, 0.95), max: Math.max(...xs), stalls: lat.waiting,
    stall_ms: lat.stallMs, seeks: lat.seeks, unreadable: lat.bad,
    playlists_per_min: (v.traffic.playlists * 60) / seconds, playlist_status: v.traffic.playlistStatus, segments_per_min: (v.traffic.segments * 60) / seconds,
    playlist_kB_per_min: (v.traffic.playlistBytes * 60) / seconds / 1000,
    segment_kB_per_min: (v.traffic.segmentBytes * 60) / seconds / 1000,
  };
  await v.ctx.close();
}

// Page load to first frame: 5 fresh loads each, one at a time.
for (const [name, url] of Object.entries(targets)) {
  const firsts = [];
  for (let i = 0; i < 5; ++i) {
    const v = await open(url);
    firsts.push(await until('first frame', () => v.p.evaluate(() => window.__lat.firstFrame), 15000));
    await v.ctx.close();
  }
  results[name].first_frame_ms = firsts.map(Math.round);
  results[name].first_frame_p50 = Math.round(pct(firsts, 0.5));
}
await browser.close();

// Segment sizes in the daemon's folder: what a 1 s segment costs.
const dir = path.join(data, 'hls', created.id);
const sizes = {};
for (const f of fs.readdirSync(dir, { recursive: true }))
  if (String(f).endsWith('.ts')) {
    const rung = path.dirname(String(f)) === '.' ? String(f).replace(/_?\d+\.ts$/, '') : path.dirname(String(f));
    (sizes[rung] ||= []).push(fs.statSync(path.join(dir, String(f))).size);
  }
const segmentSizes = Object.fromEntries(Object.entries(sizes).map(([k, v]) => [k, Math.round(v.reduce((a, b) => a + b, 0) / v.length / 1000)]));

const ours = results.sugarcast, peer = results['nginx-rtmp + hls.js defaults'];
console.log(JSON.stringify({ seconds, machine: `${os.cpus().length} cores, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`, results, mean_segment_kB: segmentSizes }, null, 1));
console.log(`glass-to-glass p50 ${ours.p50} ms vs ${peer.p50} ms (${(peer.p50 / ours.p50).toFixed(2)}x), ` +
  `p95 ${ours.p95} ms vs ${peer.p95} ms (${(peer.p95 / ours.p95).toFixed(2)}x), ` +
  `first frame p50 ${ours.first_frame_p50} ms vs ${peer.first_frame_p50} ms (${(peer.first_frame_p50 / ours.first_frame_p50).toFixed(2)}x), ` +
  `stalls ${ours.stalls} vs ${peer.stalls}`);
if (ffmpeg.exitCode !== null) log('ffmpeg ended early:', ffErr);
ffmpeg.stdin.destroy();
daemon.kill('SIGTERM');
process.exit(0);
