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
    ${data.streams.length ? "<h2>Streams</h2>" + streamsTable(data.streams) : ""}
    ${data.graphs.length ? "<h2>Graph runs</h2>" + graphsTable(data.graphs) : ""}
    <h2>Jobs</h2>${table([["job"], ["description"], ["status"], ["duration", "num"],
      ["stages", "num"], ["progress"], ["tasks", "num"], ["failed/lost", "num"],
      ["locality"]], jobs)}
    <h2>Applications</h2>${table([["id"], ["name"], ["host"], ["started"], ["ended"]], apps)}`;
}

// -- graph runs -------------------------------------------------------------------
function graphHref(app, run) {
  return `#/graph/${encodeURIComponent(app)}/${encodeURIComponent(run)}`;
}

function graphLink(app, description) {
  // A graph run's jobs are described "graph <run> superstep <n>" or "graph <run> session"
  // (minibig/ui/graphs.py).
  const match = /^graph (\S+) /.exec(description || "");
  const run = match && match[1].startsWith(app + "/") ? match[1].slice(app.length + 1) : match && match[1];
  return match ? `<p><a href="${graphHref(app, run)}">the graph run's supersteps</a></p>` : "";
}

function graphsTable(runs) {
  const rows = runs.map(g => `<tr>
      <td><a href="${graphHref(g.app, g.run)}">${esc(g.run)}</a></td>
      <td class="${esc(g.result)}">${esc(g.result)}</td><td class="num">${g.supersteps}</td>
      <td class="num">${g.messages_sent}</td><td class="num">${seconds(g.duration)}</td></tr>`);
  return table([["run"], ["status"], ["supersteps", "num"], ["messages", "num"],
    ["duration", "num"]], rows);
}

async function graphPage(app, run) {
  const [data, overview] = await Promise.all([
    getJSON(`api/graph?app=${encodeURIComponent(app)}&run=${encodeURIComponent(run)}`),
    getJSON("api/overview")]);
  setHeader(overview);
  if (!data) return `<h1>Graph run ${esc(run)}</h1><p class="muted">No such graph run (yet).</p>`;
  const jobHref = job => `#/job/${encodeURIComponent(app)}/${job}`;
  const phase = (name, ref) => ref ? `<li>${name}<b><a href="${jobHref(ref.job)}">${seconds(ref.duration)}</a></b></li>` : "";
  const steps = data.steps.map(s => `<tr>
      <td class="num"><a href="${jobHref(s.job)}">${s.superstep}</a></td>
      <td class="${esc(s.result)}">${esc(s.result)}</td><td class="num">${s.tasks}</td>
      <td class="num">${s.messages_sent}</td><td class="num">${s.active_vertices}</td>
      <td class="num">${bytes(s.message_bytes)}</td><td class="num">${seconds(s.duration)}</td>
      <td class="num hide-small">${s.runs > 1 ? s.runs + " (rolled back)" : s.runs}</td></tr>`);
  const series = key => data.steps.map(s => ({x: s.superstep, y: s[key] || 0}));
  return `<h1>Graph run ${esc(run)}</h1>
    <ul class="facts">
      <li>status<b class="${esc(data.result)}">${esc(data.result)}</b></li>
      <li>supersteps<b>${data.supersteps}</b></li>
      <li>messages<b>${data.messages_sent}</b></li>
      <li>duration<b>${seconds(data.duration)}</b></li>
      ${phase("load", data.load)}${phase("session", data.session)}${phase("output", data.output)}
    </ul>
    <div class="charts">
      <div class="card">${barsSVG("messages sent per superstep", series("messages_sent"), String, 0)}</div>
      <div class="card">${barsSVG("active vertices per superstep", series("active_vertices"), String, 2)}</div>
      <div class="card">${barsSVG("duration per superstep", series("duration"), seconds, 1)}</div>
    </div>
    <h2>Supersteps</h2>${table([["superstep", "num"], ["status"], ["tasks", "num"],
      ["messages", "num"], ["active vertices", "num"], ["message bytes", "num"],
      ["duration", "num"], ["runs", "num"]], steps)}`;
}

// -- streams (the master's status["streams"]) ----------------------------------------
function percent(value) {
  if (value === null || value === undefined) return "–";
  return typeof value === "number" ? (100 * value).toFixed(0) + " %" : esc(value);
}

function lag(op) {
  // The lag is "now minus the watermark": meaningful when event time is seconds since the epoch.
  if (op.watermark === null || op.watermark === undefined) return "–";
  return op.watermark > 1e9 ? seconds(op.watermark_lag_s) :
    `<span class="muted" title="event time is not seconds since the epoch">n/a</span>`;
}

function rate(value) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(1) + "/s";
}

function backpressure(value) {
  // A fraction of time the operator waited on its downstream (0..1); a word passes as it is.
  if (typeof value !== "number") return esc(value ?? "–");
  const level = value >= 0.5 ? "high" : value >= 0.1 ? "low" : "ok";
  return `<span class="bp ${level}" title="${level}">${progress(Math.round(100 * value), 100)}
    ${percent(value)}</span>`;
}

function checkpoint(c) {
  return c ? `#${esc(c.id)} at ${when(c.at)}, ${seconds(c.duration_s)}, ${bytes(c.bytes)}` : "none yet";
}

function streamsTable(streams) {
  const rows = streams.map(st => {
    const ops = st.operators || [];
    const slowest = ops.reduce((a, o) => (o.watermark_lag_s ?? -1) > (a?.watermark_lag_s ?? -1) ? o : a, null);
    const rateIn = ops.length ? ops[0].rate_in : null;
    return `<tr><td><a href="#/streams">${esc(st.name)}</a></td><td>${esc(st.app)}</td>
      <td class="num">${ops.length}</td><td class="num">${rate(rateIn)}</td>
      <td class="num">${slowest ? lag(slowest) : "–"}</td>
      <td class="hide-small">${checkpoint(st.last_checkpoint)}</td></tr>`;
  });
  return table([["stream"], ["app"], ["operators", "num"], ["rate in", "num"],
    ["max watermark lag", "num"], ["last checkpoint"]], rows);
}

function streamCard(st) {
  const ops = (st.operators || []).map(o => `<tr>
      <td>${esc(o.name)}</td><td class="num">${esc(o.parallelism)}</td>
      <td class="num">${esc(o.records_in)}</td><td class="num">${esc(o.records_out)}</td>
      <td class="num">${rate(o.rate_in)}</td>
      <td class="num hide-small">${o.watermark ?? "–"}</td>
      <td class="num">${lag(o)}</td><td>${backpressure(o.backpressure)}</td></tr>`);
  return `<section class="stream"><h2>${esc(st.name)} <span class="muted">${esc(st.app)}</span></h2>
    <ul class="facts"><li>last checkpoint<b>${checkpoint(st.last_checkpoint)}</b></li>
      <li>updated<b>${when(st.updated)}</b></li></ul>
    ${table([["operator"], ["parallelism", "num"], ["records in", "num"], ["records out", "num"],
      ["rate in", "num"], ["watermark (event time)", "num"], ["watermark lag", "num"],
      ["backpressure"]], ops)}
    <div class="charts"><div class="card">${barsSVG("rate in per operator (records/s)",
      (st.operators || []).map(o => ({x: o.name, y: o.rate_in || 0})), v => v.toFixed(1), 3)}</div>
      <div class="card">${barsSVG("backpressure per operator (%)",
      (st.operators || []).map(o => ({x: o.name, y: 100 * (o.backpressure || 0)})), v => v.toFixed(0), 8)}</div></div>
    </section>`;
}

async function streamsPage() {
  const data = await getJSON("api/overview");
  setHeader(data);
  if (!data.streams.length) {
    return `<h1>Streams</h1><p class="muted">No stream is running${
      data.mode === "history" ? " (event logs hold jobs, not streams)" : ""}.</p>`;
  }
  return `<h1>Streams</h1>` + data.streams.map(streamCard).join("");
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
      <td class="num hide-small">${bytes(s.spill_bytes)}</td>
      <td class="num hide-small">${seconds(s.gc_seconds)}</td>
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
      <li>spilled<b>${bytes(j.spill_bytes)}</b></li>
      <li>GC<b>${seconds(j.gc_seconds)}</b></li>
    </ul>${graphLink(app, j.description)}
    <p class="muted">${esc(j.description)}${j.error ? " — " + esc(j.error) : ""}</p>
    <h2>Stages</h2><div class="card scroll">${dagSVG(data.stages)}</div>
    ${table([["stage"], ["description"], ["parents"], ["status"], ["progress"], ["tasks", "num"],
      ["failed/lost", "num"], ["speculative", "num"], ["duration", "num"], ["shuffle read", "num"],
      ["shuffle write", "num"], ["spill", "num"], ["GC", "num"], ["locality"]], stages)}
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
      <td class="num hide-small">${bytes(t.spill_bytes)}</td>
      <td class="num hide-small">${seconds(t.gc_seconds)}</td>
      <td class="desc">${esc(t.error || "")}</td></tr>`);
  return `<h1>Stage ${s.stage}.${s.attempt} of <a href="#/job/${encodeURIComponent(app)}/${s.job}">job ${s.job}</a></h1>
    <ul class="facts">
      <li>status<b class="${esc(s.result)}">${esc(s.result)}</b></li>
      <li>tasks<b>${s.succeeded}/${s.tasks}</b></li>
      <li>attempts<b>${s.attempts}</b></li>
      <li>failed / lost<b>${s.failed} / ${s.lost}</b></li>
      <li>parents<b>${s.parents.length ? s.parents.join(", ") : "–"}</b></li>
      <li>locality<b>${levels(s.locality)}</b></li>
      <li>spilled<b>${bytes(s.spill_bytes)}</b></li>
      <li>GC<b>${seconds(s.gc_seconds)}</b></li>
    </ul>
    <p class="muted">${esc(s.description)}</p>
    <h2>Task attempts</h2>${table([["partition", "num"], ["attempt", "num"], ["worker slot"],
      ["locality"], ["speculative"], ["result"], ["duration", "num"], ["run", "num"],
      ["result size", "num"], ["shuffle read", "num"], ["shuffle write", "num"], ["spill", "num"],
      ["GC", "num"], ["error"]], tasks)}`;
}

// -- pictures ---------------------------------------------------------------------
function barsSVG(title, points, label, colour) {
  // A small bar chart: one bar per point {x, y}, its value above it.
  const W = 420, H = 180, LEFT = 8, TOP = 36, BOTTOM = 22;
  const top = Math.max(1e-9, ...points.map(p => p.y));
  const step = (W - 2 * LEFT) / Math.max(1, points.length);
  const bw = Math.max(2, step * 0.7);
  let out = `<svg class="bars" viewBox="0 0 ${W} ${H}" width="100%"><text x="${LEFT}" y="14" class="title">${esc(title)}</text>`;
  points.forEach((p, i) => {
    const h = (H - TOP - BOTTOM) * p.y / top;
    const x = LEFT + i * step + (step - bw) / 2, y = H - BOTTOM - h;
    out += `<rect x="${x}" y="${y}" width="${bw}" height="${Math.max(h, 0.5)}" fill="${PALETTE[colour % PALETTE.length]}">
      <title>${esc(p.x)}: ${esc(label(p.y))}</title></rect>`;
    if (points.length <= 24) {
      out += `<text x="${x + bw / 2}" y="${y - 3}" text-anchor="middle" class="muted">${esc(label(p.y))}</text>`;
    }
    if (points.length <= 24 || i % Math.ceil(points.length / 12) === 0) {
      out += `<text x="${x + bw / 2}" y="${H - 6}" text-anchor="middle">${esc(p.x)}</text>`;
    }
  });
  return out + (points.length ? "" : `<text x="${LEFT}" y="${H / 2}">nothing yet</text>`) + "</svg>";
}

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
  if (parts[0] === "graph" && parts.length >= 3) return () => graphPage(parts[1], parts[2]);
  if (parts[0] === "streams") return streamsPage;
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
