// Manager dashboard: launch and follow DDPO runs (live SVG charts), activate checkpoints, generate batches.
// Everything comes from the training API; the page polls while something is queued or running.
import { api } from "./js/api.js";
import { $, el, notify, pageData, replaceChildren } from "./js/dom.js";

const project = pageData();
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const CHARTS = [
  ["Loss", ["loss"]],
  ["Reward accuracy", ["rewards/accuracies"]],
  ["Reward margin", ["rewards/margins"]],
  ["Rewards", ["rewards/chosen", "rewards/rejected"]],
  ["Log-probs", ["logps/chosen", "logps/rejected"]],
  ["Learning rate", ["lr"]],
  ["Tokens/s", ["tokens/s"]],
];
const COLORS = ["#2f6fed", "#d9480f", "#2b8a3e", "#9c36b5"];
const SVG = "http://www.w3.org/2000/svg";

let selectedRun = null;
let timer = null;

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const badge = (status) => el("span", { class: `badge status-${status}` }, status);
const percent = (progress) => el("progress", { max: 1, value: progress, title: `${Math.round(progress * 100)}%` });
const results = (page) => (Array.isArray(page) ? page : page.results);

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

function formatNumber(value) {
  if (value === null || value === undefined) return "—";
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 1e-3 || abs >= 1e5) ? value.toExponential(2) : value.toFixed(abs < 1 ? 4 : 2);
}

/** One line chart of `names` over `steps` (nulls leave gaps), drawn as inline SVG. */
function lineChart(title, steps, series, names) {
  const width = 320, height = 140, pad = { left: 46, right: 8, top: 8, bottom: 18 };
  const values = names.flatMap((name) => series[name] || []).filter((v) => v !== null && Number.isFinite(v));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  if (values.length && steps.length) {
    let low = Math.min(...values), high = Math.max(...values);
    if (low === high) { low -= Math.abs(low) * 0.1 || 1; high += Math.abs(high) * 0.1 || 1; }
    const first = steps[0], last = steps[steps.length - 1];
    const x = (step) => pad.left + ((step - first) / Math.max(last - first, 1)) * (width - pad.left - pad.right);
    const y = (v) => pad.top + (1 - (v - low) / (high - low)) * (height - pad.top - pad.bottom);
    chart.append(
      svg("line", { x1: pad.left, x2: width - pad.right, y1: height - pad.bottom, y2: height - pad.bottom, stroke: "#d0d5dd" }),
      svg("line", { x1: pad.left, x2: pad.left, y1: pad.top, y2: height - pad.bottom, stroke: "#d0d5dd" }),
      svg("text", { x: pad.left - 4, y: pad.top + 8, "text-anchor": "end", "font-size": 9, fill: "#667085" }, formatNumber(high)),
      svg("text", { x: pad.left - 4, y: height - pad.bottom, "text-anchor": "end", "font-size": 9, fill: "#667085" }, formatNumber(low)),
      svg("text", { x: pad.left, y: height - 4, "font-size": 9, fill: "#667085" }, `step ${first}`),
      svg("text", { x: width - pad.right, y: height - 4, "text-anchor": "end", "font-size": 9, fill: "#667085" }, `${last}`),
    );
    names.forEach((name, i) => {
      const column = series[name] || [];
      const colour = COLORS[i % COLORS.length];
      const points = [];
      let path = "", pen = "M";
      steps.forEach((step, j) => {
        const v = column[j];
        if (v === null || v === undefined || !Number.isFinite(v)) { pen = "M"; return; }
        points.push([x(step).toFixed(1), y(v).toFixed(1)]);
        path += `${pen}${points.at(-1).join(",")} `;
        pen = "L";
      });
      // A lone value (a one-step run) draws no line: mark it with a dot.
      if (points.length === 1) chart.append(svg("circle", { cx: points[0][0], cy: points[0][1], r: 2.5, fill: colour }));
      else if (points.length) chart.append(svg("path", { d: path, fill: "none", stroke: colour, "stroke-width": 1.5 }));
    });
  }
  const latest = (name) => formatNumber((series[name] || []).at(-1));
  const legend = el("div", { class: "legend" }, names.map((name, i) =>
    el("span", {}, el("span", { class: "swatch", style: `background:${COLORS[i % COLORS.length]}` }), `${name} ${latest(name)}`)));
  return el("div", { class: "chart" }, el("h3", {}, title), chart, legend);
}

function renderCharts(metrics) {
  const known = new Set(CHARTS.flatMap(([, names]) => names));
  const extra = Object.keys(metrics.series).filter((name) => !known.has(name) && name !== "epoch").map((name) => [name, [name]]);
  const charts = [...CHARTS, ...extra]
    .filter(([, names]) => names.some((name) => name in metrics.series))
    .map(([title, names]) => lineChart(title, metrics.steps, metrics.series, names));
  replaceChildren($("charts"), charts.length ? charts : el("p", { class: "muted" }, "No metrics logged yet."));
}

async function showRun(id) {
  selectedRun = id;
  const run = await api("GET", `/api/training-runs/${id}/`);
  $("run-panel").hidden = false;
  $("run-title").textContent = `Run ${run.id} · ${run.status} · step ${run.step}/${run.total_steps || "?"}`;
  $("run-error").hidden = !run.error;
  $("run-error").textContent = run.error;
  renderCharts(run.metrics);
  document.querySelectorAll("#runs tr").forEach((row) => row.classList.toggle("selected", row.dataset.run === String(id)));
  return run;
}

async function cancelRun(event, run) {
  event.stopPropagation();
  try {
    await api("POST", `/api/training-runs/${run.id}/cancel/`);
    notify(`Cancelling run ${run.id}…`);
    refresh();
  } catch (error) {
    notify(error.message, "error");
  }
}

/** "attempt 2/3, resumed at step 40" once a lost worker's run was sent again (each interruption on hover). */
function attemptNote(run) {
  if (run.attempts < 2) return "";
  const last = run.interruptions[run.interruptions.length - 1];
  const resumed = last && last.resumed_step !== null ? `, resumed at step ${last.resumed_step}` : "";
  const history = run.interruptions.map((i) => `attempt ${i.attempt}: ${i.reason} at step ${i.step}`).join("\n");
  return el("small", { class: "muted", title: history }, ` attempt ${run.attempts}/${run.max_attempts}${resumed}`);
}

function runRow(run) {
  const settings = run.trigger === "bootstrap"  // checkpoint 0 of the demo: trained from nothing, no DDPO settings
    ? "from nothing"
    : [run.config.gamma, run.config.beta, run.config.learning_rate].join(" / ");  // resolved at launch
  const open = () => showRun(run.id).then(() => schedule());
  return el("tr", {
    dataset: { run: run.id }, class: run.id === selectedRun ? "selected" : "", tabindex: "0", title: "Show this run's metrics",
    onclick: open,
    onkeydown: (event) => { if (event.target === event.currentTarget && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); open(); } },
  },
    el("td", {}, run.id),
    el("td", {}, badge(run.status), run.cancel_requested && !FINISHED.has(run.status) ? " (stopping)" : ""),
    el("td", {}, percent(run.progress), ` ${run.step}/${run.total_steps || "?"}`, attemptNote(run)),
    el("td", {}, run.record_count || "—"),
    el("td", {}, settings),
    el("td", {}, run.trigger),
    el("td", {}, when(run.started_at)),
    el("td", {}, FINISHED.has(run.status) ? "" : el("button", { type: "button", class: "link danger", onclick: (e) => cancelRun(e, run) }, "Cancel")),
  );
}

async function activate(checkpoint) {
  try {
    await api("POST", `/api/checkpoints/${checkpoint.id}/activate/`);
    notify(`${checkpoint.name} now generates the next batches.`, "ok");
    refresh();
  } catch (error) {
    notify(error.message, "error");
  }
}

/** Evaluation metrics a line each: rates and coverage as percentages, nested groups (per category) flattened. */
function metricsText(metrics) {
  const line = (key, value) => {
    if (value && typeof value === "object") return Object.entries(value).map(([k, v]) => line(`${key} ${k}`, v));
    const name = key.replaceAll("_", " ");
    if (typeof value !== "number") return [`${name}: ${value}`];
    return [`${name}: ${/(rate|coverage)$/.test(key) ? `${(100 * value).toFixed(1)}%` : formatNumber(value)}`];
  };
  const lines = Object.entries(metrics || {}).flatMap(([key, value]) => line(key, value));
  return lines.length ? lines.join("\n") : "—";
}

function checkpointRow(checkpoint) {
  return el("tr", {},
    el("td", {}, checkpoint.id),
    el("td", { title: checkpoint.path }, checkpoint.name, checkpoint.is_active ? [" ", el("span", { class: "badge ok" }, "active")] : null),
    el("td", {}, checkpoint.parent ?? "—"),
    el("td", {}, checkpoint.produced_by ?? "—"),
    el("td", {}, el("pre", { class: "metrics-inline" }, metricsText(checkpoint.eval_metrics))),
    el("td", {}, when(checkpoint.created_at)),
    el("td", {}, checkpoint.is_active ? "" : el("button", { type: "button", onclick: () => activate(checkpoint) }, "Activate")),
  );
}

async function cancelBatch(batch) {
  try {
    await api("POST", `/api/generation-batches/${batch.id}/cancel/`);
    notify(`Batch ${batch.id} cancelled.`);
    refresh();
  } catch (error) {
    notify(error.message, "error");
  }
}

function batchRow(batch) {
  return el("tr", {},
    el("td", {}, batch.id),
    el("td", { title: batch.error || "" }, badge(batch.status)),
    el("td", {}, percent(batch.progress)),
    el("td", {}, batch.checkpoint),
    el("td", {}, batch.prompt_count),
    el("td", {}, batch.response_count),
    el("td", {}, when(batch.created_at)),
    el("td", {}, FINISHED.has(batch.status) ? "" : el("button", { type: "button", class: "link danger", onclick: () => cancelBatch(batch) }, "Cancel")),
  );
}

function exportRow(job) {
  return el("tr", {},
    el("td", {}, job.id),
    el("td", {}, job.format),
    el("td", { title: job.error || "" }, badge(job.status)),
    el("td", {}, percent(job.progress)),
    el("td", {}, `${job.rows_written} / ${job.total_rows}`),
    el("td", {}, when(job.created_at)),
    el("td", {}, job.download_url ? el("a", { href: job.download_url }, "Download") : "—"),
  );
}

function fillCheckpointSelect(select, checkpoints) {
  const current = select.value;
  replaceChildren(select, el("option", { value: "" }, "Active checkpoint"),
    checkpoints.map((c) => el("option", { value: c.id }, `${c.id} · ${c.name}`)));
  select.value = current;
}

async function refresh() {
  clearTimeout(timer);
  try {
    const query = `?project=${project.id}`;
    const [runs, checkpoints, batches, exports] = await Promise.all([
      api("GET", `/api/training-runs/${query}`), api("GET", `/api/checkpoints/${query}`), api("GET", `/api/generation-batches/${query}`),
      api("GET", `/api/export-jobs/${query}`),
    ]).then((pages) => pages.map(results));
    replaceChildren($("runs"), runs.map(runRow));
    $("runs-empty").hidden = runs.length > 0;
    replaceChildren($("checkpoints"), checkpoints.map(checkpointRow));
    replaceChildren($("batches"), batches.map(batchRow));
    replaceChildren($("exports"), exports.map(exportRow));
    fillCheckpointSelect($("launch-base"), checkpoints);
    fillCheckpointSelect($("generate-checkpoint"), checkpoints);
    if (selectedRun === null && runs.length) selectedRun = runs[0].id;
    const busy = [...runs, ...batches, ...exports].some((job) => !FINISHED.has(job.status));
    if (selectedRun !== null) await showRun(selectedRun);
    schedule(busy);
  } catch (error) {
    notify(error.message, "error");
    schedule(true);
  }
}

function schedule(busy = true) {
  clearTimeout(timer);
  timer = setTimeout(refresh, busy ? 2000 : 15000);
}

function numbers(form, names) {
  const data = new FormData(form);
  return Object.fromEntries(names.filter((name) => data.get(name) !== "").map((name) => [name, Number(data.get(name))]));
}

async function submit(event, send) {
  event.preventDefault();
  const button = event.target.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await send(event.target);
    refresh();
  } catch (error) {
    notify(error.message, "error");
  } finally {
    button.disabled = false;
  }
}

$("launch-form").addEventListener("submit", (event) => submit(event, async (form) => {
  const body = { project: project.id, config: numbers(form, Object.keys(project.launch)) };
  if (form.base_checkpoint.value) body.base_checkpoint = Number(form.base_checkpoint.value);
  const run = await api("POST", "/api/training-runs/", body);
  selectedRun = run.id;
  notify(`Run ${run.id} queued.`, "ok");
}));

$("generate-form").addEventListener("submit", (event) => submit(event, async (form) => {
  const { limit, ...params } = numbers(form, ["limit", "samples_per_prompt", "temperature", "top_p", "max_new_tokens"]);
  const body = { project: project.id, limit, params };
  if (form.checkpoint.value) body.checkpoint = Number(form.checkpoint.value);
  const batch = await api("POST", "/api/generation-batches/", body);
  notify(`Batch ${batch.id} queued: ${batch.prompt_count} prompts.`, "ok");
}));

$("export-form").addEventListener("submit", (event) => submit(event, async (form) => {
  const body = { project: project.id, format: form.format.value,
    include_segments: form.include_segments.checked, reviewed_only: form.reviewed_only.checked };
  const job = await api("POST", "/api/export-jobs/", body);
  notify(`Export ${job.id} queued.`, "ok");
}));

// The project's settings and DDPOConfig's bounds, from the server: {gamma: {value: 5, min: 1}, ...}.
for (const [name, attributes] of Object.entries(project.launch)) Object.assign($("launch-form")[name], attributes);
refresh();
