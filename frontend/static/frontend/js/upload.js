// The upload page: drop (or choose) a zip or images, send them to POST /api/projects/ID/uploads/ with
// XMLHttpRequest (fetch reports no upload progress), show the progress, then the counts or every rejected line.
import { csrfToken } from "./api.js";
import { $, el, pageData, replaceChildren } from "./dom.js";
import { formatBytes } from "./format.js";

const page = pageData();
const state = { files: [], sending: false };

const LABELS = {
  prompts: "Prompts created", prompts_existing: "Prompts already there", images_new: "Images stored",
  images_reused: "Images already stored", responses: "Answers queued", responses_existing: "Answers already there",
  tasks: "Annotation tasks opened",
};

/** One .zip goes as `file`; anything else as `images`. */
const isZip = () => state.files.length === 1 && /\.zip$/i.test(state.files[0].name);

function choose(files) {
  if (state.sending) return;
  state.files = Array.from(files);
  const total = state.files.reduce((sum, f) => sum + f.size, 0);
  $("chosen").textContent = !state.files.length ? "" : state.files.length === 1
    ? `${state.files[0].name} (${formatBytes(total)})` : `${state.files.length} files (${formatBytes(total)})`;
  $("upload-button").disabled = !state.files.length;
  status("", "");
}

function status(text, kind) {
  $("upload-status").textContent = text;
  $("upload-status").dataset.state = kind;
}

function form() {
  const body = new FormData();
  if (isZip()) body.append("file", state.files[0]);
  else state.files.forEach((file) => body.append("images", file));
  const templates = $("templates").value;
  if (templates.trim()) body.append("templates", templates);
  body.append("templates_per_image", $("templates-per-image").value || "1");
  return body;
}

function showResult(counts) {
  replaceChildren($("counts"), Object.entries(LABELS).flatMap(([key, label]) => [
    el("dt", {}, label), el("dd", { dataset: { count: key } }, String(counts[key] ?? 0))]));
  $("upload-result").hidden = false;
}

function showRejected(status, body) {
  const lines = (body && body.rejected) || [];
  const total = (body && body.rejected_total) || lines.length;
  $("rejected-summary").textContent = (body && body.error) || `The upload was refused (${status}).`;
  if (total > lines.length) $("rejected-summary").textContent += ` The first ${lines.length} of ${total} are listed.`;
  replaceChildren($("rejected-lines"), lines.map((item) => el("tr", { dataset: { line: item.line ?? "" } },
    el("td", { class: "line" }, item.line ?? "—"), el("td", {}, item.field),
    el("td", {}, item.member ? `${item.member}: ${item.reason}` : item.reason))));
  $("upload-rejected").hidden = false;
}

function send() {
  if (state.sending || !state.files.length) return;
  if (!isZip() && page.max_files && state.files.length > page.max_files) {
    status(`More than ${page.max_files} files at once: put them in a zip.`, "failed");
    return;
  }
  state.sending = true;
  $("upload-button").disabled = true;
  $("upload-result").hidden = true;
  $("upload-rejected").hidden = true;
  const progress = $("upload-progress");
  progress.hidden = false;
  progress.value = 0;
  status("Uploading…", "sending");
  const xhr = new XMLHttpRequest();
  xhr.open("POST", `/api/projects/${page.id}/uploads/`);
  xhr.setRequestHeader("X-CSRFToken", csrfToken());
  xhr.setRequestHeader("Accept", "application/json");
  xhr.upload.addEventListener("progress", (event) => {
    if (!event.lengthComputable) return;
    progress.value = Math.round((100 * event.loaded) / event.total);
    status(`Uploading… ${progress.value}% of ${formatBytes(event.total)}`, "sending");
  });
  xhr.upload.addEventListener("load", () => {
    progress.value = 100;
    status("Uploaded; checking and storing…", "checking");
  });
  xhr.addEventListener("load", () => {
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch { body = null; }
    if (xhr.status === 201) {
      status("Done.", "done");
      showResult(body || {});
    } else {
      status(`Refused (${xhr.status}).`, "failed");
      showRejected(xhr.status, body);
    }
    finish();
  });
  xhr.addEventListener("error", () => { status("The upload failed: the connection was lost.", "failed"); finish(); });
  xhr.send(form());
}

function finish() {
  state.sending = false;
  $("upload-button").disabled = !state.files.length;
}

const zone = $("drop-zone");
["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (event) => {
  event.preventDefault();
  zone.classList.add("over");
}));
["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("over")));
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  if (event.dataTransfer && event.dataTransfer.files.length) choose(event.dataTransfer.files);
});
zone.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("file-input").click(); }
});
// A file dropped beside the zone must not make the browser leave the page to show it.
["dragover", "drop"].forEach((type) => window.addEventListener(type, (event) => event.preventDefault()));
$("file-input").addEventListener("change", (event) => choose(event.target.files));
$("upload-form").addEventListener("submit", (event) => { event.preventDefault(); send(); });
