"""Idefics3 (SmolVLM-Instruct's architecture) and Gemma 3 end to end on tiny random models (issue #17).

Each is built from its real architecture's config, saved with `save_pretrained` with the chat template its
published checkpoints ship, and loaded back through the project's loader; tests/families/checks.py holds the
checks every family passes. Below them, what only these families have: Idefics3's per-image tile counts and
`pixel_attention_mask`, Gemma 3's `token_type_ids` (bidirectional attention over each image's tokens).
"""
import pytest
import torch

from tests.families import checks

torch.set_num_threads(1)


def _idefics3(path):
    from tests.families.tiny_idefics3 import build_tiny_idefics3
    return build_tiny_idefics3(path, checks.FAMILY_CORPUS)


def _gemma3(path):
    from tests.families.tiny_gemma3 import build_tiny_gemma3
    return build_tiny_gemma3(path, checks.FAMILY_CORPUS)


# family: (builder, the forward path the trainer takes)
FAMILIES = {
    "idefics3": (_idefics3, "shared"),
    "gemma3": (_gemma3, "shared"),         # token_type_ids on the image + prompt pass; the answers are causal
}


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request, tmp_path_factory):
    build, path = FAMILIES[request.param]
    return build(tmp_path_factory.mktemp(request.param)), path


@pytest.fixture(scope="module")
def records():
    return checks.family_records(8)


def test_processor_tensors_reach_the_model(family, records):
    checks.check_processor_tensors(family[0], records)


def test_batched_generation_equals_one_at_a_time(family):
    checks.check_batched_generation(family[0])


def test_shared_prefix_or_fallback(family, records):
    checks.check_shared_prefix(family[0], records, expect=family[1])


def test_reference_cache(family, records, tmp_path, monkeypatch):
    checks.check_reference_cache(family[0], records, tmp_path, monkeypatch)


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_ddpo_trains(family, records, tmp_path, lora):
    checks.check_ddpo_trains(family[0], records, tmp_path, lora=lora)


@pytest.mark.slow
def test_fresh_process_loads(family):
    checks.check_fresh_process_loads(family[0])


@pytest.mark.slow
@pytest.mark.django_db
def test_trl_export_trains(family, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    checks.check_trl_trains(family[0], checks.exported_trl_dataset(tmp_path), tmp_path)


# What only these families have ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def idefics3(tmp_path_factory):
    return _idefics3(tmp_path_factory.mktemp("idefics3-own"))


@pytest.fixture(scope="module")
def gemma3(tmp_path_factory):
    return _gemma3(tmp_path_factory.mktemp("gemma3-own"))


def test_idefics3_tiles_per_image_and_pixel_mask_reach_the_model(idefics3, records):
    """Images of other aspect ratios get other tile counts (rows x cols + the global view), zero tiles pad
    the batch and are masked out in `pixel_attention_mask`; the model reads that mask row by row: masking
    half of pair 0's first tile moves pair 0's scores only."""
    from training.ddpo.forward import concat_token_logps

    model, processor = checks._load(idefics3)
    dataset, _, batch = checks._batch(processor, records)
    assert type(model).__name__ == "Idefics3ForConditionalGeneration"
    tiles = (batch["pixel_values"].abs().sum((-1, -2, -3)) > 0).sum(-1)            # (B,) real tiles
    alone = [dataset[i]["prompt_inputs"]["pixel_values"].shape[1] for i in range(len(records))]
    assert tiles.tolist() == alone and len(set(alone)) > 1                          # e.g. [5, 3, 3, 5, 3, ...]
    image_id = model.config.image_token_id
    per_tile = (batch["prompt_input_ids"] == image_id).sum(-1) // tiles
    assert per_tile.tolist() == [4] * len(records)                                 # 4 <image> per tile and view
    mask = batch["pixel_attention_mask"]
    assert mask.shape == batch["pixel_values"].shape[:2] + batch["pixel_values"].shape[-2:]
    real = tiles[:, None] > torch.arange(mask.shape[1])                             # (B, tiles)
    assert torch.equal(mask.flatten(2).any(-1), real)
    half = mask.clone()
    half[0, 0, :, half.shape[-1] // 2:] = 0
    with torch.no_grad():
        ours = concat_token_logps(model, batch)
        masked = concat_token_logps(model, dict(batch, pixel_attention_mask=half))
    moved = (masked - ours).abs().amax(-1).view(2, -1).amax(0)                     # (B,)
    assert moved[0] > 1e-6 and moved[1:].max() < 1e-6


def test_idefics3_template_reads_typed_parts_only(idefics3):
    """SmolVLM's template renders a string content as nothing: text-only prompts and every answer are
    given as typed parts, so the question and the answer are in what is trained."""
    from training.ddpo.data import PreferenceDataset

    _, processor = checks._load(idefics3)
    record = dict(checks.family_records(1)[0], image=None)
    dataset = PreferenceDataset([record], processor, gamma=5.0)
    item = dataset.items[0]
    assert item["prompt"] == f"<|im_start|>User: {record['question']}<end_of_utterance>\nAssistant:"
    answer = processor.tokenizer.decode(item["chosen_ids"])
    assert answer == f" {record['chosen']}<end_of_utterance>\n"


def test_gemma3_token_type_ids_give_images_bidirectional_attention(gemma3, records):
    """A pair scored in a padded batch (concatenated and shared-prefix paths) equals the model's own
    unpadded forward with the processor's `token_type_ids`, and differs from it without them: image
    tokens attend to each other both ways. The sliding window is shorter than the prompt."""
    from training.ddpo.forward import concat_token_logps, shared_token_logps
    from training.ddpo.loss import label_logps

    model, processor = checks._load(gemma3)
    assert type(model).__name__ == "Gemma3ForConditionalGeneration"
    dataset, _, batch = checks._batch(processor, records)
    assert batch["prompt_input_ids"].shape[1] > model.config.text_config.sliding_window
    image_id = model.config.image_token_id
    assert torch.equal(batch["token_type_ids"], (batch["prompt_input_ids"] == image_id).long())
    B = len(records)
    with torch.no_grad():
        concat, shared = concat_token_logps(model, batch), shared_token_logps(model, batch)
        assert torch.allclose(shared, concat, atol=1e-5)
        for i in (0, 1):
            prompt, answer = dataset[i]["prompt_inputs"], torch.tensor(dataset[i]["chosen_ids"])
            ids = torch.cat([prompt["input_ids"], answer])[None]
            types = torch.nn.functional.pad(prompt["token_type_ids"], (0, len(answer)))[None]
            P, n = prompt["input_ids"].shape[0], len(answer)
            scores = {}
            for name, extra in (("with", dict(token_type_ids=types)), ("without", {})):
                logits = model(input_ids=ids, pixel_values=prompt["pixel_values"], **extra).logits
                scores[name] = label_logps(logits[:, P - 1:P - 1 + n], answer[None])[0]
            assert torch.allclose(concat[i, :n], scores["with"], atol=1e-5)
            assert (concat[i, :n] - scores["without"]).abs().max() > 1e-4
    assert B == len(dataset)
