"""A project's training defaults (what its auto runs train with) and the order prompts are asked in."""
import pytest

from annotate.models import Prompt, Response
from config.errors import ApplicationError
from tests.factories import make_image, make_project
from training.models import ModelCheckpoint
from training.selectors import prompts_without_response
from training.services import project_training_defaults_update, training_config_resolve, training_run_create

pytestmark = pytest.mark.django_db


def test_a_run_trains_with_the_projects_config_under_its_own_overrides():
    project = make_project()
    ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base", is_active=True)
    project_training_defaults_update(project=project, gamma=1.0, beta=0.1, config={"learning_rate": 1e-3, "epochs": 2})
    project.refresh_from_db()
    assert (project.gamma, project.beta, project.training_config) == (1.0, 0.1, {"learning_rate": 1e-3, "epochs": 2})
    run = training_run_create(project=project, config={"epochs": 3})  # the beat's runs pass none
    assert (run.config["learning_rate"], run.config["epochs"], run.config["gamma"], run.config["beta"]) == (1e-3, 3, 1.0, 0.1)
    assert training_config_resolve(project=project)["epochs"] == 2


@pytest.mark.parametrize("config, field", [({"gamma": 2.0}, "config"), ({"bogus": 1}, "config"),
                                            ({"epochs": 0}, "config")])
def test_bad_training_defaults_are_refused_and_nothing_is_stored(config, field):
    project = make_project()
    with pytest.raises(ApplicationError) as refused:
        project_training_defaults_update(project=project, gamma=5.0, beta=0.5, config=config)
    assert field in refused.value.fields
    project.refresh_from_db()
    assert project.training_config == {}


def test_a_checkpoint_is_asked_prompts_nobody_answered_before_those_another_checkpoint_answered():
    project = make_project()
    old = ModelCheckpoint.objects.create(project=project, name="old", path="/nowhere/old")
    new = ModelCheckpoint.objects.create(project=project, name="new", path="/nowhere/new")
    answered, fresh, mine = (Prompt.objects.create(project=project, image=make_image(), question=f"Q{n}?") for n in range(3))
    Response.objects.create(prompt=answered, checkpoint=old, text="An answer.")
    Response.objects.create(prompt=mine, checkpoint=new, text="An answer.")
    assert prompts_without_response(project=project, checkpoint=new, limit=5) == [fresh, answered]
    assert prompts_without_response(project=project, checkpoint=new, limit=1) == [fresh]


def test_run_loop_lowers_the_threshold_to_a_short_rounds_records_unless_the_trigger_already_fired():
    from django.utils import timezone

    from demo.loop import threshold_settle
    from tests.training.conftest import make_record
    from training.models import TrainingRun, TrainingTrigger

    project = make_project(auto_train_threshold=10)
    since, said = timezone.now(), []
    assert not threshold_settle(project=project, threshold=10, since=since, log=said.append)  # nothing to train on
    for index in range(3):
        make_record(project, index)
    assert threshold_settle(project=project, threshold=10, since=since, log=said.append)
    project.refresh_from_db()
    assert project.auto_train_threshold == 3 and said == ["  3 training records, below the threshold of 10: threshold set to 3"]
    project.auto_train_threshold = 10
    project.save()
    TrainingRun.objects.create(project=project, trigger=TrainingTrigger.AUTO)
    assert threshold_settle(project=project, threshold=10, since=since, log=said.append)
    project.refresh_from_db()
    assert project.auto_train_threshold == 10 and len(said) == 1
