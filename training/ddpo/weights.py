"""Per-token weights of Dense DPO: gamma on changed tokens, 1.0 elsewhere.

A side's changed spans are half-open `[s, e)` code-point ranges of that
side's text (the annotator's segments, see `annotate.services.apply_segments`).
A token is "changed" when its character range overlaps a changed span:

    text     "There is a red circle."      rejected span [11, 14) = "red"
    tokens   There| is| a| red| circle|.
    offsets  (0,5) (5,8) (8,10) (10,14) (14,21) (21,22)
    weights   1     1     1     gamma   1       1

An empty span (`s == e`, what an insertion leaves on the rejected side and a
deletion on the chosen side) overlaps no token, so each side is weighted by
its own spans only. Tokens with empty offsets (special tokens) are never
changed. Records without spans (imported data) go through `diff_spans`.
"""

from __future__ import annotations

import difflib
import re


def token_weights(offsets, spans, gamma: float) -> list[float]:
    """`gamma` for each token whose `(start, end)` offset overlaps a span, else `1.0`."""
    spans = sorted((int(s), int(e)) for s, e in spans if e > s)
    weights = []
    for start, end in offsets:
        changed = start < end and any(s < end and start < e for s, e in spans)
        weights.append(float(gamma) if changed else 1.0)
    return weights


_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def diff_spans(rejected: str, chosen: str) -> tuple[list[list[int]], list[list[int]]]:
    """Recover changed spans from two texts by a word-level diff (imported records).

    Returns `(rejected_spans, chosen_spans)` in code points. Words are `\\w+`
    runs and single punctuation marks; every non-equal difflib opcode becomes a
    span on each side that has text (a pure insertion marks chosen only, a
    deletion rejected only). RLHF-V instead diffs token ids and drops matches
    shorter than 3 tokens; this keeps every match, so the spans stay tight.
    """
    rw = [(m.start(), m.end()) for m in _WORD.finditer(rejected)]
    cw = [(m.start(), m.end()) for m in _WORD.finditer(chosen)]
    matcher = difflib.SequenceMatcher(
        None, [rejected[s:e] for s, e in rw], [chosen[s:e] for s, e in cw], autojunk=False)
    rejected_spans, chosen_spans = [], []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        if i2 > i1:
            rejected_spans.append([rw[i1][0], rw[i2 - 1][1]])
        if j2 > j1:
            chosen_spans.append([cw[j1][0], cw[j2 - 1][1]])
    return rejected_spans, chosen_spans
