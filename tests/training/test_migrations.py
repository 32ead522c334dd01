"""Migrations that rewrite data: rows stored before them come out in the shape the code reads now."""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from training.ddpo.config import DDPOConfig
from training.models import TrainingRun
from training.services import RESERVED_CONFIG_KEYS, training_run_config

BEFORE = [("annotate", "0005_record_annotation_version"), ("training", "0003_job_sent_at")]


def migrate(targets=None):
    """Migrate to ``targets`` (default: the latest); the models as of there."""
    executor = MigrationExecutor(connection)
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_old_runs_get_their_resolved_settings_and_gamma_below_one_is_raised():
    """A run that held only overrides gets the project's gamma and beta and DDPOConfig's defaults; gamma 0.5 -> 1."""
    old = migrate(BEFORE)
    try:
        Project, Checkpoint = old.get_model("annotate", "Project"), old.get_model("training", "ModelCheckpoint")
        Run = old.get_model("training", "TrainingRun")
        low = Project.objects.create(name="low", gamma=0.5, beta=0.1)
        fine = Project.objects.create(name="fine", gamma=3.0, beta=0.2)
        runs = {}
        for project, overrides in ((low, {"epochs": 2}), (fine, {"gamma": 2.0})):
            base = Checkpoint.objects.create(project=project, name="base", path="/nowhere/base", is_active=True)
            runs[project.name] = Run.objects.create(project=project, base_checkpoint=base, config=overrides).pk
    finally:
        migrate()
    defaults = {name: value for name, value in DDPOConfig(model="-", output_dir="-").to_dict().items()
                if name not in RESERVED_CONFIG_KEYS}
    low, fine = TrainingRun.objects.get(pk=runs["low"]), TrainingRun.objects.get(pk=runs["fine"])
    assert low.project.gamma == 1.0  # set, not computed
    assert low.config == {**defaults, "gamma": 1.0, "beta": 0.1, "epochs": 2}
    assert fine.config == {**defaults, "gamma": 2.0, "beta": 0.2}
    config = training_run_config(run=low)  # what the worker reads
    assert (config.gamma, config.epochs, config.model) == (1.0, 2, "/nowhere/base")
