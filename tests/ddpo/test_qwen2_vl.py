"""DDPO on a tiny Qwen2-VL: patch-list images, M-RoPE positions, the concatenated path, a full run."""
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText

from tests.families.tiny_qwen2_vl import build_tiny_qwen2_vl
from training.ddpo.config import DDPOConfig
from training.ddpo.data import PairCollator, PreferenceDataset
from training.ddpo.forward import _positions, choose_path, concat_token_logps
from training.ddpo.loss import label_logps
from training.ddpo.model import load_processor
from training.ddpo.trainer import train

from .conftest import CORPUS, color_records
from .test_trainer import forbid_reference_forward

TWO_QUESTIONS = ("What is in the image?", "Describe it.")   # prompts of unequal length: left padding


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory):
    return build_tiny_qwen2_vl(tmp_path_factory.mktemp("tiny_qwen2_vl"), CORPUS)


@pytest.fixture(scope="module")
def loaded(tiny_qwen):
    model = AutoModelForImageTextToText.from_pretrained(tiny_qwen).eval()
    return model, load_processor(tiny_qwen)     # without torchvision: an image-only video processor


def test_collator_batches_patches_grids_and_token_types(loaded):
    """B pairs: (patches, D) pixels and (B, 3) grids concatenated, token types padded like the
    prompt; completions hold the answer and end of turn only, no prompt or vision token."""
    model, processor = loaded
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
    tok = processor.tokenizer
    records = color_records(3, questions=TWO_QUESTIONS)
    ds = PreferenceDataset(records, processor, gamma=5.0)
    batch = PairCollator(tok.pad_token_id)([ds[i] for i in range(3)])
    image_id = model.config.image_token_id
    prompt, pmask = batch["prompt_input_ids"], batch["prompt_attention_mask"]
    assert (pmask == 0).any()                                                  # left padding happened
    assert batch["pixel_values"].shape == (3 * 64, 3 * 2 * 7 * 7)             # 8x8 patches per 56x56 image
    assert batch["image_grid_thw"].tolist() == [[1, 8, 8]] * 3
    assert ((prompt == image_id).sum(-1) == 16).all()                         # 8x8 patches merged 2x2
    assert torch.equal(batch["mm_token_type_ids"], (prompt == image_id).long() * pmask)
    vision = {image_id, model.config.vision_start_token_id, model.config.vision_end_token_id}
    completions = batch["completion_input_ids"][batch["completion_attention_mask"].bool()].tolist()
    assert not vision & set(completions) and tok.convert_tokens_to_ids("<|im_start|>") not in completions
    for i, record in enumerate(records):
        assert tok.decode(ds[i]["chosen_ids"]) == record["chosen"] + "<|im_end|>\n"
        changed = [tok.decode([t]) for t, w in zip(ds[i]["chosen_ids"], ds[i]["chosen_weights"]) if w == 5.0]
        assert changed == [" " + record["chosen"].split()[3]]


def test_concat_logps_use_mrope_and_ignore_padding(loaded):
    """The concatenated path is chosen; a pair's log-probs are the same alone, batched beside a
    longer prompt, and in the model's own unpadded forward (its 3D positions). 1D positions differ."""
    model, processor = loaded
    assert choose_path(model, shared_prefix=True, gradient_checkpointing=False) == "concat"
    ds = PreferenceDataset(color_records(2, questions=TWO_QUESTIONS), processor, gamma=5.0)
    collate = PairCollator(processor.tokenizer.pad_token_id)
    pair = collate([ds[0], ds[1]])
    assert pair["prompt_attention_mask"][1].sum() < pair["prompt_attention_mask"][0].sum()
    with torch.no_grad():
        both = concat_token_logps(model, pair)                                 # (4, C)
        for i in range(2):
            alone = concat_token_logps(model, collate([ds[i]]))               # (2, C_i)
            n = alone.shape[1]
            assert torch.allclose(both[[i, 2 + i], :n], alone, atol=1e-5)
            assert (both[[i, 2 + i], n:] == 0).all()
        # Row 1 (the padded one): its prompt + chosen answer, unpadded, positions left to the model.
        item = ds[1]
        prompt, answer = item["prompt_inputs"], torch.tensor(item["chosen_ids"])
        ids = torch.cat([prompt["input_ids"], answer])[None]
        types = torch.nn.functional.pad(prompt["mm_token_type_ids"], (0, len(answer)))[None]
        images = dict(pixel_values=prompt["pixel_values"], image_grid_thw=prompt["image_grid_thw"])
        P, n = prompt["input_ids"].shape[0], len(answer)
        own = model(input_ids=ids, mm_token_type_ids=types, **images).logits
        own = label_logps(own[:, P - 1:P - 1 + n], answer[None])[0]
        flat = model(input_ids=ids, position_ids=_positions(torch.ones_like(ids)), **images).logits
        flat = label_logps(flat[:, P - 1:P - 1 + n], answer[None])[0]
    assert torch.allclose(both[1, :n], own, atol=1e-5)
    assert (flat - own).abs().max() > 1e-4          # 1D positions give other numbers: the check can fail


def test_training_raises_rewards_and_reuses_reference_cache(tiny_qwen, tmp_path, monkeypatch):
    """16 pairs, batch 4, 6 epochs: margins and accuracy rise, every weight moves, final/ reloads;
    a second run on the same reference cache runs no reference forward."""
    seen, cache = [], str(tmp_path / "cache")
    common = dict(model=str(tiny_qwen), learning_rate=1e-3, gamma=5.0, beta=0.5, batch_size=4,
                  warmup_ratio=0.1, seed=0, reference_cache_dir=cache)
    path = train(DDPOConfig(output_dir=str(tmp_path / "a"), epochs=6, **common), color_records(16),
                 on_metrics=lambda step, m: seen.append(m))
    assert path == tmp_path / "a" / "final" and len(seen) == 24
    assert abs(seen[0]["rewards/margins"]) < 1e-6 and abs(seen[0]["loss"] - 0.6931472) < 1e-5
    first, last = seen[1:5], seen[-4:]
    assert sum(m["rewards/accuracies"] for m in last) / 4 >= 0.9
    assert sum(m["rewards/margins"] for m in last) > sum(m["rewards/margins"] for m in first) > 0
    assert last[-1]["loss"] < seen[0]["loss"]
    before, after = load_file(tiny_qwen / "model.safetensors"), load_file(path / "model.safetensors")
    assert before.keys() == after.keys()
    assert not [name for name in before if torch.equal(before[name], after[name])]
    assert type(AutoModelForImageTextToText.from_pretrained(path)).__name__ == "Qwen2VLForConditionalGeneration"
    assert type(load_processor(path)).__name__ == "Qwen2VLProcessor"

    forbid_reference_forward(monkeypatch)
    again = train(DDPOConfig(output_dir=str(tmp_path / "b"), max_steps=2, **common), color_records(16))
    assert (again / "model.safetensors").exists()
