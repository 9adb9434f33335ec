// Drives Debian's Chromium (headless) with playwright-core through ganplug's performing surface.
// Usage: node surface.js JSON_ARGS — prints one JSON line with what it saw and did.
// args: chromium, url, viewport, mobile, screenshot, actions: [{do: ...}], and for two pages: second_url, sync.
"use strict";
const { chromium } = require("playwright-core");

const args = JSON.parse(process.argv[2] || "{}");
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const CONTROLS = { picture: "#view", next: '[data-ctl="next"]', tap: '[data-ctl="tap"]', pause: '[data-ctl="pause"]',
  walk: "#walks", speed: '[data-ctl="speed"]', truncation: '[data-ctl="truncation"]', blend: '[data-ctl="blend"]',
  seeds: "#seed-grid .thumb", keyframes: "#kf-grid", xy: "#pad", presets: "#pad-grid", save: '[data-ctl="preset-save"]',
  table: "#to-table" };

const waitFor = (page, fn, arg, timeout) => page.waitForFunction(fn, arg, { timeout: timeout || 20000, polling: 50 });

async function open(browser, url, out) {
  const context = await browser.newContext({ viewport: args.viewport || { width: 1024, height: 768 }, isMobile: !!args.mobile,
    hasTouch: !!args.mobile, deviceScaleFactor: args.scale || 1 });
  const page = await context.newPage();
  page.on("pageerror", (e) => out.console_errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") out.console_errors.push(m.text()); });
  const resp = await page.goto(url);
  out.status = resp.status();
  await waitFor(page, () => window.ganplug && window.ganplug.stats.frames >= 3 && window.ganplug.surface.state);
  // Every thumbnail of the seed grid is loaded (rendered by the server, decoded here).
  await waitFor(page, () => {
    const imgs = [...document.querySelectorAll("#seed-grid img")];
    return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  });
  return page;
}

async function fit(page, out) {
  out.scroll = await page.evaluate(() => [document.documentElement.scrollWidth - innerWidth, document.documentElement.scrollHeight - innerHeight]);
  out.boxes = {};
  for (const [name, sel] of Object.entries(CONTROLS)) {
    const box = await page.locator(sel).first().boundingBox();
    out.boxes[name] = box && [box.x, box.y, box.width, box.height].map(Math.round);
  }
  out.viewport = page.viewportSize();
  out.thumbs_loaded = await page.$$eval("#seed-grid img", (imgs) => imgs.filter((i) => i.naturalWidth > 0).length);
}

const surface = (page) => page.evaluate(() => JSON.parse(JSON.stringify(window.ganplug.surface)));

async function hold(page, locator, ms) {
  const box = await locator.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.waitForTimeout(ms);
  await page.mouse.up();
}

async function expectSeed(page, a, rec) {
  // The seed the server reports (its state push), when the action says which it should be.
  if (a.expect_seed === undefined) return;
  await waitFor(page, (s) => window.ganplug.surface.state.seed === s, a.expect_seed, 10000);
  rec.seed = a.expect_seed;
}

const ACTIONS = {
  async "tap-seed"(page, a, rec) {
    const thumb = page.locator("#seed-grid .thumb").nth(a.index);
    rec.seed = Number(await thumb.getAttribute("data-seed"));
    await thumb.click();
    await waitFor(page, (s) => window.ganplug.surface.state.seed === s, rec.seed);
  },
  async "hold-seed"(page, a, rec) {
    const thumb = page.locator("#seed-grid .thumb").nth(a.index);
    rec.seed = Number(await thumb.getAttribute("data-seed"));
    await hold(page, thumb, 800);
    await waitFor(page, (s) => (window.ganplug.surface.state.keyframes || []).includes(s), rec.seed);
    await waitFor(page, (s) => [...document.querySelectorAll("#kf-grid img")].some((i) => i.alt === String(s) && i.naturalWidth > 0), rec.seed);
  },
  async xy(page, a, rec) {
    if (a.axes) {
      await page.selectOption("#ax-x", String(a.axes[0]));
      await page.selectOption("#ax-y", String(a.axes[1]));
    }
    if (a.spring !== undefined && (await surface(page)).spring !== a.spring) await page.click("#spring");
    const box = await page.locator("#pad").boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * a.x, box.y + box.height * a.y, { steps: 8 });
    await page.waitForTimeout(150);
    rec.while_held = (await surface(page)).xy.map((v) => v * 3);
    await page.mouse.up();
    await page.waitForTimeout(a.spring ? 600 : 200);
    const s = await surface(page);
    rec.after = s.xy.map((v) => v * 3);
    rec.kind = s.axisKind;
    rec.axes = s.axes;
    rec.sent = s.sent.filter(([addr]) => /\/(direction|z)\/\d+$/.test(addr)).slice(-4);
  },
  async key(page, a, rec) {
    await page.keyboard.press(a.key);
    await page.waitForTimeout(a.wait || 300);
    await expectSeed(page, a, rec);
  },
  async preset(page, a, rec) {
    await waitFor(page, (n) => [...document.querySelectorAll("#pad-grid .pad")].some((b) => b.dataset.preset === n &&
      b.querySelector("img").naturalWidth > 0), a.name);
    rec.pads = await page.$$eval("#pad-grid .pad", (bs) => bs.map((b) => b.dataset.preset));
    await page.click(`#pad-grid [data-preset="${a.name}"]`);
    await page.waitForTimeout(a.wait || 300);
    await expectSeed(page, a, rec);
  },
  async save(page, a, rec) {
    const before = (await surface(page)).presets.length;
    await page.click('[data-ctl="preset-save"]');
    await waitFor(page, (n) => window.ganplug.surface.presets.length > n, before);
    rec.pads = (await surface(page)).presets.map((p) => p.name);
  },
  async reconnect(page, a, rec) {
    // The server goes away and comes back (the test restarts it): the page finds it again by itself.
    await waitFor(page, () => !window.ganplug.stats.connected, null, 30000);
    const t0 = Date.now();
    await waitFor(page, (s) => window.ganplug.stats.connected && window.ganplug.surface.state.seed === s, a.expect_seed, 30000);
    rec.ms = Date.now() - t0;
    rec.seed = a.expect_seed;
  },
  async fullscreen(page, a, rec) {
    // A tap on the picture: the picture alone, as large as the screen allows; a second tap: the surface again.
    await page.click("#view");
    await page.waitForTimeout(300);
    const box = await page.locator("#view").boundingBox();
    rec.full = [Math.round(box.width), Math.round(box.height)];
    rec.on = await page.evaluate(() => document.body.classList.contains("full"));
    await page.click("#view");
    await page.waitForTimeout(300);
    rec.off = await page.evaluate(() => !document.body.classList.contains("full"));
  },
  async sleep(page, a) { await page.waitForTimeout(a.ms); },
  async screenshot(page, a) { await page.screenshot({ path: a.path }); },
};

async function sync(browser, pages, out) {
  // A change on one surface shows on the other: time from the click to the other page's control.
  const [a, b] = pages;
  out.sync = [];
  for (const mode of args.sync) {
    const t0 = Date.now();
    await a.click(`[data-ctl="walk-${mode}"]`);
    await waitFor(b, (m) => document.querySelector(`[data-ctl="walk-${m}"]`).classList.contains("on"), mode, 10000);
    out.sync.push({ mode, ms: Date.now() - t0 });
  }
}

(async () => {
  const browser = await chromium.launch({ executablePath: args.chromium || "/usr/bin/chromium", args: FLAGS });
  const out = { console_errors: [], actions: [] };
  try {
    const page = await open(browser, args.url, out);
    await fit(page, out);
    if (args.screenshot) await page.screenshot({ path: args.screenshot });
    for (const a of args.actions || []) {
      const rec = { do: a.do };
      await ACTIONS[a.do](page, a, rec);
      out.actions.push(rec);
    }
    if (args.second_url) await sync(browser, [page, await open(browser, args.second_url, {console_errors: out.console_errors})], out);
    out.errors = await page.evaluate(() => window.ganplug.stats.errors);
  } catch (e) {
    out.failure = String(e && e.stack || e);
    process.exitCode = 1;
  } finally {
    await browser.close();
    console.log(JSON.stringify(out));
  }
})();
