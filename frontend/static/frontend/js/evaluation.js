// The dashboard's checkpoint figures: evaluation metrics as a table of named figures (a column per checkpoint),
// and the annotators' verdict per checkpoint (/api/projects/ID/verdicts/) as a chart with 95% intervals.
import { el, svg } from "./dom.js";
import { formatCount, formatNumber, formatPercent } from "./format.js";

// Groups of eval_metrics (training's held-out evaluation; the shapes world's judge) and known figures:
// [label, kind]; kind "rate" shows a percentage, "count" an integer. Unknown keys are shown by their name,
// as a rate when they end like one, as a count when the value is an integer.
const GROUPS = { heldout: "Held-out records", judge: "Judge, held-out scenes", categories: null };
const FIGURES = {
  records: ["Records", "count"],
  preference_accuracy: ["Preference accuracy", "rate"],
  reward_margin: ["Mean reward margin", "number"],
  rejected_changed_logp_delta: ["Δ log-prob, changed tokens (rejected)", "number"],
  chosen_changed_logp_delta: ["Δ log-prob, corrected tokens (chosen)", "number"],
  responses: ["Answers judged", "count"],
  held_out: ["Held-out scenes", "count"],
  response_hallucination_rate: ["Answers with a hallucination", "rate"],
  mention_hallucination_rate: ["False mentions", "rate"],
  coverage: ["Objects covered", "rate"],
  empty_rate: ["Empty answers", "rate"],
  unparsed_rate: ["Unparsed answers", "rate"],
  mentions: ["mentions", "count"],
  false: ["false mentions", "count"],
  response_rate: ["answers with a false one", "rate"],
  seconds: ["Seconds", "number"],
};
// The figure a checkpoint row shows, the first one it has.
const HEADLINES = [["heldout", "preference_accuracy"], ["judge", "response_hallucination_rate"],
  ["response_hallucination_rate"]];
const RATE = /(rate|rates|accuracy|accuracies|coverage|share)$/;
const LATEST = 4;
const CHARTED = 20;  // checkpoints on the verdict chart, the latest

const humanize = (key) => key.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase());

function formatFigure(key, value) {
  if (typeof value !== "number") return value === null || value === undefined ? "—" : String(value);
  const kind = FIGURES[key]?.[1] ?? (RATE.test(key) ? "rate" : Number.isInteger(value) ? "count" : "number");
  return kind === "rate" ? formatPercent(value) : kind === "count" ? formatCount(value) : formatNumber(value);
}

/** `{id, section, label, key, value, order}` for every figure of nested `metrics`. */
function flatten(metrics, path = []) {
  return Object.entries(metrics || {}).flatMap(([key, value]) => {
    if (value && typeof value === "object" && !Array.isArray(value)) return flatten(value, [...path, key]);
    const [top, ...middle] = path;
    const section = top === undefined ? "" : GROUPS[top] ?? humanize(top);
    const parts = [...middle.filter((part) => GROUPS[part] !== null), FIGURES[key]?.[0] ?? humanize(key)];
    // The database keeps no key order (PostgreSQL's jsonb sorts them): known groups and figures in the order
    // above, nested ones (per category) after their group's own, the rest by name.
    const rank = (names, name) => (name in names ? Object.keys(names).indexOf(name) : Infinity);
    const order = [top === undefined ? -1 : rank(GROUPS, top), top ?? "", middle.length, middle.join("/"), rank(FIGURES, key), key];
    return [{ id: [...path, key].join("/"), section, label: humanize(parts.join(" · ")), key, value, order }];
  });
}

function byOrder(a, b) {
  for (let i = 0; i < a.order.length; i++) {
    if (a.order[i] !== b.order[i]) return a.order[i] < b.order[i] ? -1 : 1;
  }
  return 0;
}

/** The figures of one checkpoint's `eval_metrics`; the demo's judge figures stored flat count as the judge's. */
function figuresOf(metrics) {
  const judgeOnly = metrics && "response_hallucination_rate" in metrics;
  return flatten(judgeOnly ? { judge: metrics } : metrics);
}

/** A checkpoint row's one-line summary of its evaluation ("—" before one). */
export function headline(metrics) {
  for (const path of HEADLINES) {
    const value = path.reduce((node, key) => (node && typeof node === "object" ? node[key] : undefined), metrics);
    if (typeof value === "number") return `${FIGURES[path.at(-1)][0]} ${formatFigure(path.at(-1), value)}`;
  }
  return Object.keys(metrics || {}).length ? "evaluated" : "—";
}

/** A table with a row per figure (grouped under section rows) and a column per checkpoint. */
function comparison(id, columns, rows) {
  const sections = [];
  for (const row of rows) {
    if (sections.at(-1)?.title !== row.section) sections.push({ title: row.section, rows: [] });
    sections.at(-1).rows.push(row);
  }
  return el("table", { class: "figures", id },
    el("thead", {}, el("tr", {}, el("th", {}, "Figure"), columns.map((column) =>
      el("th", { class: "num", title: column.title }, column.head)))),
    el("tbody", {}, sections.flatMap(({ title, rows: group }) => [
      title ? el("tr", { class: "section" }, el("th", { colspan: columns.length + 1 }, title)) : null,
      ...group.map((row) => el("tr", {}, el("td", {}, row.label), row.cells.map((cell) => el("td", { class: "num" }, cell)))),
    ])),
  );
}

const checkpointColumn = (checkpoint) => ({
  head: `#${checkpoint.id} ${checkpoint.name}`, title: checkpoint.parent ? `parent #${checkpoint.parent}` : "no parent",
});

/** The evaluation figures of the latest few evaluated checkpoints (oldest left, so a parent sits left of its
 * child), or null when none is evaluated. `checkpoints` come newest first, as the API lists them. */
export function figuresTable(checkpoints) {
  const shown = checkpoints.filter((c) => Object.keys(c.eval_metrics || {}).length).slice(0, LATEST).reverse();
  if (!shown.length) return null;
  const flat = shown.map((checkpoint) => new Map(figuresOf(checkpoint.eval_metrics).map((figure) => [figure.id, figure])));
  const rows = new Map();
  flat.forEach((figures) => figures.forEach((figure, id) => { if (!rows.has(id)) rows.set(id, figure); }));
  return comparison("checkpoint-figures", shown.map(checkpointColumn), [...rows.values()].sort(byOrder).map((row) => ({
    section: row.section, label: row.label,
    cells: flat.map((figures) => (figures.has(row.id) ? formatFigure(row.key, figures.get(row.id).value) : "—")),
  })));
}

const interval = (v) => (v.rate === null ? "—" : `${formatPercent(v.ci_low)} – ${formatPercent(v.ci_high)}`);

/** The share of judgements with a hallucination per checkpoint, a dot with its 95% Wilson interval as an
 * error bar, in creation order. */
function verdictChart(verdicts) {
  const width = 640, height = 190, pad = { left: 46, right: 10, top: 10, bottom: 34 };
  const top = Math.max(0.1, Math.ceil(Math.max(...verdicts.map((v) => v.ci_high)) * 10) / 10);
  const slot = (width - pad.left - pad.right) / verdicts.length;
  const x = (i) => pad.left + (i + 0.5) * slot;
  const y = (rate) => pad.top + (1 - rate / top) * (height - pad.top - pad.bottom);
  const text = (attrs, content) => svg("text", { "font-size": 9, fill: "#667085", ...attrs }, content);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", id: "verdict-chart",
    "aria-label": "Share of judgements with a hallucination per checkpoint, with 95% Wilson intervals" });
  for (const tick of [0, top / 2, top]) {
    chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), stroke: tick ? "#eef0f4" : "#d0d5dd" }),
      text({ x: pad.left - 4, y: y(tick) + 3, "text-anchor": "end" }, formatPercent(tick, 0)));
  }
  const line = verdicts.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v.rate).toFixed(1)}`).join(" ");
  chart.append(svg("path", { d: line, fill: "none", stroke: "#98a2b3", "stroke-width": 1, "stroke-dasharray": "3 3" }));
  verdicts.forEach((v, i) => {
    const cx = x(i), cap = Math.min(6, slot / 4);
    const bar = svg("g", { class: "verdict-point", "data-checkpoint": v.checkpoint },
      svg("title", {}, `#${v.checkpoint} ${v.name}: ${formatPercent(v.rate)} of ${v.judgements} judgements ` +
        `(${v.answers} answers) marked a hallucination; 95% interval ${interval(v)}`),
      svg("line", { class: "error-bar", x1: cx, x2: cx, y1: y(v.ci_low), y2: y(v.ci_high), stroke: "#2f6fed", "stroke-width": 1.5 }),
      svg("line", { x1: cx - cap, x2: cx + cap, y1: y(v.ci_low), y2: y(v.ci_low), stroke: "#2f6fed", "stroke-width": 1.5 }),
      svg("line", { x1: cx - cap, x2: cx + cap, y1: y(v.ci_high), y2: y(v.ci_high), stroke: "#2f6fed", "stroke-width": 1.5 }),
      svg("circle", { cx, cy: y(v.rate), r: 3.5, fill: "#2f6fed" }),
      text({ x: cx, y: height - pad.bottom + 12, "text-anchor": "middle", fill: "#1d2330" }, `#${v.checkpoint}`),
      text({ x: cx, y: height - pad.bottom + 24, "text-anchor": "middle" }, `n ${v.judgements}`),
    );
    chart.append(bar);
  });
  return chart;
}

/** The verdict panel's content: the chart, then the figures and the split by category, a column per checkpoint. */
export function verdictPanel(verdicts) {
  const judged = verdicts.filter((v) => v.judgements > 0);
  if (!judged.length) return [el("p", { class: "muted" }, "No judged answers of any checkpoint yet.")];
  const shown = judged.slice(-LATEST - 2);
  const categories = [...new Set(shown.flatMap((v) => Object.keys(v.by_category)))].sort();
  const rows = [
    { label: "Judgements (answers)", cells: shown.map((v) => `${formatCount(v.judgements)} (${formatCount(v.answers)})`) },
    { label: "With a hallucination", cells: shown.map((v) => formatPercent(v.rate)) },
    { label: "95% Wilson interval", cells: shown.map(interval) },
    { label: "Segments per 100 words", cells: shown.map((v) => formatNumber(v.segments_per_100_words)) },
    ...categories.map((category) => ({
      section: "By category: judgements with one (segments)", label: category,
      cells: shown.map((v) => {
        const figures = v.by_category[category];
        return figures ? `${formatPercent(figures.rate)} (${formatCount(figures.segments)})` : "—";
      }),
    })),
  ].map((row) => ({ section: "", ...row }));
  return [
    el("div", { class: "chart verdict" }, el("h3", {}, "Judgements with a hallucination, 95% interval"), verdictChart(judged.slice(-CHARTED))),
    comparison("verdict-figures", shown.map((v) => checkpointColumn({ id: v.checkpoint, name: v.name, parent: v.parent })), rows),
  ];
}
