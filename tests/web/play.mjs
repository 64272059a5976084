// Opens a page in headless Chromium (Debian's, driven by playwright-core from
// web/node_modules) and reports, as one JSON line, what a viewer would see:
//   node play.mjs URL [TIMEOUT_MS]
// Waits until the page's video plays (window.sugarcast.playing), then two
// seconds more to see it advance.
import { createRequire } from 'node:module';

const require = createRequire(`${process.env.SUGARCAST_WEB_DIR}/`);
const { chromium } = require('playwright-core');

const [url, timeout = '20000'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--autoplay-policy=no-user-gesture-required'],
});
const result = { errors: [] };
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => result.errors.push(String(e)));
  const opened = Date.now();
  await page.goto(url);
  await page.waitForFunction(() => window.sugarcast && window.sugarcast.playing, null,
                             { timeout: Number(timeout) });
  result.openToPlayingMs = Date.now() - opened;
  Object.assign(result, await page.evaluate(() => ({
    firstFrameMs: window.sugarcast.firstFrameMs,
    title: document.getElementById('title').textContent,
    state: document.getElementById('state').textContent,
    width: document.getElementById('video').videoWidth,
    height: document.getElementById('video').videoHeight,
    time: document.getElementById('video').currentTime,
  })));
  /* Playback goes on: currentTime passes where it was (waiting on it, not
   * for a fixed time). */
  result.advanced = await page.waitForFunction((t) => document.getElementById('video').currentTime > t,
                                               result.time, { timeout: Number(timeout), polling: 100 })
    .then(() => true, () => false);
  result.pageErrors = await page.evaluate(() => window.sugarcast.errors);
} catch (e) {
  result.failure = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
