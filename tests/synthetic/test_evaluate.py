"""Batched greedy generation and evaluation of a checkpoint."""

import pytest
import torch

from synthetic.describe import DESCRIBE, questions
from synthetic.evaluate import evaluate, generate_answers, load_checkpoint
from synthetic.habits import habitual_answer
from synthetic.render import render
from synthetic.scenes import held_out_scenes, training_scenes
from synthetic.tiny_vlm import build_tiny_vlm


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained tiny VLM with the world's word-level vocabulary."""
    torch.set_num_threads(2)
    scenes = training_scenes(50)
    corpus = [q.text for s in scenes for q in questions(s)] + [habitual_answer(s, DESCRIBE) for s in scenes]
    return build_tiny_vlm(
        tmp_path_factory.mktemp("vlm"), corpus, image_size=48, patch_size=16, vision_hidden=64, word_level=True, seed=3
    )


def test_batched_generation_equals_one_at_a_time(checkpoint):
    """Left-padded batches give the same greedy answers as single prompts."""
    model, processor = load_checkpoint(checkpoint)
    scenes = held_out_scenes(6)
    asked = [questions(scene)[index % 3].text for index, scene in enumerate(scenes)]  # unequal prompt lengths
    images = [render(scene) for scene in scenes]
    batched = generate_answers(model, processor, images, asked, batch_size=6, max_new_tokens=12)
    single = [
        generate_answers(model, processor, [image], [question], max_new_tokens=12)[0]
        for image, question in zip(images, asked)
    ]
    assert batched == single
    assert any(batched)


def test_evaluate_reports_the_judges_metrics(checkpoint):
    metrics = evaluate(checkpoint, held_out_scenes(8))
    assert metrics["responses"] == 8
    assert 0.0 <= metrics["coverage"] <= 1.0
    assert set(metrics["categories"]) == {"object", "attribute", "number", "position"}
    assert metrics["seconds"] > 0
