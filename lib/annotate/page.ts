/**
 * The annotation page (self-contained HTML, no external requests), served by
 * lib/annotate/server.ts at `/annotate/<annotator>`. Per image: answer Real or Synthetic first
 * (the response time is recorded from the moment the image is shown), then paint the regions that
 * decided it and save; the next unannotated image follows.
 *
 * The page exposes its state on `<body>` for automation: `data-status` (`loading`, `judge`,
 * `paint`, `saving`, `done`), `data-item` (the item shown) and `data-saved` (maps saved so far).
 *
 * @module
 */

/** Keyboard shortcuts, as shown on the page. */
export const SHORTCUTS: readonly [string, string][] = [
  ["R / S", "answer Real / Synthetic"],
  ["B", "brush"],
  ["E", "eraser"],
  ["[ / ]", "smaller / larger brush"],
  ["Ctrl+Z", "undo"],
  ["Ctrl+Y or Ctrl+Shift+Z", "redo"],
  ["C", "clear"],
  ["+ / - / 0", "zoom in / out / fit"],
  ["Enter", "save and go to the next unannotated image"],
  ["← / →", "previous / next image"],
];

const SCRIPT = String.raw`
"use strict";
const annotator = decodeURIComponent(location.pathname.split("/")[2] || "");
const enc = encodeURIComponent;
const $ = (id) => document.getElementById(id);
const img = $("img"), mask = $("mask"), ctx = mask.getContext("2d", { willReadFrequently: true });
let items = [], cur = -1, total = 0, done = 0, shownAt = 0, judgment = null;
let tool = "brush", size = 12, zoom = 1, drawing = false, last = null, saved = 0;
let undo = [], redo = [];
const status = (s) => { document.body.dataset.status = s; };
const note = (t) => { $("note").textContent = t; };

async function api(method, path, body, type) {
  const r = await fetch(path, { method, body, headers: type ? { "content-type": type } : {} });
  if (!r.ok) {
    let msg = r.status + "";
    try { msg += ": " + (await r.json()).error; } catch (_) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}

async function refresh() {
  const r = await api("GET", "/api/items?annotator=" + enc(annotator));
  const j = await r.json();
  items = j.items; total = j.total; done = j.done;
  $("progress").textContent = done + " of " + total;
}

function nextUnannotated(from) {
  for (let k = 0; k < items.length; k++) {
    const i = (from + k) % items.length;
    if (!items[i].mapped) return i;
  }
  return -1;
}

function applyZoom() {
  const w = Math.round(mask.width * zoom), h = Math.round(mask.height * zoom);
  for (const el of [img, mask]) { el.style.width = w + "px"; el.style.height = h + "px"; }
  $("stage").style.width = w + "px"; $("stage").style.height = h + "px";
  $("zoom").textContent = Math.round(zoom * 100) + "%";
}

function fitZoom() {
  const box = $("wrap").getBoundingClientRect();
  const z = Math.min((box.width - 8) / mask.width, (window.innerHeight * 0.7) / mask.height);
  zoom = Math.max(0.25, Math.min(16, z > 1 ? Math.floor(z) : z));
  applyZoom();
}

function setTool(t) {
  tool = t;
  $("brush").classList.toggle("on", t === "brush");
  $("eraser").classList.toggle("on", t === "eraser");
}

function setSize(s) {
  size = Math.max(1, Math.min(200, Math.round(s)));
  $("size").value = size; $("sizeval").textContent = size + " px";
}

function showJudgment() {
  $("real").classList.toggle("on", judgment === "Real");
  $("synthetic").classList.toggle("on", judgment === "Synthetic");
  $("stage").classList.toggle("locked", !judgment);
  status(judgment ? "paint" : "judge");
  note(judgment ? "Paint the regions that decided it, then save (Enter)." :
    "Real or Synthetic? (R / S)");
}

async function show(i) {
  if (i < 0) {
    status("done"); delete document.body.dataset.item;
    $("name").textContent = ""; note("All " + total + " images are annotated. Thank you!");
    return;
  }
  status("loading");
  cur = i;
  const it = items[i];
  $("name").textContent = it.name + " (" + (i + 1) + "/" + total + ")";
  judgment = it.judgment;
  const r = await api("GET", "/api/items/" + enc(it.name) + "/image");
  const blob = await r.blob();
  const url = URL.createObjectURL(blob);
  await new Promise((res, rej) => { img.onload = res; img.onerror = () => rej(new Error("image")); img.src = url; });
  mask.width = img.naturalWidth; mask.height = img.naturalHeight;
  ctx.clearRect(0, 0, mask.width, mask.height);
  undo = []; redo = [];
  if (it.mapped) {
    const m = await fetch("/api/maps/" + enc(annotator) + "/" + enc(it.name));
    if (m.ok) {
      const bmp = await createImageBitmap(await m.blob(),
        { colorSpaceConversion: "none", premultiplyAlpha: "none" });
      const t = document.createElement("canvas");
      t.width = mask.width; t.height = mask.height;
      const tc = t.getContext("2d"); tc.drawImage(bmp, 0, 0);
      const src = tc.getImageData(0, 0, t.width, t.height).data;
      const out = ctx.createImageData(mask.width, mask.height);
      for (let p = 0; p < src.length; p += 4) { out.data[p] = 255; out.data[p + 3] = src[p]; }
      ctx.putImageData(out, 0, 0);
    }
  }
  fitZoom();
  document.body.dataset.item = it.name;
  shownAt = performance.now();
  showJudgment();
}

async function answer(label) {
  if (cur < 0 || document.body.dataset.status === "loading") return;
  const ms = Math.round(performance.now() - shownAt);
  await api("POST", "/api/judgments/" + enc(annotator) + "/" + enc(items[cur].name),
    JSON.stringify({ label, ms }), "application/json");
  judgment = label; items[cur].judgment = label; items[cur].judged = true;
  showJudgment();
}

function snapshot() {
  undo.push(ctx.getImageData(0, 0, mask.width, mask.height));
  if (undo.length > 50) undo.shift();
  redo = [];
}

function doUndo() {
  if (!undo.length) return;
  redo.push(ctx.getImageData(0, 0, mask.width, mask.height));
  ctx.putImageData(undo.pop(), 0, 0);
}

function doRedo() {
  if (!redo.length) return;
  undo.push(ctx.getImageData(0, 0, mask.width, mask.height));
  ctx.putImageData(redo.pop(), 0, 0);
}

function clearMask() { snapshot(); ctx.clearRect(0, 0, mask.width, mask.height); }

function pos(e) {
  const r = mask.getBoundingClientRect();
  return [(e.clientX - r.left) * mask.width / r.width, (e.clientY - r.top) * mask.height / r.height];
}

function stroke(a, b) {
  ctx.save();
  ctx.globalCompositeOperation = tool === "eraser" ? "destination-out" : "source-over";
  ctx.strokeStyle = ctx.fillStyle = "rgb(255,0,0)";
  ctx.lineWidth = size; ctx.lineCap = "round"; ctx.lineJoin = "round";
  if (a[0] === b[0] && a[1] === b[1]) {
    ctx.beginPath(); ctx.arc(a[0], a[1], size / 2, 0, Math.PI * 2); ctx.fill();
  } else {
    ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
  }
  ctx.restore();
}

mask.addEventListener("pointerdown", (e) => {
  if (document.body.dataset.status !== "paint") { note("Answer first: Real or Synthetic? (R / S)"); return; }
  mask.setPointerCapture?.(e.pointerId);
  drawing = true; snapshot(); last = pos(e); stroke(last, last);
});
mask.addEventListener("pointermove", (e) => {
  if (!drawing) return;
  const p = pos(e); stroke(last, p); last = p;
});
for (const ev of ["pointerup", "pointercancel"]) mask.addEventListener(ev, () => { drawing = false; });

async function save() {
  if (cur < 0 || document.body.dataset.status !== "paint") return;
  status("saving");
  const w = mask.width, h = mask.height;
  const src = ctx.getImageData(0, 0, w, h).data;
  const t = document.createElement("canvas"); t.width = w; t.height = h;
  const tc = t.getContext("2d");
  const out = tc.createImageData(w, h);
  for (let p = 0; p < src.length; p += 4) {
    const v = src[p + 3];
    out.data[p] = out.data[p + 1] = out.data[p + 2] = v; out.data[p + 3] = 255;
  }
  tc.putImageData(out, 0, 0);
  const blob = await new Promise((res) => t.toBlob(res, "image/png"));
  try {
    await api("PUT", "/api/maps/" + enc(annotator) + "/" + enc(items[cur].name), blob, "image/png");
  } catch (err) {
    status("paint"); note("Saving failed: " + err.message); return;
  }
  saved++; document.body.dataset.saved = String(saved);
  await refresh();
  await show(nextUnannotated(cur + 1));
}

function run(p) { p.catch((err) => { note("Error: " + err.message); if (document.body.dataset.status === "loading") status("judge"); }); }

$("real").onclick = () => run(answer("Real"));
$("synthetic").onclick = () => run(answer("Synthetic"));
$("brush").onclick = () => setTool("brush");
$("eraser").onclick = () => setTool("eraser");
$("undo").onclick = doUndo; $("redo").onclick = doRedo; $("clear").onclick = clearMask;
$("zin").onclick = () => { zoom = Math.min(16, zoom * 1.25); applyZoom(); };
$("zout").onclick = () => { zoom = Math.max(0.25, zoom / 1.25); applyZoom(); };
$("zfit").onclick = fitZoom;
$("save").onclick = () => run(save());
$("prev").onclick = () => { if (cur > 0) run(show(cur - 1)); };
$("next").onclick = () => { if (cur + 1 < items.length) run(show(cur + 1)); };
$("size").oninput = (e) => setSize(+e.target.value);

document.addEventListener("keydown", (e) => {
  if (e.target instanceof HTMLInputElement && e.target.type !== "range") return;
  const k = e.key, ctrl = e.ctrlKey || e.metaKey;
  if (ctrl && (k === "z" || k === "Z")) { e.shiftKey ? doRedo() : doUndo(); e.preventDefault(); return; }
  if (ctrl && (k === "y" || k === "Y")) { doRedo(); e.preventDefault(); return; }
  if (ctrl || e.altKey) return;
  const act = {
    r: () => run(answer("Real")), s: () => run(answer("Synthetic")),
    b: () => setTool("brush"), e: () => setTool("eraser"), c: clearMask,
    "[": () => setSize(size > 10 ? size / 1.25 : size - 1), "]": () => setSize(size < 10 ? size + 1 : size * 1.25),
    "+": () => $("zin").click(), "=": () => $("zin").click(), "-": () => $("zout").click(), "0": fitZoom,
    Enter: () => run(save()), ArrowLeft: () => $("prev").click(), ArrowRight: () => $("next").click(),
  }[k.length === 1 ? k.toLowerCase() : k];
  if (act) { act(); e.preventDefault(); }
});

$("who").textContent = annotator;
setSize(size); setTool("brush");
run((async () => { await refresh(); await show(nextUnannotated(0)); })());
`;

const STYLE = `
body { font: 14px system-ui, sans-serif; margin: 0; background: #f4f4f4; color: #222; }
header { display: flex; gap: 16px; align-items: center; padding: 8px 12px; background: #223; color: #fff; }
header b { font-size: 16px; }
#bar { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; padding: 8px 12px; }
button { padding: 5px 10px; border: 1px solid #888; border-radius: 4px; background: #fff; cursor: pointer; }
button.on { background: #2a6; color: #fff; border-color: #185; }
#real.on, #synthetic.on { background: #36c; border-color: #249; }
#wrap { padding: 8px 12px; overflow: auto; }
#stage { position: relative; }
#stage img, #stage canvas { position: absolute; left: 0; top: 0; image-rendering: pixelated;
  image-orientation: none; }
#stage canvas { opacity: 0.5; cursor: crosshair; touch-action: none; }
#stage.locked canvas { cursor: not-allowed; }
#note { padding: 4px 12px; font-weight: 600; min-height: 1.2em; }
#keys { padding: 4px 12px 16px; color: #555; font-size: 12px; }
#keys kbd { background: #fff; border: 1px solid #bbb; border-radius: 3px; padding: 0 4px; }
`;

/** The page's HTML (no external resources). */
export function annotatePageHtml(): string {
  const keys = SHORTCUTS.map(([k, what]) => `<span><kbd>${k}</kbd> ${what}</span>`).join(" · ");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Saliency annotation</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head>
<body data-status="loading" data-saved="0">
<header><b>Saliency annotation</b><span>annotator <span id="who"></span></span>
<span>done <span id="progress">…</span></span><span id="name"></span></header>
<div id="bar">
<button id="real" title="R">Real (R)</button><button id="synthetic" title="S">Synthetic (S)</button>
<span>|</span>
<button id="brush" title="B">Brush (B)</button><button id="eraser" title="E">Eraser (E)</button>
<label>size <input id="size" type="range" min="1" max="200" value="12"> <span id="sizeval"></span></label>
<button id="undo" title="Ctrl+Z">Undo</button><button id="redo" title="Ctrl+Y">Redo</button>
<button id="clear" title="C">Clear (C)</button>
<span>|</span>
<button id="zout" title="-">−</button><span id="zoom">100%</span><button id="zin" title="+">+</button>
<button id="zfit" title="0">Fit (0)</button>
<span>|</span>
<button id="prev" title="←">◀</button><button id="next" title="→">▶</button>
<button id="save" title="Enter"><b>Save &amp; next (Enter)</b></button>
</div>
<div id="note"></div>
<div id="wrap"><div id="stage" class="locked"><img id="img" alt=""><canvas id="mask"></canvas></div></div>
<div id="keys">${keys}</div>
<script>${SCRIPT}</script>
</body></html>
`;
}
