"""The simulated annotator's judgement: which spans of an answer are false, and their fix.

Segments follow the platform contract: ``{start, end, category, replacement}``
in code points of the answer, half-open, an empty replacement deletes and
``start == end`` inserts. Invented objects and unparseable sentences are
deleted whole; wrong colours, sizes, shapes and counts are rewritten in
place. An empty answer, or one with nothing true left, is replaced by the
reference answer. ``[]`` means "no hallucination".

Like a careful person, the annotator reads "at the top left there is a ..."
as a claim about the top-left cell: a wrong shape or colour there is
rewritten, not moved to where such an object is (that would reorder the
description and teach the model to misplace objects). A claim about an empty
(or already described) cell moves to an undescribed object of its shape, or
is deleted. Only the answer to "Where is the ...?" has its position fixed,
as the judge scores it.
"""

import random

from synthetic.describe import DESCRIBE, questions, reference_answer
from synthetic.judge import judge, object_claim, sentences
from synthetic.scenes import Scene

SEGMENT_CATEGORIES = ("object", "position", "number", "attribute", "action", "other")


def correction_segments(scene: Scene, answer: str, question: str = DESCRIBE) -> list[dict]:
    """The exact corrections: applied, they leave nothing the judge finds false."""
    judgement = judge(scene, answer)
    spans = sentences(answer)
    doomed = {spans.index(span): "other" for span in judgement.unparsed}
    if _asks_position(scene, question):
        doomed |= {spans.index(m.sentence): "object" for m in judgement.false_mentions if m.category == "object"}
        fixes = [_segment(*m.span, m.category, m.truth) for m in judgement.false_mentions
                 if m.category != "object"]
    else:
        fixes = _cell_fixes(scene, answer, spans, doomed)
        fixes += [_segment(*m.span, m.category, m.truth) for m in judgement.false_mentions
                  if m.category == "number"]
    if len(doomed) == len(spans):  # empty, or nothing worth keeping
        category = "object" if "object" in doomed.values() else "other"
        return [_segment(0, len(answer), category, reference_answer(scene, question))]
    kept = [fix for fix in fixes if _sentence_of(spans, fix["start"]) not in doomed]
    return sorted(_sentence_deletions(answer, spans, doomed) + kept, key=lambda s: s["start"])


def _asks_position(scene: Scene, question: str) -> bool:
    return any(q.kind == "position" and q.text == question for q in questions(scene))


def _sentence_of(spans: list[tuple[int, int]], offset: int) -> int:
    return next(index for index, (start, end) in enumerate(spans) if start <= offset < end)


def _cell_fixes(scene: Scene, answer: str, spans, doomed: dict[int, str]) -> list[dict]:
    """Rewrites of object claims read cell first; claims with nothing true to
    describe are added to ``doomed``."""
    claims = {index: claim for index, (start, end) in enumerate(spans)
              if index not in doomed and (claim := object_claim(answer[start:end]))}
    described, bound, strays = set(), {}, []        # bound: sentence index -> (claim, object it describes)
    for index, claim in claims.items():
        cell = (claim.group("row").lower(), claim.group("column").lower()) if claim.group("row") else None
        if cell and scene.object_at(*cell) and cell not in described:
            described.add(cell)
            bound[index] = (claim, scene.object_at(*cell))
        else:
            strays.append(index)
    for index in strays:  # empty or repeated cells, and claims without a cell
        claim = claims[index]
        found = next((o for o in scene.objects if o.cell not in described and o.shape == claim.group("shape")
                      and (claim.group("row") or _words_hold(claim, o))), None)
        if found is None:
            doomed[index] = "object"
        else:
            described.add(found.cell)
            bound[index] = (claim, found)
    fixes = []
    for index, (claim, found) in bound.items():
        offset = spans[index][0]
        for groups, truth, category in ((("row", "column"), f"{found.row} {found.column}", "position"),
                                        (("size",), found.size, "attribute"),
                                        (("colour",), found.colour, "attribute"),
                                        (("shape",), found.shape, "object")):
            said = [claim.group(g) for g in groups]
            if None not in said and " ".join(said).lower() != truth:
                fixes.append(_segment(offset + claim.start(groups[0]), offset + claim.end(groups[-1]),
                                      category, truth))
    return fixes


def _words_hold(claim, scene_object) -> bool:
    """A claim without a cell holds when the size and colour it states are the object's."""
    return all(claim.group(g) is None or claim.group(g).lower() == getattr(scene_object, g)
               for g in ("size", "colour"))


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
