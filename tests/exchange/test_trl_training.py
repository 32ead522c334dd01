"""The trl-parquet export trains a tiny VLM with TRL's DPOTrainer as it is, with no conversion."""
import pytest

from tests.exchange.helpers import TEXTS, export_bytes, make_records, manager_client
from tests.factories import make_project


@pytest.mark.slow
@pytest.mark.django_db
def test_trl_export_trains_a_tiny_vlm(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets
    import torch
    import trl
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from synthetic.tiny_vlm import build_tiny_vlm

    project = make_project()
    for _ in range(2):
        make_records(project)
    path = tmp_path / "trl.parquet"
    path.write_bytes(export_bytes(manager_client(), project, "trl-parquet"))
    dataset = datasets.load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))

    corpus = [text for question, answer, _ in TEXTS for text in (question, answer)] * 20
    model_dir = build_tiny_vlm(tmp_path / "vlm", corpus)
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    processor = AutoProcessor.from_pretrained(model_dir)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    args = trl.DPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=2, max_steps=3,
                         learning_rate=1e-2, use_cpu=True, bf16=False, gradient_checkpointing=False,
                         report_to=[], max_length=None, logging_steps=1, save_strategy="no")
    trainer = trl.DPOTrainer(model=model, args=args, processing_class=processor, train_dataset=dataset)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    changed = [name for name, p in model.named_parameters() if not torch.equal(p.detach(), before[name])]
    assert any(name.startswith("model.language_model") for name in changed)
    assert any("multi_modal_projector" in name for name in changed)
