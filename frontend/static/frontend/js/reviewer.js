// The reviewer screen: every annotation of one answer side by side; accept, reject or edit-then-accept.
// Adjudicate mode (consensus projects): an answer whose annotators disagree, their judgements side by side with
// the disputed clusters highlighted; the reviewer picks a version (or none) per cluster, or edits the result.
import { api } from "./api.js";
import { $, el, notify, pageData, replaceChildren, showImage, wireImageZoom } from "./dom.js";
import { categoryClass, renderDiff, SegmentEditor, segmentChange } from "./editor.js";

const page = pageData();
const state = {
  item: null, decided: new Map(), editing: null,
  mode: new URLSearchParams(location.search).get("mode") === "adjudicate" ? "adjudicate" : "review",
  picks: new Map(), // adjudicate: cluster index -> the segments that win there ([] = none)
  asked: 0,
};

const editor = new SegmentEditor({
  answer: $("edit-answer"),
  list: $("edit-segments"),
  preview: $("edit-preview"),
  categories: page.categories,
  onSubmit: () => finishEdit(),
});

async function loadAgreement() {
  let data;
  try {
    data = await api("GET", `/api/projects/${page.id}/agreement/`);
  } catch (error) {
    replaceChildren($("agreement"), el("span", { class: "muted" }, "Agreement unavailable"));
    return;
  }
  const pct = (f1) => (f1 === null || f1 === undefined ? "—" : `${Math.round(f1 * 100)}%`);
  const pairs = data.pairs || [];
  const alpha = data.alpha === null || data.alpha === undefined ? "—" : data.alpha.toFixed(2);
  replaceChildren($("agreement"),
    el("span", { class: "agreement-overall", title: "Span-level character-overlap F1 between annotators of the same answer" },
      "Agreement F1 ", el("strong", {}, pct(data.overall_f1))),
    el("span", { class: "agreement-category", title: `Same category on matched (overlapping) spans; ${data.matched_spans} matched` },
      "Category ", el("strong", {}, pct(data.category_agreement))),
    el("span", { class: "agreement-rewrite", title: "Same rewrite (whitespace normalised) on matched spans" },
      "Rewrite ", el("strong", {}, pct(data.rewrite_agreement))),
    el("span", { class: "agreement-alpha", title: "Krippendorff's alpha (nominal) on per-character labels: inside a marked span or not. 1 = perfect, 0 = chance" },
      "α ", el("strong", {}, alpha)),
    pairs.length ? el("details", { class: "agreement-pairs" }, el("summary", {}, `${pairs.length} pair${pairs.length === 1 ? "" : "s"}`),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Annotators"), el("th", {}, "F1"), el("th", {}, "Category"),
        el("th", {}, "Rewrite"), el("th", {}, "Answers"))),
      el("tbody", {}, pairs.map((pair) => el("tr", {},
        el("td", {}, `${pair.annotator_a} · ${pair.annotator_b}`), el("td", {}, pct(pair.f1)), el("td", {}, pct(pair.category_agreement)),
        el("td", {}, pct(pair.rewrite_agreement)), el("td", {}, String(pair.responses)))))))
      : null);
}

async function loadNext() {
  $("reviewer").setAttribute("aria-busy", "true");
  let item;
  const asked = ++state.asked; // a mode switch while a load is in flight: only the latest load renders
  try {
    item = await api("GET", `/api/review/next/?project=${page.id}&mode=${state.mode}`);
  } catch (error) {
    notify(error.message, "error");
    return;
  }
  if (asked !== state.asked) return;
  $("reviewer").setAttribute("aria-busy", "false");
  loadAgreement();
  state.item = item;
  state.decided = new Map();
  state.picks = new Map();
  const adjudicating = state.mode === "adjudicate";
  $("mode-review").setAttribute("aria-pressed", String(!adjudicating));
  $("mode-adjudicate").setAttribute("aria-pressed", String(adjudicating));
  $("review").hidden = !item;
  $("review-empty").hidden = Boolean(item);
  $("adjudication").hidden = !adjudicating;
  $("empty-title").textContent = adjudicating ? "Nothing to adjudicate" : "Nothing to review";
  $("empty-text").textContent = adjudicating
    ? "No answer of this project has annotators who disagree beyond its consensus threshold."
    : "No submitted annotations in this project are waiting for review.";
  if (!item) {
    $("review-summary").textContent = "";
    if (!adjudicating) refreshDisputed();
    return;
  }
  $("disputed-count").textContent = String(item.waiting.disputed);
  $("question").textContent = item.prompt.question;
  showImage(item.prompt.image_url);
  if (adjudicating) {
    renderAdjudication();
    return;
  }
  $("original").textContent = item.response.text;
  renderColumns();
}

async function refreshDisputed() {
  // The count beside the Adjudicate tab when there is nothing to review (the answer would carry it otherwise).
  try {
    const item = await api("GET", `/api/review/next/?project=${page.id}&mode=adjudicate`);
    $("disputed-count").textContent = item ? String(item.waiting.disputed) : "0";
  } catch (error) {
    $("disputed-count").textContent = "";
  }
}

function setMode(mode) {
  state.mode = mode;
  const url = new URL(location.href);
  if (mode === "adjudicate") url.searchParams.set("mode", mode); else url.searchParams.delete("mode");
  history.replaceState(null, "", url);
  loadNext();
}

// --- Adjudication -----------------------------------------------------------------------------------------

/** The answer with each cluster marked (disputed ones highlighted), as text nodes and <mark>s. */
function markClusters(container, text, clusters) {
  const chars = Array.from(text);
  const pieces = [];
  let at = 0;
  clusters.forEach((cluster, index) => {
    pieces.push(chars.slice(at, cluster.start).join(""));
    const inner = chars.slice(cluster.start, cluster.end).join("") || "‸";
    pieces.push(el("mark", { class: `cluster ${cluster.decision}`, dataset: { cluster: index }, title: `${index + 1}: ${cluster.decision}` }, inner));
    at = Math.max(at, cluster.end);
  });
  pieces.push(chars.slice(at).join(""));
  replaceChildren(container, pieces);
}

const sameSegments = (a, b) => a.length === b.length && a.every((s, i) => s.start === b[i].start && s.end === b[i].end
  && s.replacement.split(/\s+/).join(" ").trim() === b[i].replacement.split(/\s+/).join(" ").trim());

function adjudicatedSegments() {
  return [...state.picks.values()].flat().sort((a, b) => a.start - b.start || a.end - b.end);
}

function renderAdjudication() {
  const { item } = state;
  const { consensus } = item;
  const text = item.response.text;
  const disputed = consensus.clusters.filter((cluster) => cluster.decision === "disputed").length;
  $("review-summary").textContent = `${item.waiting.disputed} answer${item.waiting.disputed === 1 ? "" : "s"} to adjudicate · this one: `
    + `${item.annotations.length} judgements, ${disputed} disputed cluster${disputed === 1 ? "" : "s"}`;
  markClusters($("original"), text, consensus.clusters);
  // What the machine decided stands unless the reviewer changes it; disputed clusters start unpicked.
  consensus.clusters.forEach((cluster, index) => {
    if (cluster.decision === "kept") state.picks.set(index, cluster.segments);
    else if (cluster.decision === "dropped") state.picks.set(index, []);
  });
  replaceChildren($("clusters"), consensus.clusters.map((cluster, index) => clusterItem(cluster, index)));
  replaceChildren($("columns"), item.annotations.map((annotation) => judgementCard(annotation)));
  renderResult();
}

function clusterItem(cluster, index) {
  const text = state.item.response.text;
  const name = `cluster-${index}`;
  const chosen = state.picks.get(index);
  const option = (label, segments, who) => el("label", {},
    el("input", {
      type: "radio", name, checked: chosen !== undefined && sameSegments(chosen, segments),
      onchange: () => { state.picks.set(index, segments); renderResult(); },
    }),
    label, el("span", { class: "muted small" }, who));
  const original = Array.from(text).slice(cluster.start, cluster.end).join("");
  return el("li", { class: `cluster-item ${cluster.decision}`, dataset: { cluster: index } },
    el("div", {}, el("strong", {}, original ? `“${original}”` : "insertion"), " ",
      el("span", { class: `badge${cluster.decision === "disputed" ? " returned" : ""}` }, cluster.decision), " ",
      el("span", { class: "muted small" }, cluster.reason)),
    el("fieldset", {},
      cluster.versions.map((version) => option(
        el("span", { class: "version" }, version.segments.map((segment) => el("span", { class: "seg-change" }, segmentChange(text, segment), " "))),
        version.segments, ` — ${version.annotators.join(", ")}`)),
      option(el("span", { class: "version" }, "No segment"), [], cluster.none.length ? ` — ${cluster.none.map((n) => n.annotator).join(", ")}` : "")));
}

function judgementCard(annotation) {
  const { consensus, response } = state.item;
  const preview = el("div", { class: "preview" });
  renderDiff(preview, response.text, annotation.segments, page.categories);
  const disputedRanges = consensus.clusters.filter((cluster) => cluster.decision === "disputed");
  // A cluster spans its segments' hull, so a segment lies in it when it lies within that range.
  const inDispute = (segment) => disputedRanges.some((cluster) => segment.start >= cluster.start && segment.end <= cluster.end);
  const segments = annotation.no_hallucination
    ? el("p", { class: "badge ok" }, "Judged: no hallucination")
    : el("ul", { class: "segments compact" }, annotation.segments.map((segment) => el("li", {
      class: `seg-item ${categoryClass(page.categories, segment.category)}${inDispute(segment) ? " in-dispute" : ""}`,
    }, el("div", { class: "seg-head" }, el("span", { class: "cat-name" }, segment.category),
      inDispute(segment) ? el("span", { class: "badge returned" }, "disputed") : null),
    el("div", { class: "seg-change" }, segmentChange(response.text, segment)))));
  return el("article", { class: "card review-card judgement", dataset: { annotation: annotation.id } },
    el("header", {}, el("strong", { class: "who" }, annotation.annotator), el("span", { class: "badge" }, annotation.status)),
    el("h3", { class: "label" }, "Corrected answer"), preview,
    el("h3", { class: "label" }, "Segments"), segments);
}

function renderResult() {
  const clusters = state.item.consensus.clusters;
  const open = clusters.filter((_, index) => !state.picks.has(index)).length;
  renderDiff($("adj-preview"), state.item.response.text, adjudicatedSegments(), page.categories);
  $("adj-submit").disabled = open > 0;
  $("adj-submit").title = open ? `Pick a version in ${open} more cluster${open === 1 ? "" : "s"}` : "";
}

async function adjudicate(segments) {
  const { consensus } = state.item;
  try {
    await api("POST", `/api/consensus/${consensus.id}/adjudicate/`, { basis: consensus.basis, segments });
  } catch (error) {
    notify(error.message, "error");
    return false;
  }
  notify("Adjudicated: the answer's record is built from your decision.", "ok");
  loadNext();
  return true;
}

function openResultEdit() {
  state.editing = null;
  $("edit-title").textContent = "Edit the result, then adjudicate";
  $("edit-who").textContent = "";
  $("edit-accept").textContent = "Adjudicate with edits";
  $("edit-dialog").showModal();
  editor.load(state.item.response.text, adjudicatedSegments());
  editor.placeCaret(0);
}

function renderColumns() {
  const { item } = state;
  const left = item.annotations.length - state.decided.size;
  const { answers } = item.waiting;
  $("review-summary").textContent = `${answers} answer${answers === 1 ? "" : "s"} waiting · this one: `
    + `${item.annotations.length} annotation${item.annotations.length === 1 ? "" : "s"}, ${left} to decide`;
  replaceChildren($("columns"), item.annotations.map((annotation) => column(annotation)));
  if (!left) {
    const next = el("button", { type: "button", class: "primary", onclick: loadNext }, "Next answer →");
    $("columns").append(el("div", { class: "next-row" }, next));
    next.focus(); // Enter moves on
  }
}

function column(annotation) {
  const decision = state.decided.get(annotation.id);
  const preview = el("div", { class: "preview" });
  renderDiff(preview, state.item.response.text, annotation.segments, page.categories);
  const segments = annotation.no_hallucination
    ? el("p", { class: "badge ok" }, "Judged: no hallucination")
    : el("ul", { class: "segments compact" }, annotation.segments.map((segment) => el("li", {
      class: `seg-item ${categoryClass(page.categories, segment.category)}`,
    }, el("div", { class: "seg-head" }, el("span", { class: "cat-name" }, segment.category)),
    el("div", { class: "seg-change" }, segmentChange(state.item.response.text, segment)))));
  const reject = () => {
    if (!reason.value.trim()) { notify("Give a reason to reject.", "error"); reason.focus(); return; }
    decide(annotation, "reject", { reason: reason.value.trim() });
  };
  const reason = el("input", {
    type: "text", class: "reason", placeholder: "Reason (goes back to the annotator)", maxlength: "1000", "aria-label": "Reason",
    onkeydown: (event) => { if (event.key === "Enter") { event.preventDefault(); reject(); } },
  });
  const actions = decision
    ? el("p", { class: `decision ${decision}` }, decision === "accepted" ? "✓ Accepted" : "✗ Rejected")
    : el("div", { class: "review-actions" },
      el("button", { type: "button", class: "primary", onclick: () => decide(annotation, "accept", {}) }, "Accept"),
      el("button", { type: "button", onclick: () => openEdit(annotation) }, "Edit & accept"),
      el("div", { class: "reject-row" }, reason, el("button", { type: "button", class: "danger", onclick: reject }, "Reject")));
  return el("article", { class: `card review-card${decision ? " decided" : ""}`, dataset: { annotation: annotation.id } },
    el("header", {}, el("strong", { class: "who" }, annotation.annotator), el("span", { class: "badge" }, annotation.status),
      el("span", { class: "muted small" }, `${annotation.segments.length} segment${annotation.segments.length === 1 ? "" : "s"}`)),
    // A resubmission after a rejection: the reviewer sees what was asked for.
    annotation.review_reason && annotation.status === "submitted"
      ? el("p", { class: "returned" }, el("strong", {}, "Fixed after a rejection: "), el("q", {}, annotation.review_reason))
      : null,
    el("h3", { class: "label" }, "Corrected answer"), preview,
    el("h3", { class: "label" }, "Segments"), segments,
    actions);
}

async function decide(annotation, action, body) {
  try {
    // The stored annotation (status, segments, no_hallucination) replaces what the card showed.
    Object.assign(annotation, await api("POST", `/api/annotations/${annotation.id}/${action}/`, body));
  } catch (error) {
    notify(error.message, "error");
    return false;
  }
  state.decided.set(annotation.id, action === "accept" ? "accepted" : "rejected");
  notify(`${annotation.annotator}'s annotation ${action === "accept" ? "accepted" : "rejected"}.`, "ok");
  renderColumns();
  return true;
}

function openEdit(annotation) {
  state.editing = annotation;
  $("edit-title").textContent = "Edit, then accept";
  $("edit-accept").textContent = "Accept with edits";
  $("edit-who").textContent = `annotation by ${annotation.annotator}`;
  $("edit-dialog").showModal();
  editor.load(state.item.response.text, annotation.segments);
  editor.placeCaret(0);
}

async function finishEdit() {
  if (editor.editing && !editor.commitBox()) return;
  const annotation = state.editing;
  const done = annotation
    ? await decide(annotation, "accept", { segments: editor.value() })
    : await adjudicate(editor.value());
  if (done) $("edit-dialog").close();
}

$("edit-accept").addEventListener("click", finishEdit);
$("adj-submit").addEventListener("click", () => adjudicate(adjudicatedSegments()));
$("adj-edit").addEventListener("click", openResultEdit);
$("mode-review").addEventListener("click", () => setMode("review"));
$("mode-adjudicate").addEventListener("click", () => setMode("adjudicate"));
$("edit-cancel").addEventListener("click", () => $("edit-dialog").close());
$("edit-undo").addEventListener("click", () => editor.undo());
$("edit-redo").addEventListener("click", () => editor.redo());
$("edit-dialog").addEventListener("cancel", (event) => {
  if (editor.editing) { event.preventDefault(); editor.cancelBox(); }
});
$("edit-dialog").addEventListener("keydown", (event) => {
  const ctrl = event.ctrlKey || event.metaKey;
  if (event.defaultPrevented || event.target.matches("input, select")) return;
  if (ctrl && event.key === "Enter") { event.preventDefault(); finishEdit(); }
  else if (ctrl && (event.key === "z" || event.key === "Z")) { event.preventDefault(); if (event.shiftKey) editor.redo(); else editor.undo(); }
});
wireImageZoom();

loadNext();
