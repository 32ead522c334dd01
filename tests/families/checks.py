"""The checks every model family passes (issue #17), each on a tiny random model saved with `save_pretrained`.

Each takes the saved folder (and records, prompts or a dataset) and asserts; the family test files
(tests/families/test_*.py) call them with their own builders. Shared by every family: keep the
signatures stable.

    records = family_records(8)                          # color pairs, images of mixed sizes and aspects
    check_template_renders(path, records)                # the published template, typed parts, EOS
    check_batched_generation(path, family_prompts())     # greedy batched == one prompt at a time
    check_reference_cache(path, records, tmp_path, monkeypatch)
    check_ddpo_trains(path, records, tmp_path, lora=False)   # and lora=True
    check_shared_prefix(path, records, expect="shared")  # or "concat": the family falls back
    check_processor_tensors(path, records)               # every processor tensor reaches the model
    check_fresh_process_loads(path)                      # slow: a new interpreter, the project's code only
    check_trl_trains(path, exported_trl_dataset(tmp_path), tmp_path)   # slow, django_db: TRL's DPOTrainer
"""
from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from PIL import Image
from safetensors.torch import load_file

from tests.ddpo.conftest import CORPUS, RGB, color_records

REPO = Path(__file__).resolve().parents[2]

# (width, height): square, wide, tall, larger, small and wide. Tiling families give these different tile counts
# (LLaVA-NeXT, Idefics3), dynamic-resolution ones different patch counts (Qwen2-VL).
SIZES = [(32, 32), (64, 32), (32, 64), (48, 48), (40, 24)]
QUESTIONS = ("What is in the image?", "Describe it.")     # prompts of unequal length: left padding
FAMILY_CORPUS = CORPUS


def family_records(n: int = 8, *, sizes=SIZES) -> list[dict]:
    """`n` color pairs (tests/ddpo/conftest.py) whose images cycle through `sizes`."""
    records = color_records(n, questions=QUESTIONS)
    for i, record in enumerate(records):
        color = record["image"].getpixel((0, 0))
        record["image"] = Image.new("RGB", sizes[i % len(sizes)], color)
    return records


def family_prompts(*, sizes=SIZES, text_only: int = 1) -> list[dict]:
    """One prompt per image size (two questions alternating) and `text_only` prompts without an image."""
    colors = list(RGB.values())
    prompts = [{"question": QUESTIONS[i % 2], "image": Image.new("RGB", size, colors[i % len(colors)])}
               for i, size in enumerate(sizes)]
    return prompts + [{"question": QUESTIONS[i % 2], "image": None} for i in range(text_only)]


def _decoder(name: str) -> bool:
    """Whether a weight name is one of the language model's layers (saved names differ by family: Qwen2-VL
    saves `model.layers.*`, LLaVA `model.language_model.layers.*`, Idefics3 `model.text_model.layers.*`)."""
    return ".layers." in name and "vision" not in name and "visual" not in name


def _load(model_dir):
    from training.ddpo.model import load_model, load_processor

    return load_model(model_dir).eval(), load_processor(model_dir)


def _batch(processor, records, *, gamma=5.0):
    from training.ddpo.data import PairCollator, PreferenceDataset
    from training.ddpo.model import pad_token_id

    dataset = PreferenceDataset(records, processor, gamma=gamma)
    collate = PairCollator(pad_token_id(processor))
    return dataset, collate, collate([dataset[i] for i in range(len(dataset))])


# 0) chat template ------------------------------------------------------------------------------------------


def check_template_renders(model_dir, records) -> list[str]:
    """The saved chat template renders every record: the prompt holds the question, its tokens the image
    tokens the processor expands the template's image marker into, each scored completion decodes to the answer (as the template writes it)
    and holds the end-of-sequence token; no prompt or image token is scored. Returns the prompts."""
    from training.ddpo.data import PreferenceDataset

    _, processor = _load(model_dir)
    tokenizer = processor.tokenizer
    dataset = PreferenceDataset(records, processor, gamma=5.0)
    image_id = tokenizer.convert_tokens_to_ids(processor.image_token)
    for i, record in enumerate(records):
        item = dataset[i]
        assert record["question"] in item["prompt"]
        assert (item["prompt_inputs"]["input_ids"] == image_id).sum() >= 1     # the processor expanded the image
        for side in ("chosen", "rejected"):
            ids = item[f"{side}_ids"]
            text = tokenizer.decode(ids)
            assert record[side] in text and tokenizer.eos_token_id in ids, text    # Qwen: "<|im_end|>\n"
            assert image_id not in ids
    return [item["prompt"] for item in dataset.items]


# 1) generation ---------------------------------------------------------------------------------------------


def check_batched_generation(model_dir, prompts=None, *, max_new_tokens: int = 6) -> list[list[str]]:
    """Greedy answers of one batch holding every prompt (mixed image sizes) == each prompt alone."""
    from training.generation import SamplingParams, generate, load_generator

    prompts = prompts if prompts is not None else family_prompts()
    generator = load_generator(model_dir, device="cpu")
    params = SamplingParams(max_new_tokens=max_new_tokens, batch_size=len(prompts))
    batched = generate(generator, prompts, params)
    alone = [generate(generator, [prompt], params)[0] for prompt in prompts]
    assert batched == alone
    assert any(samples[0] for samples in batched), "every answer is empty: the check would pass on anything"
    return batched


# 2) reference cache ----------------------------------------------------------------------------------------


def check_reference_cache(model_dir, records, tmp_path, monkeypatch) -> None:
    """A run fills one cache entry per record with the reference's own per-token log-probs (computed here
    record by record with the concatenated forward); a second run on the cache runs no reference forward."""
    from training.ddpo import trainer as trainer_module
    from training.ddpo.config import DDPOConfig
    from training.ddpo.forward import concat_token_logps
    from training.ddpo.reference import ReferenceCache
    from training.ddpo.trainer import train

    cache = tmp_path / "reference_cache"
    common = dict(model=str(model_dir), batch_size=2, max_steps=1, learning_rate=1e-4, seed=0,
                  reference_cache_dir=str(cache))
    train(DDPOConfig(output_dir=str(tmp_path / "cache_a"), **common), records)
    assert len(list(cache.rglob("*.pt"))) == len(records)

    model, processor = _load(model_dir)
    dataset, collate, _ = _batch(processor, records)
    entries = ReferenceCache(cache, str(model_dir))
    with torch.no_grad():
        for i, item in enumerate(dataset.items):
            chosen, rejected = entries.get(item["key"], item["signature"])
            direct = concat_token_logps(model, collate([dataset[i]]))          # (2, C)
            assert torch.allclose(chosen, direct[0, :len(chosen)], atol=1e-4)
            assert torch.allclose(rejected, direct[1, :len(rejected)], atol=1e-4)

    def fail(*args, **kwargs):
        raise AssertionError("reference forward ran although the cache was warm")
    monkeypatch.setattr(trainer_module, "compute_reference_logps", fail)
    again = train(DDPOConfig(output_dir=str(tmp_path / "cache_b"), **common), records)
    assert (again / "model.safetensors").exists()


# 3) DDPO full fine-tune and LoRA --------------------------------------------------------------------------


def check_ddpo_trains(model_dir, records, tmp_path, *, lora: bool, steps: int = 2) -> list[dict]:
    """`steps` optimizer steps (batch 4) on CPU: finite losses, the weights move (LoRA: merged into its
    linear layers only), and final/ reloads as the same model class. Returns the metrics."""
    from transformers import AutoModelForImageTextToText

    from training.ddpo.config import DDPOConfig
    from training.ddpo.trainer import train

    seen = []
    config = DDPOConfig(model=str(model_dir), output_dir=str(tmp_path / ("lora" if lora else "full")),
                        lora=lora, lora_r=4, lora_alpha=8, batch_size=4, max_steps=steps,
                        learning_rate=1e-2 if lora else 1e-3, warmup_ratio=0.0, seed=0)
    path = train(config, records, on_metrics=lambda step, metrics: seen.append(metrics))
    assert len(seen) == steps and all(torch.isfinite(torch.tensor(m["loss"])) for m in seen)
    before, after = load_file(Path(model_dir) / "model.safetensors"), load_file(path / "model.safetensors")
    assert before.keys() == after.keys()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert any(_decoder(name) for name in changed)
    if lora:      # all-linear adapters merged: 2-D weights of linear layers only, never norms or embeddings
        assert all(name.endswith(".weight") and before[name].ndim == 2 for name in changed)
        assert not any("embed" in name or "norm" in name for name in changed)
    else:
        assert len(changed) > len(before) // 2
    config_type = json.loads((Path(model_dir) / "config.json").read_text())["architectures"][0]
    assert type(AutoModelForImageTextToText.from_pretrained(path)).__name__ == config_type
    return seen


# 4) shared prefix ------------------------------------------------------------------------------------------


def check_shared_prefix(model_dir, records, *, expect: str, atol: float = 1e-5) -> None:
    """`choose_path` picks `expect`; where it is "shared", the shared-prefix forward gives the concatenated
    forward's log-probs and gradients on a batch of mixed image sizes."""
    from training.ddpo.forward import (
        choose_path,
        concat_token_logps,
        shared_token_logps,
    )

    model, processor = _load(model_dir)
    assert choose_path(model, shared_prefix=True, gradient_checkpointing=False) == expect
    assert choose_path(model, shared_prefix=True, gradient_checkpointing=True) == "concat"
    if expect != "shared":
        return
    _, _, batch = _batch(processor, records)
    grads = []
    for fn in (concat_token_logps, shared_token_logps):
        model.zero_grad(set_to_none=True)
        logps = fn(model, batch)
        (logps * batch["completion_weights"]).sum().backward()
        grads.append((logps.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (concat, concat_grads), (shared, shared_grads) = grads
    assert torch.allclose(shared, concat, atol=atol)
    assert concat_grads.keys() == shared_grads.keys()
    for name, grad in concat_grads.items():
        assert torch.allclose(shared_grads[name], grad, atol=1e-4, rtol=1e-3), name


# 5) processor tensors --------------------------------------------------------------------------------------


def check_processor_tensors(model_dir, records) -> set[str]:
    """Every tensor the processor returns for a batch of mixed image sizes is in the collated batch with the
    processor's own batched values, is an argument of the model's forward, and reaches the right row: each
    pair scores the same batched as alone, and changing one record's image changes only its rows."""
    from training.ddpo.data import prompt_text
    from training.ddpo.forward import concat_token_logps, image_inputs

    model, processor = _load(model_dir)
    processor.tokenizer.padding_side = "left"
    dataset, collate, batch = _batch(processor, records)
    texts = [prompt_text(processor, r["question"], True) for r in records]
    encoded = processor(text=texts, images=[[r["image"]] for r in records], padding=True, return_tensors="pt",
                        add_special_tokens=False)     # one image list per prompt: Gemma 3 takes no flat list
    ours = dict(image_inputs(batch), input_ids=batch["prompt_input_ids"], attention_mask=batch["prompt_attention_mask"])
    assert set(encoded) <= set(ours), f"not batched: {set(encoded) - set(ours)}"
    for key, value in encoded.items():
        assert ours[key].shape == value.shape, key
        assert torch.allclose(ours[key].to(value.dtype), value), key
    accepted = inspect.signature(model.forward).parameters
    assert set(image_inputs(batch)) <= set(accepted), f"not model arguments: {set(image_inputs(batch)) - set(accepted)}"

    B = len(records)
    with torch.no_grad():
        both = concat_token_logps(model, batch)                                   # (2B, C)
        for i in range(B):
            alone = concat_token_logps(model, collate([dataset[i]]))              # (2, C_i)
            assert torch.allclose(both[[i, B + i], :alone.shape[1]], alone, atol=1e-5), i
        changed = [dict(r) for r in records]
        changed[0]["image"] = Image.new("RGB", records[0]["image"].size, (255, 255, 255))
        _, _, other = _batch(processor, changed)
        moved = (concat_token_logps(model, other) - both).abs().amax(-1)         # (2B,)
    assert moved[0] > 1e-6 and moved[B] > 1e-6, "the image does not reach the model"
    assert moved[[i for i in range(2 * B) if i not in (0, B)]].max() < 1e-6, "an image reached another row"
    return set(encoded)


# 6) a fresh process ----------------------------------------------------------------------------------------

FRESH = """
import sys, torch
from PIL import Image
from training.ddpo.data import prompt_text
from training.ddpo.model import load_model, load_processor
path = sys.argv[1]
processor, model = load_processor(path), load_model(path).eval()
sizes = [(32, 32), (64, 32)]
texts = [prompt_text(processor, "What is in the image?", True)] * len(sizes)
inputs = processor(text=texts, images=[[Image.new("RGB", s, (200, 30, 30))] for s in sizes], padding=True,
                   return_tensors="pt", add_special_tokens=False)
with torch.no_grad():
    logits = model(**inputs).logits
assert torch.isfinite(logits).all()
# Nothing from the test suite or the development requirements was needed.
assert not {name.split(".")[0] for name in sys.modules} & {"tests", "trl", "pytest", "playwright"}
print(type(model).__name__, type(processor).__name__)
"""


def check_fresh_process_loads(model_dir) -> str:
    """A new interpreter with only the repository on its path and the hub offline loads the folder through
    the project's loader (AutoProcessor / AutoModelForImageTextToText) and runs a forward on two image
    sizes. Returns "<model class> <processor class>"."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1", "HOME": str(Path(model_dir).parent)}
    result = subprocess.run([sys.executable, "-c", FRESH, str(model_dir)], env=env, cwd=Path(model_dir).parent,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


# 7) TRL ----------------------------------------------------------------------------------------------------


def exported_trl_dataset(tmp_path):
    """The project's trl-parquet export of a few records, through the API, loaded as TRL reads it
    (needs the database: mark the test django_db)."""
    import datasets

    from tests.exchange.helpers import export_bytes, make_records, manager_client
    from tests.factories import make_project

    project = make_project()
    for _ in range(2):
        make_records(project)
    path = tmp_path / "trl.parquet"
    path.write_bytes(export_bytes(manager_client(), project, "trl-parquet"))
    return datasets.load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))


def check_trl_trains(model_dir, dataset, tmp_path, *, steps: int = 2) -> list[float]:
    """TRL's DPOTrainer trains the folder's model on the exported dataset as it is: finite losses and the
    language model's weights move. Returns the losses."""
    import trl

    from training.ddpo.model import load_model, load_processor

    model, processor = load_model(model_dir), load_processor(model_dir)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    args = trl.DPOConfig(output_dir=str(tmp_path / "trl"), per_device_train_batch_size=2, max_steps=steps,
                         learning_rate=1e-2, use_cpu=True, bf16=False, gradient_checkpointing=False,
                         report_to=[], max_length=None, logging_steps=1, save_strategy="no")
    trainer = trl.DPOTrainer(model=model, args=args, processing_class=processor, train_dataset=dataset)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == steps and all(torch.isfinite(torch.tensor(losses)))
    changed = [name for name, p in model.named_parameters() if not torch.equal(p.detach(), before[name])]
    assert any(_decoder(name) for name in changed)
    return losses
