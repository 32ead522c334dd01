"""Questions and reference answers, position first."""

import pytest

from synthetic.describe import DESCRIBE, describe, questions, reference_answer
from synthetic.scenes import Scene, SceneObject

SCENE = Scene(
    seed=0,
    objects=(
        SceneObject("circle", "red", "small", "top", "left"),
        SceneObject("circle", "blue", "large", "bottom", "right"),
    ),
)


def test_description_states_count_then_each_object():
    """The count first, then one position-first sentence per object."""
    assert describe(SCENE) == (
        "there are two objects. at the top left there is a small red circle."
        " at the bottom right there is a large blue circle."
    )


def test_every_question_has_its_reference_answer():
    """Count, colour and position questions are answered from the scene."""
    answers = {q.text: q.answer for q in questions(SCENE)}
    assert answers[DESCRIBE] == describe(SCENE)
    assert answers["How many circles are there?"] == "there are two circles."
    assert answers["How many squares are there?"] == "there are no squares."
    assert answers["What colour is the object at the top left?"] == "at the top left there is a small red circle."
    assert answers["Where is the blue circle?"] == "at the bottom right there is a large blue circle."
    assert all(reference_answer(SCENE, text) == answer for text, answer in answers.items())


def test_unknown_question_is_refused():
    """A question the world never asks has no reference answer."""
    with pytest.raises(ValueError):
        reference_answer(SCENE, "What is the meaning of life?")
