"""sequence_logps and ddpo_loss against hand-computed values."""
import math

import torch

from training.ddpo.loss import IGNORE, ddpo_loss, sequence_logps, token_logps


def logits_for(probs_rows):
    """Logits whose softmax is exactly the given probability rows (B, T, V)."""
    return torch.tensor(probs_rows).log()


def test_sequence_logps_eq5_by_hand():
    """Shifted inside; -100 skipped; average = sum(w logp) / sum(w), sum = sum(w logp)."""
    # One sequence, 4 positions, vocab 2. Position t predicts labels[t + 1].
    logits = logits_for([[[0.5, 0.5], [0.2, 0.8], [0.9, 0.1], [0.5, 0.5]]])
    labels = torch.tensor([[IGNORE, 0, 1, 0]])      # predicted by positions 0, 1, 2
    weights = torch.tensor([[0.0, 1.0, 5.0, 1.0]])  # token 1 at position 2 is "changed"
    lp = [math.log(0.5), math.log(0.8), math.log(0.9)]
    total = 1 * lp[0] + 5 * lp[1] + 1 * lp[2]
    assert torch.allclose(token_logps(logits, labels), torch.tensor([lp]))
    assert torch.allclose(sequence_logps(logits, labels, weights, average=False), torch.tensor([total]))
    assert torch.allclose(sequence_logps(logits, labels, weights), torch.tensor([total / 7]))
    labels[0, 2] = IGNORE                            # an unscored label drops its weight too
    assert torch.allclose(sequence_logps(logits, labels, weights), torch.tensor([(lp[0] + lp[2]) / 2]))


def test_ddpo_loss_by_hand():
    """-logsigmoid(beta * ((pc - rc) - (pr - rr))); rewards beta * (p - r), detached."""
    pc, pr = torch.tensor([-1.0, -2.0], requires_grad=True), torch.tensor([-3.0, -1.0])
    rc, rr = torch.tensor([-2.0, -2.0]), torch.tensor([-2.0, -2.0])
    losses, cr, rjr = ddpo_loss(pc, pr, rc, rr, beta=0.5)
    # pair 0: 0.5 * ((1) - (-1)) = 1.0 ; pair 1: 0.5 * ((0) - (1)) = -0.5
    expected = torch.tensor([math.log1p(math.exp(-1.0)), math.log1p(math.exp(0.5))])
    assert torch.allclose(losses, expected)
    assert torch.allclose(cr, torch.tensor([0.5, 0.0])) and torch.allclose(rjr, torch.tensor([-0.5, 0.5]))
    assert not cr.requires_grad and losses.requires_grad
