// Text offsets. The API counts Unicode code points (Python str indices);
// the DOM counts UTF-16 code units. Everything here converts between the two
// exactly, and keeps selections on grapheme boundaries (an emoji ZWJ
// sequence, a flag or a letter with its combining marks is never split).

/** Code points of `text` before UTF-16 offset `u16` (a lone high surrogate half counts as a whole). */
export function utf16ToCodePoint(text, u16) {
  let cp = 0;
  for (let i = 0; i < u16 && i < text.length; cp += 1) {
    i += text.codePointAt(i) > 0xffff ? 2 : 1;
  }
  return cp;
}

/** UTF-16 offset of code point index `cp` in `text`. */
export function codePointToUtf16(text, cp) {
  let i = 0;
  for (let n = 0; n < cp && i < text.length; n += 1) {
    i += text.codePointAt(i) > 0xffff ? 2 : 1;
  }
  return i;
}

const segmenter = typeof Intl !== "undefined" && Intl.Segmenter ? new Intl.Segmenter(undefined, { granularity: "grapheme" }) : null;

/** UTF-16 offsets where grapheme clusters of `text` begin, plus `text.length`. */
export function graphemeBoundaries(text) {
  const bounds = [];
  if (segmenter) {
    for (const { index } of segmenter.segment(text)) bounds.push(index);
  } else {
    for (let i = 0; i < text.length; i += text.codePointAt(i) > 0xffff ? 2 : 1) bounds.push(i);
  }
  bounds.push(text.length);
  return bounds;
}

/** Widen the UTF-16 range [start, end) to whole grapheme clusters. A collapsed range stays collapsed. */
export function snapToGraphemes(bounds, start, end) {
  const down = (x) => bounds.reduce((best, b) => (b <= x ? b : best), 0);
  const up = (x) => bounds.find((b) => b >= x) ?? bounds[bounds.length - 1];
  if (start === end) {
    const at = down(start);
    return [at, at];
  }
  return [down(start), up(end)];
}

/** UTF-16 offset in `element`'s text of a DOM position inside it. */
function utf16At(element, node, offset) {
  const range = document.createRange();
  range.setStart(element, 0);
  range.setEnd(node, offset);
  return range.toString().length;
}

/**
 * The document's selection within `element` (whose text content is `text`, `bounds` its graphemeBoundaries) as
 * code-point offsets {start, end} widened to whole graphemes, or null when it does not touch the element. A drag
 * that overshoots the element is clipped to it.
 */
export function selectionIn(element, text, bounds) {
  const selection = document.getSelection();
  if (!selection || !selection.rangeCount) return null;
  const range = selection.getRangeAt(0);
  if (!range.intersectsNode(element)) return null;
  const whole = document.createRange();
  whole.selectNodeContents(element);
  const from = range.compareBoundaryPoints(Range.START_TO_START, whole) <= 0 ? 0 : utf16At(element, range.startContainer, range.startOffset);
  const to = range.compareBoundaryPoints(Range.END_TO_END, whole) >= 0 ? text.length : utf16At(element, range.endContainer, range.endOffset);
  if (from === 0 && to === text.length && !element.contains(range.startContainer) && !element.contains(range.endContainer)) return null;
  const [start, end] = snapToGraphemes(bounds, from, to);
  return { start: utf16ToCodePoint(text, start), end: utf16ToCodePoint(text, end) };
}
