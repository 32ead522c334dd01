"""The hallucination judge: parse an answer into mentions and check each against the scene.

Mentions are the claims of the two sentence forms of ``describe``:
an object ("there is a ... circle": category ``object``), its colour and
size (``attribute``), its cell (``position``) and counts (``number``).
Object claims are matched to scene objects of the same shape, best agreement
first; a claim left without an object is an invented object, and its other
words are not scored separately. Sentences in any other form are
``unparsed``: they count as false, never as correct. An empty answer is
hallucinated and covers nothing.
"""

import re
from dataclasses import dataclass

from synthetic.describe import NUMBER_WORDS, count_phrase
from synthetic.scenes import COLOURS, COLUMNS, ROWS, SHAPES, SIZES, Scene

CATEGORIES = ("object", "attribute", "number", "position")


def _pattern(text: str) -> re.Pattern:
    return re.compile(text.replace(" ", r"\s+"), re.IGNORECASE)


def _alternatives(words) -> str:
    return "|".join(words)


_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_OBJECT = _pattern(
    rf"(?:at the (?P<row>{_alternatives(ROWS)}) (?P<column>{_alternatives(COLUMNS)}) )?"
    rf"there is (?:also )?an? (?:(?P<size>{_alternatives(SIZES)}) )?"
    rf"(?:(?P<colour>{_alternatives(COLOURS)}) )?(?P<shape>{_alternatives(SHAPES)})"
)
_COUNT = _pattern(
    rf"there (?P<phrase>(?:is|are) (?P<number>{_alternatives(NUMBER_WORDS)}) "
    rf"(?P<noun>object|{_alternatives(SHAPES)})s?)"
)


@dataclass(frozen=True)
class Mention:
    category: str  # one of CATEGORIES
    span: tuple[int, int]  # the claim's words, code points of the answer
    sentence: tuple[int, int]  # the whole sentence, end mark included
    correct: bool
    truth: str  # the words the scene supports there ("" for an invented object)


@dataclass(frozen=True)
class Judgement:
    mentions: tuple[Mention, ...]
    unparsed: tuple[tuple[int, int], ...]  # sentence spans in no known form
    objects: int  # objects in the scene
    covered: int  # scene objects matched by an object mention
    empty: bool

    @property
    def false_mentions(self) -> list[Mention]:
        return [m for m in self.mentions if not m.correct]

    @property
    def hallucinated(self) -> bool:
        return self.empty or bool(self.unparsed) or bool(self.false_mentions)


def sentences(answer: str) -> list[tuple[int, int]]:
    """Spans of the non-blank sentences, each with its end mark."""
    spans = []
    for match in _SENTENCE.finditer(answer):
        text = match.group()
        if text.strip(" .!?\t"):
            start = match.start() + len(text) - len(text.lstrip())
            spans.append((start, match.end()))
    return spans


def object_claim(sentence: str) -> re.Match | None:
    """The object claim a sentence makes (groups row, column, size, colour, shape), or None."""
    return _OBJECT.fullmatch(sentence.rstrip(".!? \t"))


def judge(scene: Scene, answer: str) -> Judgement:
    mentions, object_claims, unparsed = [], [], []
    for start, end in sentences(answer):
        body = answer[start:end].rstrip(".!? \t")
        if match := _OBJECT.fullmatch(body):
            object_claims.append((match, start, (start, end)))
        elif match := _COUNT.fullmatch(body):
            mentions.append(_count_mention(scene, match, start, (start, end)))
        else:
            unparsed.append((start, end))
    matched = _assign(scene, [claim for claim, _, _ in object_claims])
    for index, (claim, offset, sentence) in enumerate(object_claims):
        mentions += _object_mentions(scene, claim, offset, sentence, matched.get(index))
    return Judgement(
        mentions=tuple(sorted(mentions, key=lambda m: m.span)),
        unparsed=tuple(unparsed),
        objects=len(scene.objects),
        covered=len(matched),
        empty=not answer.strip(),
    )


def _count_mention(scene, match, offset, sentence) -> Mention:
    noun = match.group("noun").lower()
    true_count = scene.count(None if noun == "object" else noun)
    claimed = NUMBER_WORDS.index(match.group("number").lower())
    span = (offset + match.start("phrase"), offset + match.end("phrase"))
    return Mention("number", span, sentence, claimed == true_count, count_phrase(true_count, noun))


def _agreement(claim: re.Match, scene_object) -> int:
    """How well an object claim fits an object of its shape: cell > colour > size."""
    words = {name: (claim.group(name) or "").lower() for name in ("row", "column", "colour", "size")}
    return (
        4 * (scene_object.cell == (words["row"], words["column"]))
        + 2 * (scene_object.colour == words["colour"])
        + (scene_object.size == words["size"])
    )


def _assign(scene: Scene, claims: list[re.Match]) -> dict[int, int]:
    """Claim index -> object index, each object used once, best-fitting pairs first."""
    pairs = sorted(
        (-_agreement(claim, scene_object), claim_index, object_index)
        for claim_index, claim in enumerate(claims)
        for object_index, scene_object in enumerate(scene.objects)
        if scene_object.shape == claim.group("shape").lower()
    )
    matched: dict[int, int] = {}
    for _, claim_index, object_index in pairs:
        if claim_index not in matched and object_index not in matched.values():
            matched[claim_index] = object_index
    return matched


def _object_mentions(scene, claim, offset, sentence, object_index) -> list[Mention]:
    def span(*groups):
        return (offset + claim.start(groups[0]), offset + claim.end(groups[-1]))

    if object_index is None:
        return [Mention("object", span("shape"), sentence, False, "")]
    found = scene.objects[object_index]
    mentions = [Mention("object", span("shape"), sentence, True, found.shape)]
    for category, groups, truth in (
        ("attribute", ("size",), found.size),
        ("attribute", ("colour",), found.colour),
        ("position", ("row", "column"), f"{found.row} {found.column}"),
    ):
        if claim.group(groups[0]) is not None:
            claimed = " ".join(claim.group(g).lower() for g in groups)
            mentions.append(Mention(category, span(*groups), sentence, claimed == truth, truth))
    return mentions


def summarize(judgements: list[Judgement]) -> dict:
    """Rates over many answers: response-level (CHAIRs-like), mention-level
    (CHAIRi-like; unparsed sentences count as false mentions), coverage and
    per category."""
    total = len(judgements)
    mentions = sum(len(j.mentions) + len(j.unparsed) for j in judgements)
    false = sum(len(j.false_mentions) + len(j.unparsed) for j in judgements)
    categories = {}
    for category in CATEGORIES:
        of_category = [[m for m in j.mentions if m.category == category] for j in judgements]
        categories[category] = {
            "mentions": sum(len(ms) for ms in of_category),
            "false": sum(not m.correct for ms in of_category for m in ms),
            "response_rate": sum(any(not m.correct for m in ms) for ms in of_category) / total,
        }
    return {
        "responses": total,
        "response_hallucination_rate": sum(j.hallucinated for j in judgements) / total,
        "mention_hallucination_rate": false / mentions if mentions else 1.0,
        "coverage": sum(j.covered for j in judgements) / max(1, sum(j.objects for j in judgements)),
        "empty_rate": sum(j.empty for j in judgements) / total,
        "unparsed_rate": sum(bool(j.unparsed) for j in judgements) / total,
        "categories": categories,
    }
