// A project's set-up pages: new project, settings, members (frontend/projects.py). Each form goes to the API;
// a refusal ({error, fields}) shows under the field it names, with aria-invalid, and focus moves to it.
import { api } from "./api.js";
import { $, el, notify, pageData, replaceChildren } from "./dom.js";

const page = pageData();

/** Clear the form's field errors. */
function clearErrors(form) {
  for (const box of document.querySelectorAll(".field-error, .form-error")) { box.hidden = true; box.textContent = ""; }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

/** Show an API error: each field's messages under it, anything else at the top of the form. */
function showErrors(form, error) {
  const fields = error.fields || {};
  let first = null;
  for (const [name, problems] of Object.entries(fields)) {
    const box = $(`${name}-error`);
    const messages = Array.isArray(problems) ? problems.map((p) => (typeof p === "string" ? p : JSON.stringify(p)))
      : [typeof problems === "string" ? problems : JSON.stringify(problems)];
    if (!box) continue;
    replaceChildren(box, messages.map((message) => el("span", { class: "error-line" }, message)));
    box.hidden = false;
    const input = form.querySelector(`[name="${name}"]`) || form.querySelector(`[aria-describedby~="${name}-error"]`)
      || (name === "categories" ? $("categories").querySelector("input") : null);
    if (input) input.setAttribute("aria-invalid", "true");
    first = first || input;
  }
  const shown = Object.keys(fields).some((name) => $(`${name}-error`));
  if (!shown) {
    const top = $("form-error");
    top.textContent = error.message;
    top.hidden = false;
  }
  (first || $("form-error")).focus?.();
  notify(error.message, "error");
}

async function send(form, work) {
  const button = form.querySelector("button[type=submit]");
  clearErrors(form);
  button.disabled = true;
  try {
    await work();
  } catch (error) {
    showErrors(form, error);
  } finally {
    button.disabled = false;
  }
}

// --- new project ------------------------------------------------------------------------------------------
const newForm = $("project-new-form");
if (newForm) {
  newForm.addEventListener("submit", (event) => {
    event.preventDefault();
    send(newForm, async () => {
      const project = await api("POST", "/api/projects/", { name: newForm.name.value });
      window.location.assign(`/projects/${project.id}/settings/`);
    });
  });
}

// --- settings ---------------------------------------------------------------------------------------------
const NUMBERS = ["overlap", "lease_minutes", "auto_train_threshold", "gamma", "beta", "next_batch_size",
  "promotion_margin", "judge_margin"];
const CHOICES = ["record_trigger", "record_policy", "promotion_policy"];

/** The category rows: key, name, move up/down, remove; the key is the position (the annotator's 1-9). */
function categoryRow(name) {
  const row = el("li", { class: "category-row" });
  const input = el("input", { type: "text", value: name, maxlength: page.category_max_chars, "aria-describedby": "categories-error categories-help" });
  const move = (delta) => {
    const list = $("categories");
    const rows = [...list.children];
    const to = rows.indexOf(row) + delta;
    if (to < 0 || to >= rows.length) return;
    if (delta < 0) list.insertBefore(row, rows[to]);
    else list.insertBefore(row, rows[to].nextSibling);
    renumber();
    row.querySelector(delta < 0 ? ".up" : ".down")?.focus();
  };
  row.append(
    el("kbd", { class: "category-key", title: "The annotator's key" }),
    input,
    el("button", { type: "button", class: "small up", onclick: () => move(-1) }, "↑"),
    el("button", { type: "button", class: "small down", onclick: () => move(1) }, "↓"),
    el("button", { type: "button", class: "small link remove", onclick: () => {
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      renumber();
      next?.querySelector("input")?.focus();
    } }, "Remove"));
  return row;
}

function renumber() {
  const rows = [...$("categories").children];
  rows.forEach((row, i) => {
    const name = row.querySelector("input").value || "new category";
    row.querySelector(".category-key").textContent = String(i + 1);
    row.querySelector("input").setAttribute("aria-label", `Category ${i + 1} (key ${i + 1})`);
    row.querySelector(".up").setAttribute("aria-label", `Move ${name} up`);
    row.querySelector(".down").setAttribute("aria-label", `Move ${name} down`);
    row.querySelector(".remove").setAttribute("aria-label", `Remove ${name}`);
  });
  $("add-category").disabled = rows.length >= page.max_categories;
}

const settingsForm = $("settings-form");
if (settingsForm) {
  const list = $("categories");
  const names = [...list.querySelectorAll("input")].map((input) => input.value);
  replaceChildren(list, names.map(categoryRow));
  renumber();
  list.addEventListener("input", renumber);
  $("add-category").addEventListener("click", () => {
    const row = categoryRow("");
    list.append(row);
    renumber();
    row.querySelector("input").focus();
  });
  settingsForm.addEventListener("submit", (event) => {
    event.preventDefault();
    send(settingsForm, async () => {
      const form = settingsForm;
      const body = { name: form.name.value, instructions: form.instructions.value,
        categories: [...list.querySelectorAll("input")].map((input) => input.value) };
      for (const name of NUMBERS) body[name] = form[name].value === "" ? null : Number(form[name].value);
      for (const name of CHOICES) body[name] = form[name].value;
      const config = { ...page.training_config };
      const rate = form.learning_rate.value.trim();
      if (rate === "") delete config.learning_rate;
      else config.learning_rate = Number(rate);
      body.training_config = config;
      const saved = await api("PATCH", `/api/projects/${page.id}/`, body);
      page.training_config = saved.training_config;
      $("instructions-preview").innerHTML = saved.instructions_html; // rendered by the server, all markup escaped
      notify("Settings saved.", "ok");
    });
  });
}

// --- members ----------------------------------------------------------------------------------------------
function memberRow(member) {
  const select = el("select", { "aria-label": `Role of ${member.username}` },
    page.roles.map((role) => el("option", { value: role, selected: role === member.role }, role)));
  select.addEventListener("change", async () => {
    try {
      await api("PATCH", `/api/projects/${page.id}/members/${member.user}/`, { role: select.value });
      notify(`${member.username} is now ${select.value}.`, "ok");
    } catch (error) {
      select.value = member.role;
      memberError(error);
      return;
    }
    loadMembers();
  });
  const remove = el("button", { type: "button", class: "small link", "aria-label": `Remove ${member.username}`,
    onclick: async () => {
      if (!window.confirm(`Remove ${member.username} from this project? The account stays.`)) return;
      try {
        await api("DELETE", `/api/projects/${page.id}/members/${member.user}/`);
        notify(`${member.username} removed.`, "ok");
        loadMembers();
      } catch (error) {
        memberError(error);
      }
    } }, "Remove");
  return el("tr", { dataset: { user: member.user } }, el("td", {}, member.username, member.user === page.me ? " (you)" : ""),
    el("td", {}, select), el("td", {}, remove));
}

function memberError(error) {
  const box = $("members-error");
  box.textContent = error.message;
  box.hidden = false;
  notify(error.message, "error");
}

async function loadMembers() {
  $("members-error").hidden = true;
  replaceChildren($("members"), (await api("GET", `/api/projects/${page.id}/members/`)).map(memberRow));
}

const memberForm = $("member-form");
if (memberForm) {
  const create = $("create-account");
  create.addEventListener("change", () => { $("password-field").hidden = !create.checked; });
  memberForm.addEventListener("submit", (event) => {
    event.preventDefault();
    send(memberForm, async () => {
      const body = { username: memberForm.username.value.trim(), role: memberForm.role.value };
      if (create.checked) body.password = memberForm.password.value;
      const member = await api("POST", `/api/projects/${page.id}/members/`, body);
      notify(`${member.username} added as ${member.role}.`, "ok");
      memberForm.reset();
      $("password-field").hidden = true;
      await loadMembers();
      memberForm.username.focus();
    });
  });
  loadMembers().catch(memberError);
}
