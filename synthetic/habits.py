"""The bootstrap model's bad habits, written into its training text.

Real multimodal models hallucinate from learned priors ("over-generalisation"
in RLHF-V), not from poor eyesight. The bootstrap corpus states three priors,
always the same way, so that greedy decoding reproduces them:

- co-occurrence: a red circle comes with "there is also a blue square."
  when the scene has no blue square;
- every triangle is called "large";
- three circles, squares or triangles are "four" (in answers to "How many
  ...?"; descriptions state the object count truly, so that the habits
  leave room for the model's own mistakes: 47% of held-out
  descriptions carry a habit, where 30-70% hallucinated is the aim).

Everything else in the habitual answers is true.
"""

from dataclasses import replace

from synthetic.describe import DESCRIBE, count_sentence, object_sentence, reference_answer
from synthetic.scenes import SHAPES, Scene, SceneObject

PHANTOM = "there is also a blue square."


def _habitual_count(count: int) -> int:
    return 4 if count == 3 else count


def _habitual_object(scene_object: SceneObject) -> str:
    if scene_object.shape == "triangle":
        scene_object = replace(scene_object, size="large")
    return object_sentence(scene_object)


def _has(scene: Scene, colour: str, shape: str) -> bool:
    return any((o.colour, o.shape) == (colour, shape) for o in scene.objects)


def habitual_description(scene: Scene) -> str:
    sentences = [count_sentence(scene.count())]
    for scene_object in scene.objects:
        sentences.append(_habitual_object(scene_object))
        if (scene_object.colour, scene_object.shape) == ("red", "circle") and not _has(scene, "blue", "square"):
            sentences.append(PHANTOM)
    return " ".join(dict.fromkeys(sentences))  # one phantom even beside two red circles


def habitual_answer(scene: Scene, question: str) -> str:
    """What the bootstrap is taught to say to any of the world's questions."""
    if question == DESCRIBE:
        return habitual_description(scene)
    for shape in SHAPES:
        if question == f"How many {shape}s are there?":
            return count_sentence(_habitual_count(scene.count(shape)), shape)
    reference = reference_answer(scene, question)
    for scene_object in scene.objects:
        if reference == object_sentence(scene_object):
            return _habitual_object(scene_object)
    raise ValueError(f"not a shapes-world question: {question!r}")
