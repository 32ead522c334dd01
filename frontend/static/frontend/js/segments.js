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

/** Pieces of the corrected answer, in order: {kind: "same"|"del"|"ins", text, segment}. */
export function diffPieces(cps, segments) {
  return cutAtSegments(cps, segments).flatMap(({ segment, text }) => {
    if (!segment) return [{ kind: "same", text }];
    const pieces = text ? [{ kind: "del", text, segment }] : [];
    if (segment.replacement) pieces.push({ kind: "ins", text: segment.replacement, segment });
    return pieces;
  });
}
