// Drives Debian's Chromium (headless) with playwright-core for ganplug's web tests.
// Usage: node browser.js SCENARIO JSON_ARGS   — prints one JSON line with what it saw.
// Scenarios:
//   page    open the control page, wait for frames and for them to change, list the controls,
//           click a slider, take a screenshot
//   status  open a URL and report its HTTP status; optionally try a WebSocket from that page
//   sketch  open the p5.js example (p5 served from node_modules), wait for frames, move the mouse
//   follow  open the control page, print READY, wait until it shows model args.expect (switched by the test)
"use strict";
const path = require("path");
const { chromium } = require("playwright-core");

const [scenario, rawArgs] = process.argv.slice(2);
const args = JSON.parse(rawArgs || "{}");
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

async function waitFor(page, fn, arg, timeout) {
  await page.waitForFunction(fn, arg, { timeout: timeout || args.timeout || 30000, polling: 100 });
}

async function scenarioPage(page, out) {
  const resp = await page.goto(args.url);
  out.status = resp.status();
  await waitFor(page, () => document.querySelectorAll("[data-address]").length > 0);
  out.addresses = await page.$$eval("[data-address]", (els) => els.map((e) => e.dataset.address));
  // Frames arrive...
  await waitFor(page, () => window.ganplug.stats.frames >= 3);
  // ...and change: the picture on the canvas is not the one we first saw.
  // (read together, in one task of the page, so no frame is drawn in between)
  const [first, frames0] = await page.evaluate(() => [document.querySelector("#view").toDataURL(), window.ganplug.stats.frames]);
  await waitFor(page, (f) => document.querySelector("#view").toDataURL() !== f, first);
  out.frames_before = frames0;
  out.frames = await page.evaluate(() => window.ganplug.stats.frames);
  out.last_frame = await page.evaluate(() => window.ganplug.stats.lastFrame);
  out.canvas = await page.$eval("#view", (c) => [c.width, c.height]);
  // The size the canvas is shown at, in CSS pixels (its shape must be the frame's).
  out.view_box = await page.$eval("#view", (c) => { const r = c.getBoundingClientRect(); return [r.width, r.height]; });
  // Nothing sticks out sideways on this screen size.
  out.overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (args.slider) {
    // A real click on the slider's track, as a thumb on a phone would do it.
    const range = page.locator(`[data-address="${args.slider}"] input[type=range]`);
    await range.scrollIntoViewIfNeeded();
    const box = await range.boundingBox();
    await page.mouse.click(box.x + box.width * args.fraction, box.y + box.height / 2);
    out.slider_value = Number(await page.locator(`[data-address="${args.slider}"] input.value`).inputValue());
    await page.waitForTimeout(300); // let the throttled send and a state push through
  }
  if (args.screenshot) {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: args.screenshot, fullPage: true });
  }
  out.errors = await page.evaluate(() => window.ganplug.stats.errors);
}

async function scenarioStatus(page, out) {
  const resp = await page.goto(args.url);
  out.status = resp.status();
  out.body = (await resp.text()).slice(0, 200);
  if (args.websocket) {
    out.websocket = await page.evaluate((url) => new Promise((resolve) => {
      const ws = new WebSocket(url);
      ws.onopen = () => { resolve("open"); ws.close(); };
      ws.onerror = () => resolve("refused");
    }), args.websocket);
  }
}

async function scenarioSketch(page, out) {
  // The example loads p5 from a CDN; this machine has no internet, so the CDN is served from node_modules.
  await page.route(/\/p5(@[^/]*)?\/lib\/p5(\.min)?\.js$/, (route) =>
    route.fulfill({ path: path.join(__dirname, "node_modules", "p5", "lib", "p5.min.js"), contentType: "text/javascript" }));
  const resp = await page.goto(args.url);
  out.status = resp.status();
  await waitFor(page, () => window.ganplugSketch && window.ganplugSketch.frames >= 3);
  const canvas = page.locator("canvas").first();
  const box = await canvas.boundingBox();
  await page.mouse.move(box.x + box.width * args.x, box.y + box.width * args.y, { steps: 5 });
  await waitFor(page, () => window.ganplugSketch.speed !== null);
  await page.waitForTimeout(300);
  out.sketch = await page.evaluate(() => Object.assign({}, window.ganplugSketch));
  const drawn = await canvas.boundingBox(); // after frames: the canvas follows the frame's shape
  out.canvas_box = [Math.round(drawn.width), Math.round(drawn.height)];
  if (args.screenshot) await page.screenshot({ path: args.screenshot });
}

// What the page shows of the model: its label, the z-dependent rows of the table, the XY pad's axes, a seed thumbnail.
const modelView = (page) => page.evaluate(() => {
  const img = document.querySelector("#seed-grid img");
  return {
    label: document.querySelector("#model").textContent,
    z_placeholder: document.querySelector('[data-address="/ganplug/z"] input[type=text]').placeholder,
    z_index_max: Number(document.querySelector('[data-address="/ganplug/z/N"] input[type=number]').max),
    axes: document.querySelectorAll("#ax-x option").length,
    thumb: img && { src: img.getAttribute("src"), size: [img.naturalWidth, img.naturalHeight] },
    canvas: [document.querySelector("#view").width, document.querySelector("#view").height],
    models: window.ganplug.stats.models,
    marker: window.followMarker || null, // set before the switch: still there = no reload
  };
});

const thumbsLoaded = () => {
  const imgs = [...document.querySelectorAll("#seed-grid img")];
  return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
};

async function scenarioFollow(page, out) {
  // Open the page, report what it shows, print READY; the test switches the model over OSC; then
  // wait until the label names args.expect and report again (the page is never reloaded).
  const resp = await page.goto(args.url);
  out.status = resp.status();
  await waitFor(page, () => window.ganplug.stats.frames >= 2 && document.querySelector("#seed-grid img"));
  await waitFor(page, thumbsLoaded);
  out.before = await modelView(page);
  await page.evaluate(() => { window.followMarker = "same page"; });
  console.log("READY");
  const t0 = Date.now();
  await waitFor(page, (name) => document.querySelector("#model").textContent.startsWith(name + " "), args.expect, 20000);
  out.seconds = (Date.now() - t0) / 1000;
  await waitFor(page, (n) => document.querySelectorAll("#ax-x option").length === n, args.axes, 10000);
  await waitFor(page, thumbsLoaded);
  out.after = await modelView(page);
  out.errors = await page.evaluate(() => window.ganplug.stats.errors);
}

(async () => {
  const browser = await chromium.launch({ executablePath: args.chromium || "/usr/bin/chromium", args: FLAGS });
  const out = { scenario, console_errors: [] };
  try {
    const context = await browser.newContext({ viewport: args.viewport || { width: 1280, height: 800 }, isMobile: !!args.mobile,
      hasTouch: !!args.mobile, deviceScaleFactor: args.scale || 1 });
    const page = await context.newPage();
    page.on("pageerror", (e) => out.console_errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") out.console_errors.push(m.text()); });
    const run = { page: scenarioPage, status: scenarioStatus, sketch: scenarioSketch, follow: scenarioFollow }[scenario];
    if (!run) throw new Error(`unknown scenario ${scenario}`);
    await run(page, out);
  } catch (e) {
    out.failure = String(e && e.stack || e);
    process.exitCode = 1;
  } finally {
    await browser.close();
    console.log(JSON.stringify(out));
  }
})();
