"""Fixtures: a tiny offline LLaVA (built once per session) and synthetic color pairs."""
import os

import pytest
import torch
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)

COLORS = ["red", "green", "blue", "yellow"]
SHAPES = ["circle", "square", "triangle"]
RGB = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (230, 220, 20)}
CORPUS = [f"There is a {c} {s} at the {p}." for c in COLORS for s in SHAPES
          for p in ["top", "left", "right", "bottom", "center"]] + ["What is in the image?", "Describe it."]


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory):
    from synthetic.tiny_vlm import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("tiny_vlm"), CORPUS)


def color_records(n: int, *, questions=("What is in the image?",)) -> list[dict]:
    """Pairs whose chosen answer names the image's color and the rejected one another color."""
    records = []
    for i in range(n):
        right, wrong = COLORS[i % 4], COLORS[(i + 1 + i // 4) % 4]
        if wrong == right:
            wrong = COLORS[(i + 2) % 4]
        shape = SHAPES[i % 3]
        chosen, rejected = f"There is a {right} {shape}.", f"There is a {wrong} {shape}."
        records.append(dict(
            id=f"r{i}", version=1, image=Image.new("RGB", (32, 32), RGB[right]),
            question=questions[i % len(questions)], chosen=chosen, rejected=rejected,
            chosen_spans=[[11, 11 + len(right)]], rejected_spans=[[11, 11 + len(wrong)]]))
    return records
