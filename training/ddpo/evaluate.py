"""A checkpoint against its reference on preference pairs it never trained on: DDPO's implicit reward.

    from training.ddpo.evaluate import evaluate_pairs
    figures = evaluate_pairs(DDPOConfig(model=policy, reference=parent, output_dir="-", gamma=5, beta=0.5),
                             records)

Every pair is scored as training scores it (data.PreferenceDataset, forward.PairScorer, loss.weighted_logps
with the config's gamma and ``average``). Per side, the weighted log-prob of Eq. 5 and the implicit reward:

    logp(y) = sum(w * logp_t) / sum(w)      w = gamma on changed tokens, 1 elsewhere (a sum if not average)
    r(y)    = beta * (logp_policy(y) - logp_reference(y))

Figures (None without pairs, or without changed tokens on that side for the deltas):

    preference_accuracy          share of pairs with r(chosen) > r(rejected), a tie counting 1/2: a policy
                                 that is its own reference scores exactly 1/2 (chance)
    reward_margin                mean r(chosen) - r(rejected)
    loss                         mean DDPO loss, -log sigmoid(margin)
    chosen_changed_logp_delta    mean logp_policy - logp_reference per token over the corrected tokens of
                                 the chosen sides (pooled over pairs): training should raise it
    rejected_changed_logp_delta  the same over the hallucinated tokens of the rejected sides: training
                                 should lower it
    chosen_logp, rejected_logp   mean logp(y) of each side under the policy
    logp_accuracy                share of pairs whose chosen side the policy scores higher (no reference)

Reference log-probs come from, and go to, the on-disk cache training uses (reference.ReferenceCache): a
reference shared by several checkpoints runs once per record. When the reference is the policy itself its
log-probs are used for both, so its margins are exactly 0.
"""

from __future__ import annotations

import torch

from .config import DDPOConfig
from .data import PairCollator, PreferenceDataset
from .forward import PairScorer, choose_path
from .loss import ddpo_loss, weighted_logps
from .model import load_model, load_processor, pad_token_id
from .reference import to_device
from .trainer import fill_reference_cache, mixed_precision

# The dataset's weight on changed tokens, which marks them: the config's gamma is applied afterwards, so
# the changed tokens stay known when gamma is 1.
CHANGED = 2.0
FIGURES = ("preference_accuracy", "reward_margin", "loss", "chosen_changed_logp_delta",
           "rejected_changed_logp_delta", "chosen_logp", "rejected_logp", "logp_accuracy")


def pair_figures(logps: torch.Tensor, ref_logps: torch.Tensor, marks: torch.Tensor, config: DDPOConfig) -> dict:
    """Per-pair and per-token sums of one batch from per-token log-probs (2B, C) of policy and reference and
    the dataset's weights (2B, C: 0 padding, 1 unchanged, CHANGED changed)."""
    changed = marks == CHANGED                                          # (2B, C)
    weights = (marks > 0).to(logps.dtype) + (config.gamma - 1.0) * changed.to(logps.dtype)
    policy = weighted_logps(logps, weights, config.average)             # (2B,)
    reference = weighted_logps(ref_logps, weights, config.average)      # (2B,)
    (pc, pr), (rc, rr) = policy.chunk(2), reference.chunk(2)
    losses, chosen_rewards, rejected_rewards = ddpo_loss(pc, pr, rc, rr, config.beta, config.dpop_lambda)
    margins = chosen_rewards - rejected_rewards                         # (B,)
    delta = (logps - ref_logps) * changed                               # (2B, C)
    B = pc.shape[0]
    return {
        "pairs": B,
        "preference_accuracy": float((margins > 0).sum() + 0.5 * (margins == 0).sum()),
        "reward_margin": float(margins.sum()),
        "loss": float(losses.sum()),
        "chosen_logp": float(pc.sum()),
        "rejected_logp": float(pr.sum()),
        "logp_accuracy": float((pc > pr).sum()),
        "chosen_changed_logp_delta": float(delta[:B].sum()), "chosen_changed_tokens": int(changed[:B].sum()),
        "rejected_changed_logp_delta": float(delta[B:].sum()), "rejected_changed_tokens": int(changed[B:].sum()),
    }


def figures_from_sums(sums: dict) -> dict:
    """Means of summed ``pair_figures``: per pair, and per changed token for the deltas."""
    pairs = sums.get("pairs", 0)
    figures = {"records": pairs}
    for name in FIGURES:
        side = name.split("_")[0]
        count = sums.get(f"{side}_changed_tokens", 0) if name.endswith("_delta") else pairs
        figures[name] = sums[name] / count if count else None
    return figures


def evaluate_pairs(config: DDPOConfig, records, *, on_batch=None) -> dict:
    """``figures_from_sums`` of the policy ``config.model`` against ``config.reference_model`` on
    ``records`` (PreferencePair or dicts); ``on_batch(done, total)`` after each micro-batch."""
    records = list(records)
    if not records:
        return figures_from_sums({})
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    use_bf16, autocast = mixed_precision(config, device)
    processor = load_processor(config.model)
    dataset = PreferenceDataset(records, processor, gamma=CHANGED, max_completion_tokens=config.max_completion_tokens)
    collate = PairCollator(pad_token_id(processor))
    model = load_model(config.model, dtype=config.dtype).to(device)
    openings = dataset.shared_openings()
    fill_reference_cache(config, model, dataset, collate, precision=config.dtype + "-bf16" * use_bf16,
                         openings=openings, fresh=True, rank=0, world=1, device=device, autocast=autocast)
    model.eval()
    scorer = PairScorer(model, choose_path(model, shared_prefix=config.shared_prefix, gradient_checkpointing=False))
    order = sorted(range(len(dataset)), key=openings.__getitem__)  # similar openings share the prefix pass
    batches = [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=collate)
    sums: dict = {}
    with torch.inference_mode():
        for done, batch in enumerate(loader, start=1):
            batch = to_device(batch, device)
            ref_logps = batch["ref_logps"]
            if config.reference_model == config.model:
                logps = ref_logps
            else:
                with autocast():
                    logps = scorer(batch).float()                       # (2B, C)
            for name, value in pair_figures(logps, ref_logps, batch["completion_weights"], config).items():
                sums[name] = sums.get(name, 0) + value
            if on_batch is not None:
                on_batch(done, len(batches))
    return figures_from_sums(sums)
