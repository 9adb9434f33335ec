// ganplug × p5.js: draws the live frames of `ganplug serve --web` and steers the walk with the mouse.
//
//   ganplug serve --web            (or --web 0.0.0.0:9002 --web-token SECRET for other machines)
//   open index.html?server=127.0.0.1:9002            (&token=SECRET when the server has a token)
//
// Mouse across: walk speed, -2 … 2 (the middle stands still). Mouse down the picture: truncation,
// 1.5 at the top (wild) … 0.2 at the bottom (close to the average image). Click: a random seed.
//
// The WebSocket protocol is the one the built-in page at /ui/ uses (docs/web.md): binary messages
// are frames (a 12-byte header, then JPEG or PNG), text messages are JSON. Acknowledge each frame
// you have drawn; the server sends the newest frame only after that, so a slow sketch never
// slows the show.

const query = new URLSearchParams(location.search);
const server = query.get("server") || "127.0.0.1:9002";
const token = query.get("token");

let ws = null;
let picture = null; // the newest frame, an ImageBitmap
let pictureId = -1;
let drawnId = -1;
let state = null;
let lastSend = 0;
let sentX = null;
let sentY = null;
let status = "connecting…";
const TEXT_ROWS = 48; // the two lines of text under the picture
window.ganplugSketch = { frames: 0, speed: null, truncation: null, seed: null }; // for tests and the console

function setup() {
  const side = Math.min(windowWidth, 640);
  createCanvas(side, side + TEXT_ROWS); // square until the first frame, then the frame's own shape
  textFont("monospace");
  connect();
}

function connect() {
  ws = new WebSocket(`ws://${server}/ui/ws` + (token ? `?token=${encodeURIComponent(token)}` : ""));
  ws.binaryType = "arraybuffer";
  ws.onopen = () => { status = "connected"; };
  ws.onclose = () => { status = "no connection to " + server + " — retrying"; setTimeout(connect, 1500); };
  ws.onmessage = async (event) => {
    if (typeof event.data === "string") {
      const msg = JSON.parse(event.data);
      if (msg.type === "hello") state = msg.state;
      if (msg.type === "state") state = msg;
      if (msg.type === "reply") for (const r of msg.messages) if (r.address === "/ganplug/error") status = r.args[0];
      return;
    }
    const header = new DataView(event.data);
    const id = header.getUint32(0);
    const type = header.getUint8(9) === 1 ? "image/png" : "image/jpeg";
    const bitmap = await createImageBitmap(new Blob([new Uint8Array(event.data, 12)], { type }));
    if (picture) picture.close();
    picture = bitmap;
    pictureId = id;
  };
}

function send(address, args) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "osc", address, args }));
}

// Height of the picture area: the canvas follows the frame's width/height (any shape, square or not).
function pictureHeight() {
  return height - TEXT_ROWS;
}

function draw() {
  background(16);
  if (picture) {
    const fits = Math.round(width * picture.height / picture.width);
    if (fits !== pictureHeight()) resizeCanvas(width, fits + TEXT_ROWS);
    drawingContext.imageSmoothingEnabled = picture.width >= 256; // small models look best as crisp pixels
    drawingContext.drawImage(picture, 0, 0, width, pictureHeight());
    if (drawnId !== pictureId) {
      drawnId = pictureId;
      window.ganplugSketch.frames += 1;
      ws.send(JSON.stringify({ type: "ack", frame: drawnId })); // drawn: send me the newest one
    }
  }
  steer();
  noStroke();
  fill(232);
  textSize(12);
  const s = state && state.state;
  text(s ? `seed ${s.seed}  speed ${nf(s.speed, 1, 2)}  ψ ${nf(s.truncation, 1, 2)}  ${s.walk}  frame ${state.frame}` : status, 8, pictureHeight() + 20);
  fill(154);
  text(status === "connected" ? "move: speed (across), truncation (down) · click: random seed" : status, 8, pictureHeight() + 38);
}

function overPicture() {
  return mouseX >= 0 && mouseX < width && mouseY >= 0 && mouseY < pictureHeight();
}

function steer() {
  // Checked every frame, so the last position always goes out; about 20 messages a second is plenty.
  if (!overPicture() || (mouseX === sentX && mouseY === sentY) || millis() - lastSend < 50) return;
  lastSend = millis();
  sentX = mouseX;
  sentY = mouseY;
  const speed = Math.round(map(mouseX, 0, width, -2, 2) * 100) / 100;
  const truncation = Math.round(map(mouseY, 0, pictureHeight(), 1.5, 0.2) * 100) / 100;
  send("/ganplug/speed", [speed]);
  send("/ganplug/truncation", [truncation]);
  Object.assign(window.ganplugSketch, { speed, truncation });
}

function mousePressed() {
  if (!overPicture()) return;
  const seed = Math.floor(random(1000000));
  send("/ganplug/seed", [seed]);
  window.ganplugSketch.seed = seed;
}
