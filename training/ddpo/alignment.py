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


def _checked(segments, length):
    """The segments as ``(start, end, category, replacement)`` sorted by position; ``ValueError`` names the bad one."""
    rows = []
    for number, segment in enumerate(segments):
        where = f"segment {number}"
        if not isinstance(segment, Mapping):
            raise ValueError(f"{where}: expected a mapping with start, end, category, replacement")
        missing = [key for key in ("start", "end") if key not in segment]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        start, end = segment["start"], segment["end"]
        replacement, category = segment.get("replacement", ""), segment.get("category", "")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
            raise ValueError(f"{where}: start and end must be integers, got {start!r}, {end!r}")
        if not isinstance(replacement, str) or not isinstance(category, str):
            raise ValueError(f"{where}: replacement and category must be strings")
        if end < start:
            raise ValueError(f"{where}: end {end} is before start {start}")
        if start < 0 or end > length:
            raise ValueError(f"{where}: [{start}, {end}) is out of range for a text of {length} code points")
        if start == end and not replacement:
            raise ValueError(f"{where}: [{start}, {end}) is empty and has no replacement, so it changes nothing")
        rows.append((start, end, category, replacement, number))
    rows.sort(key=lambda row: (row[0], row[1]))
    for before, after in zip(rows, rows[1:]):
        if after[0] < before[1] or (after[0] == before[0] and after[1] == before[1] == before[0]):
            raise ValueError(
                f"segment {before[4]} [{before[0]}, {before[1]}) and segment {after[4]} "
                f"[{after[0]}, {after[1]}) overlap"
            )
    return rows


def apply_segments(text: str, segments) -> tuple[str, list[dict]]:
    """Apply ``{start, end, category, replacement}`` segments to ``text``; return ``(chosen, alignment)``.

    Segments may come in any order and may touch (``[2, 5)`` then ``[5, 8)``);
    overlapping ones, two insertions at one point, out-of-range offsets and
    empty no-op segments raise ``ValueError``.
    """
    pieces, alignment = [], []
    cursor = shift = 0
    for start, end, category, replacement, _ in _checked(segments, len(text)):
        pieces.append(text[cursor:start])
        pieces.append(replacement)
        alignment.append({
            "rejected": [start, end],
            "chosen": [start + shift, start + shift + len(replacement)],
            "category": category,
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
