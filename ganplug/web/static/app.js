// The ganplug control surface. Every control is built from the address table the server
// sends on connect ("hello") and again when the models on screen change ("model"); this
// file names no OSC address. Control messages go to the
// server as {type: "osc", address, args}, the same path OSC takes; frames come as binary
// messages (12-byte header + JPEG/PNG) and each drawn frame is acknowledged, which is what
// lets the server send the next one.
"use strict";
(() => {
  const $ = (sel, el = document) => el.querySelector(sel);
  const token = new URLSearchParams(location.search).get("token");
  const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ui/ws` +
    (token ? `?token=${encodeURIComponent(token)}` : "");
  const view = $("#view");
  const ctx = view.getContext("2d");
  const updaters = new Map(); // param name -> function(value) that shows the server's value
  const touched = new Map(); // param name -> time the performer last moved its control
  const stats = { frames: 0, lastFrame: -1, connected: false, errors: [], replies: [] };
  let ws = null;
  let table = [];
  const listeners = { hello: [], model: [], state: [], reply: [], open: [], close: [] }; // the surface (surface.js) listens here
  const emit = (type, msg) => (listeners[type] || []).forEach((fn) => fn(msg));

  // ------------------------------------------------------------------ connection

  function setStatus(text, cls) {
    const s = $("#status");
    s.textContent = text;
    s.className = "status " + (cls || "");
  }

  function connect() {
    ws = new WebSocket(wsUrl);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => { stats.connected = true; setStatus("connected", "ok"); emit("open"); };
    ws.onclose = (ev) => {
      stats.connected = false;
      emit("close");
      setStatus(ev.code === 1006 ? "no connection — retrying" : `closed (${ev.code}) — retrying`, "bad");
      setTimeout(connect, 1500);
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") onText(JSON.parse(ev.data));
      else onFrame(ev.data);
    };
  }

  function send(address, args) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "osc", address, args }));
  }

  // ------------------------------------------------------------------ frames

  function onFrame(buf) {
    const dv = new DataView(buf);
    const id = dv.getUint32(0), w = dv.getUint16(4), h = dv.getUint16(6), format = dv.getUint8(9);
    const blob = new Blob([new Uint8Array(buf, 12)], { type: format === 1 ? "image/png" : "image/jpeg" });
    const ack = () => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "ack", frame: id })); };
    createImageBitmap(blob).then((bmp) => requestAnimationFrame(() => {
      if (view.width !== w || view.height !== h) {
        view.width = w;
        view.height = h;
        view.style.setProperty("--aspect", String(w / h)); // the frame's own shape, square or not (app.css)
        view.classList.toggle("smooth", w > 256);
      }
      ctx.drawImage(bmp, 0, 0);
      bmp.close();
      stats.frames += 1;
      stats.lastFrame = id;
      ack(); // drawn: now the server may send the newest frame
    }), () => ack());
  }

  // ------------------------------------------------------------------ messages

  function log(text, cls) {
    const li = document.createElement("li");
    li.textContent = text;
    if (cls) li.className = cls;
    const list = $("#log");
    list.prepend(li);
    while (list.children.length > 6) list.lastChild.remove();
  }

  function onText(msg) {
    if (msg.type === "hello") {
      onModel(msg);
      onState(msg.state);
      emit("hello", msg);
      emit("state", msg.state);
    } else if (msg.type === "model") {
      // The models on screen changed (/ganplug/model/load, /ganplug/model/b): the same fields as hello, no state.
      onModel(msg);
      emit("model", msg);
    } else if (msg.type === "state") {
      onState(msg);
      emit("state", msg);
    } else if (msg.type === "reply") {
      emit("reply", msg);
      for (const r of msg.messages) {
        stats.replies.push(r);
        if (r.address.endsWith("/error")) {
          stats.errors.push(r.args[0]);
          log(r.args[0], "error");
        } else if (r.args.length > 8) {
          log(`${r.address}: ${r.args.length} values`);
        } else {
          log(`${r.address} ${r.args.join(" ")}`);
        }
      }
    }
  }

  function onModel(msg) {
    table = msg.table;
    const size = (m) => `${m.width || m.resolution}×${m.height || m.resolution}`;
    const m = msg.model, b = msg.model_b;
    $("#model").textContent = `${m.name} · ${size(m)} · z ${m.z_dim}` + (b ? ` · B ${b.name} · ${size(b)} · z ${b.z_dim}` : "") +
      ` · OSC port ${msg.osc_port}`;
    stats.model = m;
    stats.modelB = b || null;
    stats.models = (stats.models || 0) + 1; // hello and model messages taken, for the tests
    build(table);
  }

  function onState(msg) {
    const s = msg.state;
    const now = performance.now();
    for (const [name, show] of updaters) {
      if (name in s && !(now - (touched.get(name) || -1e9) < 800)) show(s[name]);
    }
    $("#readout").textContent = `frame ${msg.frame} · ${msg.measured_fps.toFixed(1)} fps · walk time ${msg.time.toFixed(1)} s` +
      (s.pause ? " · paused" : "") + (msg.latent_held ? " · latent held" : "");
    stats.state = msg;
  }

  // ------------------------------------------------------------------ controls, from the table

  const el = (tag, props = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined) continue;
      if (k.includes("-")) e.setAttribute(k, v); // aria-label and friends are attributes
      else e[k] = v;
    }
    for (const c of children) e.append(c);
    return e;
  };
  const leaf = (spec) => spec.address.split("/").slice(2).join(" ");

  function throttled(fn, ms) {
    // At most one call per ms, and the last value always goes out.
    let last = 0, timer = null, pending = null;
    return (...args) => {
      pending = args;
      const wait = last + ms - performance.now();
      if (wait <= 0) { last = performance.now(); fn(...pending); }
      else if (!timer) timer = setTimeout(() => { timer = null; last = performance.now(); fn(...pending); }, wait);
    };
  }

  function numberOf(arg, text) {
    const v = Number(text);
    return arg.type === "i" ? Math.round(v) : v;
  }

  function slider(arg, onValue) {
    // A log scale where the range spans decades (period 0.1 … 600 s), linear elsewhere.
    const log10 = arg.lo > 0 && arg.hi / arg.lo >= 100;
    const toPos = (v) => log10 ? (Math.log(v) - Math.log(arg.lo)) / (Math.log(arg.hi) - Math.log(arg.lo)) : (v - arg.lo) / (arg.hi - arg.lo);
    const fromPos = (p) => log10 ? Math.exp(Math.log(arg.lo) + p * (Math.log(arg.hi) - Math.log(arg.lo))) : arg.lo + p * (arg.hi - arg.lo);
    const steps = arg.type === "i" ? Math.min(arg.hi - arg.lo, 1000) : 1000;
    const range = el("input", { type: "range", min: 0, max: steps, step: 1, "aria-label": arg.name });
    const box = el("input", { type: "number", className: "value", step: "any", min: arg.lo, max: arg.hi, "aria-label": arg.name + " value" });
    const round = (v) => arg.type === "i" ? Math.round(v) : Number(v.toPrecision(4));
    const show = (v) => { range.value = Math.round(toPos(v) * steps); box.value = round(v); };
    range.addEventListener("input", () => {
      const v = round(fromPos(range.value / steps));
      box.value = v;
      onValue(v);
    });
    box.addEventListener("change", () => { const v = numberOf(arg, box.value); show(v); onValue(v); });
    return { nodes: [range, box], show };
  }

  function control(spec) {
    const wrap = el("div", { className: "control" });
    wrap.dataset.address = spec.address;
    wrap.dataset.kind = spec.kind;
    const id = "c-" + spec.name;
    wrap.append(el("label", { htmlFor: id, textContent: leaf(spec) }));
    const row = el("div", { className: "row" });
    wrap.append(row, el("div", { className: "doc", textContent: spec.doc }));
    const touch = () => touched.set(spec.name, performance.now());
    const isParam = spec.kind === "param";
    const args = spec.args;
    const a = args[0];

    if (spec.indexed) {
      // /…/N: which component, then its value.
      const index = el("input", { type: "number", id, className: "value", min: 0, max: spec.index_max, step: 1, value: 0, "aria-label": "index" });
      const s = slider(a, throttled((v) => send(spec.address.replace(/\/N$/, "/" + Math.max(0, Math.round(index.value))), [v]), 40));
      s.show(0);
      row.append(index, ...s.nodes);
    } else if (spec.variadic) {
      const input = el("input", { type: "text", id, inputMode: a.type === "s" ? "text" : "decimal",
        placeholder: spec.count ? `${spec.count} × ${a.name}` : `${a.name}: 1 to ${spec.max_items}, e.g. 3 7 42` });
      const go = () => {
        const vals = input.value.split(/[\s,;]+/).filter(Boolean).map((t) => a.type === "s" ? t : numberOf(a, t));
        if (vals.length) send(spec.address, vals);
      };
      input.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
      input.addEventListener("input", touch);
      row.append(input, el("button", { type: "button", textContent: "send", onclick: go }));
      if (a.type === "f" && spec.count) {
        // A random point of the latent space: count standard normals (Box–Muller), clamped to the range.
        const normal = () => Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
        row.append(el("button", { type: "button", textContent: "random", onclick: () => {
          const vals = Array.from({ length: spec.count }, () => Math.max(a.lo, Math.min(a.hi, Number(normal().toFixed(3)))));
          input.value = vals.join(" ");
          send(spec.address, vals);
        } }));
      }
      if (isParam) updaters.set(spec.name, (v) => { if (document.activeElement !== input) input.value = (v || []).join(" "); });
    } else if (args.length === 0) {
      row.append(el("button", { type: "button", id, textContent: leaf(spec), onclick: () => send(spec.address, []) }));
    } else if (args.length === 1 && a.type === "s" && a.choices.length) {
      const box = el("div", { className: "choices", id, role: "group" });
      const buttons = a.choices.map((c) => el("button", { type: "button", textContent: c, onclick: () => { touch(); show(c); send(spec.address, [c]); } }));
      const show = (v) => buttons.forEach((b) => b.classList.toggle("on", b.textContent === v));
      box.append(...buttons);
      row.append(box);
      if (isParam) updaters.set(spec.name, show);
    } else if (args.length === 1 && a.type === "s") {
      // A name (presets): names used before are offered again.
      const key = "ganplug.names." + a.name;
      const list = el("datalist", { id: id + "-names" });
      const remember = JSON.parse(localStorage.getItem(key) || "[]");
      const refresh = () => { list.replaceChildren(...remember.map((n) => el("option", { value: n }))); };
      refresh();
      const input = el("input", { type: "text", id, placeholder: a.name, autocapitalize: "off", autocomplete: "off", spellcheck: false });
      input.setAttribute("list", list.id);
      const go = () => {
        const v = input.value.trim();
        if (!v) return;
        send(spec.address, [v]);
        if (!remember.includes(v)) { remember.unshift(v); remember.splice(12); localStorage.setItem(key, JSON.stringify(remember)); refresh(); }
      };
      input.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
      row.append(input, list, el("button", { type: "button", textContent: leaf(spec).split(" ").pop(), onclick: go }));
      // A named param (the model playing) shows its value while nobody is typing in it.
      if (isParam) updaters.set(spec.name, (v) => { if (document.activeElement !== input) input.value = v ?? ""; });
    } else if (args.length === 1 && a.type === "i" && a.lo === 0 && a.hi === 1) {
      const b = el("button", { type: "button", id, textContent: leaf(spec) });
      b.setAttribute("aria-pressed", "false");
      const show = (v) => b.setAttribute("aria-pressed", String(Boolean(v)));
      b.onclick = () => { touch(); const v = b.getAttribute("aria-pressed") === "true" ? 0 : 1; show(v); send(spec.address, [v]); };
      row.append(b);
      if (isParam) updaters.set(spec.name, show);
    } else if (args.length === 1 && a.lo !== null && a.hi !== null && !(a.type === "i" && a.hi - a.lo > 1000)) {
      const s = slider(a, throttled((v) => { touch(); send(spec.address, [v]); }, 40));
      s.nodes[0].id = id;
      row.append(...s.nodes);
      if (isParam) updaters.set(spec.name, s.show);
      s.show(spec.default ?? a.lo);
    } else if (args.length === 1) {
      // A number too wide for a slider (a seed, a token): a field, steps and a dice.
      const input = el("input", { type: "number", id, step: 1, min: a.lo ?? "", max: a.hi ?? "", inputMode: "numeric", "aria-label": a.name });
      const clamp = (v) => Math.min(a.hi ?? Infinity, Math.max(a.lo ?? -Infinity, v));
      const go = (v) => { touch(); input.value = clamp(v); send(spec.address, [numberOf(a, input.value)]); };
      input.addEventListener("keydown", (e) => { if (e.key === "Enter") go(numberOf(a, input.value)); });
      if (isParam) input.addEventListener("change", () => go(numberOf(a, input.value)));
      const rand = () => Math.floor((a.lo ?? 0) + Math.random() * Math.min((a.hi ?? 1e6) - (a.lo ?? 0), 1e6));
      const button = (text, label, value) => el("button", { type: "button", textContent: text, "aria-label": label, onclick: () => go(value()) });
      const current = () => numberOf(a, input.value || 0);
      row.append(input);
      if (isParam) {
        row.append(button("−", "previous", () => current() - 1), button("+", "next", () => current() + 1), button("random", "random", rand));
        updaters.set(spec.name, (v) => { if (document.activeElement !== input) input.value = v; });
      } else {
        row.append(button("send", "send", current), button("random", "send a random value", rand));
      }
    } else {
      // Several arguments (host and port): one field each.
      const inputs = args.map((arg, i) => el("input", { type: arg.type === "s" ? "text" : "number", id: i ? undefined : id, placeholder: arg.name,
        "aria-label": arg.name, autocapitalize: "off" }));
      row.append(...inputs, el("button", { type: "button", textContent: leaf(spec).split(" ").pop(), onclick: () => {
        send(spec.address, inputs.map((inp, i) => args[i].type === "s" ? inp.value.trim() : numberOf(args[i], inp.value)));
      } }));
    }
    return wrap;
  }

  function build(specs) {
    updaters.clear();
    for (const groupId of ["params", "commands"]) {
      const g = $("#" + groupId);
      g.replaceChildren(g.firstElementChild);
    }
    for (const spec of specs) $(spec.kind === "param" ? "#params" : "#commands").append(control(spec));
  }

  const on = (type, fn) => listeners[type].push(fn);
  window.ganplug = { stats, send, on, token, throttled, table: () => table };
  connect();
})();
