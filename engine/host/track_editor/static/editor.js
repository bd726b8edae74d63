// SPDX-License-Identifier: Apache-2.0
// Doppel track editor: draws a plate frame with the track's landmarks, lets a compositor drag
// points, draw a face box or mark "no face", and saves through the server (server.py). Plain
// JS, no build step. Coordinates: the plate's display-window pixels (the track's), y down.
"use strict";

const editor = (() => {
  const canvas = document.getElementById("view");
  const ctx = canvas.getContext("2d");
  const $ = (id) => document.getElementById(id);
  let state = null, index = 0, image = null, scale = 1;
  let drag = null;  // {kind: "point", i, pts} | {kind: "box", x0, y0, x1, y1}

  const frame = () => state.frames[index];
  const status = (text, bad) => {
    $("status").textContent = text;
    $("status").className = bad ? "err" : "";
  };

  async function call(method, path, body) {
    const res = await fetch(path, {method, headers: {"Content-Type": "application/json"},
                                   body: body === undefined ? undefined : JSON.stringify(body)});
    const data = await res.json();
    if (!res.ok) throw new Error(data.error || res.statusText);
    return data;
  }

  function fit() {
    const maxW = window.innerWidth - 300, maxH = window.innerHeight - 90;
    scale = Math.min(1, maxW / state.width, maxH / state.height);
    canvas.width = Math.round(state.width * scale);
    canvas.height = Math.round(state.height * scale);
  }

  // plate pixel centre (x, y) -> canvas CSS pixels, and back
  const toScreen = (x, y) => [(x + 0.5) * scale, (y + 0.5) * scale];
  const toPlate = (sx, sy) => [sx / scale - 0.5, sy / scale - 0.5];

  function landmarks() {
    return state.landmarks[String(frame())] || null;
  }

  function draw() {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (image && image.complete) ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    const key = state.keys[String(frame())];
    const pts = drag && drag.kind === "point" ? drag.pts : landmarks();
    if (pts) {
      ctx.fillStyle = key ? "#7f7" : "#0cf";
      for (const [x, y] of pts) {
        const [sx, sy] = toScreen(x, y);
        ctx.beginPath(); ctx.arc(sx, sy, 2.5, 0, 2 * Math.PI); ctx.fill();
      }
    }
    const box = drag && drag.kind === "box" ? [drag.x0, drag.y0, drag.x1, drag.y1]
                                             : key && key.box;
    if (box) {
      const [a, b] = toScreen(box[0], box[1]), [c, d] = toScreen(box[2], box[3]);
      ctx.strokeStyle = "#7f7"; ctx.lineWidth = 2; ctx.strokeRect(a, b, c - a, d - b);
    }
    const reasons = state.suspects[String(frame())];
    let info = `frame ${frame()} (${index + 1}/${state.frames.length})`;
    if (key) info += ` — key: ${key.kind}, span ${key.span}`;
    else if (!pts) info += " — no face";
    if (reasons) info += ` — suspect: ${reasons.join(", ")}`;
    $("frameinfo").textContent = info;
    $("dirty").textContent = state.dirty ? "unsaved edits" : "saved";
  }

  function list() {
    const ul = $("suspects"); ul.innerHTML = "";
    for (const f of Object.keys(state.suspects).map(Number).sort((a, b) => a - b)) {
      const li = document.createElement("li");
      li.textContent = `${f}: ${state.suspects[String(f)].join(", ")}`;
      li.dataset.frame = f;
      li.onclick = () => show(state.frames.indexOf(f));
      ul.appendChild(li);
    }
    const keys = $("keys"); keys.innerHTML = "";
    for (const f of Object.keys(state.keys).map(Number).sort((a, b) => a - b)) {
      const li = document.createElement("li");
      li.className = "key";
      li.textContent = `${f}: ${state.keys[String(f)].kind} (span ${state.keys[String(f)].span})`;
      li.onclick = () => show(state.frames.indexOf(f));
      keys.appendChild(li);
    }
  }

  function show(i) {
    if (i < 0 || i >= state.frames.length) return;
    index = i;
    $("scrub").value = i;
    const img = new Image();
    img.onload = () => { if (image === img) draw(); };
    img.src = `/api/frame/${frame()}.jpg`;
    image = img;
    draw();
  }

  function update(next) { state = next; list(); draw(); }

  async function key(body) {
    body.frame = frame();
    body.span = Number($("span").value) || 0;
    status(`keying frame ${body.frame}…`);
    try { update(await call("POST", "/api/key", body)); status(`frame ${body.frame} keyed`); }
    catch (e) { status(e.message, true); draw(); }
  }

  function pos(ev) {
    const r = canvas.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  }

  canvas.addEventListener("mousedown", (ev) => {
    const [sx, sy] = pos(ev);
    if ($("tool").value === "box") {
      const [x, y] = toPlate(sx, sy);
      drag = {kind: "box", x0: x, y0: y, x1: x, y1: y};
      return;
    }
    const pts = landmarks();
    if (!pts) { status("no landmarks on this frame: draw a face box first", true); return; }
    let best = -1, bestD = 10;  // screen pixels
    pts.forEach(([x, y], i) => {
      const [px, py] = toScreen(x, y);
      const d = Math.hypot(px - sx, py - sy);
      if (d < bestD) { best = i; bestD = d; }
    });
    if (best >= 0) drag = {kind: "point", i: best, pts: pts.map((p) => p.slice())};
  });
  canvas.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const [x, y] = toPlate(...pos(ev));
    if (drag.kind === "box") { drag.x1 = x; drag.y1 = y; } else { drag.pts[drag.i] = [x, y]; }
    draw();
  });
  window.addEventListener("mouseup", () => {
    if (!drag) return;
    const d = drag; drag = null;
    if (d.kind === "box") {
      const box = [Math.min(d.x0, d.x1), Math.min(d.y0, d.y1),
                   Math.max(d.x0, d.x1), Math.max(d.y0, d.y1)];
      key({kind: "box", box});
    } else {
      key({kind: "points", points: d.pts});
    }
  });

  $("scrub").addEventListener("input", (ev) => show(Number(ev.target.value)));
  $("prev").onclick = () => show(index - 1);
  $("next").onclick = () => show(index + 1);
  $("noface").onclick = () => key({kind: "noface"});
  $("unkey").onclick = async () => {
    try { update(await call("POST", "/api/unkey", {frame: frame()})); status("key removed"); }
    catch (e) { status(e.message, true); }
  };
  $("save").onclick = async () => {
    try { update(await call("POST", "/api/save")); status(`saved ${state.track}`); }
    catch (e) { status(e.message, true); }
  };
  window.addEventListener("keydown", (ev) => {
    if (ev.target.tagName === "INPUT" && ev.target.type === "number") return;
    if (ev.key === "ArrowLeft") show(index - 1);
    if (ev.key === "ArrowRight") show(index + 1);
  });
  window.addEventListener("beforeunload", (ev) => {
    if (state && state.dirty) { ev.preventDefault(); ev.returnValue = ""; }
  });

  (async () => {
    try {
      state = await call("GET", "/api/track");
      $("title").textContent = state.track;
      fit();
      $("scrub").max = state.frames.length - 1;
      list();
      const first = Object.keys(state.suspects).map(Number).sort((a, b) => a - b)[0];
      show(first !== undefined ? state.frames.indexOf(first) : 0);
      document.body.dataset.ready = "1";
    } catch (e) { status(e.message, true); }
  })();

  // for scripted use (tests): where a plate point is on the canvas, the shown frame, state
  return {toScreen, show: (f) => show(state.frames.indexOf(f)), frame: () => frame(),
          state: () => state, scale: () => scale};
})();
