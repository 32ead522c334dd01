"""Questions about a scene and their reference answers.

Every object is stated position first, in one sentence form that the judge
parses back: "at the top left there is a small red circle." Counts read
"there are three objects." / "there is one circle." / "there are no squares."
"""

from dataclasses import dataclass

from synthetic.scenes import SHAPES, Scene, SceneObject

DESCRIBE = "Describe the image in detail."
NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True)
class Question:
    kind: str  # "description" | "count" | "colour" | "position"
    text: str
    answer: str


def object_sentence(scene_object: SceneObject) -> str:
    o = scene_object
    return f"at the {o.row} {o.column} there is a {o.size} {o.colour} {o.shape}."


def count_phrase(count: int, noun: str) -> str:
    """The words after "there": "is one circle", "are two circles", "are no circles"."""
    if count == 1:
        return f"is one {noun}"
    return f"are {NUMBER_WORDS[count]} {noun}s"


def count_sentence(count: int, noun: str = "object") -> str:
    return f"there {count_phrase(count, noun)}."


def describe(scene: Scene) -> str:
    """The reference detailed description: the object count, then each object."""
    sentences = [count_sentence(scene.count())]
    sentences += [object_sentence(o) for o in scene.objects]
    return " ".join(sentences)


def questions(scene: Scene) -> list[Question]:
    """The description, a count per shape, the colour at each occupied cell,
    and the position of each object whose colour and shape are unique."""
    asked = [Question("description", DESCRIBE, describe(scene))]
    for shape in SHAPES:
        text = f"How many {shape}s are there?"
        asked.append(Question("count", text, count_sentence(scene.count(shape), shape)))
    for o in scene.objects:
        text = f"What colour is the object at the {o.row} {o.column}?"
        asked.append(Question("colour", text, object_sentence(o)))
    for o in scene.objects:
        if sum(1 for other in scene.objects if (other.colour, other.shape) == (o.colour, o.shape)) == 1:
            text = f"Where is the {o.colour} {o.shape}?"
            asked.append(Question("position", text, object_sentence(o)))
    return asked


def reference_answer(scene: Scene, question: str) -> str:
    """The reference answer to one of the questions that ``questions(scene)`` asks."""
    for asked in questions(scene):
        if asked.text == question:
            return asked.answer
    raise ValueError(f"not a question about {scene.scene_id}: {question!r}")
