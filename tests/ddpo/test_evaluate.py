"""Held-out evaluation: the implicit reward as training computes it, exact on a hand example, 1/2 and 0 for a
policy that is its own reference, above chance for a checkpoint trained on the held-out pairs' habit."""
import math

import pytest
import torch

from training.ddpo.config import DDPOConfig
from training.ddpo.evaluate import CHANGED, evaluate_pairs, figures_from_sums, pair_figures
from training.ddpo.trainer import train

from .conftest import color_records


def test_pair_figures_by_hand():
    """One pair, tokens [unchanged, changed, padding] / [unchanged, changed, unchanged], gamma 3, beta 0.5."""
    marks = torch.tensor([[1.0, CHANGED, 0.0], [1.0, CHANGED, 1.0]])
    policy = torch.tensor([[-1.0, -0.5, 0.0], [-1.0, -3.0, -1.0]])
    reference = torch.tensor([[-1.0, -2.0, 0.0], [-1.0, -1.0, -1.0]])
    config = DDPOConfig(model="-", output_dir="-", gamma=3.0, beta=0.5)
    sums = pair_figures(policy, reference, marks, config)
    # chosen: (-1 + 3 * -0.5) / 4 = -0.625 vs (-1 + 3 * -2) / 4 = -1.75; rejected: (-1 - 9 - 1) / 5 vs (-1 - 3 - 1) / 5
    chosen_reward, rejected_reward = 0.5 * (-0.625 + 1.75), 0.5 * (-11 / 5 + 5 / 5)
    figures = figures_from_sums(sums)
    assert figures["records"] == 1 and figures["preference_accuracy"] == pytest.approx(1.0)
    assert figures["reward_margin"] == pytest.approx(chosen_reward - rejected_reward)
    assert figures["loss"] == pytest.approx(math.log1p(math.exp(-(chosen_reward - rejected_reward))))
    assert figures["chosen_changed_logp_delta"] == pytest.approx(1.5)
    assert figures["rejected_changed_logp_delta"] == pytest.approx(-2.0)
    assert figures["chosen_logp"] == pytest.approx(-0.625) and figures["logp_accuracy"] == 1.0
    # gamma 1 weighs every token alike, yet the changed ones are still known
    plain = figures_from_sums(pair_figures(policy, reference, marks, DDPOConfig(model="-", output_dir="-", gamma=1.0)))
    assert plain["rejected_changed_logp_delta"] == pytest.approx(-2.0)
    assert plain["chosen_logp"] == pytest.approx(-0.75)


def test_no_pairs_no_figures():
    figures = evaluate_pairs(DDPOConfig(model="-", output_dir="-"), [])
    assert figures["records"] == 0 and figures["preference_accuracy"] is None and figures["reward_margin"] is None


def _held_out_twins():
    """Pairs with the training pairs' habit (the colour word corrected) in combinations they do not hold."""
    return [dict(record, id=f"heldout-{record['id']}") for record in color_records(40)[32:]]


def test_a_policy_that_is_its_own_reference_scores_chance_and_no_margin(tiny_vlm, tmp_path):
    config = DDPOConfig(model=str(tiny_vlm), output_dir="-", reference_cache_dir=str(tmp_path / "cache"))
    figures = evaluate_pairs(config, _held_out_twins())
    assert figures["records"] == 8
    assert figures["reward_margin"] == 0.0 and figures["preference_accuracy"] == 0.5
    assert figures["chosen_changed_logp_delta"] == 0.0 == figures["rejected_changed_logp_delta"]
    assert 0.0 <= figures["logp_accuracy"] <= 1.0 and figures["chosen_logp"] < 0


def test_a_trained_checkpoint_prefers_the_corrections_of_pairs_it_never_saw(tiny_vlm, tmp_path):
    """Trained on 32 colour corrections, it ranks 8 held-out ones above chance against its base, raising the
    corrected tokens and lowering the hallucinated ones; the reference's log-probs are cached for the next."""
    cache = tmp_path / "cache"
    trained = train(DDPOConfig(model=str(tiny_vlm), output_dir=str(tmp_path / "run"), learning_rate=1e-3, beta=0.1,
                               batch_size=8, epochs=3, warmup_ratio=0.1, reference_cache_dir=str(cache)),
                    color_records(32))
    config = DDPOConfig(model=str(trained), reference=str(tiny_vlm), output_dir="-", reference_cache_dir=str(cache),
                        beta=0.1)
    batches = []
    figures = evaluate_pairs(config, _held_out_twins(), on_batch=lambda done, total: batches.append((done, total)))
    assert batches == [(1, 1)]
    assert figures["preference_accuracy"] >= 0.75 and figures["reward_margin"] > 0
    assert figures["chosen_changed_logp_delta"] > figures["rejected_changed_logp_delta"]
    assert len(list(cache.rglob("*.pt"))) == 32 + 8
