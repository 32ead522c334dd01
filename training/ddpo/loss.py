"""Dense DPO loss (RLHF-V, arXiv 2312.00849, Eq. 5) as small pure functions.

Shapes: B sequences, T positions, V vocabulary. Labels follow Hugging Face:
input ids with -100 where a position is not scored, shifted inside
(`logits[:, :-1]` predicts `labels[:, 1:]`); weights have the labels' shape
and are shifted the same way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


def label_logps(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Log-prob of each label under the logits at the same position: (B, T, V), (B, T) -> (B, T); 0 on -100."""
    logits = logits.float()
    picked = logits.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked - logits.logsumexp(-1)) * (labels != IGNORE)


def token_logps(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Log-prob of each next label: (B, T, V), (B, T) -> (B, T-1), 0 where not scored."""
    return label_logps(logits[:, :-1], labels[:, 1:])             # position t predicts label t+1


def weighted_logps(logps: torch.Tensor, weights: torch.Tensor, average: bool = True) -> torch.Tensor:
    """Reduce per-token log-probs (B, L) with weights (B, L) (0 = not scored) to (B,)."""
    total = (logps * weights).sum(-1)                             # (B,)
    return total / weights.sum(-1).clamp(min=1e-8) if average else total


def sequence_logps(logits, labels, weights, average: bool = True) -> torch.Tensor:
    """Weighted log-probability of each labelled sequence, (B,).

    RLHF-V Eq. 5, with u the unchanged and c the changed tokens of one side:

        log pi(y|x) = (sum_{t in u} log p_t + gamma * sum_{t in c} log p_t)
                      / (|u| + gamma * |c|)

    i.e. `sum(w * logp) / sum(w)` over scored tokens (`average=True`), or
    `sum(w * logp)` (`average=False`; with w = 1 that is TRL's DPO).
    """
    logps = token_logps(logits, labels)                           # (B, T-1)
    w = weights[:, 1:].to(logps.dtype) * (labels[:, 1:] != IGNORE)
    return weighted_logps(logps, w, average)


def ddpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta: float, dpop_lambda: float = 0.0):
    """DPO on the (dense) sequence log-probs, all (B,) -> (losses, chosen_rewards, rejected_rewards).

        loss = -log sigmoid(beta * ((pi_w - ref_w) - (pi_l - ref_l) - lambda * max(0, ref_w - pi_w)))
        reward_w = beta * (pi_w - ref_w),  reward_l = beta * (pi_l - ref_l)   (detached)

    pi and ref are log pi(y|x) of Eq. 5 (``sequence_logps``), w the chosen and
    l the rejected answer. With ``dpop_lambda`` = 0 (the default) this is
    RLHF-V's Eq. 5 loss; with lambda > 0 it is DPOP (Pal et al. 2024, "Smaug",
    arXiv 2402.13228, Eq. 3; TRL's loss_type "dpop" with ``dpop_lambda``; the
    paper uses lambda 50): the penalty is zero while the policy's chosen
    log-prob is at or above the reference's and otherwise lowers the margin by
    lambda times the gap, so that DPO can no longer win the margin by pushing
    the chosen answer down less than the rejected one (likelihood
    displacement, frequent on minimal-edit pairs whose two sides share most
    tokens).

    Dense form: pi_w in the penalty is the same gamma-weighted log-prob as in
    the margin, i.e. changed tokens (the correction) count gamma times and
    unchanged ones once, averaged over sum(w) when ``average`` is on. So the
    penalty watches the whole chosen answer, with the correction weighted as
    the margin weights it (the paper's equation with its log pi replaced by
    Eq. 5's); at gamma 1 and ``average`` off it is DPOP exactly (sequence
    sums, as in the paper and TRL). With ``average`` on, the gap is
    per (weighted) token, but so is the margin: lambda keeps its meaning
    relative to the margin and the paper's scale carries over. Being inside
    the sigmoid, an active penalty also raises sigma(-beta * margin), the
    factor on the rejected side's gradient: in benchmarks/loop.py's on-policy
    loop DPOP made DDPO worse (README, "On-policy loop").
    """
    chosen_ratio = policy_chosen - ref_chosen                     # (B,)
    rejected_ratio = policy_rejected - ref_rejected               # (B,)
    margin = chosen_ratio - rejected_ratio
    if dpop_lambda:
        margin = margin - dpop_lambda * dpop_penalty(policy_chosen, ref_chosen)
    losses = -F.logsigmoid(beta * margin)
    return losses, (beta * chosen_ratio).detach(), (beta * rejected_ratio).detach()


def dpop_penalty(policy_chosen, ref_chosen) -> torch.Tensor:
    """DPOP's max(0, ref_w - pi_w), (B,): how far the chosen log-prob fell below the reference's."""
    return (ref_chosen - policy_chosen).clamp(min=0)
