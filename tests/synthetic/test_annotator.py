"""The simulated annotator: its corrections, applied, leave nothing the judge finds false."""

import random

import pytest

from training.ddpo.alignment import apply_segments
from synthetic.annotator import SimulatedAnnotator, correction_segments
from synthetic.describe import NUMBER_WORDS, describe, questions
from synthetic.habits import habitual_answer
from synthetic.judge import judge
from synthetic.scenes import COLOURS, COLUMNS, ROWS, SHAPES, SIZES, Scene, SceneObject, training_scenes

SCENE = Scene(
    seed=0,
    objects=(
        SceneObject("circle", "red", "small", "top", "left"),
        SceneObject("triangle", "green", "small", "bottom", "right"),
    ),
)


def apply(text: str, segments: list[dict]) -> str:
    return apply_segments(text, segments)[0]


def garble(answer: str, rng: random.Random) -> str:
    """Swap a few words for others of their kind, and perhaps add an invented object or noise."""
    pools = (COLOURS, SHAPES, SIZES, ROWS, COLUMNS, NUMBER_WORDS[2:5])
    words = answer.split(" ")
    for _ in range(rng.randint(0, 4)):
        index = rng.randrange(len(words))
        word, dot = words[index].rstrip("."), "." * words[index].endswith(".")
        for pool in pools:
            if word in pool:
                words[index] = rng.choice(pool) + dot
    text = " ".join(words)
    if rng.random() < 0.3:
        text = "there is also a blue square. " + text
    if rng.random() < 0.3:
        text += " and a dog sleeps"
    return "" if rng.random() < 0.05 else text


def test_no_hallucination_gives_no_segments():
    assert correction_segments(SCENE, describe(SCENE)) == []


def test_each_error_kind_is_fixed_in_place_or_deleted():
    answer = (
        "there are three objects. at the top left there is a large red circle."
        " there is also a blue square. at the bottom left there is a small green triangle."
    )
    segments = correction_segments(SCENE, answer)
    assert [(s["category"], answer[s["start"] : s["end"]], s["replacement"]) for s in segments] == [
        ("number", "are three objects", "are two objects"),
        ("attribute", "large", "small"),
        ("object", "there is also a blue square. ", ""),
        ("position", "bottom left", "bottom right"),
    ]
    assert apply(answer, segments) == describe(SCENE)


def test_a_claim_about_an_occupied_cell_is_rewritten_there_not_moved():
    """Wrong shape and colour at a cell: fixed in place, so the description keeps its order."""
    answer = ("there are two objects. at the top left there is a small red square."
              " at the bottom right there is a small blue triangle.")
    segments = correction_segments(SCENE, answer)
    assert [(s["category"], answer[s["start"] : s["end"]], s["replacement"]) for s in segments] == [
        ("object", "square", "circle"),
        ("attribute", "blue", "green"),
    ]
    assert apply(answer, segments) == describe(SCENE)


def test_the_answer_to_where_has_its_position_fixed():
    answer = "at the bottom right there is a small red circle."
    segments = correction_segments(SCENE, answer, "Where is the red circle?")
    assert [(s["category"], s["replacement"]) for s in segments] == [("position", "top left")]


def test_trailing_invented_object_leaves_no_dangling_space():
    answer = describe(SCENE) + " there is also a blue square."
    assert apply(answer, correction_segments(SCENE, answer)) == describe(SCENE)


def test_empty_or_wholly_false_answer_is_replaced_by_the_reference():
    for answer in ("", "there is also a blue square.", "a dog."):
        assert apply(answer, correction_segments(SCENE, answer)) == describe(SCENE)


def test_offsets_are_code_points():
    """An emoji counts as one position, as in Python str indices."""
    answer = "🙂 yes. " + describe(SCENE).replace("green", "blue")
    deletion, fix = correction_segments(SCENE, answer)
    assert (deletion["start"], deletion["end"], deletion["category"]) == (0, 7, "other")
    assert answer[fix["start"] : fix["end"]] == "blue"
    assert apply(answer, [deletion, fix]) == describe(SCENE)


@pytest.mark.parametrize("source", ["garbled", "habitual"])
def test_corrections_remove_every_hallucination(source):
    """At error rate 0, applying the segments leaves nothing false, for any question."""
    rng = random.Random(0)
    annotator = SimulatedAnnotator(error_rate=0.0)
    for scene in training_scenes(300):
        for question in questions(scene)[:4]:
            if source == "garbled":
                answer = garble(question.answer, rng)
            else:
                answer = habitual_answer(scene, question.text)
            fixed = apply(answer, annotator.annotate(scene, answer, question.text))
            assert not judge(scene, fixed).hallucinated, (answer, fixed)
            assert fixed == fixed.strip() and "  " not in fixed


def test_error_rate_misses_and_miscategorises():
    """With errors, some segments go missing or change category; the seed fixes which."""
    scenes = training_scenes(200)
    answers = [habitual_answer(s, questions(s)[0].text) for s in scenes]
    exact = [correction_segments(s, a) for s, a in zip(scenes, answers)]
    annotator = SimulatedAnnotator(error_rate=0.5, seed=1)
    sloppy = [annotator.annotate(s, a) for s, a in zip(scenes, answers)]
    assert sum(map(len, sloppy)) < sum(map(len, exact))
    relabelled = 0
    for right, marked in zip(exact, sloppy):
        truth = {(s["start"], s["end"]): s for s in right}
        assert all({**truth[(s["start"], s["end"])], "category": s["category"]} == s for s in marked)
        relabelled += sum(truth[(s["start"], s["end"])]["category"] != s["category"] for s in marked)
    assert relabelled > 0
    annotator = SimulatedAnnotator(error_rate=0.5, seed=1)
    assert [annotator.annotate(s, a) for s, a in zip(scenes, answers)] == sloppy
