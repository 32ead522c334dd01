// The annotator screen: one task at a time, drafts saved as you go.
import { api } from "./api.js";
import { $, el, isTyping, notify, pageData, replaceChildren, showImage, wireImageZoom } from "./dom.js";
import { SegmentEditor } from "./editor.js";

const AUTOSAVE_MS = 3000;
const page = pageData();

const state = {
  task: null,
  queue: { done: 0, remaining: 0 },
  dirty: false,
  closed: false, // submitted or skipped: no more drafts for this task
  saving: Promise.resolve(),
  busy: false,
};

const editor = new SegmentEditor({
  answer: $("answer"),
  list: $("segments"),
  preview: $("preview"),
  categories: page.categories,
  onChange: (segments) => {
    state.dirty = true;
    $("segment-count").textContent = String(segments.length);
    showSaveState("Unsaved changes");
  },
  onSubmit: () => submit(),
});

function showSaveState(text, kind = "") {
  const node = $("save-state");
  node.textContent = text;
  node.className = `save-state ${kind}`;
}

function showQueue(queue) {
  state.queue = { ...queue };
  replaceChildren($("queue"), el("strong", {}, String(queue.done)), " done · ",
    el("strong", {}, String(queue.remaining)), " remaining");
}

async function loadNext() {
  state.task = null;
  $("annotator").setAttribute("aria-busy", "true");
  let task;
  try {
    task = await api("POST", `/api/tasks/next/?project=${page.id}`);
  } catch (error) {
    notify(error.message, "error");
    return;
  }
  $("annotator").setAttribute("aria-busy", "false");
  if (!task) {
    $("task").hidden = true;
    $("queue-empty").hidden = false;
    showSaveState("");
    const done = state.queue ? state.queue.done : 0;
    showQueue({ done, remaining: 0 });
    $("queue-empty-text").textContent = `There is nothing left for you in ${page.name} right now (${done} done).`;
    return;
  }
  showTask(task);
}

function showTask(task) {
  state.task = task;
  state.dirty = false;
  state.closed = false;
  showQueue(task.queue);
  $("queue-empty").hidden = true;
  $("task").hidden = false;
  $("question").textContent = task.prompt.question;
  $("written-by").textContent = task.response.written_by ? `written by ${task.response.written_by}` : "";
  $("written-by").hidden = !task.response.written_by;
  showImage(task.prompt.image_url);
  // A rejected annotation came back to be fixed: its segments return with the reviewer's reason.
  const draft = task.annotation && ["draft", "rejected"].includes(task.annotation.status) ? task.annotation : null;
  const returned = draft && draft.review_reason ? draft : null;
  $("returned").hidden = !returned;
  $("returned-by").textContent = returned ? returned.reviewer || "a reviewer" : "";
  $("returned-reason").textContent = returned ? returned.review_reason : "";
  editor.load(task.response.text, draft ? draft.segments : []);
  $("segment-count").textContent = String(editor.value().length);
  showSaveState(draft && !returned ? "Draft restored" : "");
  editor.placeCaret(0);
}

/** Save the draft (queued behind any save in flight). */
function saveDraft({ keepalive = false } = {}) {
  if (!state.task || !state.dirty || state.closed) return state.saving;
  const task = state.task;
  const body = { task: task.id, segments: editor.value(), submit: false, no_hallucination: false };
  state.dirty = false;
  showSaveState("Saving…");
  // On leaving the page there is no time to queue: send at once.
  const send = () => api("POST", "/api/annotations/", body, { keepalive });
  state.saving = (keepalive ? send() : state.saving.then(send))
    .then((annotation) => {
      if (state.task === task) {
        task.annotation = annotation;
        if (!state.dirty) showSaveState(`Draft saved ${new Date().toLocaleTimeString()}`, "ok");
      }
    })
    .catch((error) => {
      if (state.task === task) {
        state.dirty = error.status !== 409;
        showSaveState("Draft not saved", "error");
        notify(error.message, "error");
      }
    });
  return state.saving;
}

/** End the current task with `call` (submit, no hallucination or skip); `counts` says whether it adds to "done". */
async function finish(call, message, counts = true) {
  if (!state.task || state.busy) return;
  state.busy = true;
  state.dirty = false;
  try {
    await state.saving;
    await call(state.task);
    state.closed = true;
    state.queue.done += counts ? 1 : 0;
    notify(message, "ok");
    await loadNext();
  } catch (error) {
    notify(error.message, "error");
  } finally {
    state.busy = false;
  }
}

function submit() {
  if (!editor.settleBox()) return; // the rewrite being typed is saved first; settleBox says why when it cannot be
  const segments = editor.value();
  if (!segments.length) {
    notify("Mark at least one segment, or use “No hallucination”.", "error");
    return;
  }
  finish((task) => api("POST", "/api/annotations/", { task: task.id, segments, submit: true, no_hallucination: false }),
    `Submitted with ${segments.length} segment${segments.length === 1 ? "" : "s"}.`);
}

function noHallucination() {
  if (!editor.settleBox()) return; // a rewrite being typed is a segment, not thrown away
  if (editor.value().length) {
    notify("This answer has segments: delete them first, or submit them.", "error");
    return;
  }
  finish((task) => api("POST", "/api/annotations/", { task: task.id, segments: [], submit: true, no_hallucination: true }),
    "Recorded: no hallucination.");
}

function openSkip() {
  if (!state.task) return;
  $("skip-form").reset();
  $("skip-dialog").returnValue = "";
  $("skip-dialog").showModal();
}

/** The reason picked (none is picked in advance: a skip says why), or "" when there is none yet. */
function skipReason() {
  const form = new FormData($("skip-form"));
  const reason = form.get("reason");
  if (reason === null) return "";
  return reason === "other" ? String(form.get("other")).trim() : String(reason);
}

// Enter in the form submits it ("Skip task" is its only submit button); no reason, or an empty "Other", keeps it open.
$("skip-form").addEventListener("submit", (event) => {
  const other = $("skip-form").elements.other;
  other.setCustomValidity(skipReason() ? "" : "Pick a reason, or write one under Other.");
  if (!other.reportValidity()) event.preventDefault();
});
$("skip-form").elements.other.addEventListener("input", () => {
  $("skip-form").querySelector('input[name="reason"][value="other"]').checked = true;
});
// A refused try leaves its message on the form until the reason changes.
for (const type of ["input", "change"]) $("skip-form").addEventListener(type, () => $("skip-form").elements.other.setCustomValidity(""));
$("skip-cancel").addEventListener("click", () => $("skip-dialog").close("cancel"));

$("skip-dialog").addEventListener("close", () => {
  if ($("skip-dialog").returnValue !== "skip") return;
  const reason = skipReason();
  finish((task) => api("POST", `/api/tasks/${task.id}/skip/`, { reason }), "Skipped.", false);
});

function toggleHelp() {
  const dialog = $("help-dialog");
  if (dialog.open) dialog.close();
  else dialog.showModal();
}

document.addEventListener("keydown", (event) => {
  if (event.key === "?" && $("help-dialog").open) {
    event.preventDefault();
    toggleHelp();
    return;
  }
  if (event.defaultPrevented || document.querySelector("dialog[open]")) return;
  const ctrl = event.ctrlKey || event.metaKey;
  if (ctrl && event.key === "Enter") {
    event.preventDefault();
    submit();
  } else if (isTyping(event.target)) {
    // Keys meant for the rewrite box or a form stay there (its own undo included).
  } else if (ctrl && (event.key === "z" || event.key === "Z")) {
    event.preventDefault();
    if (event.shiftKey) editor.redo();
    else editor.undo();
  } else if (ctrl && event.key === "y") {
    event.preventDefault();
    editor.redo();
  } else if (event.key === "?") {
    event.preventDefault();
    toggleHelp();
  } else if (event.altKey && event.code === "KeyN") {
    event.preventDefault();
    noHallucination();
  } else if (event.altKey && event.code === "KeyS") {
    event.preventDefault();
    openSkip();
  }
});

$("submit").addEventListener("click", submit);
for (const [id, mode] of [["preview-changes", "changes"], ["preview-clean", "clean"]]) {
  $(id).addEventListener("click", () => {
    editor.setPreviewMode(mode);
    $("preview-changes").setAttribute("aria-pressed", String(mode === "changes"));
    $("preview-clean").setAttribute("aria-pressed", String(mode === "clean"));
  });
}
$("no-hallucination").addEventListener("click", noHallucination);
$("skip").addEventListener("click", openSkip);
$("undo").addEventListener("click", () => editor.undo());
$("redo").addEventListener("click", () => editor.redo());
$("help-button").addEventListener("click", toggleHelp);
wireImageZoom();

// Instructions start open, so a new annotator reads them; closing them is remembered per project.
const instructions = $("instructions");
if (instructions) {
  const key = `instructions-closed-${page.id}`;
  if (localStorage.getItem(key)) instructions.open = false;
  instructions.addEventListener("toggle", () => {
    if (instructions.open) localStorage.removeItem(key);
    else localStorage.setItem(key, "1");
  });
}

$("max-key").textContent = String(page.categories.length);
replaceChildren($("legend"), editor.categoryButtons());

setInterval(() => saveDraft(), AUTOSAVE_MS);
// Leaving the page: a keepalive fetch outlives the page and, unlike sendBeacon, carries the CSRF header.
window.addEventListener("pagehide", () => saveDraft({ keepalive: true }));
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") saveDraft({ keepalive: true });
});

loadNext();
