// Team analytics page: tasks per generation batch, figures per annotator, agreement per week
// (/api/projects/ID/analytics/), and the annotators' verdict per checkpoint by category (/api/projects/ID/verdicts/).
// Tables and hand-drawn SVG charts; each table's CSV is a link in the template.
import { api } from "./api.js";
import { $, el, notify, pageData, replaceChildren, svg } from "./dom.js";
import { formatCount, formatNumber, formatPercent } from "./format.js";

const project = pageData();
const COLORS = ["#2f6fed", "#d9480f", "#2b8a3e", "#9c36b5", "#e8590c", "#0c8599", "#c2255c", "#5c940d"];
const SLOTS = [["done", "#2b8a3e", "done"], ["leased", "#2f6fed", "leased"], ["open", "#d0d5dd", "open"]];
const CHECKPOINTS = 8;  // on the verdict chart, the latest judged
const ANY = "any category";

const colour = (i) => COLORS[i % COLORS.length];
const text = (attrs, content) => svg("text", { "font-size": 10, fill: "#667085", ...attrs }, content);
const batchName = (row) => (row.batch === null ? "no batch" : `#${row.batch}`);
const num = (value) => el("td", { class: "num" }, value);

/** Seconds as "45 s", "3 min 05 s", "1 h 02 min"; a dash when unknown. */
function formatSeconds(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return `${formatNumber(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(Math.round(seconds % 60)).padStart(2, "0")} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

function legend(entries) {
  return el("div", { class: "legend" }, entries.map(([label, fill]) =>
    el("span", {}, el("span", { class: "swatch", style: `background:${fill};height:.6rem` }), label)));
}

function emptyChart(message) {
  return el("p", { class: "muted" }, message);
}

/** A bar per batch, its slots stacked done / leased / open, the longest bar the most slots. */
function batchChart(batches) {
  const width = 420, row = 22, pad = { left: 64, right: 40, top: 4 };
  const height = pad.top + row * batches.length + 4;
  const most = Math.max(1, ...batches.map((b) => b.slots));
  const scale = (n) => (n / most) * (width - pad.left - pad.right);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", id: "batch-chart",
    "aria-label": "Slots per generation batch: done, leased, open" });
  batches.forEach((b, i) => {
    const y = pad.top + i * row;
    let x = pad.left;
    const bar = svg("g", { class: "batch-bar", "data-batch": b.batch ?? "none" },
      svg("title", {}, `${batchName(b)}: ${b.done} done, ${b.leased} leased, ${b.open} open of ${b.slots} slots; ${b.skipped} skips`),
      text({ x: pad.left - 6, y: y + 14, "text-anchor": "end", fill: "#1d2330" }, batchName(b)));
    for (const [key, fill] of SLOTS) {
      if (b[key]) bar.append(svg("rect", { x, y: y + 3, width: scale(b[key]), height: row - 8, fill }));
      x += scale(b[key]);
    }
    bar.append(text({ x: x + 4, y: y + 14 }, `${b.done}/${b.slots}`));
    chart.append(bar);
  });
  return [el("h3", {}, "Slots per batch"), chart, legend(SLOTS.map(([, fill, label]) => [label, fill]))];
}

function showBatches(batches) {
  replaceChildren($("batches"), batches.length ? batches.map((b) => el("tr", { dataset: { batch: b.batch ?? "none" } },
    el("td", {}, batchName(b)), el("td", {}, b.checkpoint === null ? "—" : `#${b.checkpoint}`),
    num(formatCount(b.answers)), num(formatCount(b.slots)), num(formatCount(b.open)), num(formatCount(b.leased)),
    num(formatCount(b.done)), num(formatCount(b.skipped)),
  )) : el("tr", {}, el("td", { colspan: 8, class: "muted" }, "No answers yet.")));
  replaceChildren($("batch-chart-frame"), batches.length ? batchChart(batches) : emptyChart("Nothing to chart yet."));
}

function skipReasons(reasons) {
  const entries = Object.entries(reasons);
  if (!entries.length) return "—";
  return entries.map(([reason, count]) => `${reason || "(no reason)"} ${count}`).join(" · ");
}

function showAnnotators(annotators) {
  replaceChildren($("annotators"), annotators.length ? annotators.map((a) => el("tr", { dataset: { annotator: a.annotator } },
    el("td", {}, a.annotator),
    num(formatCount(a.submitted)), num(formatCount(a.waiting)), num(formatCount(a.accepted)), num(formatCount(a.rejected)),
    num(formatCount(a.sent_back)), num(formatCount(a.skipped)),
    el("td", { class: "num median", title: a.median_seconds === null ? "" : `${formatNumber(a.median_seconds)} s` },
      formatSeconds(a.median_seconds)),
    num(`${formatCount(a.timed)} / ${formatCount(a.untimed)}`),
    el("td", { class: "num", title: `over ${a.comparisons} comparisons` },
      a.mean_f1 === null ? "—" : `${formatNumber(a.mean_f1, 2)} (${formatCount(a.comparisons)})`),
    el("td", { class: "skip-reasons" }, skipReasons(a.skip_reasons)),
  )) : el("tr", {}, el("td", { colspan: 11, class: "muted" }, "No annotations yet.")));
}

/** Each annotator's mean F1 per week as a line with dots, on one axis of weeks from 0 to 1. */
function agreementChart(rows) {
  const weeks = [...new Set(rows.map((r) => r.week))].sort();
  const names = [...new Set(rows.map((r) => r.annotator))].sort();
  const width = 640, height = 200, pad = { left: 40, right: 12, top: 10, bottom: 28 };
  const slot = (width - pad.left - pad.right) / weeks.length;
  const x = (week) => pad.left + (weeks.indexOf(week) + 0.5) * slot;
  const y = (f1) => pad.top + (1 - f1) * (height - pad.top - pad.bottom);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", id: "agreement-chart",
    "aria-label": "Mean span F1 against the other annotators, per annotator and week" });
  for (const tick of [0, 0.5, 1]) {
    chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), stroke: tick ? "#eef0f4" : "#d0d5dd" }),
      text({ x: pad.left - 4, y: y(tick) + 3, "text-anchor": "end" }, formatNumber(tick)));
  }
  weeks.forEach((week) => chart.append(
    text({ x: x(week), y: height - pad.bottom + 14, "text-anchor": "middle" }, week.slice(5))));
  names.forEach((name, i) => {
    const points = rows.filter((r) => r.annotator === name);
    const line = points.map((p, j) => `${j ? "L" : "M"}${x(p.week).toFixed(1)},${y(p.mean_f1).toFixed(1)}`).join(" ");
    chart.append(svg("g", { class: "agreement-line", "data-annotator": name },
      svg("path", { d: line, fill: "none", stroke: colour(i), "stroke-width": 1.5 }),
      ...points.map((p) => svg("circle", { cx: x(p.week), cy: y(p.mean_f1), r: 3.5, fill: colour(i) },
        svg("title", {}, `${name}, week of ${p.week}: F1 ${formatNumber(p.mean_f1, 2)} over ${p.comparisons} comparisons`)))));
  });
  return [chart, legend(names.map((name, i) => [name, colour(i)]))];
}

/** Per judged checkpoint (the latest few), a group of bars: the share of judgements with any segment, then with
 * one of each category. */
function verdictCategoryChart(verdicts) {
  const shown = verdicts.filter((v) => v.judgements > 0).slice(-CHECKPOINTS);
  if (!shown.length) return emptyChart("No judged answers of any checkpoint yet.");
  const categories = [ANY, ...new Set(shown.flatMap((v) => Object.keys(v.by_category)).sort())];
  const rate = (v, category) => (category === ANY ? v.rate : v.by_category[category]?.rate ?? 0);
  const width = 640, height = 220, pad = { left: 44, right: 10, top: 10, bottom: 34 };
  const top = Math.max(0.1, Math.ceil(Math.max(...shown.map((v) => v.rate)) * 10) / 10);
  const group = (width - pad.left - pad.right) / shown.length;
  const bar = Math.min(18, (group * 0.8) / categories.length);
  const y = (value) => pad.top + (1 - value / top) * (height - pad.top - pad.bottom);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", id: "verdict-category-chart",
    "aria-label": "Share of judgements with a segment of each category, per checkpoint" });
  for (const tick of [0, top / 2, top]) {
    chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), stroke: tick ? "#eef0f4" : "#d0d5dd" }),
      text({ x: pad.left - 4, y: y(tick) + 3, "text-anchor": "end" }, formatPercent(tick, 0)));
  }
  shown.forEach((v, i) => {
    const left = pad.left + i * group + (group - bar * categories.length) / 2;
    chart.append(svg("g", { class: "verdict-group", "data-checkpoint": v.checkpoint },
      ...categories.map((category, j) => svg("rect", {
        class: "verdict-bar", x: left + j * bar, y: y(rate(v, category)), width: Math.max(bar - 2, 1),
        height: y(0) - y(rate(v, category)), fill: colour(j), "data-category": category,
      }, svg("title", {}, `#${v.checkpoint} ${v.name}, ${category}: ${formatPercent(rate(v, category))} of ` +
        `${v.judgements} judgements`))),
      text({ x: pad.left + (i + 0.5) * group, y: height - pad.bottom + 13, "text-anchor": "middle", fill: "#1d2330" },
        `#${v.checkpoint} ${v.name}`.slice(0, 18)),
      text({ x: pad.left + (i + 0.5) * group, y: height - pad.bottom + 25, "text-anchor": "middle" }, `n ${v.judgements}`),
    ));
  });
  return [chart, legend(categories.map((category, j) => [category, colour(j)]))];
}

async function load() {
  try {
    const [analytics, verdicts] = await Promise.all([
      api("GET", `/api/projects/${project.id}/analytics/`),
      api("GET", `/api/projects/${project.id}/verdicts/`),
    ]);
    showBatches(analytics.batches);
    showAnnotators(analytics.annotators);
    replaceChildren($("agreement-chart-frame"), analytics.agreement.length ? agreementChart(analytics.agreement)
      : emptyChart("No two annotators judged the same answer yet."));
    replaceChildren($("verdict-category-frame"), verdictCategoryChart(verdicts));
  } catch (error) {
    notify(error.message, "error");
  }
}

load();
