"""Rendering: deterministic, small for the model, large for people."""

from synthetic.render import HUMAN_SIZE, MODEL_SIZE, RGB, render
from synthetic.scenes import Scene, SceneObject, make_scene


def test_render_is_deterministic():
    """The same scene renders to the same bytes."""
    assert render(make_scene(3)).tobytes() == render(make_scene(3)).tobytes()


def test_sizes_for_model_and_people():
    """48 px RGB for the model, 256 px for people, from one scene."""
    scene = make_scene(3)
    assert render(scene).size == (MODEL_SIZE, MODEL_SIZE)
    assert render(scene, HUMAN_SIZE).size == (HUMAN_SIZE, HUMAN_SIZE)
    assert render(scene).mode == "RGB"


def test_object_drawn_in_its_cell():
    """A large red square at the bottom right colours that cell's centre."""
    scene = Scene(seed=0, objects=(SceneObject("square", "red", "large", "bottom", "right"),))
    image = render(scene, HUMAN_SIZE)
    assert image.getpixel((HUMAN_SIZE * 5 // 6, HUMAN_SIZE * 5 // 6)) == RGB["red"]
    assert image.getpixel((HUMAN_SIZE // 6, HUMAN_SIZE // 6)) == (255, 255, 255)
