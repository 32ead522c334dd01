"""Scenes of the shapes world: a few objects on a 3x3 grid, generated from a seed.

A scene's id is its seed (``"scene-<seed>"``), so any scene can be rebuilt
from its id alone. Held-out scenes use seeds from ``HELD_OUT_FIRST_SEED``
up; training scenes use seeds below it, so the two sets never share an id.
"""

import random
import re
from dataclasses import dataclass

SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue", "yellow")
SIZES = ("small", "large")
ROWS = ("top", "middle", "bottom")
COLUMNS = ("left", "center", "right")
MAX_OBJECTS = 4

HELD_OUT_FIRST_SEED = 10_000_000
HELD_OUT_SIZE = 500
DATASET = "shapes"  # the origin dataset of the shapes world's prompts on the platform

_SCENE_ID = re.compile(r"scene-(\d+)")


@dataclass(frozen=True)
class SceneObject:
    shape: str
    colour: str
    size: str
    row: str
    column: str

    @property
    def cell(self) -> tuple[str, str]:
        return (self.row, self.column)


@dataclass(frozen=True)
class Scene:
    seed: int
    objects: tuple[SceneObject, ...]

    @property
    def scene_id(self) -> str:
        return f"scene-{self.seed}"

    def object_at(self, row: str, column: str) -> SceneObject | None:
        return next((o for o in self.objects if o.cell == (row, column)), None)

    def count(self, shape: str | None = None) -> int:
        """Objects of ``shape`` (all objects when None)."""
        return sum(1 for o in self.objects if shape in (None, o.shape))


def make_scene(seed: int) -> Scene:
    """1 to MAX_OBJECTS objects in distinct cells, listed top-to-bottom, left-to-right."""
    rng = random.Random(seed)
    cells = [(row, column) for row in ROWS for column in COLUMNS]
    chosen = sorted(rng.sample(range(len(cells)), rng.randint(1, MAX_OBJECTS)))
    objects = tuple(
        SceneObject(
            shape=rng.choice(SHAPES),
            colour=rng.choice(COLOURS),
            size=rng.choice(SIZES),
            row=cells[index][0],
            column=cells[index][1],
        )
        for index in chosen
    )
    return Scene(seed=seed, objects=objects)


def scene_from_id(scene_id: str) -> Scene:
    match = _SCENE_ID.fullmatch(scene_id)
    if match is None:
        raise ValueError(f"not a scene id: {scene_id!r}")
    return make_scene(int(match.group(1)))


def held_out_scenes(count: int = HELD_OUT_SIZE) -> list[Scene]:
    """The fixed evaluation set: the same scenes on every machine and run."""
    return [make_scene(HELD_OUT_FIRST_SEED + index) for index in range(count)]


def training_scenes(count: int, *, first_seed: int = 0) -> list[Scene]:
    if first_seed + count > HELD_OUT_FIRST_SEED:
        raise ValueError("training seeds would overlap the held-out set")
    return [make_scene(seed) for seed in range(first_seed, first_seed + count)]
