"""Training a tiny LLaVA: rewards rise, gamma focuses the update, resume is exact, the cache is reused."""
import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, AutoProcessor

import training.ddpo.trainer as trainer_module
from training.ddpo.__main__ import main as cli_main
from training.ddpo.config import DDPOConfig
from training.ddpo.data import PairCollator, PreferenceDataset
from training.ddpo.forward import concat_token_logps
from training.ddpo.reference import ReferenceCache
from training.ddpo.trainer import train

from .conftest import color_records


def config(tiny_vlm, out, **overrides):
    fields = dict(model=str(tiny_vlm), output_dir=str(out), learning_rate=1e-3, beta=0.1, batch_size=8,
                  epochs=3, warmup_ratio=0.1, seed=0)
    return DDPOConfig(**(fields | overrides))


def forbid_reference_forward(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("reference forward ran although the cache was warm")
    monkeypatch.setattr(trainer_module, "compute_reference_logps", fail)


def changed_token_gap(model_dir, records) -> float:
    """Mean over pairs of (changed chosen tokens' log-prob sum - changed rejected tokens' sum)."""
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    ds = PreferenceDataset(records, processor, gamma=2.0)
    batch = PairCollator(processor.tokenizer.pad_token_id)([ds[i] for i in range(len(ds))])
    with torch.no_grad():
        logps = concat_token_logps(model, batch)                      # (2B, C)
    changed = (logps * (batch["completion_weights"] == 2.0)).sum(-1)  # (2B,)
    chosen, rejected = changed.chunk(2)
    return (chosen - rejected).mean().item()


def test_training_raises_reward_accuracy(tiny_vlm, tmp_path):
    """Reward accuracy and margin grow; every metric TRL names is reported; phases come in order."""
    seen = []
    path = train(config(tiny_vlm, tmp_path / "run"), color_records(32),
                 on_metrics=lambda step, m: seen.append(m), on_phase=lambda name: seen.append(name))
    assert seen[:2] == ["reference", "train"]
    seen = seen[2:]
    assert path == tmp_path / "run" / "final" and (path / "model.safetensors").exists()
    assert set(seen[0]) >= {"loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
                            "rewards/accuracies", "logps/chosen", "logps/rejected", "lr", "tokens/s"}
    # Step 1's policy is the reference, but the reference log-probs come from their own forward pass: equal
    # up to float rounding (-1.2e-8 seen on one CPU), not bit for bit.
    assert len(seen) == 12 and seen[0]["rewards/margins"] == pytest.approx(0.0, abs=1e-5)
    assert sum(m["rewards/accuracies"] for m in seen[-4:]) / 4 >= 0.9
    assert seen[-1]["rewards/margins"] > 0 and seen[-1]["loss"] < seen[0]["loss"]
    assert DDPOConfig.load(path).gamma == 5.0


@pytest.mark.slow
def test_gamma_moves_changed_tokens_more(tiny_vlm, tmp_path, monkeypatch):
    """Same data, steps and lr: the changed tokens' log-prob gap grows more with gamma 5 than 1;
    the second run reuses the first run's per-token reference cache."""
    records, cache = color_records(32), str(tmp_path / "cache")
    before = changed_token_gap(tiny_vlm, records)
    low = train(config(tiny_vlm, tmp_path / "g1", gamma=1.0, reference_cache_dir=cache, learning_rate=3e-4), records)
    forbid_reference_forward(monkeypatch)
    high = train(config(tiny_vlm, tmp_path / "g5", gamma=5.0, reference_cache_dir=cache, learning_rate=3e-4), records)
    moved_low = changed_token_gap(low, records) - before
    moved_high = changed_token_gap(high, records) - before
    assert moved_high > moved_low > 0


@pytest.mark.parametrize("model_options", [{}, {"lora": True, "lora_dropout": 0.1, "lora_target_modules": ["q_proj", "v_proj"]}],
                         ids=["full", "lora-with-dropout"])
def test_resume_is_exact_and_reuses_reference_cache(tiny_vlm, tmp_path, monkeypatch, model_options):
    """Stop at step 2, resume: the weights equal an uninterrupted run's; no reference forward again. With
    dropout too: the data loaders draw from their own generator, not from the one dropout uses."""
    records, cache = color_records(16), str(tmp_path / "cache")
    common = dict(batch_size=2, grad_accum=2, max_steps=5, epochs=2, reference_cache_dir=cache, **model_options)
    straight = train(config(tiny_vlm, tmp_path / "a", **common), records)

    forbid_reference_forward(monkeypatch)
    steps = []
    stopped = train(config(tiny_vlm, tmp_path / "b", **common), records,
                    on_metrics=lambda step, m: steps.append(step), should_stop=lambda: len(steps) == 2)
    assert stopped == tmp_path / "b" / "checkpoint-2" and steps == [1, 2]
    assert (stopped / "ddpo_config.json").exists() and (stopped / "trainer_state.pt").exists()
    resumed = train(config(tiny_vlm, tmp_path / "b", **common), records,
                    on_metrics=lambda step, m: steps.append(step))
    assert steps == [1, 2, 3, 4, 5]
    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_records_naming_their_own_reference_are_scored_by_it(tiny_vlm, tmp_path, monkeypatch):
    """A record may name its reference (on-policy: the checkpoint that wrote its rejected answer): its cached
    per-token log-probs are that model's, the other records' the run's reference's; a second run finds
    every one of them cached."""
    other = train(config(tiny_vlm, tmp_path / "other", max_steps=2, batch_size=4), color_records(8))
    records = [dict(r, id=f"mixed{i}", reference=str(other)) if i % 2 else dict(r, id=f"mixed{i}")
               for i, r in enumerate(color_records(8))]
    cache, common = tmp_path / "cache", {"max_steps": 1, "batch_size": 4}
    train(config(tiny_vlm, tmp_path / "run", reference_cache_dir=str(cache), **common), records)

    processor = AutoProcessor.from_pretrained(tiny_vlm)
    dataset = PreferenceDataset(records, processor, gamma=1.0)
    batch = PairCollator(processor.tokenizer.pad_token_id)([dataset[i] for i in range(len(dataset))])
    mask, logps = batch["completion_attention_mask"].bool(), {}
    for name in (str(tiny_vlm), str(other)):
        with torch.no_grad():
            logps[name] = concat_token_logps(AutoModelForImageTextToText.from_pretrained(name), batch)  # (2B, C)
    B = len(records)
    for i, (record, item) in enumerate(zip(records, dataset.items)):
        own = record.get("reference", str(tiny_vlm))
        chosen, rejected = ReferenceCache(cache, own).get(item["key"], item["signature"])
        for name, values in logps.items():
            matches = (torch.allclose(chosen, values[i][mask[i]], atol=1e-4)
                       and torch.allclose(rejected, values[B + i][mask[B + i]], atol=1e-4))
            assert matches == (name == own), (record["id"], name)

    forbid_reference_forward(monkeypatch)
    train(config(tiny_vlm, tmp_path / "again", reference_cache_dir=str(cache), **common), records)


def test_lora_reference_is_base_and_final_is_merged(tiny_vlm, tmp_path):
    """With LoRA the reference is the adapter-disabled base (first loss log 2); final/ is a plain model."""
    seen = []
    path = train(config(tiny_vlm, tmp_path / "lora", lora=True, lora_r=4, max_steps=3,
                        lora_target_modules=["q_proj", "v_proj"]),
                 color_records(8), on_metrics=lambda step, m: seen.append(m))
    assert abs(seen[0]["loss"] - 0.6931472) < 1e-5
    assert seen[-1]["rewards/margins"] > 0
    model = AutoModelForImageTextToText.from_pretrained(path)
    assert not any("lora" in name for name, _ in model.named_parameters())


def test_cli_runs_from_json(tiny_vlm, tmp_path):
    """`python -m training.ddpo --config run.json` with JSONL records and image paths."""
    lines = []
    for i, record in enumerate(color_records(4)):
        record["image"].save(tmp_path / f"{i}.png")
        lines.append(json.dumps(record | {"image": str(tmp_path / f"{i}.png")}))
    (tmp_path / "records.jsonl").write_text("\n".join(lines) + "\n")
    run = {"model": str(tiny_vlm), "output_dir": str(tmp_path / "out"), "batch_size": 2, "max_steps": 2,
           "records": str(tmp_path / "records.jsonl")}
    (tmp_path / "run.json").write_text(json.dumps(run))
    assert cli_main(["--config", str(tmp_path / "run.json"), "--no-progress"]) == 0
    assert (tmp_path / "out" / "final" / "model.safetensors").exists()


def test_config_is_validated():
    """Bad values fail at construction, with the field named."""
    with pytest.raises(ValueError, match="gamma"):
        DDPOConfig(model="m", output_dir="o", gamma=0.5)
    with pytest.raises(ValueError, match="unknown"):
        DDPOConfig.from_dict({"model": "m", "output_dir": "o", "gama": 2})
    with pytest.raises(TypeError, match="learning_rate must be float; epochs must be int"):   # a run.json for the CLI
        DDPOConfig.from_dict({"model": "m", "output_dir": "o", "learning_rate": "1e-5", "epochs": True})
    assert DDPOConfig.from_dict({"model": "m", "output_dir": "o", "beta": 1, "bf16": None}).beta == 1


def test_checkpointing_bf16_lora_path_runs_on_cpu(tiny_vlm, tmp_path):
    """The CUDA recipe (bf16 autocast, gradient checkpointing -> concatenated path, LoRA) also runs on CPU."""
    seen = []
    path = train(config(tiny_vlm, tmp_path / "ck", lora=True, gradient_checkpointing=True, bf16=True,
                        max_steps=2, batch_size=4), color_records(8), on_metrics=lambda step, m: seen.append(m))
    assert len(seen) == 2 and all(m["loss"] == m["loss"] for m in seen)
    assert (path / "model.safetensors").exists()


def test_finished_run_is_not_trained_again(tiny_vlm, tmp_path, monkeypatch):
    """A retried task (same output_dir, resume on) returns final/ without loading anything."""
    cfg = config(tiny_vlm, tmp_path / "done", max_steps=1, batch_size=4)
    first = train(cfg, color_records(4))
    monkeypatch.setattr(trainer_module, "load_processor", None)       # would raise if called
    assert train(cfg, color_records(4)) == first


def test_batches_grouped_by_shared_opening():
    """Each pair once per epoch; sorted by shared opening inside each window; off = plain shuffle."""
    openings = [(7 * i) % 23 for i in range(230)]
    config = DDPOConfig(model="m", output_dir="o", batch_size=4, seed=3, group_by_shared_prefix=True)
    batches = trainer_module.epoch_batches(230, 0, config, 0, 1, openings)
    assert sorted(i for b in batches for i in b) == list(range(230))
    assert batches == trainer_module.epoch_batches(230, 0, config, 0, 1, openings)   # resumable
    spread = [max(openings[i] for i in b) - min(openings[i] for i in b) for b in batches]
    assert sum(spread) / len(spread) <= 2                          # a random batch of 4 spans ~13
    assert batches != trainer_module.epoch_batches(230, 1, config, 0, 1, openings)
    plain = DDPOConfig(model="m", output_dir="o", batch_size=4, seed=3)
    unsorted = trainer_module.epoch_batches(230, 0, config, 0, 1)
    assert trainer_module.epoch_batches(230, 0, plain, 0, 1, openings) == unsorted
    ranks = [trainer_module.epoch_batches(230, 0, config, r, 2, openings) for r in (0, 1)]
    assert not {i for b in ranks[0] for i in b} & {i for b in ranks[1] for i in b}


def test_a_run_saved_with_other_settings_is_not_resumed_or_returned(tiny_vlm, tmp_path):
    """Resuming a stopped run, or asking again for a finished one, with another learning rate or step count is
    refused naming the change (it would silently keep the saved run's); progress may change."""
    records, steps = color_records(4), []
    stopped = config(tiny_vlm, tmp_path / "stopped", batch_size=2, max_steps=4)
    train(stopped, records, on_metrics=lambda step, m: steps.append(step), should_stop=lambda: len(steps) == 1)
    with pytest.raises(ValueError, match=r"learning_rate: 0.001 -> 0.05.*new output_dir"):
        train(config(tiny_vlm, tmp_path / "stopped", batch_size=2, max_steps=4, learning_rate=0.05), records)
    train(config(tiny_vlm, tmp_path / "stopped", batch_size=2, max_steps=4, progress=True), records)
    with pytest.raises(ValueError, match="max_steps: 4 -> 8"):
        train(config(tiny_vlm, tmp_path / "stopped", batch_size=2, max_steps=8), records)


def test_records_that_cannot_be_trained_on_are_named():
    """A repeated id:version (the reference cache keys pairs by it), a missing field or a non-text answer."""
    records = color_records(2)
    with pytest.raises(ValueError, match="repeat id:version r0:1"):
        PreferenceDataset([records[0], dict(records[1], id="r0")], None, gamma=1.0)
    with pytest.raises(ValueError, match="record r1:1: missing chosen"):
        PreferenceDataset([{k: v for k, v in records[1].items() if k != "chosen"}], None, gamma=1.0)
    with pytest.raises(ValueError, match="record r1:1: rejected must be text, got int"):
        PreferenceDataset([dict(records[1], rejected=3)], None, gamma=1.0)
    with pytest.raises(ValueError, match="record r1:1: reference must be a model path or hub id, got int"):
        PreferenceDataset([dict(records[1], reference=3)], None, gamma=1.0)
    with pytest.raises(ValueError, match="record r1:1: image /nowhere.png is not a file"):
        PreferenceDataset([dict(records[1], image="/nowhere.png")], None, gamma=1.0)


def test_images_for_a_text_only_model_and_caches_of_another_precision_are_not_mixed_in(tiny_vlm, tmp_path):
    """A text-only model given records with images refuses them (it would silently drop them); reference
    log-probs computed under bf16 live apart from float32 ones."""
    from transformers import AutoTokenizer

    with pytest.raises(ValueError, match="record r0:1 has an image, but the model is text-only"):
        PreferenceDataset(color_records(1), AutoTokenizer.from_pretrained(tiny_vlm), gamma=1.0)
    cache = tmp_path / "cache"
    for bf16 in (False, True):
        train(config(tiny_vlm, tmp_path / f"bf16-{bf16}", bf16=bf16, max_steps=1, batch_size=4,
                     reference_cache_dir=str(cache)), color_records(4))
    assert len([folder for folder in cache.iterdir() if any(folder.glob("*.pt"))]) == 2


def test_cli_names_what_is_wrong_in_its_files(tiny_vlm, tmp_path, capsys):
    """Config and records errors end in a usage error naming the file (and line), not a traceback; a records
    file with a byte-order mark reads; --no-progress wins over the config's progress."""
    record = json.dumps({"id": "a", "version": 1, "question": "Q?", "chosen": "x", "rejected": "y"})
    (tmp_path / "good.jsonl").write_text("\ufeff" + record + "\n", encoding="utf-8")
    (tmp_path / "bad.jsonl").write_text(record + "\n\n" + record.replace('"x"', "3") + "\n")
    cases = {
        "list.json": ("[1, 2]", "must be a JSON object"),
        "no-model.json": (json.dumps({"output_dir": str(tmp_path / "o")}), "needs model"),
        "not-json.json": ("{model", "Expecting property name"),
        "typed.json": (json.dumps({"model": "m", "output_dir": "o", "epochs": "2"}), "epochs must be int"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(SystemExit) as caught:
            cli_main(["--config", str(tmp_path / name), "--records", str(tmp_path / "good.jsonl")])
        assert caught.value.code == 2 and message in capsys.readouterr().err, name
    run = {"model": str(tiny_vlm), "output_dir": str(tmp_path / "out"), "max_steps": 1, "progress": True}
    (tmp_path / "run.json").write_text(json.dumps(run))
    with pytest.raises(SystemExit):
        cli_main(["--config", str(tmp_path / "run.json"), "--records", str(tmp_path / "bad.jsonl")])
    assert "bad.jsonl, line 3: record a:1: chosen must be text, got int" in capsys.readouterr().err
    assert cli_main(["--config", str(tmp_path / "run.json"), "--records", str(tmp_path / "good.jsonl"), "--no-progress"]) == 0
    assert "ddpo:" not in capsys.readouterr().err  # no tqdm bar
