// The dashboard: polls the engine's read-only JSON API (docs/dashboard.md)
// and draws the trials table, the learning curves, best-so-far and the
// parameters against the metric as plain SVG. No library, no network
// beyond the engine itself.
"use strict";

const POLL_MS = 1500;
// Trials drawn at most in the table, the curves and the parameters plot:
// a browser draws a few thousand rows and lines quickly, not 100,000. The
// table shows the first of its sort order; the charts the best trials.
const MAX_DRAWN = 2000;
// Curves are fetched for the trials drawn only, this many per request.
const CURVE_BATCH = 200;
const SVG = "http://www.w3.org/2000/svg";
const FINAL = { FINISHED: 1, EARLY_STOPPED: 1, FAILED: 1 };
const $ = (id) => document.getElementById(id);

const view = {
  summary: null, index: new Map(), endSeq: 0,
  curves: {}, curvesEnded: new Set(), curveAttempts: new Map(), sortKey: "value", sortUp: null, filter: "",
  selected: null, logNext: 0, logTimer: null, hover: null,
};

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

// ---- formatting -----------------------------------------------------------

function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(parseFloat(v.toPrecision(6)));
  return String(v);
}

function seconds(s) {
  if (!(s >= 0)) return "–";
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function took(t) {
  if (t.started > 0 && t.ended >= t.started) return t.ended - t.started;
  if (t.started > 0 && t.state === "RUNNING") return Date.now() / 1000 - t.started;
  return undefined;
}

function el(tag, attrs, text) {
  const e = document.createElementNS(tag === "svg" || attrs.svg ? SVG : "http://www.w3.org/1999/xhtml", tag);
  for (const [k, v] of Object.entries(attrs)) if (k !== "svg" && v !== undefined) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svgEl(tag, attrs, text) { return el(tag, { ...attrs, svg: true }, text); }

// [min, max] of numbers, however many: Math.min(...list) throws once the
// list is longer than the engine's argument limit (about 125,000 in V8).
function extent(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return [lo, hi];
}

function count(n) { return n.toLocaleString("en-US"); }

// The trials a chart draws: all of them, or MAX_DRAWN: those running, then
// the best (those without a value last), with the selected one always
// among them.
function drawn(trials) {
  if (trials.length <= MAX_DRAWN) return trials;
  const running = trials.filter((t) => t.state === "RUNNING").slice(0, MAX_DRAWN);
  const ranked = trials.filter((t) => t.state !== "RUNNING").sort((a, b) => {
    const x = typeof a.value === "number", y = typeof b.value === "number";
    if (x !== y) return x ? -1 : 1;
    return x ? (better(a.value, b.value) ? -1 : better(b.value, a.value) ? 1 : 0) : 0;
  });
  const out = running.concat(ranked.slice(0, MAX_DRAWN - running.length));
  const selected = view.selected && trials.find((t) => t.id === view.selected);
  if (selected && !out.includes(selected)) out.push(selected);
  return out;
}

function drawnNote(shown, all) {
  if (shown.length >= all.length) return `${count(all.length)} trials`;
  const running = shown.some((t) => t.state === "RUNNING") ? "those running and " : "";
  return `${count(shown.length)} of ${count(all.length)} trials: ${running}the best`;
}

function better(a, b) {
  return view.summary.direction === "min" ? a < b : a > b;
}

// ---- the header -------------------------------------------------------------

function renderStatus() {
  const s = view.summary;
  const ended = s.finished + s.early_stopped + s.failed;
  $("name").textContent = `${s.name}`;
  document.title = `${s.name}: ${s.status} – maggy-engine`;
  // What the experiment names (its metric, its error) goes in as text only:
  // a shared script is not trusted (README, Security).
  const parts = [el("b", {}, s.status),
    ` · ${ended}/${s.num_trials} ended: ${s.finished} finished, ` +
    `${s.early_stopped} early-stopped, ${s.failed} failed · ${s.running} running · `];
  if (s.best) parts.push(`best ${s.metric} `, el("b", {}, fmt(s.best.value)), ` (trial ${s.best.trial_id})`);
  else parts.push("no value yet");
  parts.push(` · ${seconds(s.duration_s)}`);
  if (s.error) parts.push(" · ", el("span", { class: "state-FAILED" }, s.error.split("\n")[0]));
  $("status").replaceChildren(...parts);
}

// ---- the trials table ---------------------------------------------------

function paramNames() {
  const names = new Set();
  for (const t of view.summary.trials) for (const k of Object.keys(t.params || {})) names.add(k);
  return [...names].sort();
}

function columns() {
  const s = view.summary;
  const cols = [
    { key: "id", title: "trial", get: (t) => t.id },
    { key: "state", title: "state", get: (t) => t.state },
    { key: "value", title: s.metric, get: (t) => t.value, num: true },
    { key: "steps", title: "steps", get: (t) => t.steps, num: true },
    { key: "duration", title: "duration", get: took, num: true, show: seconds },
    { key: "worker", title: "worker", get: (t) => (t.worker ? `${t.worker.host}:${t.worker.slot}` : "") },
    { key: "attempts", title: "attempts", get: (t) => t.attempts, num: true },
  ];
  for (const p of paramNames()) cols.push({ key: `p:${p}`, title: p, get: (t) => (t.params || {})[p], param: true });
  return cols;
}

function sortedTrials(cols) {
  const col = cols.find((c) => c.key === view.sortKey) || cols[2];
  const up = view.sortUp !== null ? view.sortUp : view.summary.direction === "min";
  const rows = view.summary.trials.filter((t) => {
    if (!view.filter) return true;
    const text = cols.map((c) => fmt(c.get(t))).join(" ").toLowerCase();
    return view.filter.split(/\s+/).every((w) => text.includes(w));
  });
  const key = (t) => col.get(t);
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === undefined || x === null) return y === undefined || y === null ? 0 : 1;
    if (y === undefined || y === null) return -1;
    const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return up ? c : -c;
  });
  return rows;
}

function renderTable() {
  const cols = columns();
  const head = $("trials").tHead.rows[0];
  head.replaceChildren(...cols.map((c) => {
    const th = el("th", { "data-key": c.key }, c.title);
    if (c.key === view.sortKey) {
      th.classList.add("sorted");
      const up = view.sortUp !== null ? view.sortUp : view.summary.direction === "min";
      if (up) th.classList.add("up");
    }
    th.onclick = () => {
      view.sortUp = view.sortKey === c.key ? !(view.sortUp !== null ? view.sortUp : view.summary.direction === "min") : !c.num;
      view.sortKey = c.key;
      renderTable();
    };
    return th;
  }));
  const bestId = view.summary.best && view.summary.best.trial_id;
  const body = $("trials").tBodies[0];
  const sorted = sortedTrials(cols), rows = sorted.slice(0, MAX_DRAWN);
  $("trials-note").textContent = rows.length < sorted.length
    ? `the first ${count(rows.length)} of ${count(sorted.length)}: sort or filter to see others` : "";
  body.replaceChildren(...rows.map((t) => {
    const tr = el("tr", { "data-id": t.id });
    if (t.id === bestId) tr.classList.add("best");
    if (t.id === view.selected) tr.classList.add("selected");
    for (const c of cols) {
      const v = c.get(t);
      const td = el("td", {}, c.show ? c.show(v) : fmt(v));
      if (c.num || typeof v === "number") td.classList.add("num");
      if (c.key === "state") td.classList.add(`state-${t.state}`);
      tr.appendChild(td);
    }
    tr.onclick = () => select(t.id);
    tr.onmouseenter = () => hover(t.id);
    tr.onmouseleave = () => hover(null);
    return tr;
  }));
}

// ---- charts -----------------------------------------------------------------

function scale(lo, hi, a, b) {
  if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
  return (v) => a + ((v - lo) / (hi - lo)) * (b - a);
}

function axes(svg, box, xr, yr, xlabel) {
  const { l, r, t, b } = box;
  svg.appendChild(svgEl("line", { class: "axis", x1: l, y1: b, x2: r, y2: b }));
  svg.appendChild(svgEl("line", { class: "axis", x1: l, y1: t, x2: l, y2: b }));
  svg.appendChild(svgEl("text", { x: l, y: b + 14 }, fmt(xr[0])));
  svg.appendChild(svgEl("text", { x: r, y: b + 14, "text-anchor": "end" }, `${fmt(xr[1])} ${xlabel}`));
  svg.appendChild(svgEl("text", { x: l - 4, y: b, "text-anchor": "end" }, fmt(yr[0])));
  svg.appendChild(svgEl("text", { x: l - 4, y: t + 8, "text-anchor": "end" }, fmt(yr[1])));
}

function curveClass(t, bestId) {
  let c = "curve";
  if (t.state === "EARLY_STOPPED") c += " stopped";
  if (t.state === "FAILED") c += " failed";
  if (t.id === bestId) c += " best";
  if (t.id === view.selected) c += " selected";
  return c;
}

function hookTrial(node, t) {
  node.addEventListener("mouseenter", (ev) => { hover(t.id); tooltip(ev, t); });
  node.addEventListener("mouseleave", () => { hover(null); $("tooltip").hidden = true; });
  node.addEventListener("click", () => select(t.id));
}

function tooltip(ev, t) {
  const tip = $("tooltip");
  const params = Object.entries(t.params || {}).map(([k, v]) => `${k}=${fmt(v)}`).join(", ");
  tip.textContent = `${t.id} ${t.state} ${view.summary.metric}=${fmt(t.value)} · ${params}`;
  const box = tip.parentElement.getBoundingClientRect();
  tip.style.left = `${ev.clientX - box.left + 12}px`;
  tip.style.top = `${ev.clientY - box.top + 12}px`;
  tip.hidden = false;
}

function renderCurves() {
  const svg = $("curves");
  svg.replaceChildren();
  const withPoints = view.summary.trials.filter((t) => t.steps > 0);
  const shown = drawn(withPoints).filter((t) => view.curves[t.id] && view.curves[t.id].length);
  const byId = Object.fromEntries(shown.map((t) => [t.id, t]));
  const ids = shown.map((t) => t.id);
  let xs = [Infinity, -Infinity], ys = [Infinity, -Infinity];
  for (const id of ids) for (const [x, y] of view.curves[id]) {
    if (x < xs[0]) xs[0] = x;
    if (x > xs[1]) xs[1] = x;
    if (y < ys[0]) ys[0] = y;
    if (y > ys[1]) ys[1] = y;
  }
  $("curves-note").textContent = ids.length ? drawnNote(shown, withPoints) : "no metric points yet";
  if (!ids.length) return;
  const box = { l: 64, r: 890, t: 10, b: 295 };
  axes(svg, box, xs, ys, "step");
  const X = scale(xs[0], xs[1], box.l, box.r), Y = scale(ys[0], ys[1], box.b, box.t);
  const bestId = view.summary.best && view.summary.best.trial_id;
  ids.sort((a, b) => (a === bestId) - (b === bestId)); // the best on top
  for (const id of ids) {
    const pts = view.curves[id], t = byId[id];
    const d = pts.map(([x, y], i) => `${i ? "L" : "M"}${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join("");
    const path = svgEl("path", { class: curveClass(t, bestId), d, "data-id": id });
    hookTrial(path, t);
    svg.appendChild(path);
    if (t.state === "EARLY_STOPPED") {
      const [x, y] = pts[pts.length - 1];
      svg.appendChild(svgEl("circle", { class: "stop-mark", cx: X(x), cy: Y(y), r: 2.5, "data-id": id }));
    }
  }
}

function renderBestSoFar() {
  const svg = $("best-so-far");
  svg.replaceChildren();
  const done = view.summary.trials.filter((t) => FINAL[t.state] && t.state !== "FAILED" &&
    typeof t.value === "number" && t.ended > 0).sort((a, b) => a.ended - b.ended);
  if (!done.length) return;
  const t0 = Math.min(extent(view.summary.trials.filter((t) => t.started > 0).map((t) => t.started))[0],
    done[0].ended);
  const pts = [];
  let best;
  for (const t of done) if (best === undefined || better(t.value, best)) { best = t.value; pts.push([t.ended - t0, best, t]); }
  const end = Math.max(done[done.length - 1].ended - t0, pts[pts.length - 1][0]);
  const ys = extent(pts.map((p) => p[1]));
  const box = { l: 64, r: 430, t: 10, b: 235 };
  axes(svg, box, [0, end], ys, "s");
  const X = scale(0, end, box.l, box.r), Y = scale(ys[0], ys[1], box.b, box.t);
  let d = "";
  pts.forEach(([x, y], i) => { d += i ? `H${X(x).toFixed(1)}V${Y(y).toFixed(1)}` : `M${X(x).toFixed(1)},${Y(y).toFixed(1)}`; });
  d += `H${X(end).toFixed(1)}`;
  svg.appendChild(svgEl("path", { class: "step", d }));
  for (const [x, y, t] of pts) {
    const dot = svgEl("circle", { class: "dot", cx: X(x), cy: Y(y), r: 3, "data-id": t.id });
    hookTrial(dot, t);
    svg.appendChild(dot);
  }
}

// One axis per parameter (numbers on a log scale when they span decades,
// categories in order of appearance) and one for the metric.
function axisOf(name, values) {
  const nums = values.filter((v) => typeof v === "number");
  if (nums.length === values.length && nums.length) {
    const [lo, hi] = extent(nums);
    const log = lo > 0 && hi / lo > 100;
    const f = log ? Math.log : (v) => v;
    const s = scale(f(lo), f(hi), 1, 0);
    return { name, at: (v) => s(f(v)), lo, hi };
  }
  const cats = [...new Set(values.map(String))];
  return { name, at: (v) => (cats.length > 1 ? 1 - cats.indexOf(String(v)) / (cats.length - 1) : 0.5), cats };
}

function renderParams() {
  const svg = $("params");
  svg.replaceChildren();
  const valued = view.summary.trials.filter((t) => typeof t.value === "number");
  const trials = drawn(valued);
  const names = paramNames();
  $("params-note").textContent = trials.length < valued.length ? drawnNote(trials, valued) : "";
  if (!trials.length || !names.length) return;
  const axesList = names.map((n) => axisOf(n, trials.map((t) => t.params[n])));
  axesList.push(axisOf(view.summary.metric, trials.map((t) => t.value)));
  const box = { l: 20, r: 420, t: 20, b: 235 };
  const step = (box.r - box.l) / Math.max(1, axesList.length - 1);
  axesList.forEach((a, i) => {
    const x = box.l + i * step;
    svg.appendChild(svgEl("line", { class: "axis", x1: x, y1: box.t, x2: x, y2: box.b }));
    // the outer labels grow inwards, or the plot's edges would cut them
    const anchor = i === 0 ? "start" : i === axesList.length - 1 ? "end" : "middle";
    svg.appendChild(svgEl("text", { x, y: box.t - 6, "text-anchor": anchor }, a.name));
  });
  const bestId = view.summary.best && view.summary.best.trial_id;
  for (const t of trials) {
    const vals = names.map((n) => t.params[n]).concat([t.value]);
    const d = vals.map((v, i) => `${i ? "L" : "M"}${(box.l + i * step).toFixed(1)},` +
      `${(box.t + axesList[i].at(v) * (box.b - box.t)).toFixed(1)}`).join("");
    const path = svgEl("path", { class: curveClass(t, bestId), d, "data-id": t.id });
    hookTrial(path, t);
    svg.appendChild(path);
  }
}

function renderAblation() {
  const ab = view.summary.ablation;
  $("ablation-panel").hidden = !ab;
  if (!ab) return;
  const rows = ab.rows || ab.path || [];
  const keys = ab.rows ? ["component", "n", "mean", "ci95", "delta", "delta_ci95", "rank", "significant"]
                       : ["step", "change", "n", "mean", "ci95", "delta"];
  $("ablation").tHead.replaceChildren(el("tr", {}));
  for (const k of keys) $("ablation").tHead.rows[0].appendChild(el("th", {}, k));
  $("ablation").tBodies[0].replaceChildren(...rows.map((r) => {
    const tr = el("tr", {});
    for (const k of keys) {
      let v = r[k];
      if (k === "significant") v = v === false ? "within noise" : v ? "yes" : "";
      const td = el("td", {}, typeof v === "object" && v !== null ? JSON.stringify(v) : fmt(v));
      if (typeof v === "number") td.classList.add("num");
      tr.appendChild(td);
    }
    if (r.significant === false) tr.classList.add("noise");
    return tr;
  }));
}

// ---- hover, selection, the log ----------------------------------------------

function hover(id) {
  view.hover = id;
  document.querySelectorAll(".chart .hover").forEach((n) => n.classList.remove("hover"));
  if (id) document.querySelectorAll(`.chart [data-id="${id}"]`).forEach((n) => n.classList.add("hover"));
}

function select(id) {
  if (view.selected === id) return;
  view.selected = id;
  view.logNext = 0;
  $("log").textContent = "";
  $("log-title").textContent = `Log of trial ${id}`;
  document.querySelectorAll("#trials tr.selected").forEach((r) => r.classList.remove("selected"));
  const row = document.querySelector(`#trials tr[data-id="${id}"]`);
  if (row) row.classList.add("selected");
  delete $("log").dataset.shown;
  clearTimeout(view.logTimer);
  pollLog();
  drawSelectedCurve();
}

// The selected trial's curve joins the chart at once, also when the run has
// ended and the page polls no more.
async function drawSelectedCurve() {
  try {
    [view.curves, view.curvesEnded] = await fetchCurves(view.summary.trials);
    renderCurves();
    if (view.hover) hover(view.hover);
  } catch (e) {
    console.error(e);
  }
}

async function pollLog() {
  const id = view.selected;
  try {
    for (;;) {
      const page = await getJSON(`/api/logs?trial=${id}&from=${view.logNext}`);
      if (id !== view.selected) return;
      const text = page.lines.map((l) => (l.stream === "stderr" ? "! " : "") + l.text).join("\n");
      if (text) $("log").textContent += ($("log").textContent ? "\n" : "") + text;
      view.logNext = page.next;
      if (!page.more) break;
    }
  } catch (e) {
    $("log").textContent += `\n(cannot read the log: ${e.message})`;
    return;
  }
  const t = view.summary.trials.find((x) => x.id === id);
  if (t && t.state === "FAILED" && t.error && !$("log").dataset.shown) {
    $("log").textContent += ($("log").textContent ? "\n" : "") + t.error;
    $("log").dataset.shown = id;
  }
  const pre = $("log");
  pre.scrollTop = pre.scrollHeight;
  if (t && !FINAL[t.state]) view.logTimer = setTimeout(pollLog, POLL_MS);
}

// ---- the loop ---------------------------------------------------------------

function render() {
  renderStatus();
  renderTable();
  renderCurves();
  renderBestSoFar();
  renderParams();
  renderAblation();
  if (view.hover) hover(view.hover);
}

// The curves of the trials the chart draws: those of trials that had ended
// when they were fetched are kept, the others fetched again from the step
// after the last one the page has (all of it after a new attempt, whose
// points replace the last one's). Returns the curves and the ids of those
// that are final.
async function fetchCurves(trials) {
  const curves = {}, ended = new Set(), ask = [];
  for (const t of drawn(trials.filter((t) => t.steps > 0))) {
    const have = view.curves[t.id];
    if (view.curvesEnded.has(t.id)) {
      curves[t.id] = have;
    } else if (have && have.length && view.curveAttempts.get(t.id) === t.attempts &&
               have.length <= t.steps) {
      curves[t.id] = have;
      ask.push(`${t.id}:${have[have.length - 1][0]}`);
    } else {
      ask.push(t.id);
    }
    view.curveAttempts.set(t.id, t.attempts);
    if (FINAL[t.state]) ended.add(t.id);
  }
  const answers = [];
  for (let i = 0; i < ask.length; i += CURVE_BATCH)
    answers.push(getJSON(`/api/curves?trial=${ask.slice(i, i + CURVE_BATCH).join(",")}`));
  for (const answer of await Promise.all(answers))
    for (const [id, points] of Object.entries(answer.curves))
      curves[id] = curves[id] ? curves[id].concat(points) : points;
  return [curves, ended];
}

// The summary with every trial: the answer to ?since=END_SEQ holds only the
// trials that may have changed since the last one (those not ended yet,
// those ended since), merged here into the list the page keeps, in creation
// order (view.index: id -> position).
async function fetchSummary() {
  const answer = await getJSON(`/api/summary?since=${view.endSeq}`);
  if (answer.end_seq < view.endSeq) { // another engine's store: start again
    view.summary = null;
    view.index = new Map();
    view.endSeq = 0;
    return fetchSummary();
  }
  const trials = view.summary ? view.summary.trials : [];
  for (const t of answer.trials) {
    const at = view.index.get(t.id);
    if (at === undefined) {
      view.index.set(t.id, trials.length);
      trials.push(t);
    } else {
      trials[at] = t;
    }
  }
  view.endSeq = answer.end_seq;
  answer.trials = trials;
  return answer;
}

// Polls every POLL_MS, or twice as long as the last answer took to come
// (a store of 100,000 trials answers in seconds): a page never keeps the
// engine busy with its polls.
async function refresh() {
  const start = performance.now();
  let fetched = false;
  try {
    view.summary = await fetchSummary();
    [view.curves, view.curvesEnded] = await fetchCurves(view.summary.trials);
    fetched = true;
  } catch (e) {
    $("status").textContent = `cannot reach the engine (${e.message}); retrying`;
  }
  const took = performance.now() - start;
  if (fetched) {
    try {
      render();
    } catch (e) {
      $("status").textContent = `the page could not draw the experiment: ${e.message}`;
      console.error(e);
    }
  }
  if (!view.summary || view.summary.status === "running") setTimeout(refresh, Math.max(POLL_MS, 2 * took));
}

$("filter").addEventListener("input", (ev) => {
  view.filter = ev.target.value.trim().toLowerCase();
  if (view.summary) renderTable();
});
refresh();
