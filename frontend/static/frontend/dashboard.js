// Manager dashboard: the loop's timeline (one round per run: records -> run -> evaluation -> decision -> batch ->
// tasks, with promote / keep), launch and follow DDPO runs (live SVG charts), activate checkpoints, generate batches.
// Everything comes from the training API; the page polls while something is queued or running.
import { api } from "./js/api.js";
import { $, el, notify, pageData, replaceChildren, svg } from "./js/dom.js";
import { figuresTable, headline, verdictPanel } from "./js/evaluation.js";
import { formatLearningRate, formatNumber, formatSettings, formatStep } from "./js/format.js";

const project = pageData();
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const CHARTS = [
  ["Loss", ["loss"]],
  ["Reward accuracy", ["rewards/accuracies"]],
  ["Reward margin", ["rewards/margins"]],
  ["Rewards", ["rewards/chosen", "rewards/rejected"]],
  ["Log-probs", ["logps/chosen", "logps/rejected"]],
  ["Learning rate", ["lr"], (value) => formatLearningRate(value, 3)],
  ["Tokens/s", ["tokens/s"]],
];
const COLORS = ["#2f6fed", "#d9480f", "#2b8a3e", "#9c36b5"];
const VERDICT_EVERY_MS = 15000;  // the verdict reads every judged answer's text: not at the 2 s poll of a busy page

let selectedRun = null;
let timer = null;
let verdictsAt = 0;

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const badge = (status) => el("span", { class: `badge status-${status}` }, status);
const percent = (progress) => el("progress", { max: 1, value: progress, title: `${Math.round(progress * 100)}%` });
const results = (page) => (Array.isArray(page) ? page : page.results);

/** One line chart of `names` over `steps` (nulls leave gaps), drawn as inline SVG; `format` writes its values. */
function lineChart(title, steps, series, names, format = formatNumber) {
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
      svg("text", { x: pad.left - 4, y: pad.top + 8, "text-anchor": "end", "font-size": 9, fill: "#667085" }, format(high)),
      svg("text", { x: pad.left - 4, y: height - pad.bottom, "text-anchor": "end", "font-size": 9, fill: "#667085" }, format(low)),
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
  const latest = (name) => format((series[name] || []).at(-1));
  const legend = el("div", { class: "legend" }, names.map((name, i) =>
    el("span", {}, el("span", { class: "swatch", style: `background:${COLORS[i % COLORS.length]}` }), `${name} ${latest(name)}`)));
  return el("div", { class: "chart" }, el("h3", {}, title), chart, legend);
}

function renderCharts(metrics) {
  const known = new Set(CHARTS.flatMap(([, names]) => names));
  const extra = Object.keys(metrics.series).filter((name) => !known.has(name) && name !== "epoch").map((name) => [name, [name]]);
  const charts = [...CHARTS, ...extra]
    .filter(([, names]) => names.some((name) => name in metrics.series))
    .map(([title, names, format]) => lineChart(title, metrics.steps, metrics.series, names, format));
  replaceChildren($("charts"), charts.length ? charts : el("p", { class: "muted" }, "No metrics logged yet."));
}

async function showRun(id) {
  selectedRun = id;
  const run = await api("GET", `/api/training-runs/${id}/`);
  $("run-panel").hidden = false;
  $("run-title").textContent = `Run ${run.id} · ${run.status} · step ${formatStep(run.step, run.total_steps)}`;
  // The row from the same read as the chart: the list was read a moment before, a step earlier on a busy run.
  document.querySelector(`#runs tr[data-run="${run.id}"]`)?.replaceWith(runRow(run));
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
    : formatSettings(run.config);  // resolved at launch
  const open = () => showRun(run.id).then(() => schedule());
  return el("tr", {
    dataset: { run: run.id }, class: run.id === selectedRun ? "selected" : "", tabindex: "0", title: "Show this run's metrics",
    onclick: open,
    onkeydown: (event) => { if (event.target === event.currentTarget && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); open(); } },
  },
    el("td", {}, run.id),
    el("td", {}, badge(run.status), run.cancel_requested && !FINISHED.has(run.status) ? " (stopping)" : ""),
    el("td", {}, percent(run.progress), ` ${formatStep(run.step, run.total_steps)}`, attemptNote(run)),
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

async function evaluate(checkpoint) {
  try {
    await api("POST", `/api/checkpoints/${checkpoint.id}/evaluate/`);
    notify(`${checkpoint.name}: evaluation queued.`, "ok");
    refresh();
  } catch (error) {
    notify(error.message, "error");
  }
}

function checkpointRow(checkpoint) {
  return el("tr", {},
    el("td", {}, checkpoint.id),
    el("td", { title: checkpoint.path }, checkpoint.name, checkpoint.is_active ? [" ", el("span", { class: "badge ok" }, "active")] : null),
    el("td", {}, checkpoint.parent ?? "—"),
    el("td", {}, checkpoint.produced_by ?? "—"),
    el("td", {}, headline(checkpoint.eval_metrics)),
    el("td", {}, when(checkpoint.created_at)),
    el("td", {}, checkpoint.is_active ? "" : el("button", { type: "button", onclick: () => activate(checkpoint) }, "Activate"),
      " ", el("button", { type: "button", onclick: () => evaluate(checkpoint) }, "Evaluate")),
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

const POLICIES = { manual: "manual (a manager promotes)", gate: "gate (promoted when its evaluation passes)", always: "always promote" };

/** The evaluation's headline figures in words: held-out accuracy and margin, the judge's rate where there is one. */
function roundFigures(figures) {
  const parts = [];
  const accuracy = figures["heldout.preference_accuracy"];
  if (accuracy !== undefined) parts.push(`held-out accuracy ${accuracy.toFixed(3)} on ${figures["heldout.records"]} records`);
  if (figures["heldout.reward_margin"] !== undefined) parts.push(`margin ${formatNumber(figures["heldout.reward_margin"])}`);
  const rate = figures["judge.response_hallucination_rate"];
  if (rate !== undefined) parts.push(`judge: ${(100 * rate).toFixed(1)}% of answers hallucinate`);
  return parts.join(" · ");
}

async function decide(checkpoint, action) {
  try {
    const decision = await api("POST", `/api/checkpoints/${checkpoint.id}/${action}/`);
    notify(`${checkpoint.name} ${decision.outcome}.`, "ok");
    refresh();
  } catch (error) {
    notify(error.message, "error");
  }
}

function step(name, ...content) {
  return el("li", { class: "step", dataset: { step: name } }, el("span", { class: "step-name" }, name), ...content);
}

function roundItem(round) {
  const { run, checkpoint, evaluation, decision, batch, tasks } = round;
  const open = checkpoint && !checkpoint.is_active && run.status === "succeeded";
  const actions = open ? el("span", { class: "actions" },
    el("button", { type: "button", onclick: () => decide(checkpoint, "promote") }, "Promote"),
    !decision || decision.outcome === "pending" ? el("button", { type: "button", onclick: () => decide(checkpoint, "keep") }, "Keep") : null,
  ) : null;
  return el("li", { class: "round", dataset: { round: round.round } },
    el("h3", {}, `Round ${round.round}`, checkpoint ? ` → ${checkpoint.name}` : "",
      checkpoint && checkpoint.is_active ? [" ", el("span", { class: "badge ok" }, "active")] : null),
    el("ol", { class: "steps" },
      step("records", `${run.record_count || "?"} records`, el("span", { class: "muted" }, ` · ${run.trigger}`)),
      step("run", badge(run.status), ` #${run.id} · step ${formatStep(run.step, run.total_steps)}`,
        run.error ? el("span", { class: "error detail" }, run.error) : null),
      step("evaluation", evaluation && evaluation.status ? badge(evaluation.status) : "—",
        evaluation && Object.keys(evaluation.headline).length ? el("span", { class: "detail" }, roundFigures(evaluation.headline))
          : evaluation && evaluation.error ? el("span", { class: "detail" }, evaluation.error) : null),
      step("decision", decision ? el("span", { class: `badge outcome-${decision.outcome}` }, decision.outcome) : "—",
        decision ? el("span", { class: "detail" }, decision.reason) : null,
        decision && decision.note ? el("span", { class: "detail warn" }, decision.note) : null, actions),
      step("batch", batch ? [badge(batch.status), ` #${batch.id} · ${batch.response_count} answers to ${batch.prompt_count} prompts`] : "—"),
      step("tasks", tasks ? `${tasks.open} open · ${tasks.done} done` : "—"),
    ));
}

function renderLoop(loop) {
  $("loop-notice").hidden = !loop.notice;
  $("loop-notice").textContent = loop.notice || "";
  const { records, threshold } = loop.next_round;
  $("loop-summary").textContent = `Promotion: ${POLICIES[loop.promotion_policy]}. ` + (threshold
    ? `The next round starts at ${threshold} new records (${records} so far).`
    : `Automatic training is off (no threshold); ${records} new records since the last run.`);
  replaceChildren($("rounds"), loop.rounds.map(roundItem));
  $("rounds-empty").hidden = loop.rounds.length > 0;
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
    const loop = await api("GET", `/api/projects/${project.id}/loop/`);
    renderLoop(loop);
    replaceChildren($("runs"), runs.map(runRow));
    $("runs-empty").hidden = runs.length > 0;
    replaceChildren($("checkpoints"), checkpoints.map(checkpointRow));
    replaceChildren($("checkpoint-figures-frame"), figuresTable(checkpoints) ?? el("p", { class: "muted small" }, "No checkpoint evaluated yet."));
    replaceChildren($("batches"), batches.map(batchRow));
    replaceChildren($("exports"), exports.map(exportRow));
    fillCheckpointSelect($("launch-base"), checkpoints);
    fillCheckpointSelect($("generate-checkpoint"), checkpoints);
    if (selectedRun === null && runs.length) selectedRun = runs[0].id;
    const busy = [...runs, ...batches, ...exports].some((job) => !FINISHED.has(job.status))
      || loop.rounds.some((round) => round.evaluation && ["waiting", "queued", "running"].includes(round.evaluation.status));
    if (selectedRun !== null) await showRun(selectedRun);
    if (Date.now() - verdictsAt >= VERDICT_EVERY_MS) await showVerdicts();
    schedule(busy);
  } catch (error) {
    notify(error.message, "error");
    schedule(true);
  }
}

async function showVerdicts() {
  verdictsAt = Date.now();
  replaceChildren($("verdict"), verdictPanel(await api("GET", `/api/projects/${project.id}/verdicts/`)));
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

const LOOP_NUMBERS = ["promotion_margin", "judge_margin", "auto_train_threshold", "next_batch_size"];
const SAMPLING = ["samples_per_prompt", "temperature", "top_p", "max_new_tokens"];

function fillLoopForm(settings) {
  const form = $("loop-form");
  form.promotion_policy.value = settings.promotion_policy;
  for (const name of LOOP_NUMBERS) form[name].value = settings[name];
  // {} until set: the generation form's defaults stand for SamplingParams' own.
  for (const name of SAMPLING) form[name].value = settings.next_batch_params[name] ?? $("generate-form")[name].value;
}

$("loop-form").addEventListener("submit", (event) => submit(event, async (form) => {
  const body = { promotion_policy: form.promotion_policy.value, ...numbers(form, LOOP_NUMBERS),
    next_batch_params: numbers(form, SAMPLING) };
  fillLoopForm(await api("PATCH", `/api/projects/${project.id}/`, body));
  notify("Loop settings saved.", "ok");
}));

api("GET", `/api/projects/${project.id}/`).then(fillLoopForm, (error) => notify(error.message, "error"));

// The project's settings and DDPOConfig's bounds, from the server: {gamma: {value: 5, min: 1}, ...}.
// The learning rate in exponent form, as the runs table writes it (an input reads "1e-5" as a number).
for (const [name, attributes] of Object.entries(project.launch)) {
  const shown = name === "learning_rate" ? { value: formatLearningRate(attributes.value) } : {};
  Object.assign($("launch-form")[name], attributes, shown);
}
refresh();
