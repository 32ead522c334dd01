"""sequence_logps and ddpo_loss against hand-computed values."""
import math

import torch

from training.ddpo.loss import IGNORE, ddpo_loss, dpop_penalty, sequence_logps, token_logps


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


def test_dpop_penalty_is_zero_at_or_above_the_reference():
    """max(0, ref_w - pi_w) = 0 when the policy's chosen log-prob is at or above the reference's: plain DPO."""
    pc, pr = torch.tensor([-1.0, -2.0]), torch.tensor([-3.0, -1.0])
    rc, rr = torch.tensor([-1.0, -2.5]), torch.tensor([-2.0, -2.0])
    plain, _, _ = ddpo_loss(pc, pr, rc, rr, beta=0.5)
    dpop, _, _ = ddpo_loss(pc, pr, rc, rr, beta=0.5, dpop_lambda=50.0)
    assert torch.equal(dpop, plain)
    assert torch.equal(dpop_penalty(pc, rc), torch.zeros(2))


def test_dpop_takes_lambda_times_the_gap_off_the_margin():
    """Smaug Eq. 3: -logsigmoid(beta * ((pi_w - ref_w) - (pi_l - ref_l) - lambda * (ref_w - pi_w)))."""
    pc, pr = torch.tensor([-3.0, -2.0]), torch.tensor([-4.0, -2.0])
    rc, rr = torch.tensor([-2.0, -1.5]), torch.tensor([-2.0, -2.0])
    losses, chosen_r, rejected_r = ddpo_loss(pc, pr, rc, rr, beta=0.5, dpop_lambda=5.0)
    # pair 0: margin (-1) - (-2) = 1, gap 1 -> 1 - 5 = -4; pair 1: margin (-0.5) - 0, gap 0.5 -> -0.5 - 2.5 = -3
    expected = torch.tensor([math.log1p(math.exp(2.0)), math.log1p(math.exp(1.5))])
    assert torch.allclose(losses, expected)
    assert torch.equal(dpop_penalty(pc, rc), torch.tensor([1.0, 0.5]))
    # the rewards stay DPO's (the penalty is not part of the implicit reward)
    assert torch.equal(chosen_r, torch.tensor([-0.5, -0.25])) and torch.equal(rejected_r, torch.tensor([-1.0, 0.0]))


def test_dpop_pushes_a_fallen_chosen_answer_up_harder():
    """Below the reference the chosen side's gradient is (1 + lambda) times DPO's at the same margin's sigmoid
    factor and points up (the loss falls as pi_w rises); the rejected side still goes down."""
    def grads(dpop_lambda):
        pc, pr = torch.tensor([-3.0], requires_grad=True), torch.tensor([-4.0], requires_grad=True)
        loss, _, _ = ddpo_loss(pc, pr, torch.tensor([-2.0]), torch.tensor([-2.0]), beta=0.5, dpop_lambda=dpop_lambda)
        loss.sum().backward()
        margin = 1.0 - dpop_lambda * 1.0
        return pc.grad.item(), pr.grad.item(), torch.sigmoid(torch.tensor(-0.5 * margin)).item()
    plain_c, plain_r, plain_s = grads(0.0)
    dpop_c, dpop_r, dpop_s = grads(5.0)
    assert plain_c < 0 and dpop_c < plain_c and plain_r > 0 and dpop_r > 0
    assert math.isclose(plain_c, -0.5 * plain_s, rel_tol=1e-6)
    assert math.isclose(dpop_c, -0.5 * 6.0 * dpop_s, rel_tol=1e-6)
    assert math.isclose(dpop_r, 0.5 * dpop_s, rel_tol=1e-6)


def test_pair_loss_applies_dpop_to_the_dense_chosen_logp():
    """The penalty watches the same gamma-weighted (Eq. 5) chosen log-prob as the margin."""
    from training.ddpo.config import DDPOConfig
    from training.ddpo.trainer import pair_loss
    logps = torch.tensor([[-1.0, -2.0], [-1.0, -1.0]])          # chosen, rejected (B = 1, C = 2)
    batch = {"completion_weights": torch.tensor([[1.0, 5.0], [1.0, 1.0]]),  # token 2 of chosen changed, gamma 5
             "ref_logps": torch.tensor([[-1.0, -1.0], [-1.0, -1.0]]),
             "completion_attention_mask": torch.ones(2, 2)}
    config = DDPOConfig(model="m", output_dir="o", beta=0.5, dpop_lambda=2.0)
    loss, stats = pair_loss(logps, batch, config)
    pc, rc = (-1.0 - 10.0) / 6, -1.0                             # Eq. 5: sum(w logp) / sum(w)
    margin = (pc - rc) - 0.0 - 2.0 * (rc - pc)
    assert math.isclose(loss.item(), math.log1p(math.exp(-0.5 * margin)), rel_tol=1e-6)
    off, _ = pair_loss(logps, batch, DDPOConfig(model="m", output_dir="o", beta=0.5))
    assert math.isclose(off.item(), math.log1p(math.exp(-0.5 * (pc - rc))), rel_tol=1e-6)


def test_dpop_lambda_round_trips_and_is_validated(tmp_path):
    import pytest

    from training.ddpo.config import DDPOConfig
    config = DDPOConfig(model="m", output_dir="o", dpop_lambda=50.0)
    config.save(tmp_path)
    assert DDPOConfig.load(tmp_path) == config and DDPOConfig.load(tmp_path).dpop_lambda == 50.0
    assert DDPOConfig(model="m", output_dir="o").dpop_lambda == 0.0   # off by default: today's loss
    assert DDPOConfig.from_dict({"model": "m", "output_dir": "o", "dpop_lambda": 5}).dpop_lambda == 5
    with pytest.raises(ValueError, match="dpop_lambda must be >= 0"):
        DDPOConfig(model="m", output_dir="o", dpop_lambda=-1.0)
    with pytest.raises(TypeError, match="dpop_lambda"):
        DDPOConfig.from_dict({"model": "m", "output_dir": "o", "dpop_lambda": "5"})
