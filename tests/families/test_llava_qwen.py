"""LLaVA-1.5, LLaVA-NeXT, Qwen2-VL and Qwen2.5-VL end to end on tiny random models (issue #17).

Each family is built from its real architecture's config, saved with `save_pretrained` with the chat template
its published checkpoints ship, and loaded back through the project's loader; tests/families/checks.py holds
the checks every family passes. The README's support table lists what each proves.
"""
from typing import NamedTuple

import pytest
import torch

from tests.families import checks

torch.set_num_threads(1)


def _llava(path):
    from tests.families.tiny_llava import build_tiny_llava
    return build_tiny_llava(path, checks.FAMILY_CORPUS)


def _llava_next(path):
    from tests.families.tiny_llava_next import build_tiny_llava_next
    return build_tiny_llava_next(path, checks.FAMILY_CORPUS)


def _qwen2_vl(path):
    from tests.families.tiny_qwen2_vl import build_tiny_qwen2_vl
    return build_tiny_qwen2_vl(path, checks.FAMILY_CORPUS, min_pixels=28 * 28, max_pixels=56 * 56)


def _qwen2_5_vl(path):
    from tests.families.tiny_qwen2_5_vl import build_tiny_qwen2_5_vl
    return build_tiny_qwen2_5_vl(path, checks.FAMILY_CORPUS)


# family: (builder, the forward path the trainer takes)
FAMILIES = {
    "llava-1.5": (_llava, "shared"),
    "llava-next": (_llava_next, "shared"),
    "qwen2-vl": (_qwen2_vl, "concat"),      # M-RoPE: rope deltas are per prompt batch, no repeated cache
    "qwen2.5-vl": (_qwen2_5_vl, "concat"),
}


class Family(NamedTuple):
    name: str
    path: object       # the saved folder
    forward: str       # the path choose_path picks


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request, tmp_path_factory):
    build, forward = FAMILIES[request.param]
    return Family(request.param, build(tmp_path_factory.mktemp(request.param)), forward)


@pytest.fixture(scope="module")
def records():
    return checks.family_records(8)


def test_one_batch_mixes_image_token_counts(family, records):
    """The tiling and dynamic-resolution families give the batch's images different numbers of image tokens
    (LLaVA-NeXT 3 or 5 tiles, Qwen 4 to 10 merged patches); LLaVA-1.5 resizes every image to 16 tokens."""
    from training.ddpo.model import load_processor

    processor = load_processor(family.path)
    _, _, batch = checks._batch(processor, records)
    image_id = processor.tokenizer.convert_tokens_to_ids(processor.image_token)
    counts = set((batch["prompt_input_ids"] == image_id).sum(-1).tolist())
    if family.name == "llava-1.5":
        assert counts == {16}
    else:
        assert len(counts) >= 3, counts


def test_published_template_renders(family, records):
    checks.check_template_renders(family.path, records)


def test_processor_tensors_reach_the_model(family, records):
    checks.check_processor_tensors(family.path, records)


def test_batched_generation_equals_one_at_a_time(family):
    checks.check_batched_generation(family.path)


def test_shared_prefix_or_fallback(family, records):
    checks.check_shared_prefix(family.path, records, expect=family.forward)


def test_reference_cache(family, records, tmp_path, monkeypatch):
    checks.check_reference_cache(family.path, records, tmp_path, monkeypatch)


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_ddpo_trains(family, records, tmp_path, lora):
    checks.check_ddpo_trains(family.path, records, tmp_path, lora=lora)


@pytest.mark.slow
def test_fresh_process_loads(family):
    checks.check_fresh_process_loads(family.path)


@pytest.mark.slow
@pytest.mark.django_db
def test_trl_export_trains(family, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    checks.check_trl_trains(family.path, checks.exported_trl_dataset(tmp_path), tmp_path)


def test_qwen_checkpoint_loads_without_torchvision_and_keeps_its_video_processor(tmp_path):
    """A published Qwen2-VL folder names Qwen2VLVideoProcessor, which needs torchvision (not a requirement):
    the processor loads with an image-only stand-in, and a checkpoint saved from it names the real one again."""
    import json
    import shutil

    from transformers.utils import is_torchvision_available

    from training.ddpo.model import load_processor

    if is_torchvision_available():
        pytest.skip("torchvision is installed: the real video processor loads")
    path = _qwen2_vl(tmp_path / "qwen")
    config = path / "processor_config.json"
    saved = json.loads(config.read_text())
    video = {"video_processor_type": "Qwen2VLVideoProcessor", "merge_size": 2, "patch_size": 7, "temporal_patch_size": 2}
    config.write_text(json.dumps(dict(saved, video_processor=video)))
    processor = load_processor(path)
    assert type(processor).__name__ == "Qwen2VLProcessor" and type(processor.video_processor).__name__ == "NoVideoProcessor"
    assert type(processor.image_processor).__name__.startswith("Qwen2VLImageProcessor")
    again = tmp_path / "again"
    shutil.copytree(path, again)
    processor.save_pretrained(again)
    assert json.loads((again / "processor_config.json").read_text())["video_processor"] == video
