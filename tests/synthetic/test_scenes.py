"""Scenes: generated from a seed, rebuilt from their id, a fixed held-out set."""

from synthetic.scenes import (
    HELD_OUT_FIRST_SEED,
    MAX_OBJECTS,
    held_out_scenes,
    make_scene,
    scene_from_id,
    training_scenes,
)


def test_same_seed_same_scene():
    """A seed always gives the same objects."""
    assert make_scene(42) == make_scene(42)
    assert any(make_scene(42) != make_scene(seed) for seed in range(43, 50))


def test_scene_id_round_trip():
    """A scene is rebuilt from its id alone."""
    scene = make_scene(7)
    assert scene.scene_id == "scene-7"
    assert scene_from_id(scene.scene_id) == scene


def test_objects_sit_in_distinct_cells():
    """1 to MAX_OBJECTS objects, never two in one cell."""
    for scene in training_scenes(200):
        cells = [o.cell for o in scene.objects]
        assert 1 <= len(cells) <= MAX_OBJECTS
        assert len(set(cells)) == len(cells)


def test_held_out_set_is_fixed_and_apart_from_training():
    """The held-out scenes are the same every call and share no id with training."""
    held_out = held_out_scenes(20)
    assert held_out == held_out_scenes(20)
    assert all(scene.seed >= HELD_OUT_FIRST_SEED for scene in held_out)
    assert all(scene.seed < HELD_OUT_FIRST_SEED for scene in training_scenes(20))
