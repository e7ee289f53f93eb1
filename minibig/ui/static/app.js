// minibig web UI: one page, routed by the URL's hash, refreshed every second from
// the JSON endpoints (see minibig/ui/server.py). No framework, no CDN.
"use strict";

const POLL_MS = 1000;
const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948",
                 "#ff9da7", "#9c755f", "#e15759", "#bab0ac"];
let timer = null;

function esc(value) {
  return String(value === null || value === undefined ? "" : value)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function seconds(s) {
  if (s === null || s === undefined) return "–";
  if (s < 1) return (s * 1000).toFixed(0) + " ms";
  if (s < 120) return s.toFixed(2) + " s";
  return (s / 60).toFixed(1) + " min";
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function when(epoch) {
  return epoch ? new Date(epoch * 1000).toLocaleTimeString() : "–";
}

function levels(counts) {
  const keys = Object.keys(counts || {}).sort();
  return keys.length ? keys.map(k => esc(k) + " " + counts[k]).join(", ") : "–";
}

function stageColor(stage) { return PALETTE[stage % PALETTE.length]; }

function table(headers, rows) {
  const head = headers.map(h => `<th class="${h[1] || ""}">${esc(h[0])}</th>`).join("");
  const body = rows.length ? rows.join("") :
    `<tr><td colspan="${headers.length}" class="muted">none</td></tr>`;
  return `<div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

function progress(done, total) {
  const pct = total ? Math.round(100 * done / total) : 0;
  return `<div class="bar" title="${done}/${total}"><span style="width:${pct}%"></span></div>`;
}

async function getJSON(path) {
  const response = await fetch(path, {cache: "no-store"});
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}

// -- pages ------------------------------------------------------------------------
async function overviewPage() {
  const data = await getJSON("api/overview");
  setHeader(data);
  const workers = data.workers.map(w => `<tr>
      <td>${esc(w.id)}</td><td>${esc(w.host)}</td><td class="num">${esc(w.slots)}</td>
      <td class="num">${w.running ?? "–"}</td><td class="num">${w.tasks_done ?? "–"}</td>
      <td class="num">${w.cpu_percent === undefined ? "–" : w.cpu_percent.toFixed(0) + " %"}</td>
      <td class="num">${bytes(w.rss_bytes)}</td><td class="num">${w.blocks ?? "–"}</td>
      <td class="${w.alive ? "succeeded" : w.alive === null ? "" : "lost"}">${
        w.alive ? "alive" : w.alive === null ? "–" : "gone: " + esc(w.reason)}</td>
    </tr>`);
  const jobs = data.jobs.map(j => `<tr>
      <td><a href="#/job/${encodeURIComponent(j.app)}/${j.job}">${esc(j.app)} / ${j.job}</a></td>
      <td class="desc">${esc(j.description)}</td>
      <td class="${esc(j.result)}">${esc(j.result)}</td>
      <td class="num">${seconds(j.duration)}</td><td class="num">${j.stages}</td>
      <td>${progress(j.succeeded, j.attempts - j.failed - j.lost - j.killed)}</td>
      <td class="num">${j.succeeded}</td><td class="num">${j.failed + j.lost}</td>
      <td class="hide-small">${levels(j.locality)}</td>
    </tr>`);
  const apps = data.apps.map(a => `<tr><td>${esc(a.id)}</td><td>${esc(a.name)}</td>
      <td>${esc(a.host)}</td><td>${when(a.start)}</td><td>${a.end ? when(a.end) : "running"}</td></tr>`);
  return `<h1>Cluster</h1>
    <h2>Workers</h2>${table([["worker"], ["host"], ["slots", "num"], ["running", "num"],
      ["tasks done", "num"], ["CPU", "num"], ["memory", "num"], ["blocks", "num"], ["state"]], workers)}
    <h2>Jobs</h2>${table([["job"], ["description"], ["status"], ["duration", "num"],
      ["stages", "num"], ["progress"], ["tasks", "num"], ["failed/lost", "num"],
      ["locality"]], jobs)}
    <h2>Applications</h2>${table([["id"], ["name"], ["host"], ["started"], ["ended"]], apps)}`;
}

async function jobPage(app, job) {
  const [data, overview] = await Promise.all([
    getJSON(`api/job?app=${encodeURIComponent(app)}&job=${job}`), getJSON("api/overview")]);
  setHeader(overview);
  if (!data) return `<h1>Job ${esc(job)}</h1><p class="muted">No such job (yet).</p>`;
  const j = data.job;
  const stages = data.stages.map(s => `<tr>
      <td><a href="#/stage/${encodeURIComponent(app)}/${s.stage}/${s.attempt}">${s.stage}.${s.attempt}</a></td>
      <td class="desc">${esc(s.description)}</td>
      <td>${s.parents.length ? s.parents.join(", ") : "–"}</td>
      <td class="${esc(s.result)}">${esc(s.result)}</td>
      <td>${progress(s.succeeded, s.tasks)}</td><td class="num">${s.succeeded}/${s.tasks}</td>
      <td class="num">${s.failed + s.lost}</td><td class="num">${s.speculative}</td>
      <td class="num">${seconds(s.completed ? s.completed - s.submitted : null)}</td>
      <td class="num hide-small">${bytes(s.shuffle_read_bytes)}</td>
      <td class="num hide-small">${bytes(s.shuffle_write_bytes)}</td>
      <td class="hide-small">${levels(s.locality)}</td></tr>`);
  return `<h1>Job ${esc(app)} / ${j.job}</h1>
    <ul class="facts">
      <li>status<b class="${esc(j.result)}">${esc(j.result)}</b></li>
      <li>duration<b>${seconds(j.duration)}</b></li>
      <li>stages<b>${j.stages}</b></li>
      <li>tasks<b>${j.succeeded}</b></li>
      <li>failed / lost<b>${j.failed} / ${j.lost}</b></li>
      <li>speculative<b>${j.speculative}</b></li>
      <li>locality<b>${levels(j.locality)}</b></li>
    </ul>
    <p class="muted">${esc(j.description)}${j.error ? " — " + esc(j.error) : ""}</p>
    <h2>Stages</h2><div class="card scroll">${dagSVG(data.stages)}</div>
    ${table([["stage"], ["description"], ["parents"], ["status"], ["progress"], ["tasks", "num"],
      ["failed/lost", "num"], ["speculative", "num"], ["duration", "num"], ["shuffle read", "num"],
      ["shuffle write", "num"], ["locality"]], stages)}
    <h2>Timeline</h2><div class="card scroll">${timelineSVG(data.timeline)}</div>`;
}

async function stagePage(app, stage, attempt) {
  const [data, overview] = await Promise.all([
    getJSON(`api/stage?app=${encodeURIComponent(app)}&stage=${stage}&attempt=${attempt}`),
    getJSON("api/overview")]);
  setHeader(overview);
  if (!data) return `<h1>Stage ${esc(stage)}</h1><p class="muted">No such stage (yet).</p>`;
  const s = data.stage;
  const tasks = data.tasks.map(t => `<tr>
      <td class="num">${t.partition}</td><td class="num">${t.attempt}</td>
      <td>${esc(t.worker)} #${t.slot}</td><td>${esc(t.locality)}</td>
      <td>${t.speculative ? "yes" : ""}</td><td class="${esc(t.result)}">${esc(t.result)}</td>
      <td class="num">${seconds(t.duration)}</td><td class="num">${seconds(t.run_seconds)}</td>
      <td class="num hide-small">${bytes(t.result_size)}</td>
      <td class="num hide-small">${bytes(t.shuffle_read_bytes)}</td>
      <td class="num hide-small">${bytes(t.shuffle_write_bytes)}</td>
      <td class="desc">${esc(t.error || "")}</td></tr>`);
  return `<h1>Stage ${s.stage}.${s.attempt} of <a href="#/job/${encodeURIComponent(app)}/${s.job}">job ${s.job}</a></h1>
    <ul class="facts">
      <li>status<b class="${esc(s.result)}">${esc(s.result)}</b></li>
      <li>tasks<b>${s.succeeded}/${s.tasks}</b></li>
      <li>attempts<b>${s.attempts}</b></li>
      <li>failed / lost<b>${s.failed} / ${s.lost}</b></li>
      <li>parents<b>${s.parents.length ? s.parents.join(", ") : "–"}</b></li>
      <li>locality<b>${levels(s.locality)}</b></li>
    </ul>
    <p class="muted">${esc(s.description)}</p>
    <h2>Task attempts</h2>${table([["partition", "num"], ["attempt", "num"], ["worker slot"],
      ["locality"], ["speculative"], ["result"], ["duration", "num"], ["run", "num"],
      ["result size", "num"], ["shuffle read", "num"], ["shuffle write", "num"], ["error"]], tasks)}`;
}

// -- pictures ---------------------------------------------------------------------
function dagSVG(stages) {
  // One box per stage (its latest attempt), left to right by depth from the roots.
  const latest = new Map();
  for (const s of stages) latest.set(s.stage, s);
  const ids = [...latest.keys()];
  for (const s of latest.values()) {
    for (const p of s.parents) if (!latest.has(p)) latest.set(p, {stage: p, parents: [], skipped: true});
  }
  const depth = new Map();
  const depthOf = (id, seen = new Set()) => {
    if (depth.has(id)) return depth.get(id);
    if (seen.has(id)) return 0;
    seen.add(id);
    const node = latest.get(id);
    const d = node.parents.length ? 1 + Math.max(...node.parents.map(p => depthOf(p, seen))) : 0;
    depth.set(id, d);
    return d;
  };
  [...latest.keys()].forEach(id => depthOf(id));
  const columns = [];
  for (const [id, d] of [...depth.entries()].sort((a, b) => a[0] - b[0])) {
    (columns[d] = columns[d] || []).push(id);
  }
  const W = 190, H = 46, GX = 60, GY = 16, at = new Map();
  columns.forEach((col, c) => col.forEach((id, r) => at.set(id, {x: 10 + c * (W + GX), y: 10 + r * (H + GY)})));
  const width = 20 + columns.length * (W + GX) - GX;
  const height = 20 + Math.max(1, ...columns.map(c => c.length)) * (H + GY) - GY;
  let out = `<svg class="dag" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7"
      orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#7c93b8"/></marker></defs>`;
  for (const [id, node] of latest) {
    for (const p of node.parents) {
      const a = at.get(p), b = at.get(id);
      out += `<path class="edge" d="M${a.x + W} ${a.y + H / 2} C${a.x + W + GX / 2} ${a.y + H / 2},
        ${b.x - GX / 2} ${b.y + H / 2}, ${b.x} ${b.y + H / 2}"/>`;
    }
  }
  for (const [id, node] of latest) {
    const {x, y} = at.get(id);
    const state = node.skipped ? "skipped" : node.result;
    const label = node.skipped ? "skipped (output reused)" :
      `${node.succeeded}/${node.tasks} tasks · ${node.result}`;
    const name = (node.description || "Stage " + id).split(" (")[0];
    out += `<g class="node ${esc(state)}"><title>${esc(node.description || "stage " + id)}</title>
      <rect x="${x}" y="${y}" width="${W}" height="${H}"></rect>
      <rect x="${x}" y="${y}" width="6" height="${H}" style="fill:${stageColor(id)};stroke:none"></rect>
      <text x="${x + 12}" y="${y + 18}">${esc(name)}</text>
      <text x="${x + 12}" y="${y + 35}" class="muted">${esc(label)}</text></g>`;
  }
  return out + (ids.length ? "" : `<text x="10" y="20">no stage yet</text>`) + "</svg>";
}

function timelineSVG(tl) {
  // A Gantt chart: one row per worker slot, one bar per task attempt, coloured by stage.
  const LEFT = 170, ROW = 20, TOP = 22, width = 960;
  const span = Math.max(tl.duration, 1e-3);
  const x = t => LEFT + (width - LEFT - 36) * t / span;
  const height = TOP + Math.max(1, tl.rows.length) * ROW + 10;
  let out = `<svg class="timeline" viewBox="0 0 ${width} ${height}" width="100%" style="min-width:560px">`;
  out += `<g class="axis">`;
  for (let i = 0; i <= 5; i++) {
    const t = span * i / 5;
    out += `<line x1="${x(t)}" x2="${x(t)}" y1="${TOP - 4}" y2="${height - 6}"></line>
      <text x="${x(t)}" y="${TOP - 8}" text-anchor="middle">${esc(seconds(t))}</text>`;
  }
  out += `</g>`;
  tl.rows.forEach((name, i) => {
    out += `<text x="4" y="${TOP + i * ROW + 14}">${esc(name)}</text>`;
  });
  const stages = new Set();
  for (const b of tl.bars) {
    stages.add(b.stage);
    const classes = ["task", b.result, b.speculative ? "speculative" : ""].join(" ");
    const w = Math.max(2, x(b.end) - x(b.start));
    out += `<rect class="${esc(classes)}" x="${x(b.start)}" y="${TOP + b.row * ROW + 3}" width="${w}"
      height="${ROW - 6}" fill="${stageColor(b.stage)}"><title>stage ${b.stage}.${b.stage_attempt}
      partition ${b.partition} attempt ${b.attempt}${b.speculative ? " (speculative)" : ""}: ${esc(b.result)},
      ${esc(seconds(b.end - b.start))}</title></rect>`;
  }
  out += "</svg>";
  const legend = [...stages].sort((a, b) => a - b).map(s =>
    `<span><i class="swatch" style="background:${stageColor(s)}"></i>stage ${s}</span>`).join("");
  return out + `<div class="legend">${legend}<span>black outline: speculative</span>
    <span>red outline: failed · dashed: lost with its worker · faded: killed or superseded</span></div>`;
}

// -- plumbing ---------------------------------------------------------------------
function setHeader(data) {
  if (!data) return;
  document.getElementById("mode").textContent = data.mode === "history" ? "history" : "live";
  const master = data.master || {};
  document.getElementById("master").textContent =
    master.url ? `${master.url} · up ${seconds(master.uptime)}` : "";
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "job" && parts.length >= 3) return () => jobPage(parts[1], parts[2]);
  if (parts[0] === "stage" && parts.length >= 4) return () => stagePage(parts[1], parts[2], parts[3]);
  return overviewPage;
}

async function refresh() {
  clearTimeout(timer);
  try {
    const html = await route()();
    document.getElementById("view").innerHTML = html;
  } catch (err) {
    document.getElementById("updated").textContent = "cannot reach the server: " + err.message;
  }
  timer = setTimeout(refresh, POLL_MS);
}

window.addEventListener("hashchange", refresh);
refresh();
