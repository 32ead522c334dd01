// Segments of an answer: {start, end, category, replacement}, offsets in code points, half-open.
// The rules mirror training.ddpo.alignment.segment_errors, the server's check of every write (a 400
// naming segments[i].field), with its messages: the editor applies them as the annotator works, so
// the server has nothing to refuse. Change the two together; tests/browser/test_annotator.py
// compares them. Types are not checked: the editor builds the segments itself.

/** Segments in text order (by start, then end), as the server sorts them; a new array. */
export function sortSegments(segments) {
  return [...segments].sort((a, b) => a.start - b.start || a.end - b.end);
}

/** The first rule `segment` breaks on its own in a text of `length` code points, as {field, message}, or null. */
export function segmentProblem(segment, length) {
  for (const field of ["start", "end"]) {
    const value = segment[field];
    if (!(value >= 0 && value <= length)) {
      return { field, message: `Offset ${value} is out of range: the text has ${length} code points.` };
    }
  }
  if (segment.start > segment.end) return { field: "end", message: `End ${segment.end} is before start ${segment.start}.` };
  if (segment.start === segment.end && !segment.replacement) {
    return { field: "replacement", message: "An insertion (start == end) needs text to insert." };
  }
  return null;
}

/**
 * The segment of `segments` (other than `ignore`) that `candidate` overlaps, or null: ranges that share a
 * code point, an insertion strictly inside a range, or two insertions at one point. Touching is fine.
 */
export function findOverlap(segments, candidate, ignore = null) {
  for (const other of segments) {
    if (other === ignore) continue;
    const insertions = candidate.start === candidate.end && other.start === other.end;
    if (insertions ? candidate.start === other.start : candidate.start < other.end && other.start < candidate.end) {
      return other;
    }
  }
  return null;
}

/**
 * The answer cut at the segments, in text order: {text} between segments and {segment, text} for each
 * segment, `text` being its original (empty for an insertion). `cps` is the answer as Array.from(text).
 */
export function cutAtSegments(cps, segments) {
  const pieces = [];
  let cursor = 0;
  for (const segment of sortSegments(segments)) {
    if (segment.start > cursor) pieces.push({ text: cps.slice(cursor, segment.start).join("") });
    pieces.push({ segment, text: cps.slice(segment.start, segment.end).join("") });
    cursor = Math.max(cursor, segment.end);
  }
  if (cursor < cps.length) pieces.push({ text: cps.slice(cursor).join("") });
  return pieces;
}

// training.ddpo.alignment's CLOSING_PUNCTUATION and WHITESPACE.
const CLOSING_PUNCTUATION = ".,;:!?)]}»”’";
const WHITESPACE = " \t\n\r\f\v\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";

/**
 * The range [start, end) a deletion removes: widened by one space where the cut would leave whitespace
 * doubled, at either end of the text, or before closing punctuation, unless that overlaps a range of
 * `others`. training.ddpo.alignment.deletion_bounds, which builds the records, applies the same rule.
 */
export function deletionBounds(cps, start, end, others) {
  if (start > 0 && !WHITESPACE.includes(cps[start - 1])) return [start, end];
  const after = end < cps.length ? cps[end] : null;
  let candidate;
  if (after !== null && WHITESPACE.includes(after)) candidate = [start, end + 1];
  else if (start > 0 && (after === null || CLOSING_PUNCTUATION.includes(after))) candidate = [start - 1, end];
  else return [start, end];
  const overlaps = others.some(([otherStart, otherEnd]) => candidate[0] < otherEnd && otherStart < candidate[1]);
  return overlaps ? [start, end] : candidate;
}

/** The segments in text order, each deletion with the range it removes (deletionBounds); new objects. */
export function effectiveSegments(cps, segments) {
  const ordered = sortSegments(segments);
  let cursor = 0;
  return ordered.map((segment, position) => {
    let { start, end } = segment;
    if (start < end && !segment.replacement) {
      const later = ordered.slice(position + 1).map((other) => [other.start, other.end]);
      [start, end] = deletionBounds(cps, start, end, (cursor > 0 ? [[0, cursor]] : []).concat(later));
    }
    cursor = end;
    return { ...segment, start, end, source: segment };
  });
}

/** The corrected answer as plain text: what the record's chosen side will be. */
export function correctedText(cps, segments) {
  return diffPieces(cps, segments).filter((piece) => piece.kind !== "del").map((piece) => piece.text).join("");
}

/** Pieces of the corrected answer, in order: {kind: "same"|"del"|"ins", text, segment (as the editor holds it)}. */
export function diffPieces(cps, segments) {
  return cutAtSegments(cps, effectiveSegments(cps, segments)).flatMap(({ segment: effective, text }) => {
    if (!effective) return [{ kind: "same", text }];
    const segment = effective.source;
    const pieces = text ? [{ kind: "del", text, segment }] : [];
    if (segment.replacement) pieces.push({ kind: "ins", text: segment.replacement, segment });
    return pieces;
  });
}
