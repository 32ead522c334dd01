"""training.services: runs, cancellation, checkpoints, auto trigger, generation batches (no worker)."""
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection

from annotate.models import AnnotationTask, Prompt, Response
from config.errors import ApplicationError
from tests.conftest import ROOT
from tests.factories import make_image, make_project
from tests.training.conftest import make_record
from training import services
from jobs.models import JobStatus
from training.ddpo.config import DDPOConfig
from training.models import GenerationBatch, ModelCheckpoint, TrainingMetric, TrainingRun, TrainingTrigger
from training.selectors import training_run_active_exists


@pytest.fixture
def project(db):
    project = make_project()
    ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base", is_active=True)
    return project


@pytest.mark.parametrize("config,message", [({"gamma": 0.5}, "gamma"), ({"epochs": 0}, "epochs"),
                                            ({"gama": 5}, "unknown config keys"), ({"output_dir": "/tmp"}, "output_dir"),
                                            ({"batch_size": 1.5}, "batch_size"), ({"epochs": True}, "epochs"),
                                            ({"beta": float("inf")}, "beta"), ({"lora": 1}, "lora"),
                                            ({"max_steps": 2**40}, "max_steps"), ({"lora_target_modules": [1]}, "lora_target"),
                                            ({"lora_target_modules": "q\x00"}, "NUL"), ({"lora_target_modules": ["\ud800"]}, "surrogate")])
def test_create_rejects_bad_config(project, config, message):
    """A bad override is refused before anything is queued, naming the config key."""
    with pytest.raises(ApplicationError, match=message) as caught:
        services.training_run_create(project=project, config=config)
    assert "config" in caught.value.fields
    assert not TrainingRun.objects.exists()


def test_create_stores_the_resolved_settings(project):
    """The run keeps DDPOConfig's defaults, the project's gamma and beta and the overrides, as they were at launch."""
    project.gamma, project.beta = 3.0, 0.2
    project.save()
    run = services.training_run_create(project=project, config={"epochs": 2, "beta": 0.1})
    run.refresh_from_db()
    defaults = {name: value for name, value in DDPOConfig(model="-", output_dir="-").to_dict().items()
                if name not in services.RESERVED_CONFIG_KEYS}
    assert run.config == {**defaults, "gamma": 3.0, "beta": 0.1, "epochs": 2}
    project.gamma = 7.0
    project.save()
    config = services.training_run_config(run=run)  # what the worker trains with
    assert (config.gamma, config.beta, config.epochs, config.model) == (3.0, 0.1, 2, "/nowhere/base")


def test_create_refuses_a_project_default_ddpo_refuses(project):
    """A project gamma DDPOConfig refuses is a 400 at launch naming gamma, not a failure on the worker."""
    project.gamma = 0.5  # in memory only: the database refuses it (tests/platform/test_constraints.py)
    with pytest.raises(ApplicationError, match="gamma must be >= 1") as caught:
        services.training_run_create(project=project)
    assert caught.value.status == 400 and "gamma" in caught.value.fields["project"][0]
    assert not TrainingRun.objects.exists()


def test_create_needs_an_active_checkpoint(db):
    """Without a checkpoint to start from, the error names base_checkpoint."""
    with pytest.raises(ApplicationError) as caught:
        services.training_run_create(project=make_project())
    assert "base_checkpoint" in caught.value.fields


def test_one_unfinished_run_per_project(project):
    """A second run while one is queued answers 409."""
    services.training_run_create(project=project)
    with pytest.raises(ApplicationError) as caught:
        services.training_run_create(project=project)
    assert caught.value.status == 409


def test_cancel_queued_run_is_immediate_and_the_worker_skips_it(project):
    """A queued run is cancelled at once; executing it afterwards does nothing."""
    run = services.training_run_create(project=project)
    services.training_run_cancel(run=run)
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED and run.cancel_requested
    assert services.training_run_execute(run_id=run.pk).status == JobStatus.CANCELLED
    with pytest.raises(ApplicationError):
        services.training_run_cancel(run=run)


def test_cancel_running_run_only_asks(project):
    """A running run keeps running until its worker sees the request."""
    run = services.training_run_create(project=project)
    run.transition(JobStatus.RUNNING)
    services.training_run_cancel(run=run)
    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING and run.cancel_requested


def test_cancel_after_the_last_step_still_cancels(project):
    """A cancel answered while the worker was finishing wins: the run ends cancelled, with no checkpoint."""
    run = services.training_run_create(project=project)
    run.transition(JobStatus.RUNNING)
    services.training_run_cancel(run=run)
    assert services._training_run_finish(run=run, output_path="/nowhere/final") is None
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED and not ModelCheckpoint.objects.filter(produced_by=run).exists()



def test_a_broker_that_refuses_the_task_fails_the_job(transactional_db, process_env):
    """With the broker down, the run is created and failed with the reason, not left queued (blocking the next)."""
    project = make_project()
    ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base", is_active=True)
    code = ("from annotate.models import Project; from training.services import training_run_create; "
            f"print(training_run_create(project=Project.objects.get(pk={project.pk})).status)")
    env = {**process_env, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}
    shell = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert shell.returncode == 0 and shell.stdout.split()[-1] == JobStatus.FAILED, shell.stderr[-2000:]
    run = TrainingRun.objects.get(project=project)
    assert run.status == JobStatus.FAILED and "Could not queue" in run.error and run.finished_at
    assert not training_run_active_exists(project=project)  # the next run is not blocked


def test_metrics_stream_into_rows_and_progress(project):
    """Each step's metrics become one row; step, progress and total follow (NaN stored as null)."""
    run = services.training_run_create(project=project)
    run.transition(JobStatus.RUNNING)
    run.total_steps = 4
    services.training_run_record_metrics(run=run, step=1, values={"loss": 0.69, "rewards/margins": float("nan")})
    services.training_run_record_metrics(run=run, step=5, values={"loss": 0.5})
    run.refresh_from_db()
    assert (run.step, run.total_steps, run.progress) == (5, 5, 1.0)
    assert list(TrainingMetric.objects.filter(run=run).values_list("values", flat=True)) == [
        {"loss": 0.69, "rewards/margins": None}, {"loss": 0.5}]


@pytest.mark.slow
def test_failing_run_records_its_error(project):
    """A run whose base model cannot load ends failed, with the error text."""
    make_record(project)
    run = services.training_run_create(project=project)
    run = services.training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED
    assert "/nowhere/base" in run.error and run.finished_at is not None
    assert not ModelCheckpoint.objects.filter(produced_by=run).exists()


def test_checkpoint_activate_keeps_one_active(project):
    """Activating a checkpoint deactivates the project's previous one."""
    first = ModelCheckpoint.objects.get(project=project)
    second = ModelCheckpoint.objects.create(project=project, name="next", path="/nowhere/next")
    services.checkpoint_activate(checkpoint=second)
    assert list(ModelCheckpoint.objects.filter(is_active=True)) == [second]
    services.checkpoint_activate(checkpoint=first)
    assert list(ModelCheckpoint.objects.filter(is_active=True)) == [first]


def test_auto_trigger_waits_for_enough_new_records(project):
    """A run is queued once the threshold of records since the last succeeded run is reached."""
    project.auto_train_threshold = 2
    project.save()
    make_record(project, 0)
    assert services.training_auto_trigger() == []
    make_record(project, 1)
    [run] = services.training_auto_trigger()
    assert run.trigger == TrainingTrigger.AUTO
    assert services.training_auto_trigger() == []  # one unfinished run at a time
    run.transition(JobStatus.RUNNING)
    run.transition(JobStatus.SUCCEEDED)
    assert services.training_auto_trigger() == []  # no records since that run
    make_record(project, 2)
    make_record(project, 3)
    assert len(services.training_auto_trigger()) == 1


def test_auto_trigger_does_not_relaunch_a_failed_or_cancelled_run_nor_retrain_what_a_run_took(project):
    """A failed or cancelled auto run is not queued again every beat (a cancel sticks) until that many more
    records arrive; records that came while a run was queued were trained on by it, so they count as taken."""
    project.auto_train_threshold = 2
    project.save()
    make_record(project, 0), make_record(project, 1)
    [run] = services.training_auto_trigger()
    services.training_run_cancel(run=run)
    assert services.training_auto_trigger() == []
    make_record(project, 2), make_record(project, 3)
    [failed] = services.training_auto_trigger()
    failed.transition(JobStatus.FAILED, error="out of memory")
    assert services.training_auto_trigger() == []
    make_record(project, 4), make_record(project, 5)
    [queued] = services.training_auto_trigger()
    make_record(project, 6), make_record(project, 7)  # arrive while it waits in the queue
    queued.transition(JobStatus.RUNNING)  # takes its records now: all eight
    queued.transition(JobStatus.SUCCEEDED)
    assert services.training_auto_trigger() == []



def test_generation_batch_defaults_to_unanswered_prompts(project):
    """Without prompt ids the batch takes the prompts the checkpoint has not answered yet."""
    checkpoint = ModelCheckpoint.objects.get(project=project)
    answered, *fresh = [Prompt.objects.create(project=project, question=f"q{i}") for i in range(4)]
    Response.objects.create(prompt=answered, checkpoint=checkpoint, text="done")
    batch = services.generation_batch_create(project=project, limit=2, params={"max_new_tokens": 8})
    assert list(batch.prompts.order_by("id")) == fresh[:2]
    assert batch.params["max_new_tokens"] == 8 and batch.prompt_count == 2


@pytest.mark.parametrize("kwargs,field", [({"params": {"top_p": 2}}, "params"), ({"prompt_ids": [999999]}, "prompts"),
                                          ({"params": {"max_new_tokens": 1.5}}, "params"),
                                          ({"params": {"temperature": float("inf")}}, "params"),
                                          ({"params": {"samples_per_prompt": "2"}}, "params")])
def test_generation_batch_rejects_bad_input(project, kwargs, field):
    """Bad sampling params or unknown prompt ids name their field."""
    Prompt.objects.create(project=project, question="q")
    with pytest.raises(ApplicationError) as caught:
        services.generation_batch_create(project=project, **kwargs)
    assert field in caught.value.fields


@pytest.mark.slow
def test_generation_batch_writes_responses_and_tasks(project_with_model):
    """Executing a batch stores n answers per prompt, each with project.overlap open task slots."""
    project, checkpoint = project_with_model
    prompts = [Prompt.objects.create(project=project, image=make_image() if i else None, question="Describe the image.")
               for i in range(3)]
    batch = services.generation_batch_create(
        project=project, prompt_ids=[p.pk for p in prompts],
        params={"max_new_tokens": 6, "samples_per_prompt": 2, "temperature": 0.8})
    services.generation_batch_execute(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == JobStatus.SUCCEEDED, batch.error
    assert batch.response_count == 6 and batch.progress == 1.0
    responses = Response.objects.filter(generation_batch=batch)
    assert sorted(responses.values_list("prompt_id", flat=True)) == sorted([p.pk for p in prompts] * 2)
    assert set(responses.values_list("checkpoint_id", flat=True)) == {checkpoint.pk}
    assert responses.first().sampling_params["samples_per_prompt"] == 2
    assert AnnotationTask.objects.filter(response__generation_batch=batch, status="open").count() == 12
    assert sorted(set(AnnotationTask.objects.values_list("slot", flat=True))) == [0, 1]


def test_cancel_queued_generation_batch_is_immediate_and_the_worker_skips_it(project):
    """A queued batch is cancelled at once; executing it afterwards stores nothing; a second cancel is a 409."""
    Prompt.objects.create(project=project, question="Describe the image.")
    batch = services.generation_batch_create(project=project)
    services.generation_batch_cancel(batch=batch)
    assert services.generation_batch_execute(batch_id=batch.pk).status == JobStatus.CANCELLED
    assert not Response.objects.filter(generation_batch=batch).exists()
    with pytest.raises(ApplicationError) as caught:
        services.generation_batch_cancel(batch=batch)
    assert caught.value.status == 409


def _answer_in_a_thread(tiny_vlm, prompts=400):
    """A batch of ``prompts`` tiny answers, one per micro-batch, executing in a worker thread: (batch, thread, outcome)."""
    project = make_project(overlap=1)
    ModelCheckpoint.objects.create(project=project, name="tiny", path=str(tiny_vlm), is_active=True)
    Prompt.objects.bulk_create(Prompt(project=project, question=f"Describe image {i}.") for i in range(prompts))
    batch = services.generation_batch_create(project=project, limit=prompts, enqueue=False,
                                             params={"max_new_tokens": 4, "batch_size": 1})
    outcome = {}

    def work():
        try:
            outcome["batch"] = services.generation_batch_execute(batch_id=batch.pk)
        finally:
            connection.close()  # the thread's own connection

    worker = threading.Thread(target=work)
    worker.start()
    return batch, worker, outcome


def _progress_reaches(batch, fraction, deadline):
    while batch.progress < fraction and time.monotonic() < deadline:
        time.sleep(0.005)
        batch.refresh_from_db()
    return time.monotonic(), batch.progress


@pytest.mark.slow
def test_cancel_stops_a_running_generation_batch(transactional_db, tiny_vlm):
    """Cancelled while answering: the worker stops at its next micro-batch and stores no answer or task."""
    batch, worker, _ = _answer_in_a_thread(tiny_vlm)
    deadline = time.monotonic() + 120
    (t0, p0), (t1, p1) = _progress_reaches(batch, 1e-9, deadline), _progress_reaches(batch, 0.05, deadline)
    seconds_per_prompt = (t1 - t0) / ((p1 - p0) * 400)
    services.generation_batch_cancel(batch=batch)
    cancelled = time.monotonic()
    worker.join(timeout=120)
    # ~360 prompts were left: stopping at the next micro-batch takes a few prompts' time, not theirs.
    assert time.monotonic() - cancelled < 100 * seconds_per_prompt
    batch.refresh_from_db()
    assert batch.status == JobStatus.CANCELLED and 0 < batch.progress < 1
    assert not Response.objects.filter(generation_batch=batch).exists()
    assert not AnnotationTask.objects.filter(response__generation_batch=batch).exists()


@pytest.mark.slow
def test_a_generation_batch_deleted_while_running_stops_its_worker(transactional_db, tiny_vlm):
    """Deleted (in the admin) while answering: the worker stops at its next micro-batch without an error."""
    batch, worker, outcome = _answer_in_a_thread(tiny_vlm)
    _progress_reaches(batch, 1e-9, time.monotonic() + 120)
    batch_id = batch.pk
    batch.delete()
    worker.join(timeout=120)
    assert not worker.is_alive() and outcome["batch"].pk == batch_id  # returned, no exception in the worker
    assert not GenerationBatch.objects.filter(pk=batch_id).exists()
    assert not Response.objects.exists() and not AnnotationTask.objects.exists()


def test_a_training_run_deleted_while_running_asks_its_worker_to_stop(project):
    """The trainer's stop check is true once the run's row is gone, so it does not train into a deleted run."""
    run = services.training_run_create(project=project)
    run.transition(JobStatus.RUNNING)
    assert not services.training_run_stop_requested(run)
    TrainingRun.objects.filter(pk=run.pk).delete()
    assert services.training_run_stop_requested(run)
