// The span editor: the answer as selectable text, an inline rewrite box, the
// segment list and the live preview. Shared by the annotator screen and the
// reviewer's edit-then-accept.
import { el, notify, replaceChildren } from "./dom.js";
import { correctedText, cutAtSegments, diffPieces, findOverlap, segmentProblem, sortSegments } from "./segments.js";
import { codePointToUtf16, graphemeBoundaries, selectionIn } from "./text.js";

const HISTORY_LIMIT = 200;

export function categoryClass(categories, name) {
  const index = categories.indexOf(name);
  return index < 0 ? "cat-x" : `cat-${index % 9}`;
}

/** The corrected answer with deletions struck through and insertions marked. */
export function renderDiff(container, text, segments, categories) {
  replaceChildren(container, diffPieces(Array.from(text), segments).map((piece) => (piece.kind === "same"
    ? piece.text
    : el(piece.kind, { class: categoryClass(categories, piece.segment.category), title: piece.segment.category }, piece.text))));
}

/** One segment as "original → rewrite" nodes, for lists. */
export function segmentChange(text, segment) {
  const original = Array.from(text).slice(segment.start, segment.end).join("");
  if (segment.start === segment.end) return [el("span", { class: "kind" }, "insert"), el("ins", {}, segment.replacement)];
  if (!segment.replacement) return [el("span", { class: "kind" }, "delete"), el("del", {}, original)];
  return [el("del", {}, original), el("span", { class: "arrow", "aria-hidden": "true" }, "→"), el("ins", {}, segment.replacement)];
}

export class SegmentEditor {
  /**
   * answer: an element inside a position:relative wrapper; list, preview: elements to fill.
   * onChange(segments) after every edit; onSubmit() when Ctrl+Enter is pressed in the rewrite box.
   */
  constructor({ answer, list, preview, categories, onChange = () => {}, onSubmit = () => {} }) {
    Object.assign(this, { answer, list, preview, categories, onChange, onSubmit });
    this.text = "";
    this.segments = [];
    this.past = [];
    this.future = [];
    this.draft = null; // the segment in the rewrite box: {segment, target (existing object or null)}
    this.previewMode = "changes"; // or "clean": the corrected answer as plain text
    this.mouseDown = false;
    answer.setAttribute("contenteditable", "true");
    answer.setAttribute("spellcheck", "false");
    answer.setAttribute("role", "textbox");
    answer.setAttribute("aria-readonly", "true");
    answer.setAttribute("aria-multiline", "true");
    answer.setAttribute("dir", "auto");
    this.buildBox();
    this.buildToolbar();
    answer.parentElement.append(this.box, this.toolbar);
    // The text is read-only; contenteditable only gives a caret and keyboard selection.
    for (const type of ["beforeinput", "paste", "drop", "dragstart", "cut"]) {
      answer.addEventListener(type, (event) => event.preventDefault());
    }
    // An IME composition cannot be cancelled: put the text back if one slipped through.
    answer.addEventListener("input", () => this.renderAnswer());
    answer.addEventListener("keydown", (event) => this.onAnswerKey(event));
    answer.addEventListener("mousedown", () => { this.mouseDown = true; this.toolbar.hidden = true; });
    document.addEventListener("mouseup", (event) => this.onMouseUp(event));
    document.addEventListener("selectionchange", () => { if (!this.mouseDown) this.updateToolbar(); });
  }

  load(text, segments = []) {
    this.text = text;
    this.cps = Array.from(text);
    this.bounds = graphemeBoundaries(text);
    this.segments = segments.map(({ start, end, category, replacement }) => ({ start, end, category, replacement }));
    this.past = [];
    this.future = [];
    this.closeBox();
  }

  /** The segments for the API, in text order. */
  value() {
    return sortSegments(this.segments).map(({ start, end, category, replacement }) => ({ start, end, category, replacement }));
  }

  original(segment) {
    return this.cps.slice(segment.start, segment.end).join("");
  }

  // --- history ---------------------------------------------------------------------------------
  mutate(change) {
    this.past.push(structuredClone(this.segments));
    if (this.past.length > HISTORY_LIMIT) this.past.shift();
    this.future = [];
    change();
    this.changed();
  }

  undo() { this.travel(this.past, this.future, "Nothing to undo"); }

  redo() { this.travel(this.future, this.past, "Nothing to redo"); }

  travel(from, to, emptyMessage) {
    if (!from.length) { notify(emptyMessage); return; }
    to.push(structuredClone(this.segments));
    this.segments = from.pop();
    this.draft = null;
    this.hideBox();
    this.changed();
  }

  changed() {
    this.render();
    this.onChange(this.value());
  }

  // --- rendering -------------------------------------------------------------------------------
  render() {
    this.renderAnswer();
    this.renderList();
    this.renderPreview();
  }

  /** The corrected answer, with the rewrite being typed in it (live, keystroke by keystroke). */
  renderPreview() {
    const segments = this.previewSegments();
    if (this.previewMode === "clean") replaceChildren(this.preview, correctedText(this.cps, segments));
    else renderDiff(this.preview, this.text, segments, this.categories);
  }

  setPreviewMode(mode) {
    this.previewMode = mode;
    this.renderPreview();
  }

  /** The segments with the open box's rewrite in place, while it is one that could be saved. */
  previewSegments() {
    if (!this.draft) return this.segments;
    const { target } = this.draft;
    const live = { ...this.draft.segment, category: this.boxCategory.value, replacement: this.boxInput.value };
    const unchanged = live.start !== live.end && live.replacement === this.original(live);
    if (unchanged || segmentProblem(live, this.cps.length)) return this.segments;
    return target ? this.segments.map((s) => (s === target ? live : s)) : [...this.segments, live];
  }

  renderAnswer() {
    const shown = [...this.segments];
    if (this.draft && !this.draft.target) shown.push(this.draft.segment);
    replaceChildren(this.answer, cutAtSegments(this.cps, shown).map(({ segment, text }) => {
      if (!segment) return text;
      const pending = this.draft && (segment === this.draft.segment || segment === this.draft.target);
      const props = {
        class: `seg ${categoryClass(this.categories, segment.category)}${pending ? " pending" : ""}`,
        dataset: { index: this.segments.indexOf(segment) },
        title: `${segment.category}: ${segment.start === segment.end ? "insert" : "→"} “${segment.replacement}”`,
      };
      return segment.start === segment.end
        ? el("span", { ...props, class: `${props.class} ins-mark`, contenteditable: "false" })
        : el("mark", props, text);
    }));
  }

  renderList() {
    if (!this.segments.length) {
      replaceChildren(this.list, el("li", { class: "empty" }, "No segments yet. Select wrong words, press 1–",
        String(this.categories.length), ", type the correction."));
      return;
    }
    replaceChildren(this.list, sortSegments(this.segments).map((segment) => {
      const select = el("select", {
        "aria-label": "Category",
        onchange: () => this.mutate(() => { segment.category = select.value; }),
      }, this.categories.map((name, i) => el("option", { value: name, selected: name === segment.category }, `${i + 1} ${name}`)));
      return el("li", { class: `seg-item ${categoryClass(this.categories, segment.category)}`, dataset: { index: this.segments.indexOf(segment) } },
        el("div", { class: "seg-head" }, select,
          el("button", { type: "button", class: "link", onclick: () => this.openBox(segment, segment) }, "Edit"),
          el("button", { type: "button", class: "link danger", onclick: () => this.remove(segment) }, "Delete")),
        el("div", { class: "seg-change" }, segmentChange(this.text, segment)));
    }));
  }

  remove(segment) {
    this.mutate(() => { this.segments = this.segments.filter((s) => s !== segment); });
    this.closeBox();
  }

  // --- selection ---------------------------------------------------------------------------------
  /** The current selection in the answer as code-point offsets {start, end}, or null. */
  selectionOffsets() {
    return selectionIn(this.answer, this.text, this.bounds);
  }

  /** Put the caret at code point `cp` of the answer. */
  placeCaret(cp) {
    let remaining = codePointToUtf16(this.text, cp);
    const walker = document.createTreeWalker(this.answer, NodeFilter.SHOW_TEXT);
    let node = walker.nextNode();
    let last = null;
    while (node) {
      if (remaining <= node.length) break;
      remaining -= node.length;
      last = node;
      node = walker.nextNode();
    }
    const range = document.createRange();
    if (node) range.setStart(node, remaining);
    else if (last) range.setStart(last, last.length);
    else range.setStart(this.answer, 0);
    range.collapse(true);
    this.answer.focus({ preventScroll: true });
    const selection = document.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  startSegment(categoryIndex) {
    const at = this.selectionOffsets();
    if (!at) {
      notify("Select the wrong words first, or put the caret where text is missing.", "error");
      return;
    }
    const segment = { ...at, category: this.categories[categoryIndex], replacement: "" };
    const clash = findOverlap(this.segments, segment);
    if (clash) {
      const where = clash.start === clash.end ? "an insertion" : `“${this.original(clash)}”`;
      notify(`Overlapping selection refused: it overlaps the segment ${where}. Edit or delete that one instead.`, "error");
      return;
    }
    this.openBox(segment, null);
  }

  onAnswerKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const number = Number(event.key);
    if (Number.isInteger(number) && number >= 1 && number <= this.categories.length) {
      event.preventDefault();
      this.startSegment(number - 1);
    } else if (event.key === "Enter") {
      event.preventDefault();
      const at = this.selectionOffsets();
      const hit = at && this.segments.find((s) => s.start <= at.start && at.end <= s.end);
      if (hit) this.openBox(hit, hit);
    }
  }

  onMouseUp(event) {
    if (!this.mouseDown) return;
    this.mouseDown = false;
    const selection = document.getSelection();
    const mark = event.target instanceof Element && event.target.closest(".seg[data-index]");
    if (mark && this.answer.contains(mark) && selection.isCollapsed) {
      const segment = this.segments[Number(mark.dataset.index)];
      if (segment) this.openBox(segment, segment);
      return;
    }
    this.updateToolbar();
  }

  // --- the category toolbar (mouse users) ------------------------------------------------------
  buildToolbar() {
    this.toolbar = el("div", { class: "cat-toolbar", hidden: true, role: "toolbar", "aria-label": "Category" },
      this.categoryButtons());
  }

  /** One button per category that marks the current selection with it (the floating toolbar, the legend). */
  categoryButtons() {
    return this.categories.map((name, i) => el("button", {
      type: "button",
      class: `chip ${categoryClass(this.categories, name)}`,
      title: `Mark the selection as ${name} (${i + 1})`,
      onmousedown: (event) => event.preventDefault(), // keep the text selection
      onclick: () => this.startSegment(i),
    }, el("kbd", {}, String(i + 1)), name));
  }

  updateToolbar() {
    const selection = document.getSelection();
    const at = selection && !selection.isCollapsed ? this.selectionOffsets() : null;
    if (!at || at.start === at.end || this.draft) { this.toolbar.hidden = true; return; }
    const rects = selection.getRangeAt(0).getClientRects();
    if (!rects.length) return;
    this.toolbar.hidden = false;
    this.position(this.toolbar, rects[rects.length - 1]);
  }

  /** Place a floating element under `rect`, inside the answer's wrapper. */
  position(floating, rect) {
    const frame = this.answer.parentElement.getBoundingClientRect();
    const width = floating.offsetWidth || 280;
    floating.style.top = `${rect.bottom - frame.top + 6}px`;
    floating.style.left = `${Math.max(0, Math.min(rect.left - frame.left, frame.width - width))}px`;
  }

  // --- the inline rewrite box ------------------------------------------------------------------
  buildBox() {
    this.boxCategory = el("select", { "aria-label": "Category", onchange: () => this.renderPreview() },
      this.categories.map((name, i) => el("option", { value: name }, `${i + 1} ${name}`)));
    this.boxOriginal = el("span", { class: "original" });
    this.boxInput = el("input", {
      type: "text", class: "rewrite", "aria-label": "Rewrite", autocomplete: "off", spellcheck: "true",
      onkeydown: (event) => this.onBoxKey(event),
      oninput: () => this.renderPreview(),
    });
    this.boxDelete = el("button", { type: "button", class: "danger", onclick: () => this.draft?.target && this.remove(this.draft.target) }, "Delete");
    this.box = el("div", { class: "rewrite-box", hidden: true, role: "dialog", "aria-label": "Rewrite" },
      el("div", { class: "box-head" }, this.boxCategory, this.boxOriginal),
      this.boxInput,
      el("div", { class: "box-foot" },
        el("span", { class: "hint" }, el("kbd", {}, "Enter"), " save · ", el("kbd", {}, "Esc"), " cancel · ", el("kbd", {}, "Backspace"), " on the original deletes it"),
        this.boxDelete,
        el("button", { type: "button", onclick: () => this.cancelBox() }, "Cancel"),
        el("button", { type: "button", class: "primary", onclick: () => this.commitBox() }, "Save")));
  }

  /** Open the box for `segment`; `target` is the existing segment being edited, or null for a new one. */
  openBox(segment, target) {
    if (this.draft && this.boxChanged()) {
      notify("Save (Enter) or cancel (Esc) the rewrite you are typing first.", "error");
      this.boxInput.focus();
      return;
    }
    this.draft = { segment: target ? { ...segment } : segment, target };
    this.toolbar.hidden = true;
    this.renderAnswer();
    this.boxCategory.value = segment.category;
    const insertion = segment.start === segment.end;
    replaceChildren(this.boxOriginal, insertion ? "Insert at the caret" : ["Original: ", el("q", {}, this.original(segment))]);
    this.boxInput.value = target ? segment.replacement : this.original(segment);
    this.boxInput.placeholder = insertion ? "Text to insert" : "Correction (empty deletes)";
    this.boxDelete.hidden = !target;
    this.box.hidden = false;
    const anchor = this.answer.querySelector(".seg.pending");
    const rects = anchor ? anchor.getClientRects() : [];
    if (rects.length) this.position(this.box, rects[rects.length - 1]);
    // Room under the answer for the box, so it covers neither the preview nor Submit (a click there must work).
    const frame = this.answer.parentElement;
    const below = this.box.offsetTop + this.box.offsetHeight - frame.clientHeight;
    frame.style.marginBottom = below > 0 ? `${below + 8}px` : "";
    this.draft.opened = { category: this.boxCategory.value, replacement: this.boxInput.value };
    this.boxInput.focus();
    this.boxInput.select();
  }

  /** Whether the box of a new (not insertion) segment still holds the untouched original, all of it selected. */
  boxHoldsWholeOriginal() {
    const { segment, target } = this.draft;
    const input = this.boxInput;
    return !target && segment.start !== segment.end && input.value === this.original(segment)
      && input.selectionStart === 0 && input.selectionEnd === input.value.length;
  }

  /** Whether the open box holds a category or text the annotator changed. */
  boxChanged() {
    const { opened } = this.draft;
    return this.boxCategory.value !== opened.category || this.boxInput.value !== opened.replacement;
  }

  /** Close an untouched box, save a changed one; false (with a message) when the change is not valid. */
  settleBox() {
    if (!this.draft) return true;
    if (this.boxChanged()) return this.commitBox();
    this.closeBox();
    return true;
  }

  onBoxKey(event) {
    const number = Number(event.key);
    if (event.key === "Enter") {
      event.preventDefault();
      event.stopPropagation();
      if (this.commitBox() && (event.ctrlKey || event.metaKey)) this.onSubmit();
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      this.cancelBox();
    } else if ((event.key === "Backspace" || event.key === "Delete") && this.boxHoldsWholeOriginal()) {
      // One key deletes the selected text: the box opens holding the original, all of it selected.
      event.preventDefault();
      event.stopPropagation();
      this.boxInput.value = "";
      this.commitBox();
    } else if (event.altKey && Number.isInteger(number) && number >= 1 && number <= this.categories.length) {
      event.preventDefault();
      this.boxCategory.value = this.categories[number - 1];
    }
  }

  /** Save the box into the segments; false (with a message) when there is nothing valid to save. */
  commitBox() {
    if (!this.draft) return true;
    const { target } = this.draft;
    const segment = { ...this.draft.segment, category: this.boxCategory.value, replacement: this.boxInput.value };
    const problem = segmentProblem(segment, this.cps.length);
    if (problem) {
      notify(`${problem.message} Esc cancels.`, "error");
      return false;
    }
    // Not a rule of the data (the server takes it): the box opens holding the original, so Enter
    // before typing would mark a span that changes nothing.
    if (segment.start !== segment.end && segment.replacement === this.original(segment)) {
      notify("The rewrite equals the original: type the correction, or clear it to delete.", "error");
      return false;
    }
    this.draft = null;
    this.hideBox();
    this.mutate(() => {
      if (target) Object.assign(target, segment);
      else this.segments.push(segment);
    });
    this.placeCaret(segment.end);
    return true;
  }

  hideBox() {
    this.box.hidden = true;
    this.answer.parentElement.style.marginBottom = "";
  }

  cancelBox() {
    const at = this.draft?.segment;
    this.closeBox();
    if (at) this.placeCaret(at.end);
  }

  closeBox() {
    this.draft = null;
    this.hideBox();
    this.toolbar.hidden = true;
    this.render();
  }

  /** True while the rewrite box is open (the page should not take keys meant for it). */
  get editing() {
    return Boolean(this.draft);
  }
}
