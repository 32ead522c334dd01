// The checkpoint playground: ask one or two checkpoints about an image, follow the request (queued behind
// what, generating), show the answers side by side, mark words by hand, send an answer to the annotation queue.
// Model text only ever goes in as text nodes (dom.js's el), never as HTML.
import { api } from "./api.js";
import { $, el, isTyping, notify, pageData, replaceChildren } from "./dom.js";
import { cutAtSegments, sortSegments } from "./segments.js";
import { graphemeBoundaries, selectionIn } from "./text.js";

const POLL_MS = 1000;
const page = pageData();
let chosen = null; // {id, url} of a project image, {file, url} of an upload, or null: no image
let current = null; // the request being shown: {id, cards: Map(checkpoint id -> card state)}

// --- the image --------------------------------------------------------------------------------

function choose(next) {
  if (chosen && chosen.file) URL.revokeObjectURL(chosen.url);
  chosen = next;
  const image = $("chosen-image");
  image.hidden = !chosen;
  if (chosen) image.src = chosen.url;
  else image.removeAttribute("src");
  $("chosen-caption").textContent = !chosen ? "No image: the question is asked without one."
    : chosen.file ? `Uploaded: ${chosen.file.name}` : `Project image #${chosen.id}`;
  for (const thumb of $("thumbs").children) thumb.setAttribute("aria-pressed", String(!!chosen && Number(thumb.dataset.image) === chosen.id));
  if (!chosen || !chosen.file) $("upload").value = "";
}

function renderThumbs() {
  replaceChildren($("thumbs"), page.images.map((image) => el("button", {
    type: "button", class: "thumb", dataset: { image: image.id }, "aria-pressed": "false",
    title: `Image #${image.id} (${image.width}×${image.height})`, onclick: () => choose({ id: image.id, url: image.url }),
  }, el("img", { src: image.url, alt: `Image #${image.id}`, loading: "lazy" }))));
  if (!page.images.length) $("thumbs").append(el("p", { class: "muted small" }, "The project has no images yet: upload one."));
}

// --- asking -----------------------------------------------------------------------------------

function checkpointOptions() {
  const label = (c) => `${c.name}${c.is_active ? " (active)" : ""}`;
  const options = () => page.checkpoints.map((c) => el("option", { value: c.id, selected: c.is_active }, label(c)));
  replaceChildren($("checkpoint-a"), options());
  $("checkpoint-b").append(...page.checkpoints.map((c) => el("option", { value: c.id }, label(c))));
}

function askBody() {
  const checkpoints = [$("checkpoint-a").value, $("checkpoint-b").value].filter(Boolean).map(Number);
  const sampling = {
    temperature: Number($("temperature").value), top_p: Number($("top-p").value),
    max_new_tokens: Number($("max-new-tokens").value),
  };
  const fields = { project: page.id, question: $("question").value, checkpoints };
  if (!chosen || !chosen.file) return { ...fields, sampling, ...(chosen ? { image_id: chosen.id } : {}) };
  // An upload goes as a multipart form: the sampling settings as JSON text, one entry per checkpoint.
  const form = new FormData();
  form.append("project", page.id);
  form.append("question", fields.question);
  for (const id of checkpoints) form.append("checkpoints", id);
  form.append("sampling", JSON.stringify(sampling));
  form.append("image", chosen.file);
  return form;
}

async function ask(event) {
  event?.preventDefault();
  if (!$("question").value.trim()) { notify("Type a question first.", "error"); $("question").focus(); return; }
  $("ask").disabled = true;
  try {
    show(await api("POST", "/api/playground/", askBody()));
  } catch (error) {
    notify(error.message, "error");
  } finally {
    $("ask").disabled = false;
  }
}

// --- following a request ----------------------------------------------------------------------

function statusText(request) {
  const answered = request.answers.filter((a) => a.text !== null).length;
  if (request.status === "queued") {
    return request.waiting_behind.length
      ? `Queued behind ${request.waiting_behind.map((job) => job.label).join(", then ")}.`
      : "Queued: waiting for a gpu worker…";
  }
  if (request.status === "running") return `Generating… (${answered} of ${request.answers.length} answered)`;
  if (request.status === "succeeded") return "Answered.";
  return `${request.status[0].toUpperCase()}${request.status.slice(1)}: ${request.error || "no answer."}`;
}

function show(request) {
  if (!current || current.id !== request.id) {
    current = { id: request.id, cards: new Map() };
    replaceChildren($("answers"), request.answers.map((answer) => card(request.id, answer)));
  }
  for (const answer of request.answers) update(current.cards.get(answer.checkpoint.id), answer);
  const status = $("play-status");
  status.textContent = statusText(request);
  status.dataset.status = request.status;
  $("mark-help").hidden = request.status !== "succeeded";
  if (!["succeeded", "failed", "cancelled"].includes(request.status)) {
    setTimeout(() => poll(request.id), POLL_MS);
  }
}

async function poll(id) {
  if (!current || current.id !== id) return; // another question was asked meanwhile
  try {
    show(await api("GET", `/api/playground/${id}/`));
  } catch (error) {
    notify(error.message, "error");
    setTimeout(() => poll(id), POLL_MS * 3);
  }
}

// --- an answer: marks and sending -------------------------------------------------------------

function card(requestId, answer) {
  const { checkpoint } = answer;
  const state = { requestId, checkpoint, text: null, bounds: [], marks: [], sent: null };
  state.answer = el("p", { class: "answer readonly play-text", tabindex: "0", dir: "auto", dataset: { checkpoint: checkpoint.id },
    "aria-label": `Answer of ${checkpoint.name}` }, "Waiting for the answer…");
  state.markButton = el("button", { type: "button", onmousedown: (e) => e.preventDefault(), onclick: () => markSelection(state) },
    "Mark selection ", el("kbd", {}, "M"));
  state.clearButton = el("button", { type: "button", onclick: () => setMarks(state, []) }, "Clear marks");
  state.sendButton = el("button", { type: "button", class: "primary", onclick: () => send(state) }, "Send to annotation queue");
  state.result = el("span", { class: "sent-result", role: "status" });
  state.node = el("article", { class: "card panel play-answer", dataset: { checkpoint: checkpoint.id } },
    el("header", {}, el("strong", { class: "checkpoint-name" }, checkpoint.name),
      checkpoint.is_active ? el("span", { class: "badge ok" }, "active") : null),
    state.answer,
    el("div", { class: "actions" }, state.markButton, state.clearButton, el("span", { class: "spacer" }), state.sendButton),
    state.result);
  current.cards.set(checkpoint.id, state);
  return state.node;
}

function update(state, answer) {
  if (answer.text !== null && state.text === null) {
    state.text = answer.text;
    state.bounds = graphemeBoundaries(answer.text);
    state.answer.classList.add("ready");
    render(state);
  }
  if (answer.sent && !state.sent) sentAs(state, answer.sent.response);
  const idle = state.text === null || !!state.sent;
  for (const button of [state.markButton, state.clearButton, state.sendButton]) button.disabled = idle;
}

function render(state) {
  const pieces = cutAtSegments(Array.from(state.text), state.marks);
  replaceChildren(state.answer, pieces.map((piece) => (piece.segment
    ? el("mark", { class: "hand-mark", title: "Marked as likely invented: click to unmark",
      onclick: () => !state.sent && setMarks(state, state.marks.filter((m) => m !== piece.segment)) }, piece.text)
    : piece.text)));
  if (!state.text) state.answer.append(el("span", { class: "muted" }, "(an empty answer)"));
}

function setMarks(state, marks) {
  state.marks = sortSegments(marks);
  render(state);
}

/** Mark the selected words of `state`'s answer; marks it overlaps or touches merge into one. */
function markSelection(state) {
  const at = state.text ? selectionIn(state.answer, state.text, state.bounds) : null;
  if (!at || at.start === at.end) { notify("Select words in the answer first.", "error"); return; }
  let { start, end } = at;
  const apart = state.marks.filter((m) => {
    if (m.end < start || end < m.start) return true;
    start = Math.min(start, m.start);
    end = Math.max(end, m.end);
    return false;
  });
  setMarks(state, [...apart, { start, end }]);
  document.getSelection().removeAllRanges();
  state.answer.focus();
}

async function send(state) {
  state.sendButton.disabled = true;
  try {
    const body = { checkpoint: state.checkpoint.id, marks: state.marks.map((m) => [m.start, m.end]) };
    const sent = await api("POST", `/api/playground/${state.requestId}/send/`, body);
    sentAs(state, sent.response, sent.tasks);
    notify(`Sent to the annotation queue as response #${sent.response}.`, "ok");
  } catch (error) {
    state.sendButton.disabled = false;
    notify(error.message, "error");
  }
}

function sentAs(state, response, tasks = null) {
  state.sent = response;
  for (const button of [state.markButton, state.clearButton, state.sendButton]) button.disabled = true;
  state.result.textContent = `Sent to the annotation queue: response #${response}`
    + (tasks === null ? "." : `, ${tasks} annotation task${tasks === 1 ? "" : "s"} open.`);
  state.result.dataset.response = response;
}

// --- wiring -----------------------------------------------------------------------------------

$("ask-form").addEventListener("submit", ask);
$("upload").addEventListener("change", () => {
  const file = $("upload").files[0];
  if (file) choose({ file, url: URL.createObjectURL(file) });
});
$("no-image").addEventListener("click", () => choose(null));
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "Enter") { event.preventDefault(); ask(); return; }
  if (isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey || (event.key !== "m" && event.key !== "M")) return;
  const state = current && [...current.cards.values()].find((s) => s.text && !s.sent && selectionIn(s.answer, s.text, s.bounds));
  if (state) { event.preventDefault(); markSelection(state); }
});

checkpointOptions();
renderThumbs();
choose(page.images.length ? { id: page.images[0].id, url: page.images[0].url } : null);
