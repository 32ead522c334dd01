"""Exact alignments between an answer (rejected) and its correction (chosen).

Pure Python, no Django: the web side, the workers and the benchmarks share it.
Offsets are Unicode code points (Python ``str`` indices), half-open ``[s, e)``.

An alignment lists every changed segment on both sides, in text order::

    rejected  "There is a red circle."          segment [11, 14) -> "blue"
    chosen    "There is a blue circle."
    alignment [{"rejected": [11, 14], "chosen": [11, 15], "category": "attribute"}]

An insertion has an empty rejected range, a deletion an empty chosen range.
Outside the listed ranges the two texts are equal, piece by piece, so
``rejected`` and the chosen ranges rebuild ``chosen`` (and back).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

DIFF_CATEGORY = "diff"


class SegmentError(ValueError):
    """A segment that breaks a rule: ``segments[index].field`` (the segment itself when ``field`` is None), and why.

    ``path`` is the name the API reports it under; ``str()`` is ``"<path>: <message>"``.
    """

    def __init__(self, index: int, field: str | None, message: str):
        self.index, self.field, self.message = index, field, message
        super().__init__(f"{self.path}: {message}")

    @property
    def path(self) -> str:
        return f"segments[{self.index}]" + (f".{self.field}" if self.field else "")


def _offset_error(index, segment, key, length):
    if key not in segment:
        return SegmentError(index, key, "This field is required.")
    value = segment[key]
    if not isinstance(value, int) or isinstance(value, bool):
        return SegmentError(index, key, f"Must be an integer (a code-point offset), got {value!r}.")
    if not 0 <= value <= length:
        return SegmentError(index, key, f"Offset {value} is out of range: the text has {length} code points.")
    return None


def _own_errors(index, segment, length):
    """The rules one segment breaks on its own."""
    if not isinstance(segment, Mapping):
        return [SegmentError(index, None, "Expected an object with start, end, category, replacement.")]
    errors = [error for key in ("start", "end") if (error := _offset_error(index, segment, key, length))]
    offsets_valid = not errors
    errors += [SegmentError(index, key, "Must be a string.")
               for key in ("category", "replacement") if not isinstance(segment.get(key, ""), str)]
    if offsets_valid:
        start, end = segment["start"], segment["end"]
        if start > end:
            errors.append(SegmentError(index, "end", f"End {end} is before start {start}."))
        elif start == end and segment.get("replacement", "") == "":
            errors.append(SegmentError(
                index, "replacement", "An insertion (start == end) needs text to insert."
            ))
    return errors


def _by_position(segments):
    return sorted(range(len(segments)), key=lambda i: (segments[i]["start"], segments[i]["end"]))


def segment_errors(text: str, segments) -> list[SegmentError]:
    """Every rule ``segments`` break against ``text``, in input order then overlaps; empty when they apply.

    The rules: each segment a mapping with integer ``start`` and ``end`` in
    ``[0, len(text)]``, ``start <= end``, string ``category`` and
    ``replacement`` (both default to ``""``), an insertion (``start == end``)
    with a non-empty replacement; and no two overlapping in text order
    (touching is fine, two insertions at one point are not), each overlap
    reported on the later segment's ``start``, checked once every segment
    passes on its own.
    """
    errors = [error for index, segment in enumerate(segments) for error in _own_errors(index, segment, len(text))]
    if errors:
        return errors
    order = _by_position(segments)
    for before, after in zip(order, order[1:]):
        a, b = segments[before], segments[after]
        if b["start"] < a["end"] or a["start"] == a["end"] == b["start"] == b["end"]:
            errors.append(SegmentError(
                after, "start", f"[{b['start']}, {b['end']}) overlaps segments[{before}] [{a['start']}, {a['end']})."
            ))
    return errors


# A deletion must not leave a space before these (nor at either end of the text, nor two in a row). Both sets are
# spelled out, not str.isspace, so that segments.js (JavaScript's \s differs) applies exactly the same rule.
CLOSING_PUNCTUATION = ".,;:!?)]}»”’"
WHITESPACE = " \t\n\r\f\v\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def deletion_bounds(text: str, start: int, end: int, others=()) -> tuple[int, int]:
    """The range a deletion of ``text[start:end]`` removes: widened by one space where the cut would leave
    whitespace doubled, at the start or end of the text, or before closing punctuation.

    "It is a circle. It is red." with "It is red." deleted gives "It is a circle.", not "It is a circle. ";
    "a big red circle" with "red" deleted gives "a big circle". The space taken is the one after the cut
    (the one before it when the cut ends the text or meets punctuation), and never one that would make
    the deletion overlap another segment (``others``: their ``(start, end)``). The browser's preview applies
    the same rule (``deletionBounds`` in ``frontend/static/frontend/js/segments.js``).
    """
    if start > 0 and text[start - 1] not in WHITESPACE:
        return start, end
    after = text[end] if end < len(text) else None
    if after is not None and after in WHITESPACE:
        candidate = (start, end + 1)
    elif start > 0 and (after is None or after in CLOSING_PUNCTUATION):
        candidate = (start - 1, end)
    else:
        return start, end
    if any(candidate[0] < other_end and other_start < candidate[1] for other_start, other_end in others):
        return start, end
    return candidate


def apply_segments(text: str, segments) -> tuple[str, list[dict]]:
    """Apply ``{start, end, category, replacement}`` segments to ``text``; return ``(chosen, alignment)``.

    Segments may come in any order and may touch (``[2, 5)`` then ``[5, 8)``);
    the first rule of ``segment_errors`` they break (an overlap, two insertions
    at one point, an offset out of range, an empty insertion...) raises its
    ``SegmentError``, a ``ValueError``. A deletion takes one neighbouring space
    with it where it would leave a stray one (``deletion_bounds``); the
    alignment's rejected range includes that space.
    """
    if errors := segment_errors(text, segments):
        raise errors[0]
    pieces, alignment = [], []
    cursor = shift = 0
    ordered = [segments[index] for index in _by_position(segments)]
    for position, segment in enumerate(ordered):
        start, end, replacement = segment["start"], segment["end"], segment.get("replacement", "")
        if start < end and replacement == "":
            # Not into what the segments before took (``cursor``), nor into the ones after.
            later = [(other["start"], other["end"]) for other in ordered[position + 1:]]
            start, end = deletion_bounds(text, start, end, [(0, cursor)] * (cursor > 0) + later)
        pieces.append(text[cursor:start])
        pieces.append(replacement)
        alignment.append({
            "rejected": [start, end],
            "chosen": [start + shift, start + shift + len(replacement)],
            "category": segment.get("category", ""),
        })
        shift += len(replacement) - (end - start)
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces), alignment


def alignment_spans(alignment) -> tuple[list[list[int]], list[list[int]]]:
    """``(rejected_spans, chosen_spans)``: each side's non-empty changed ranges, for token weights."""
    rejected = [list(item["rejected"]) for item in alignment if item["rejected"][1] > item["rejected"][0]]
    chosen = [list(item["chosen"]) for item in alignment if item["chosen"][1] > item["chosen"][0]]
    return rejected, chosen


# Words (with their combining marks), single CJK / kana characters (scripts
# written without spaces), whitespace runs, and any other single character:
# the pieces cover the text completely, so equal runs of pieces are equal text.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_PIECE = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])\w[{_MARKS}]*)+|\s+|.", re.DOTALL)


def _char_pieces(text):
    return [(m.start(), m.end()) for m in _PIECE.finditer(text)]


def _token_pieces(text, tokenizer):
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return encoded["input_ids"], [tuple(offset) for offset in encoded["offset_mapping"]]


def _bound(offsets, index, text_length):
    """Character position of piece ``index`` (its start; the text's end past the last piece)."""
    return offsets[index][0] if index < len(offsets) else text_length


def alignment_from_diff(rejected: str, chosen: str, *, mode: str = "char", tokenizer=None, min_match: int = 3) -> list[dict]:
    """Recover an alignment (category ``"diff"``) from two texts, for records that carry no segments.

    ``mode="char"`` (the default) diffs the texts cut into words, single CJK
    characters, whitespace runs and single other characters with difflib
    (no autojunk); every unequal run becomes one aligned pair of exact
    code-point ranges, insertions and deletions included, and the alignment
    rebuilds ``chosen`` from ``rejected`` exactly.

    ``mode="token"`` reproduces RLHF-V's recovery for comparison: difflib on
    the token ids of ``tokenizer`` (a fast tokenizer, for its offsets),
    matching blocks shorter than ``min_match`` tokens dropped, and only gaps
    with tokens on both sides kept, so pure insertions and deletions are not
    up-weighted. Its ranges are token-aligned and it does not rebuild the text.
    """
    if mode == "char":
        r_offsets, c_offsets = _char_pieces(rejected), _char_pieces(chosen)
        r_keys = [rejected[s:e] for s, e in r_offsets]
        c_keys = [chosen[s:e] for s, e in c_offsets]
        min_match, keep_one_sided = 1, True
    elif mode == "token":
        if tokenizer is None:
            raise ValueError("mode='token' needs a fast tokenizer")
        r_keys, r_offsets = _token_pieces(rejected, tokenizer)
        c_keys, c_offsets = _token_pieces(chosen, tokenizer)
        keep_one_sided = False
    else:
        raise ValueError(f"mode must be 'char' or 'token', got {mode!r}")
    matcher = difflib.SequenceMatcher(None, r_keys, c_keys, autojunk=False)
    blocks = [b for b in matcher.get_matching_blocks() if b.size >= min_match or b.size == 0]
    alignment, i, j = [], 0, 0
    for block in blocks:
        if (block.a > i and block.b > j) or (keep_one_sided and (block.a > i or block.b > j)):
            alignment.append({
                "rejected": [_bound(r_offsets, i, len(rejected)), _bound(r_offsets, block.a, len(rejected))],
                "chosen": [_bound(c_offsets, j, len(chosen)), _bound(c_offsets, block.b, len(chosen))],
                "category": DIFF_CATEGORY,
            })
        i, j = block.a + block.size, block.b + block.size
    return alignment
