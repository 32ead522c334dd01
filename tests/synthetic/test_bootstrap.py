"""The bootstrap: builds, trains and saves a loadable checkpoint with its config."""

import json

import pytest
import torch

from synthetic.bootstrap import CONFIG_FILE, BootstrapConfig, _learning_rate, _pool, bootstrap
from synthetic.evaluate import load_checkpoint


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    config = BootstrapConfig(steps=1000, learning_rate=1e-3, warmup_steps=100)
    assert _learning_rate(0, config) == pytest.approx(1e-5)
    assert _learning_rate(99, config) == pytest.approx(1e-3)
    assert _learning_rate(999, config) == pytest.approx(1e-4, rel=1e-3)


def test_curriculum_samples_one_object_scenes_first():
    config = BootstrapConfig(single_object_steps=2, batch_size=2)
    everything, single = ["a", "b", "c"], ["a", "b"]
    assert [_pool(step, everything, single, config) for step in (1, 2, 3)] == [single, single, everything]
    assert _pool(1, everything, ["a"], config) == everything          # too few for a batch


@pytest.mark.slow
def test_short_bootstrap_trains_every_parameter_and_saves(tmp_path):
    """A few steps change the weights; the folder reloads offline with its config,
    which names the validated step it kept."""
    path = bootstrap(tmp_path / "ckpt", seed=1, steps=3, scenes=20, batch_size=4, warmup_steps=1,
                     validate_every=2, validation_scenes=4, log=lambda _: None)
    trained, _ = load_checkpoint(path)
    config = json.loads((path / CONFIG_FILE).read_text())
    assert config["steps"] == 3 and config["seed"] == 1
    assert config["kept"]["step"] in (2, 3) and 0 <= config["kept"]["coverage"] <= 1
    untouched = bootstrap(tmp_path / "zero", seed=1, steps=0, scenes=20, log=lambda _: None)
    initial, _ = load_checkpoint(untouched)
    changed = {
        name
        for (name, before), after in zip(initial.named_parameters(), trained.parameters())
        if not torch.equal(before, after)
    }
    frozen_by_design = {n for n, _ in initial.named_parameters() if "post_layernorm" in n}
    assert changed == {n for n, _ in initial.named_parameters()} - frozen_by_design
