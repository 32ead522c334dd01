"""The judge on hand-written answers: each category, counts, deletions, unparsed text."""

from synthetic.describe import describe
from synthetic.judge import judge, summarize
from synthetic.scenes import Scene, SceneObject, held_out_scenes

SCENE = Scene(
    seed=0,
    objects=(
        SceneObject("circle", "red", "small", "top", "left"),
        SceneObject("square", "blue", "large", "middle", "center"),
        SceneObject("triangle", "green", "small", "bottom", "right"),
    ),
)
PERFECT = describe(SCENE)


def false_claims(answer: str) -> list[tuple[str, str, str]]:
    """(category, words claimed, truth) of each false mention."""
    return [(m.category, answer[m.span[0] : m.span[1]], m.truth) for m in judge(SCENE, answer).false_mentions]


def test_perfect_answer_scores_clean_and_complete():
    """The reference description: no false mention, every object covered."""
    judgement = judge(SCENE, PERFECT)
    assert not judgement.hallucinated
    assert judgement.covered == judgement.objects == 3
    assert len(judgement.mentions) == 1 + 3 * 4  # the count, then object, size, colour, position


def test_perfect_answers_over_the_held_out_set():
    """Reference descriptions score 0 hallucination and full coverage everywhere."""
    scenes = held_out_scenes(200)
    metrics = summarize([judge(scene, describe(scene)) for scene in scenes])
    assert metrics["response_hallucination_rate"] == 0.0
    assert metrics["mention_hallucination_rate"] == 0.0
    assert metrics["coverage"] == 1.0


def test_wrong_colour_and_size_are_attribute_errors():
    answer = PERFECT.replace("small red circle", "large yellow circle")
    assert false_claims(answer) == [("attribute", "large", "small"), ("attribute", "yellow", "red")]


def test_wrong_cell_is_a_position_error():
    answer = PERFECT.replace("at the top left", "at the middle right")
    assert false_claims(answer) == [("position", "middle right", "top left")]


def test_wrong_count_is_a_number_error():
    answer = PERFECT.replace("there are three objects", "there are four objects")
    assert false_claims(answer) == [("number", "are four objects", "are three objects")]
    assert false_claims("there is one circle.") == []
    assert false_claims("there are two squares.") == [("number", "are two squares", "is one square")]
    assert false_claims("there are no triangles.") == [("number", "are no triangles", "is one triangle")]


def test_invented_object_is_an_object_error():
    """A shape absent from the scene, or one mentioned twice, is invented."""
    assert false_claims(PERFECT + " there is also a blue square.") == [("object", "square", "")]
    assert false_claims("at the top left there is a red star.") == []  # unknown shape: unparsed
    assert false_claims("there is a large red triangle. there is a triangle.")[-1] == ("object", "triangle", "")


def test_deleted_object_lowers_coverage_only():
    """Leaving an object out is no hallucination, but it is not covered."""
    answer = PERFECT.replace(" at the bottom right there is a small green triangle.", "")
    judgement = judge(SCENE, answer)
    assert not judgement.hallucinated
    assert judgement.covered == 2


def test_unparseable_paraphrase_counts_as_unparsed_not_correct():
    """A true paraphrase in an unknown form is not credited."""
    answer = "there are three objects. a small red circle sits in the top left corner."
    judgement = judge(SCENE, answer)
    assert judgement.unparsed == ((25, len(answer)),)
    assert judgement.hallucinated
    assert judgement.covered == 0
    assert summarize([judgement])["mention_hallucination_rate"] == 0.5


def test_empty_answer_is_hallucinated():
    judgement = judge(SCENE, "  ")
    assert judgement.empty and judgement.hallucinated and judgement.covered == 0


def test_judging_is_deterministic():
    """The same answer gets the same judgement."""
    answer = PERFECT + " there is also a blue square. at the top right there is a red circle."
    assert judge(SCENE, answer) == judge(SCENE, answer)


def test_summary_per_category():
    metrics = summarize([judge(SCENE, PERFECT), judge(SCENE, PERFECT.replace("blue square", "green square"))])
    assert metrics["response_hallucination_rate"] == 0.5
    assert metrics["categories"]["attribute"]["false"] == 1
    assert metrics["categories"]["attribute"]["response_rate"] == 0.5
    assert metrics["categories"]["object"]["false"] == 0
    assert metrics["coverage"] == 1.0
