// The reviewer screen: every annotation of one answer side by side; accept, reject or edit-then-accept.
import { api } from "./api.js";
import { $, el, notify, pageData, replaceChildren, showImage, wireImageZoom } from "./dom.js";
import { categoryClass, renderDiff, SegmentEditor, segmentChange } from "./editor.js";

const page = pageData();
const state = { item: null, decided: new Map(), editing: null };

const editor = new SegmentEditor({
  answer: $("edit-answer"),
  list: $("edit-segments"),
  preview: $("edit-preview"),
  categories: page.categories,
  onSubmit: () => acceptEdited(),
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
  replaceChildren($("agreement"),
    el("span", { class: "agreement-overall", title: "Span-level character-overlap F1 between annotators of the same answer" },
      "Agreement F1 ", el("strong", {}, pct(data.overall_f1))),
    pairs.length ? el("details", { class: "agreement-pairs" }, el("summary", {}, `${pairs.length} pair${pairs.length === 1 ? "" : "s"}`),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Annotators"), el("th", {}, "F1"), el("th", {}, "Answers"))),
        el("tbody", {}, pairs.map((pair) => el("tr", {},
          el("td", {}, `${pair.annotator_a} · ${pair.annotator_b}`), el("td", {}, pct(pair.f1)), el("td", {}, String(pair.responses)))))))
      : null);
}

async function loadNext() {
  $("reviewer").setAttribute("aria-busy", "true");
  let item;
  try {
    item = await api("GET", `/api/review/next/?project=${page.id}`);
  } catch (error) {
    notify(error.message, "error");
    return;
  }
  $("reviewer").setAttribute("aria-busy", "false");
  loadAgreement();
  state.item = item;
  state.decided = new Map();
  $("review").hidden = !item;
  $("review-empty").hidden = Boolean(item);
  if (!item) {
    $("review-summary").textContent = "";
    return;
  }
  $("question").textContent = item.prompt.question;
  $("original").textContent = item.response.text;
  showImage(item.prompt.image_url);
  renderColumns();
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
  $("edit-who").textContent = `annotation by ${annotation.annotator}`;
  $("edit-dialog").showModal();
  editor.load(state.item.response.text, annotation.segments);
  editor.placeCaret(0);
}

async function acceptEdited() {
  if (editor.editing && !editor.commitBox()) return;
  const annotation = state.editing;
  if (await decide(annotation, "accept", { segments: editor.value() })) $("edit-dialog").close();
}

$("edit-accept").addEventListener("click", acceptEdited);
$("edit-cancel").addEventListener("click", () => $("edit-dialog").close());
$("edit-undo").addEventListener("click", () => editor.undo());
$("edit-redo").addEventListener("click", () => editor.redo());
$("edit-dialog").addEventListener("cancel", (event) => {
  if (editor.editing) { event.preventDefault(); editor.cancelBox(); }
});
$("edit-dialog").addEventListener("keydown", (event) => {
  const ctrl = event.ctrlKey || event.metaKey;
  if (event.defaultPrevented || event.target.matches("input, select")) return;
  if (ctrl && event.key === "Enter") { event.preventDefault(); acceptEdited(); }
  else if (ctrl && (event.key === "z" || event.key === "Z")) { event.preventDefault(); if (event.shiftKey) editor.redo(); else editor.undo(); }
});
wireImageZoom();

loadNext();
