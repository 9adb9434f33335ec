// The performing surface: the picture, a seed grid, an XY pad, preset pads, big buttons and
// thumb sliders. It speaks only the page's WebSocket (window.ganplug from app.js): every
// control sends {type: "osc", address, args}, which the server puts into the show's inbox
// like any OSC message; what it shows comes from the state the server pushes to every page.
// Thumbnails come from the server over HTTP (thumb/SEED.jpg, preset/NAME.jpg, presets).
"use strict";
(() => {
  const g = window.ganplug;
  const $ = (sel, root = document) => root.querySelector(sel);
  const GRID = 32; // seeds in the grid
  const RANGE = 3; // the XY pad's edge, in standard deviations (directions) or latent units
  const LONG_PRESS = 450; // ms
  const S = { // what the surface is doing; window.ganplug.surface, read by the tests
    state: null, model: null, offset: 0, axes: [0, 1], axisKind: "direction", xy: [0, 0], spring: false,
    presets: [], rtt: null, sent: [],
  };
  g.surface = S;
  const touched = new Map();
  const touch = (k) => touched.set(k, performance.now());
  const fresh = (k) => performance.now() - (touched.get(k) || -1e9) < 800;
  const send = (address, args) => { S.sent.push([address, args]); if (S.sent.length > 50) S.sent.shift(); g.send(address, args); };
  const withToken = (params) => {
    const u = new URLSearchParams(params);
    if (g.token) u.set("token", g.token);
    return "?" + u.toString();
  };
  const el = (tag, props = {}, ...kids) => {
    const e = Object.assign(document.createElement(tag), props);
    e.append(...kids);
    return e;
  };

  // ------------------------------------------------------------------ views and the picture

  function setView() {
    const table = location.hash === "#table";
    document.body.classList.toggle("view-table", table);
    document.body.classList.toggle("view-surface", !table);
    $("#to-table").classList.toggle("on", table);
    $("#to-surface").classList.toggle("on", !table);
  }
  window.addEventListener("hashchange", setView);
  setView();

  $("#stage").addEventListener("click", () => {
    // CSS full screen always (phones without the Fullscreen API for elements), the real thing where there is one.
    const on = document.body.classList.toggle("full");
    const st = $("#stage");
    if (on && st.requestFullscreen) st.requestFullscreen().catch(() => {});
    else if (!on && document.fullscreenElement) document.exitFullscreen().catch(() => {});
  });
  document.addEventListener("fullscreenchange", () => { if (!document.fullscreenElement) document.body.classList.remove("full"); });

  // ------------------------------------------------------------------ press: tap and long-press on one element

  function pressable(node, onTap, onLong) {
    let timer = null, long = false;
    node.addEventListener("pointerdown", (e) => {
      if (e.button > 0) return;
      long = false;
      clearTimeout(timer);
      timer = setTimeout(() => { long = true; node.classList.add("held"); onLong(); }, LONG_PRESS);
    });
    const cancel = () => { clearTimeout(timer); timer = null; };
    node.addEventListener("pointerup", () => { if (timer && !long) { cancel(); onTap(); } cancel(); setTimeout(() => node.classList.remove("held"), 200); });
    node.addEventListener("pointerleave", cancel);
    node.addEventListener("pointercancel", cancel);
    node.addEventListener("contextmenu", (e) => e.preventDefault());
    node.addEventListener("keydown", (e) => { if (e.key === "Enter") onTap(); });
  }

  // ------------------------------------------------------------------ seeds and keyframes

  const psi = () => (S.state ? Number(S.state.truncation) : 1).toFixed(1); // 0.1 steps: a slider move costs few renders
  const modelKey = () => S.model ? `${S.model.name}-${S.model.width}x${S.model.height}-${S.model.z_dim}` : "";
  const thumbUrl = (seed) => `thumb/${seed}.jpg` + withToken({ psi: psi(), m: modelKey() });

  function thumb(seed, onTap, onLong) {
    const b = el("button", { type: "button", className: "thumb", title: `seed ${seed}` },
      el("img", { src: thumbUrl(seed), alt: String(seed), draggable: false, decoding: "async" }), el("span", { textContent: seed }));
    b.dataset.seed = seed;
    pressable(b, onTap, onLong);
    return b;
  }

  function goSeed(seed) {
    S.offset = 0;
    send("/ganplug/seed", [seed]);
  }

  function addKeyframe(seed) {
    const kf = (S.state.keyframes || []).slice();
    kf.push(seed);
    send("/ganplug/keyframes", kf.slice(-64));
  }

  function drawSeeds(force) {
    if (!S.state) return;
    const top = Math.min(2 ** 31 - 1 - GRID, Math.max(0, S.state.seed + 1 + S.offset));
    const key = `${top}|${psi()}|${modelKey()}`;
    const grid = $("#seed-grid");
    if (grid.dataset.key !== key || force) {
      grid.dataset.key = key;
      const seeds = Array.from({ length: GRID }, (_, i) => top + i);
      grid.replaceChildren(...seeds.map((s) => thumb(s, () => goSeed(s), () => addKeyframe(s))));
      grid.scrollLeft = 0;
      grid.scrollTop = 0;
    }
    const kf = S.state.keyframes || [];
    const kgrid = $("#kf-grid");
    const kkey = `${kf.join(",")}|${psi()}|${modelKey()}`;
    if (kgrid.dataset.key !== kkey) {
      kgrid.dataset.key = kkey;
      kgrid.replaceChildren(...kf.map((s, i) => thumb(s, () => send("/ganplug/seed", [s]),
        () => send("/ganplug/keyframes", kf.filter((_, j) => j !== i)))));
    }
  }

  $('[data-ctl="seeds-back"]').onclick = () => { S.offset -= GRID; drawSeeds(); };
  $('[data-ctl="seeds-on"]').onclick = () => { S.offset += GRID; drawSeeds(); };
  $('[data-ctl="seed-random"]').onclick = () => goSeed(Math.floor(Math.random() * 1e6));
  $('[data-ctl="kf-clear"]').onclick = () => send("/ganplug/keyframes", []);

  // ------------------------------------------------------------------ XY pad

  const pad = $("#pad"), puck = $("#puck");
  const axisAddress = (i) => `/ganplug/${S.axisKind === "direction" ? "direction" : "z"}/${S.axes[i]}`;

  function placePuck() {
    puck.style.left = `${(S.xy[0] + 1) * 50}%`;
    puck.style.top = `${(1 - S.xy[1]) * 50}%`;
    pad.setAttribute("aria-valuetext", `x ${(S.xy[0] * RANGE).toFixed(2)}, y ${(S.xy[1] * RANGE).toFixed(2)}`);
  }

  let lastSent = [null, null];
  const sendXY = g.throttled(() => {
    for (const i of [0, 1]) {
      const v = Number((S.xy[i] * RANGE).toFixed(3));
      const addr = axisAddress(i);
      if (lastSent[i] !== addr + v) { lastSent[i] = addr + v; send(addr, [v]); }
    }
  }, 30);

  function moveXY(x, y) {
    S.xy = [Math.max(-1, Math.min(1, x)), Math.max(-1, Math.min(1, y))];
    touch("xy");
    placePuck();
    sendXY();
  }

  function springBack() {
    // Back to the centre in a few steps, so the picture glides rather than jumps.
    const from = S.xy.slice();
    let step = 0;
    const tick = () => {
      step += 1;
      const k = 1 - step / 6;
      moveXY(from[0] * k, from[1] * k);
      if (step < 6 && !pointers.size) setTimeout(tick, 40);
    };
    tick();
  }

  const pointers = new Map(); // the pad follows the newest finger on it; the others wait their turn
  const fromEvent = (e) => {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * 2 - 1, 1 - ((e.clientY - r.top) / r.height) * 2];
  };
  pad.addEventListener("pointerdown", (e) => {
    pad.setPointerCapture(e.pointerId);
    pointers.set(e.pointerId, fromEvent(e));
    moveXY(...fromEvent(e));
  });
  pad.addEventListener("pointermove", (e) => {
    if (!pointers.has(e.pointerId)) return;
    pointers.delete(e.pointerId);
    pointers.set(e.pointerId, fromEvent(e)); // newest last
    moveXY(...fromEvent(e));
  });
  const lift = (e) => {
    if (!pointers.delete(e.pointerId)) return;
    if (pointers.size) moveXY(...[...pointers.values()].pop());
    else if (S.spring) springBack();
  };
  pad.addEventListener("pointerup", lift);
  pad.addEventListener("pointercancel", lift);
  $("#spring").onclick = () => { S.spring = !S.spring; $("#spring").setAttribute("aria-pressed", String(S.spring)); };

  let axesKey = "";
  function fillAxes() {
    // The pad's axes: the model's directions, else its first latent components; rebuilt when either changes.
    const dirs = S.state && Array.isArray(S.state.directions) ? S.state.directions.length : 0;
    const n = dirs || Math.min(S.model ? S.model.z_dim : 2, 64);
    if (axesKey === `${dirs}|${n}`) return;
    axesKey = `${dirs}|${n}`;
    S.axisKind = dirs ? "direction" : "z";
    const label = dirs ? "dir" : "z";
    for (const [i, id] of [[0, "#ax-x"], [1, "#ax-y"]]) {
      const sel = $(id);
      sel.replaceChildren(...Array.from({ length: n }, (_, k) => el("option", { value: k, textContent: `${label} ${k}` })));
      if (!(S.axes[i] < n)) S.axes[i] = Math.min(i, n - 1); // a reconnect keeps the performer's choice
      sel.value = S.axes[i];
      sel.onchange = () => { S.axes[i] = Number(sel.value); lastSent = [null, null]; showXY(true); };
    }
    lastSent = [null, null];
  }

  function showXY(force) {
    // Where the server says the two axes are (direction amounts, or a held latent's components).
    if (!S.state || (fresh("xy") && !force) || pointers.size) return;
    const src = S.axisKind === "direction" ? S.state.directions : S.state.latent;
    S.xy = S.axes.map((a) => (src && typeof src[a] === "number" ? Math.max(-1, Math.min(1, src[a] / RANGE)) : 0));
    placePuck();
  }

  // ------------------------------------------------------------------ preset pads

  async function loadPresets() {
    try {
      const r = await fetch("presets" + withToken({}), { cache: "no-store" });
      if (!r.ok) return;
      const list = (await r.json()).presets;
      const key = list.map((p) => p.name + "@" + p.version).join(",") + "|" + modelKey(); // a pad's picture is the model's
      S.presets = list;
      const grid = $("#pad-grid");
      if (grid.dataset.key === key) return;
      grid.dataset.key = key;
      grid.replaceChildren(...list.map((p, i) => {
        const b = el("button", { type: "button", className: "thumb pad", title: `load ${p.name}` },
          el("img", { src: `preset/${encodeURIComponent(p.name)}.jpg` + withToken({ v: p.version, m: modelKey() }), alt: "", draggable: false }),
          el("span", { textContent: (i < 9 ? `${i + 1} · ` : "") + p.name }));
        b.dataset.preset = p.name;
        b.onclick = () => loadPreset(p.name);
        return b;
      }));
    } catch (e) { /* the server is restarting: the next poll tries again */ }
  }
  const loadPreset = (name) => send("/ganplug/preset/load", [name]);

  $('[data-ctl="preset-save"]').onclick = () => {
    const taken = new Set(S.presets.map((p) => p.name));
    let n = 1;
    while (taken.has(`pad-${String(n).padStart(2, "0")}`)) n += 1;
    send("/ganplug/preset/save", [`pad-${String(n).padStart(2, "0")}`]);
    setTimeout(loadPresets, 300);
    setTimeout(loadPresets, 1000);
  };
  setInterval(loadPresets, 3000); // pads saved on another surface appear here too

  // ------------------------------------------------------------------ buttons and sliders

  $('[data-ctl="next"]').onclick = () => send("/ganplug/next", []);
  $('[data-ctl="tap"]').addEventListener("pointerdown", () => send("/ganplug/beat", [])); // on the press: taps are timing
  $('[data-ctl="tap"]').addEventListener("keydown", (e) => { if (e.key === "Enter") send("/ganplug/beat", []); });
  $('[data-ctl="pause"]').onclick = () => {
    const b = $('[data-ctl="pause"]');
    const v = b.getAttribute("aria-pressed") === "true" ? 0 : 1;
    touch("pause");
    b.setAttribute("aria-pressed", String(Boolean(v)));
    send("/ganplug/pause", [v]);
  };

  const sliders = {};
  function buildSliders(table) {
    const spec = (name) => table.find((s) => s.name === name);
    const walk = spec("walk");
    $("#walks").replaceChildren(...walk.args[0].choices.map((c) => {
      const b = el("button", { type: "button", textContent: c });
      b.dataset.ctl = "walk-" + c;
      b.onclick = () => { touch("walk"); showWalk(c); send(walk.address, [c]); };
      return b;
    }));
    // blend: a square scale, so the short cross-fades a hand uses most get most of the travel
    const scales = { speed: [(p) => p, (v) => v], truncation: [(p) => p, (v) => v], blend: [(p) => p * p, (v) => Math.sqrt(v)] };
    $("#sliders").replaceChildren(...Object.keys(scales).map((name) => slider(spec(name), ...scales[name])));
  }

  function slider(spec, shape, unshape) {
    const a = spec.args[0];
    const toV = (pos) => a.lo + shape(pos / 1000) * (a.hi - a.lo);
    const toPos = (v) => Math.round(unshape((v - a.lo) / (a.hi - a.lo)) * 1000);
    const range = el("input", { type: "range", min: 0, max: 1000, step: 1 });
    range.setAttribute("aria-label", spec.name);
    const out = el("output", { className: "value" });
    const row = el("label", { className: "slider" }, el("span", { textContent: spec.name }), range, out);
    row.dataset.ctl = spec.name;
    const fmt = (v) => Number(v.toPrecision(3)).toString();
    const go = g.throttled((v) => send(spec.address, [v]), 40);
    range.addEventListener("input", () => {
      touch(spec.name);
      const v = Number(toV(range.value).toFixed(3));
      out.textContent = fmt(v);
      go(v);
    });
    range.addEventListener("dblclick", () => { touch(spec.name); range.value = toPos(spec.default); out.textContent = fmt(spec.default); go(spec.default); });
    sliders[spec.name] = (v) => { if (!fresh(spec.name)) { range.value = toPos(v); out.textContent = fmt(v); } };
    sliders[spec.name](spec.default);
    return row;
  }

  function showWalk(mode) {
    for (const b of $("#walks").children) b.classList.toggle("on", b.textContent === mode);
  }


  // ------------------------------------------------------------------ keyboard (a laptop)

  const STEP = 0.1;
  const ARROWS = { ArrowLeft: [-STEP, 0], ArrowRight: [STEP, 0], ArrowUp: [0, STEP], ArrowDown: [0, -STEP] };
  document.addEventListener("keydown", (e) => {
    if (document.body.classList.contains("view-table") || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target.matches("input, select, textarea")) return;
    if (e.key === " ") { e.preventDefault(); send("/ganplug/next", []); }
    else if (e.key === "t" || e.key === "T") send("/ganplug/beat", []);
    else if (/^[1-9]$/.test(e.key) && S.presets[Number(e.key) - 1]) loadPreset(S.presets[Number(e.key) - 1].name);
    else if (ARROWS[e.key]) { e.preventDefault(); moveXY(S.xy[0] + ARROWS[e.key][0], S.xy[1] + ARROWS[e.key][1]); }
  });

  // ------------------------------------------------------------------ from the server

  // The control round trip shown beside the fps: a /ganplug/ping through the show's inbox and back.
  let pingId = 1;
  const pingAt = new Map();
  const ping = () => {
    if (!g.stats.connected) return;
    pingId = (pingId % 1000000) + 1;
    pingAt.set(pingId, performance.now());
    g.send("/ganplug/ping", [pingId]);
  };
  setInterval(ping, 2000);

  g.on("reply", (msg) => {
    for (const r of msg.messages) {
      const t0 = r.address === "/ganplug/pong" ? pingAt.get(r.args[0]) : undefined;
      if (t0 !== undefined) { S.rtt = performance.now() - t0; pingAt.clear(); }
    }
  });

  function onModel(msg) {
    // A new model in A: its z_dim, shape and pictures (seed thumbnails and pads are keyed by it).
    S.model = msg.model;
    S.modelB = msg.model_b;
    buildSliders(msg.table);
    fillAxes();
    drawSeeds();
    loadPresets();
  }

  g.on("hello", (msg) => {
    axesKey = "";
    S.state = msg.state.state;
    onModel(msg);
    ping();
  });
  g.on("model", onModel);

  g.on("state", (msg) => {
    const s = msg.state;
    S.state = s;
    S.frame = msg.frame;
    drawSeeds();
    fillAxes(); // a switch resets the directions: the new model's count comes with the state
    showWalk(s.walk);
    for (const name of Object.keys(sliders)) if (name in s) sliders[name](Number(s[name]));
    if (!fresh("pause")) $('[data-ctl="pause"]').setAttribute("aria-pressed", String(Boolean(s.pause)));
    $("#bpm").textContent = s.bpm > 0 ? Math.round(s.bpm) : "";
    showXY(false);
    $("#meter").textContent = `${msg.measured_fps.toFixed(1)} fps · ${S.rtt === null ? "–" : Math.round(S.rtt)} ms`;
  });
})();
