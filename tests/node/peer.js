// An independent OSC peer for ganplug's tests, built on the npm "osc" package.
// Usage: node peer.js LISTEN_PORT SERVER_PORT SEED SECONDS
// Reassembles /ganplug/frame chunks, prints one JSON line per complete frame
// (id, size, sha256 of the pixels) and per /ganplug/state, and after 0.5 s asks
// the server to go to SEED with /ganplug/seed.
"use strict";
const osc = require("osc");
const crypto = require("crypto");

const [listenPort, serverPort, seed, seconds] = process.argv.slice(2).map(Number);
const port = new osc.UDPPort({ localAddress: "127.0.0.1", localPort: listenPort, metadata: true });
const partial = new Map();

port.on("message", (msg) => {
  const v = msg.args.map((a) => a.value);
  if (msg.address === "/ganplug/frame") {
    const [id, index, count, width, height, channels, payload] = v;
    if (!partial.has(id)) partial.set(id, new Array(count));
    const chunks = partial.get(id);
    chunks[index] = Buffer.from(payload);
    if (chunks.filter((c) => c !== undefined).length === count) {
      partial.delete(id);
      const pixels = Buffer.concat(chunks);
      const sha = crypto.createHash("sha256").update(pixels).digest("hex");
      console.log(JSON.stringify({ frame: id, width, height, channels, bytes: pixels.length, sha256: sha }));
    }
  } else if (msg.address === "/ganplug/state") {
    console.log(JSON.stringify({ state: v, types: msg.args.map((a) => a.type).join("") }));
  }
});

port.on("ready", () => {
  setTimeout(() => {
    port.send({ address: "/ganplug/seed", args: [{ type: "i", value: seed }] }, "127.0.0.1", serverPort);
  }, 500);
  setTimeout(() => { port.close(); process.exit(0); }, seconds * 1000);
});
port.on("error", (e) => console.error("peer error:", e.message));
port.open();
