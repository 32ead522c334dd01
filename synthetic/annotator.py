"""The simulated annotator's judgement: which spans of an answer are false, and their fix.

Segments follow the platform contract: ``{start, end, category, replacement}``
in code points of the answer, half-open, an empty replacement deletes and
``start == end`` inserts. Invented objects and unparseable sentences are
deleted whole; wrong colours, sizes, positions and counts are rewritten in
place. An empty answer, or one with nothing true left, is replaced by the
reference answer. ``[]`` means "no hallucination".
"""

import random

from synthetic.describe import DESCRIBE, reference_answer
from synthetic.judge import judge, sentences
from synthetic.scenes import Scene

SEGMENT_CATEGORIES = ("object", "position", "number", "attribute", "action", "other")


def correction_segments(scene: Scene, answer: str, question: str = DESCRIBE) -> list[dict]:
    """The exact corrections: applied, they leave nothing the judge finds false."""
    judgement = judge(scene, answer)
    spans = sentences(answer)
    doomed = {spans.index(m.sentence): "object" for m in judgement.false_mentions if m.category == "object"}
    doomed |= {spans.index(span): "other" for span in judgement.unparsed}
    if len(doomed) == len(spans):  # empty, or nothing worth keeping
        category = "object" if "object" in doomed.values() else "other"
        return [_segment(0, len(answer), category, reference_answer(scene, question))]
    segments = _sentence_deletions(answer, spans, doomed)
    segments += [
        _segment(*m.span, m.category, m.truth)
        for m in judgement.false_mentions
        if spans.index(m.sentence) not in doomed
    ]
    return sorted(segments, key=lambda s: s["start"])


def _sentence_deletions(answer: str, spans: list[tuple[int, int]], doomed: dict[int, str]) -> list[dict]:
    """Delete each doomed sentence with the blank after it; the sentences after
    the last kept one go with the blank before them, so no space dangles."""
    last_kept = max(index for index in range(len(spans)) if index not in doomed)
    deletions = []
    for index, category in sorted(doomed.items()):
        start = spans[last_kept][1] if index == last_kept + 1 else spans[index][0]
        end = spans[index + 1][0] if index + 1 < len(spans) else len(answer)
        deletions.append(_segment(start, end, category, ""))
    return deletions


def _segment(start: int, end: int, category: str, replacement: str) -> dict:
    return {"start": start, "end": end, "category": category, "replacement": replacement}


class SimulatedAnnotator:
    """Corrections with human-like mistakes: with probability ``error_rate`` a
    segment is either missed or given a wrong category (equally likely)."""

    def __init__(self, *, error_rate: float = 0.0, seed: int = 0):
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError("error_rate must lie in [0, 1]")
        self.error_rate = error_rate
        self._rng = random.Random(seed)

    def annotate(self, scene: Scene, answer: str, question: str = DESCRIBE) -> list[dict]:
        marked = []
        for segment in correction_segments(scene, answer, question):
            roll = self._rng.random()
            if roll < self.error_rate / 2:
                continue  # missed
            if roll < self.error_rate:
                wrong = [c for c in SEGMENT_CATEGORIES if c != segment["category"]]
                segment = {**segment, "category": self._rng.choice(wrong)}
            marked.append(segment)
        return marked
