"""The shared-prefix forward gives the concatenated forward's log-probs and gradients."""
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from training.ddpo.data import PairCollator, PreferenceDataset
from training.ddpo.forward import choose_path, concat_token_logps, shared_token_logps
from training.ddpo.loss import ddpo_loss, weighted_logps

from .conftest import color_records


def loss_and_grads(model, batch, fn):
    model.zero_grad()
    logps = fn(model, batch)                                   # (2B, C)
    policy = weighted_logps(logps, batch["completion_weights"])
    (pc, pr) = policy.chunk(2)
    loss = ddpo_loss(pc, pr, pc.detach() - 0.3, pr.detach() + 0.2, beta=0.5)[0].mean()
    loss.backward()
    return logps.detach(), loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


def test_shared_prefix_equals_concatenated(tiny_vlm):
    """Prompts of unequal length (left padding), answers of unequal length: same loss, same gradients."""
    processor = AutoProcessor.from_pretrained(tiny_vlm)
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    records = color_records(4, questions=("What is in the image?", "Describe it."))
    records[1]["chosen"] += " There is a red circle at the top."
    ds = PreferenceDataset(records, processor, gamma=5.0)
    batch = PairCollator(processor.tokenizer.pad_token_id)([ds[i] for i in range(4)])
    assert (batch["prompt_attention_mask"] == 0).any()
    a_logps, a_loss, a_grads = loss_and_grads(model, batch, concat_token_logps)
    s_logps, s_loss, s_grads = loss_and_grads(model, batch, shared_token_logps)
    assert torch.allclose(a_logps, s_logps, atol=1e-5)
    assert abs(a_loss - s_loss) < 1e-6
    assert len(a_grads) == len(s_grads)
    for a, s in zip(a_grads, s_grads):
        assert torch.allclose(a, s, atol=1e-6, rtol=1e-4)
    assert choose_path(model, shared_prefix=True, gradient_checkpointing=False) == "shared"
    assert choose_path(model, shared_prefix=True, gradient_checkpointing=True) == "concat"
