"""The shared-prefix forward gives the concatenated forward's log-probs and gradients."""
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from training.ddpo.data import PairCollator, PreferenceDataset
from training.ddpo.forward import (
    _last_layer_without_mlp,
    choose_path,
    common_prefix,
    concat_token_logps,
    shared_token_logps,
)
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
    """Unequal prompts (left padding), answers and shared answer prefixes: same loss, same gradients."""
    processor = AutoProcessor.from_pretrained(tiny_vlm)
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    records = color_records(4, questions=("What is in the image?", "Describe it."))
    records[1]["chosen"] += " There is a red circle at the top."      # differs late, lengths differ
    records[2]["rejected"] = "A square."                                # nothing shared
    records[3]["rejected"] = records[3]["chosen"] + " It is big."      # chosen is a prefix of rejected
    ds = PreferenceDataset(records, processor, gamma=5.0)
    batch = PairCollator(processor.tokenizer.pad_token_id)([ds[i] for i in range(4)])
    assert (batch["prompt_attention_mask"] == 0).any()
    shared = common_prefix(batch).tolist()
    assert shared == [3, 3, 0, 3]                                      # mixed: 0 and 3 tokens shared
    a_logps, a_loss, a_grads = loss_and_grads(model, batch, concat_token_logps)
    s_logps, s_loss, s_grads = loss_and_grads(model, batch, shared_token_logps)
    assert torch.allclose(a_logps, s_logps, atol=1e-5)
    assert abs(a_loss - s_loss) < 1e-6
    assert len(a_grads) == len(s_grads)
    for a, s in zip(a_grads, s_grads):
        assert torch.allclose(a, s, atol=1e-6, rtol=1e-4)
    assert choose_path(model, shared_prefix=True, gradient_checkpointing=False) == "shared"
    assert choose_path(model, shared_prefix=True, gradient_checkpointing=True) == "concat"
    mlp = model.get_decoder().layers[-1].mlp                         # pass 1a really skipped it
    with _last_layer_without_mlp(model):
        assert model.get_decoder().layers[-1].mlp is not mlp
    assert model.get_decoder().layers[-1].mlp is mlp


def test_common_prefix_picks_the_cheapest_shared_length():
    """Raw shared prefixes [4, 3] of length-5 answers: sharing 3 tokens costs least (2*3 + 4*2 tokens)."""
    comp = torch.tensor([[1, 2, 3, 4, 5], [1, 2, 3, 4, 6], [1, 2, 3, 4, 7], [1, 2, 3, 9, 9]])
    batch = {"completion_input_ids": comp, "completion_attention_mask": torch.ones_like(comp)}
    assert common_prefix(batch).tolist() == [3, 3]
    identical = {"completion_input_ids": comp[[0, 0]], "completion_attention_mask": torch.ones(2, 5)}
    assert common_prefix(identical).tolist() == [4]                     # one own token is always left


def test_shared_prefix_with_one_own_token_per_side(tiny_vlm):
    """Answers [a, b] and [a, c]: pass 1 scores every token and pass 2 has nothing to feed."""
    processor = AutoProcessor.from_pretrained(tiny_vlm)
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    ds = PreferenceDataset(color_records(1), processor, gamma=5.0)
    batch = PairCollator(processor.tokenizer.pad_token_id)([ds[0]])
    comp = batch["completion_input_ids"][:, :2].clone()
    comp[1, 0], comp[1, 1] = comp[0, 0], (comp[0, 1] + 1) % len(processor.tokenizer)
    batch.update(completion_input_ids=comp, completion_attention_mask=torch.ones_like(comp),
                 completion_weights=torch.ones(2, 2))
    assert common_prefix(batch).tolist() == [1]
    a_logps, a_loss, a_grads = loss_and_grads(model, batch, concat_token_logps)
    s_logps, s_loss, s_grads = loss_and_grads(model, batch, shared_token_logps)
    assert torch.allclose(a_logps, s_logps, atol=1e-5) and (s_logps != 0).all()
    assert abs(a_loss - s_loss) < 1e-6
    for a, s in zip(a_grads, s_grads):
        assert torch.allclose(a, s, atol=1e-6, rtol=1e-4)
