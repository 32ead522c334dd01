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
changed. Records without spans (imported data) get them from
`alignment.alignment_from_diff`.
"""

from __future__ import annotations


def token_weights(offsets, spans, gamma: float) -> list[float]:
    """`gamma` for each token whose `(start, end)` offset overlaps a span, else `1.0`."""
    spans = sorted((int(s), int(e)) for s, e in spans if e > s)
    weights = []
    for start, end in offsets:
        changed = start < end and any(s < end and start < e for s, e in spans)
        weights.append(float(gamma) if changed else 1.0)
    return weights
