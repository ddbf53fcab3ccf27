// Relabel page of the vg-rerank query-set builder (vanilla JS, no external resources).
//
// Shows one query photo, its database candidates and an SVG map (equirectangular projection of
// the area the server sends) with a draggable marker; every decision is POSTed to
// /api/decision, which rewrites the corrections CSV. Keys: N/Right next, P/Left previous,
// K keep, R reject, 1-9 accept candidate.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const MAP_W = 600;
const MAP_H = 450;
const METRES_PER_DEG = 111194.93;
const SCALE_STEPS = [5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000];

const state = {
  queries: [],
  index: 0,
  detail: null,
  proj: null,
  marker: null, // {latitude, longitude} or null when unknown
  moved: false,
  dragging: false,
  busy: false,
};

const $ = (id) => document.getElementById(id);

// ---- server -------------------------------------------------------------------------------

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const res = await fetch(path, opts);
  const data = await res.json();
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

// ---- helpers ------------------------------------------------------------------------------

function setStatus(text, isError = false) {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("error", isError);
}

function fmtPos(p) {
  return p ? `${p.latitude.toFixed(6)}, ${p.longitude.toFixed(6)}` : "unknown";
}

function distanceM(a, b) {
  const rad = Math.PI / 180;
  const dlat = (b.latitude - a.latitude) * rad;
  const dlon = (b.longitude - a.longitude) * rad;
  const h = Math.sin(dlat / 2) ** 2 +
    Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.sin(dlon / 2) ** 2;
  return 2 * 6371000 * Math.asin(Math.min(1, Math.sqrt(h)));
}

function fmtDist(m) {
  if (m === null || m === undefined) return "";
  return m < 1000 ? `${m.toFixed(0)} m` : `${(m / 1000).toFixed(2)} km`;
}

function svgEl(name, attrs, parent) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function htmlEl(name, attrs, parent, text) {
  const node = document.createElement(name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

// ---- map projection -----------------------------------------------------------------------

function makeProjection(area) {
  const lat0 = (area.south + area.north) / 2;
  const lon0 = (area.west + area.east) / 2;
  const kx = Math.max(Math.cos(lat0 * Math.PI / 180), 1e-6);
  const scale = Math.min(MAP_W / ((area.east - area.west) * kx), MAP_H / (area.north - area.south));
  return {
    toXY: (lat, lon) => ({ x: MAP_W / 2 + (lon - lon0) * kx * scale, y: MAP_H / 2 - (lat - lat0) * scale }),
    toLatLon: (x, y) => ({
      latitude: lat0 - (y - MAP_H / 2) / scale,
      longitude: lon0 + (x - MAP_W / 2) / (kx * scale),
    }),
    metresPerPx: METRES_PER_DEG / scale,
  };
}

function eventToLatLon(ev) {
  const svg = $("map");
  const pt = svg.createSVGPoint();
  pt.x = ev.clientX;
  pt.y = ev.clientY;
  const p = pt.matrixTransform(svg.getScreenCTM().inverse());
  const x = Math.min(Math.max(p.x, 0), MAP_W);
  const y = Math.min(Math.max(p.y, 0), MAP_H);
  return state.proj.toLatLon(x, y);
}

// ---- map drawing --------------------------------------------------------------------------

function drawMap() {
  const svg = $("map");
  const d = state.detail;
  svg.replaceChildren();
  svgEl("rect", { x: 0, y: 0, width: MAP_W, height: MAP_H, class: "map-bg" }, svg);
  drawDatabase(svg, d.map.points);
  drawScaleBar(svg);
  svgEl("line", { id: "offset-line", class: "offset-line" }, svg);
  if (d.geotag) drawGeotag(svg, d.geotag);
  drawCandidates(svg, d.candidates);
  const marker = svgEl("circle", { id: "marker", class: "marker", r: 10 }, svg);
  svgEl("title", {}, marker).textContent = "drag me to the right place";
  marker.addEventListener("pointerdown", startDrag);
  marker.addEventListener("pointermove", onDrag);
  marker.addEventListener("pointerup", endDrag);
  marker.addEventListener("pointercancel", endDrag);
  updateMarker();
}

function drawDatabase(svg, points) {
  const g = svgEl("g", { class: "db-points" }, svg);
  for (const [lat, lon] of points) {
    const { x, y } = state.proj.toXY(lat, lon);
    svgEl("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 2.2 }, g);
  }
}

function drawScaleBar(svg) {
  const mpp = state.proj.metresPerPx;
  const metres = SCALE_STEPS.find((m) => m / mpp >= 60) || SCALE_STEPS[SCALE_STEPS.length - 1];
  const px = metres / mpp;
  const g = svgEl("g", { class: "scale-bar" }, svg);
  svgEl("line", { x1: 12, y1: MAP_H - 14, x2: 12 + px, y2: MAP_H - 14 }, g);
  svgEl("text", { x: 12, y: MAP_H - 20 }, g).textContent = fmtDist(metres);
}

function drawGeotag(svg, p) {
  const { x, y } = state.proj.toXY(p.latitude, p.longitude);
  const c = svgEl("circle", { id: "geotag", class: "geotag", cx: x, cy: y, r: 8 }, svg);
  svgEl("title", {}, c).textContent = `photo geotag ${fmtPos(p)}`;
}

function drawCandidates(svg, cands) {
  const g = svgEl("g", { class: "candidates" }, svg);
  for (const c of cands) {
    if (c.latitude === null) continue;
    const { x, y } = state.proj.toXY(c.latitude, c.longitude);
    const node = svgEl("g", { class: "cand", "data-rank": c.rank }, g);
    svgEl("circle", { cx: x, cy: y, r: 7 }, node);
    svgEl("text", { x: x, y: y + 3.5 }, node).textContent = String(c.rank);
    svgEl("title", {}, node).textContent = `#${c.rank} ${c.name}`;
    node.addEventListener("mouseenter", () => highlight(c.rank, true));
    node.addEventListener("mouseleave", () => highlight(c.rank, false));
  }
}

function highlight(rank, on) {
  for (const n of document.querySelectorAll(`[data-rank="${rank}"]`)) n.classList.toggle("hl", on);
}

function updateMarker() {
  const marker = $("marker");
  const line = $("offset-line");
  const p = state.marker;
  marker.classList.toggle("unknown", p === null);
  const { x, y } = p ? state.proj.toXY(p.latitude, p.longitude) : { x: MAP_W / 2, y: MAP_H / 2 };
  marker.setAttribute("cx", x);
  marker.setAttribute("cy", y);
  const g = state.detail.geotag;
  if (g && p) {
    const a = state.proj.toXY(g.latitude, g.longitude);
    Object.entries({ x1: a.x, y1: a.y, x2: x, y2: y }).forEach(([k, v]) => line.setAttribute(k, v));
  }
  line.classList.toggle("hidden", !(g && p));
  $("query-info").textContent = markerText();
}

function markerText() {
  const d = state.detail;
  const g = d.geotag;
  const p = state.marker;
  const off = g && p ? ` (${fmtDist(distanceM(g, p))} from the geotag)` : "";
  return `geotag: ${fmtPos(g)} · marker: ${fmtPos(p)}${off}`;
}

// ---- marker dragging ----------------------------------------------------------------------

function startDrag(ev) {
  ev.preventDefault();
  state.dragging = true;
  ev.target.setPointerCapture(ev.pointerId);
}

function onDrag(ev) {
  if (!state.dragging) return;
  state.marker = eventToLatLon(ev);
  updateMarker();
}

function endDrag(ev) {
  if (!state.dragging) return;
  state.dragging = false;
  state.marker = eventToLatLon(ev);
  state.moved = true;
  updateMarker();
}

function onMapClick(ev) {
  if (!state.detail || ev.target.id === "marker" || ev.target.closest(".cand")) return;
  state.marker = eventToLatLon(ev);
  state.moved = true;
  updateMarker();
}

// ---- candidates panel ---------------------------------------------------------------------

function renderCandidates() {
  const d = state.detail;
  const box = $("candidates");
  box.replaceChildren();
  $("ranking").textContent = d.ranking === "score" ? "(by re-ranking score)" : "(nearest first)";
  if (!d.candidates.length) htmlEl("p", { class: "muted" }, box, "no candidates");
  const accepted = d.correction && d.correction.action === "accept" ? d.correction.candidate : null;
  for (const c of d.candidates) box.appendChild(candidateCard(c, c.name === accepted));
}

function candidateCard(c, accepted) {
  const card = htmlEl("figure", { class: "candidate", "data-rank": c.rank, "data-name": c.name });
  if (accepted) card.classList.add("accepted");
  htmlEl("img", { src: c.image, alt: c.name, loading: "lazy" }, card);
  const cap = htmlEl("figcaption", {}, card);
  const score = c.score === null ? "" : ` · score ${c.score.toPrecision(3)}`;
  htmlEl("span", {}, cap, `#${c.rank}${score} · ${fmtDist(c.distance_m) || "?"}`);
  const btn = htmlEl("button", { type: "button", class: "accept", "data-name": c.name }, cap,
    c.rank <= 9 ? `Accept (${c.rank})` : "Accept");
  btn.addEventListener("click", () => decide({ action: "accept", candidate: c.name }));
  card.addEventListener("mouseenter", () => highlight(c.rank, true));
  card.addEventListener("mouseleave", () => highlight(c.rank, false));
  return card;
}

// ---- page state ---------------------------------------------------------------------------

function renderProgress(reviewed) {
  const n = state.queries.length;
  $("progress").textContent = `${reviewed} / ${n} reviewed`;
  $("position-in-list").textContent = n ? `${state.index + 1} / ${n}` : "";
  $("prev").disabled = state.index <= 0;
  $("next").disabled = state.index >= n - 1;
}

function renderDecision() {
  const c = state.detail.correction;
  const badge = $("decision");
  badge.textContent = c ? `${c.action} (${c.time})` : "not reviewed";
  badge.className = `badge ${c ? c.action : "todo"}`;
}

async function show(index) {
  state.index = index;
  const q = state.queries[index];
  const d = await api(`/api/query?photo_id=${encodeURIComponent(q.photo_id)}`);
  state.detail = d;
  state.proj = makeProjection(d.map);
  state.marker = d.position || d.geotag;
  state.moved = false;
  history.replaceState(null, "", `#${encodeURIComponent(d.photo_id)}`);
  $("photo-id").textContent = d.photo_id;
  $("query-image").src = d.image;
  renderDecision();
  renderCandidates();
  drawMap();
  renderProgress(state.queries.filter((x) => x.action).length);
  document.body.dataset.photoId = d.photo_id;
}

async function go(delta) {
  const i = state.index + delta;
  if (state.busy || i < 0 || i >= state.queries.length) return;
  try {
    await show(i);
  } catch (e) {
    setStatus(`error: ${e.message}`, true);
  }
}

async function decide(payload) {
  if (state.busy || !state.detail) return;
  state.busy = true;
  const pid = state.detail.photo_id;
  try {
    const res = await api("/api/decision", { photo_id: pid, ...payload });
    state.queries[state.index].action = res.correction.action;
    setStatus(`saved ${pid}: ${res.correction.action} at ${fmtPos(posOf(res.correction))}`);
    const last = state.index >= state.queries.length - 1;
    await show($("advance").checked && !last ? state.index + 1 : state.index);
  } catch (e) {
    setStatus(`error: ${e.message}`, true);
  } finally {
    state.busy = false;
  }
}

function posOf(c) {
  return c.latitude === null ? null : { latitude: c.latitude, longitude: c.longitude };
}

function keep() {
  if (!state.marker) {
    setStatus("no position yet: drag the marker or click the map first", true);
    return;
  }
  const { latitude, longitude } = state.marker;
  decide({ action: state.moved ? "move" : "keep", latitude, longitude });
}

function resetMarker() {
  if (!state.detail) return;
  state.marker = state.detail.geotag || state.detail.position;
  state.moved = false;
  updateMarker();
}

function onKey(ev) {
  if (ev.target.tagName === "INPUT" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const k = ev.key.toLowerCase();
  if (k === "n" || k === "arrowright") go(1);
  else if (k === "p" || k === "arrowleft") go(-1);
  else if (k === "k") keep();
  else if (k === "r") decide({ action: "reject" });
  else if (/^[1-9]$/.test(k) && state.detail) {
    const c = state.detail.candidates.find((x) => x.rank === Number(k));
    if (c) decide({ action: "accept", candidate: c.name });
  }
}

function startIndex() {
  const wanted = decodeURIComponent(location.hash.slice(1));
  const byHash = state.queries.findIndex((q) => q.photo_id === wanted);
  if (byHash >= 0) return byHash;
  const todo = state.queries.findIndex((q) => !q.action);
  return todo >= 0 ? todo : 0;
}

async function init() {
  $("prev").addEventListener("click", () => go(-1));
  $("next").addEventListener("click", () => go(1));
  $("keep").addEventListener("click", keep);
  $("reset").addEventListener("click", resetMarker);
  $("reject").addEventListener("click", () => decide({ action: "reject" }));
  $("map").addEventListener("click", onMapClick);
  document.addEventListener("keydown", onKey);
  try {
    const list = await api("/api/queries");
    state.queries = list.queries;
    if (!state.queries.length) {
      setStatus("no query photos to review", true);
      return;
    }
    await show(startIndex());
  } catch (e) {
    setStatus(`error: ${e.message}`, true);
  }
}

init();
