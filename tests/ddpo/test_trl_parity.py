"""gamma = 1 with average=False is TRL's sigmoid DPO loss on the same tiny VLM and batch."""
import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from training.ddpo.data import PairCollator, PreferenceDataset
from training.ddpo.forward import shared_token_logps
from training.ddpo.loss import ddpo_loss, weighted_logps

from .conftest import color_records


@pytest.mark.slow
def test_matches_trl_dpo_trainer_loss(tiny_vlm, tmp_path):
    """Same records, policy and (perturbed) reference: TRL's compute_loss == ours within 1e-4."""
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    processor = AutoProcessor.from_pretrained(tiny_vlm)
    policy = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    reference = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    noise = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(torch.randn(p.shape, generator=noise) * 0.02)
    records = color_records(4, questions=("What is in the image?", "Describe it."))
    records[2]["chosen"] += " There is a red circle at the top."
    rows = [{"images": [r["image"]],
             "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": r["question"]}]}],
             "chosen": [{"role": "assistant", "content": r["chosen"]}],
             "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in records]
    args = trl.DPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, beta=0.1, use_cpu=True,
                         bf16=False, gradient_checkpointing=False, report_to=[], max_length=None)
    dpo = trl.DPOTrainer(model=policy, ref_model=reference, args=args, processing_class=processor,
                         train_dataset=datasets.Dataset.from_list(rows))
    trl_batch = dpo.data_collator([dpo.train_dataset[i] for i in range(4)])
    with torch.no_grad():
        trl_loss = dpo.compute_loss(dpo.model, trl_batch).item()

    ds = PreferenceDataset(records, processor, gamma=1.0)
    batch = PairCollator(processor.tokenizer.pad_token_id)([ds[i] for i in range(4)])
    trl_completions = [ids[m.bool()].tolist() for ids, m in zip(trl_batch["input_ids"], trl_batch["completion_mask"])]
    ours_completions = [ids[m.bool()].tolist() for ids, m in
                        zip(batch["completion_input_ids"], batch["completion_attention_mask"])]
    assert trl_completions == ours_completions
    with torch.no_grad():
        policy_logps = weighted_logps(shared_token_logps(policy, batch), batch["completion_weights"], average=False)
        ref_logps = weighted_logps(shared_token_logps(reference, batch), batch["completion_weights"], average=False)
    ours = ddpo_loss(*policy_logps.chunk(2), *ref_logps.chunk(2), beta=0.1)[0].mean().item()
    assert abs(ours - trl_loss) < 1e-4
