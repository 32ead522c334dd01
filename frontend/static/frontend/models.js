// Models page: register a base model (folder under MODELS_ROOT or hub id), follow its check on the gpu queue,
// see its facts, generate the first batch from it. Everything through /api/checkpoints/ and
// /api/generation-batches/; the page polls while a check or a batch is queued or running.
import { api } from "./js/api.js";
import { $, el, notify, pageData, replaceChildren } from "./js/dom.js";
import { formatCount } from "./js/format.js";

const project = pageData();
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const results = (page) => (Array.isArray(page) ? page : page.results);
const badge = (status) => el("span", { class: `badge status-${status}` }, status);
// The checkpoint statuses in the job colours: validating runs, ready succeeded.
const STATUS_CLASS = { validating: "running", ready: "succeeded", failed: "failed" };
let timer = null;

function yesNo(value) {
  return value === null || value === undefined ? "—" : value ? "yes" : "no (M-RoPE or off)";
}

function modelRow(checkpoint, generated) {
  const ready = checkpoint.status === "ready";
  return el("tr", { dataset: { checkpoint: checkpoint.id } },
    el("td", {}, checkpoint.id),
    el("td", {}, checkpoint.name, checkpoint.is_active ? [" ", el("span", { class: "badge ok" }, "active")] : null),
    el("td", { class: "model-status" },
      el("span", { class: `badge status-${STATUS_CLASS[checkpoint.status]}` }, checkpoint.status),
      checkpoint.error ? el("div", { class: "run-error model-error" }, checkpoint.error) : null),
    el("td", { class: "model-architecture" }, checkpoint.architecture || "—",
      checkpoint.model_type ? el("span", { class: "muted" }, ` (${checkpoint.model_type})`) : null),
    el("td", { class: "model-parameters" }, formatCount(checkpoint.parameters)),
    el("td", { class: "model-dtype" }, checkpoint.dtype || "—"),
    el("td", { class: "model-prefix" }, yesNo(checkpoint.prefix_sharing)),
    el("td", {}, checkpoint.adapter ? `${checkpoint.adapter} on ${checkpoint.adapter_base}` : "—"),
    el("td", { class: "small" }, el("code", {}, checkpoint.path)),
    el("td", {}, ready ? el("button", { type: "button", class: "generate", onclick: (event) => generate(event, checkpoint) },
      generated.has(checkpoint.id) ? "Generate a batch" : "Generate the first batch") : null),
  );
}

function batchRow(batch, names) {
  return el("tr", { dataset: { batch: batch.id } },
    el("td", {}, batch.id),
    el("td", { title: batch.error || "" }, badge(batch.status)),
    el("td", { class: "batch-checkpoint" }, names.get(batch.checkpoint) ?? `#${batch.checkpoint}`),
    el("td", {}, batch.prompt_count),
    el("td", { class: "batch-answers" }, batch.response_count),
  );
}

async function generate(event, checkpoint) {
  event.target.disabled = true;
  try {
    const batch = await api("POST", "/api/generation-batches/", { project: project.id, checkpoint: checkpoint.id });
    notify(`Batch ${batch.id} queued: ${batch.prompt_count} prompts for ${checkpoint.name}.`, "ok");
    refresh();
  } catch (error) {
    notify(error.message, "error");
  } finally {
    event.target.disabled = false;
  }
}

async function refresh() {
  clearTimeout(timer);
  try {
    const query = `?project=${project.id}`;
    const [checkpoints, batches] = await Promise.all([
      api("GET", `/api/checkpoints/${query}`), api("GET", `/api/generation-batches/${query}`),
    ]).then((pages) => pages.map(results));
    const generated = new Set(batches.map((batch) => batch.checkpoint));
    replaceChildren($("models"), checkpoints.map((checkpoint) => modelRow(checkpoint, generated)));
    $("models-empty").hidden = checkpoints.length > 0;
    const names = new Map(checkpoints.map((c) => [c.id, c.name]));
    replaceChildren($("batches"), batches.map((batch) => batchRow(batch, names)));
    const busy = checkpoints.some((c) => c.status === "validating") || batches.some((b) => !FINISHED.has(b.status));
    timer = setTimeout(refresh, busy ? 1500 : 15000);
  } catch (error) {
    notify(error.message, "error");
    timer = setTimeout(refresh, 5000);
  }
}

function showSource() {
  const hub = $("register-source").value === "hub";
  $("hub-label").hidden = !hub;
  $("path-label").hidden = hub;
}

$("register-source").addEventListener("change", showSource);

$("register-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const button = form.querySelector("button[type=submit]");
  const value = (name) => form.elements.namedItem(name).value.trim();
  const body = { project: project.id, name: value("name"), base: value("base") };
  if (value("source") === "hub") body.hub_id = value("hub_id");
  else body.path = value("path");
  button.disabled = true;
  try {
    const checkpoint = await api("POST", "/api/checkpoints/", body);
    notify(`Checking ${checkpoint.name} on the gpu queue…`, "ok");
    refresh();
  } catch (error) {
    notify(error.message, "error");
  } finally {
    button.disabled = false;
  }
});

showSource();
refresh();
