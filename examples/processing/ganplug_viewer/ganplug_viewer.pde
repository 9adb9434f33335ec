/**
 * ganplug_viewer: shows the frames of `ganplug serve` and steers it with the mouse and keys.
 *
 * Needs the oscP5 library (Sketch > Import Library > Manage Libraries > oscP5).
 * Frames arrive on UDP port 9001; control goes to 127.0.0.1:9000 (docs/protocol.md).
 * Raw frames (/ganplug/frame) and JPEG or PNG frames (/ganplug/image, `ganplug serve
 * --encoding jpeg`) both work; Java's ImageIO decodes the compressed ones.
 *
 * Mouse: drag left/right for speed (-2 .. 2), up/down for truncation (2 at the top .. 0 at the bottom).
 * Keys:  LEFT/RIGHT seed -1/+1, r random seed, 1-5 walk (hold slerp loop noise random),
 *        space pause, s snapshot (saved by the server).
 */

import oscP5.*;
import netP5.*;
import java.util.HashMap;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.awt.image.BufferedImage;
import javax.imageio.ImageIO;

final int LISTEN_PORT = 9001;
final String SERVER_HOST = "127.0.0.1";
final int SERVER_PORT = 9000;
// ganplug sends datagrams of up to 8192 bytes (--max-datagram); oscP5 reads 1536 by default
// and would cut every frame chunk short. Room for any --max-datagram up to 65536.
final int DATAGRAM_SIZE = 65536;
final long ID_MODULO = 2147483648L;  // frame ids count 0 .. 2147483647, then wrap to 0
final long RESTART_GAP = 1024;       // an id this far behind the newest: the server restarted
final String[] WALKS = {"hold", "slerp", "loop", "noise", "random"};

OscP5 osc;
NetAddress server;

// Reassembly state. oscEvent runs on oscP5's network thread, draw() on the animation
// thread: both lock `lock`.
final Object lock = new Object();
HashMap<Integer, byte[][]> pending = new HashMap<Integer, byte[][]>();
HashMap<Integer, Integer> pendingCount = new HashMap<Integer, Integer>();
int newestId = -1;            // newest complete frame id, -1 before the first
byte[] readyPixels = null;    // a complete raw frame not yet shown
int[] readyArgb = null;       // or a decoded JPEG/PNG frame, as ARGB pixels
int readyW, readyH, readyC;

PImage frame;
int seed = 0;
String walk = "slerp";
float speed = 1.0;
float truncation = 1.0;
boolean paused = false;
float measuredFps = 0;

void setup() {
  size(512, 512);
  OscProperties props = new OscProperties();
  props.setListeningPort(LISTEN_PORT);
  props.setDatagramSize(DATAGRAM_SIZE);
  osc = new OscP5(this, props);
  server = new NetAddress(SERVER_HOST, SERVER_PORT);
  noSmooth();  // scale frames up as sharp blocks
}

void draw() {
  synchronized (lock) {
    if (readyPixels != null) {
      frame = toImage(readyPixels, readyW, readyH, readyC);
      readyPixels = null;
    } else if (readyArgb != null) {
      frame = createImage(readyW, readyH, readyC == 4 || readyC == 2 ? ARGB : RGB);
      frame.loadPixels();
      System.arraycopy(readyArgb, 0, frame.pixels, 0, readyArgb.length);
      frame.updatePixels();
      readyArgb = null;
    }
  }
  background(0);
  if (frame != null) {
    // Scaled to fit the window with the frame's own shape (a 256x128 model gets black bars, not a squeeze).
    float zoom = min(width / (float) frame.width, height / (float) frame.height);
    float w = frame.width * zoom, h = frame.height * zoom;
    image(frame, (width - w) / 2, (height - h) / 2, w, h);
  } else {
    fill(255);
    text("waiting for frames on UDP port " + LISTEN_PORT, 20, 30);
  }
  surface.setTitle("ganplug: seed " + seed + ", " + walk + (paused ? " (paused)" : "")
    + ", speed " + nf(speed, 0, 2) + ", truncation " + nf(truncation, 0, 2) + ", " + round(measuredFps) + " fps");
}

// Every OSC message from the server: frame chunks, the state, and replies.
void oscEvent(OscMessage m) {
  if (m.checkAddrPattern("/ganplug/frame") && m.checkTypetag("iiiiiib")) {
    addChunk(m.get(0).intValue(), m.get(1).intValue(), m.get(2).intValue(),
             m.get(3).intValue(), m.get(4).intValue(), m.get(5).intValue(), m.get(6).blobValue());
  } else if (m.checkAddrPattern("/ganplug/image") && m.checkTypetag("iiiiiisb")) {
    addImageChunk(m.get(0).intValue(), m.get(1).intValue(), m.get(2).intValue(),
                  m.get(3).intValue(), m.get(4).intValue(), m.get(5).intValue(), m.get(6).stringValue(), m.get(7).blobValue());
  } else if (m.checkAddrPattern("/ganplug/state") && m.checkTypetag("iisfffiff")) {
    // Follow the server, so keys step from what is really playing.
    seed = m.get(1).intValue();
    walk = m.get(2).stringValue();
    speed = m.get(3).floatValue();
    truncation = m.get(4).floatValue();
    paused = m.get(6).intValue() != 0;
    measuredFps = m.get(7).floatValue();
  } else if (m.checkAddrPattern("/ganplug/error")) {
    println("ganplug: " + m.get(0).stringValue());
  }
}

// Is frame id a after b, counting across the wrap to 0?
boolean isNewer(int a, int b) {
  long d = Math.floorMod((long) a - b, ID_MODULO);
  return d > 0 && d < ID_MODULO / 2;
}

// One chunk: frame id, chunk index, chunk count, width, height, channels, payload.
// Chunks may be lost or come out of order; never wait for one.
void addChunk(int id, int index, int count, int w, int h, int c, byte[] payload) {
  addPart(id, index, count, w, h, c, null, payload);
}

// One chunk of a compressed frame: the same, plus the format ("jpeg" or "png"); the payloads
// in chunk order are one image file.
void addImageChunk(int id, int index, int count, int w, int h, int c, String format, byte[] payload) {
  if (!"jpeg".equals(format) && !"png".equals(format)) return;
  addPart(id, index, count, w, h, c, format, payload);
}

// format: null for raw pixels, else the compressed format. Chunks are kept under the lock;
// a compressed frame is decoded outside it, so draw() never waits for a decode.
void addPart(int id, int index, int count, int w, int h, int c, String format, byte[] payload) {
  if (index < 0 || index >= count || w <= 0 || h <= 0 || c < 1 || c > 4 || payload == null) return;
  byte[] data = null;
  int total = 0;
  synchronized (lock) {
    if (newestId >= 0 && !isNewer(id, newestId)) {
      if (Math.floorMod((long) newestId - id, ID_MODULO) < RESTART_GAP) return;  // a late chunk of a frame already shown or given up
      newestId = -1;                     // the server restarted: start over
      pending.clear();
      pendingCount.clear();
    }
    byte[][] parts = pending.get(id);
    if (parts == null || parts.length != count) {
      parts = new byte[count][];
      pending.put(id, parts);
      pendingCount.put(id, 0);
    }
    if (parts[index] == null) {
      parts[index] = payload;
      pendingCount.put(id, pendingCount.get(id) + 1);
    }
    if (pendingCount.get(id) < count) {
      if (pending.size() > 4) dropOlderThan(id, false);  // lost chunks pile up: give up on old frames
      return;
    }
    for (byte[] p : parts) total += p.length;
    data = new byte[total];
    int at = 0;
    for (byte[] p : parts) {
      System.arraycopy(p, 0, data, at, p.length);
      at += p.length;
    }
    newestId = id;
    dropOlderThan(id, true);  // this frame and every older unfinished one are done
  }
  int[] argb = null;
  if (format == null) {
    if (total != w * h * c) return;  // a raw frame counts only whole
  } else {
    argb = decodeImage(data, w, h);
    if (argb == null) return;
  }
  synchronized (lock) {
    readyPixels = format == null ? data : null;
    readyArgb = argb;
    readyW = w;
    readyH = h;
    readyC = c;
  }
}

void dropOlderThan(int id, boolean andItself) {
  Integer[] ids = pending.keySet().toArray(new Integer[0]);
  for (Integer k : ids) {
    if (isNewer(id, k) || (andItself && k == id)) {
      pending.remove(k);
      pendingCount.remove(k);
    }
  }
}

// A JPEG or PNG file -> ARGB pixels, rows top first (PImage's order), or null when it is
// not a w x h image. Runs on oscP5's thread, so draw() never waits for a decode.
int[] decodeImage(byte[] data, int w, int h) {
  try {
    BufferedImage img = ImageIO.read(new ByteArrayInputStream(data));
    if (img == null || img.getWidth() != w || img.getHeight() != h) return null;
    return img.getRGB(0, 0, w, h, null, 0, w);
  } catch (IOException e) {
    return null;
  }
}

// Pixels are rows top first, channels interleaved: the order PImage uses too (no flip).
PImage toImage(byte[] data, int w, int h, int c) {
  PImage img = createImage(w, h, c == 4 || c == 2 ? ARGB : RGB);
  img.loadPixels();
  for (int i = 0; i < w * h; i++) {
    int o = i * c;
    int r = data[o] & 0xFF;
    int g = c >= 3 ? data[o + 1] & 0xFF : r;
    int b = c >= 3 ? data[o + 2] & 0xFF : r;
    int a = c == 4 ? data[o + 3] & 0xFF : (c == 2 ? data[o + 1] & 0xFF : 255);
    img.pixels[i] = (a << 24) | (r << 16) | (g << 8) | b;
  }
  img.updatePixels();
  return img;
}

void send(String address, Object value) {
  OscMessage m = new OscMessage(address);
  // OSC types as the address table has them: Integer -> i, Float -> f, String -> s.
  if (value instanceof Integer) m.add(((Integer) value).intValue());
  else if (value instanceof Float) m.add(((Float) value).floatValue());
  else if (value instanceof String) m.add((String) value);
  osc.send(m, server);
}

void mouseDragged() {
  speed = map(constrain(mouseX, 0, width), 0, width, -2, 2);
  truncation = map(constrain(mouseY, 0, height), 0, height, 2, 0);
  send("/ganplug/speed", speed);
  send("/ganplug/truncation", truncation);
}

void keyPressed() {
  if (key == CODED && keyCode == RIGHT) {
    seed = min(seed + 1, 2147483647);
    send("/ganplug/seed", seed);
  } else if (key == CODED && keyCode == LEFT) {
    seed = max(seed - 1, 0);
    send("/ganplug/seed", seed);
  } else if (key == 'r') {
    seed = (int) random(0, 1000000);
    send("/ganplug/seed", seed);
  } else if (key >= '1' && key <= '5') {
    walk = WALKS[key - '1'];
    send("/ganplug/walk", walk);
  } else if (key == ' ') {
    paused = !paused;
    send("/ganplug/pause", paused ? 1 : 0);
  } else if (key == 's') {
    send("/ganplug/snapshot", null);
  }
}
