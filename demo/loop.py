"""The closed loop on the platform, one round at a time (``manage.py run_loop``).

    active checkpoint -> generation batch (answers become tasks) -> simulated annotators, several at
    once, through the REST API -> preference records (Celery task on submit) -> training run from the
    active checkpoint (reference = it) -> held-out evaluation -> the new checkpoint becomes active

Every job goes through its service and Celery task: in this process when Celery is eager (run_loop's
default) or on workers; ``job_wait`` follows either way and ``job_watch`` shows progress meanwhile.
"""
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection, transaction

from annotate.models import Annotation, AnnotationStatus, Membership, PreferenceRecord, Role
from config.errors import ApplicationError
from synthetic.annotator import SimulatedAnnotator
from synthetic.client import PlatformClient, annotate_project
from demo.services import MAX_NEW_TOKENS, checkpoint_judged, shapes_prompts_create
from jobs.models import JobStatus
from synthetic.loop import LOOP_FIRST_SEED
from synthetic.scenes import DATASET
from training.models import GenerationBatch, TrainingRun, TrainingTrigger
from training.services import checkpoint_activate, generation_batch_create, training_run_create

SIMULATED_USERNAME = "sim-annotator{}"


@transaction.atomic
def loop_annotators_create(*, project, count) -> list[tuple[str, str]]:
    """``count`` simulated annotators of the project with fresh passwords: ``[(username, password)]``."""
    logins = []
    for number in range(1, count + 1):
        user, _ = get_user_model().objects.get_or_create(username=SIMULATED_USERNAME.format(number))
        password = secrets.token_urlsafe(16)
        user.set_password(password)
        user.save()
        Membership.objects.update_or_create(project=project, user=user, defaults={"role": Role.ANNOTATOR})
        logins.append((user.username, password))
    return logins


def loop_seeds(*, project, count) -> list[int]:
    """The next ``count`` loop scene seeds the project has no prompt for."""
    used = set(project.prompts.filter(origin__dataset=DATASET).values_list("origin__scene_id", flat=True))
    seeds, seed = [], LOOP_FIRST_SEED
    while len(seeds) < count:
        if f"scene-{seed}" not in used:
            seeds.append(seed)
        seed += 1
    return seeds


def job_watch(model, *, project, log, every=2.0):
    """Start a thread that logs the progress of ``model``'s running jobs in ``project``; call the result to stop."""
    stop = threading.Event()

    def watch():
        shown = None
        while not stop.wait(every):
            job = model.objects.filter(project=project, status=JobStatus.RUNNING).order_by("-pk").first()
            if job is not None and (job.pk, round(job.progress, 2)) != shown:
                shown = (job.pk, round(job.progress, 2))
                steps = f" step {job.step}/{job.total_steps}" if isinstance(job, TrainingRun) else ""
                log(f"  {job}: {job.progress:.0%}{steps}")
        connection.close()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()

    def stopper():
        stop.set()
        thread.join()

    return stopper


def job_wait(job, *, timeout):
    """Wait until the job finished (at once when it ran eagerly); raise unless it succeeded."""
    deadline = time.monotonic() + timeout
    job.refresh_from_db()
    while not job.is_finished:
        if time.monotonic() > deadline:
            raise ApplicationError(f"{job} did not finish within {timeout} s (is a worker of queue gpu running?)")
        time.sleep(1.0)
        job.refresh_from_db()
    if job.status != JobStatus.SUCCEEDED:
        raise ApplicationError(f"{job}: {job.error or job.status}")
    return job


def loop_generate(*, project, checkpoint, count, timeout, log) -> GenerationBatch:
    """Fresh scenes answered by ``checkpoint``; the answers become the round's tasks."""
    prompts = shapes_prompts_create(project=project, seeds=loop_seeds(project=project, count=count))
    stop = job_watch(GenerationBatch, project=project, log=log)
    try:
        batch = generation_batch_create(project=project, checkpoint=checkpoint, prompt_ids=[p.pk for p in prompts],
                                        params={"max_new_tokens": MAX_NEW_TOKENS, "batch_size": 64})
        return job_wait(batch, timeout=timeout)
    finally:
        stop()


def loop_annotate(*, base_url, project, logins, error_rate=0.0, seed=0) -> int:
    """Simulated annotators work through the project's tasks at once, over HTTP; returns how many they did."""

    def work(number, username, password):
        client = PlatformClient.login(base_url, username, password)
        return annotate_project(client, project.pk, SimulatedAnnotator(error_rate=error_rate, seed=seed + number))

    with ThreadPoolExecutor(len(logins)) as pool:
        return sum(pool.map(work, range(len(logins)), *zip(*logins)))


def records_wait(*, batch, timeout) -> int:
    """Wait until every correcting annotation of the batch has its record (built by the Celery task)."""
    corrections = Annotation.objects.filter(
        task__response__generation_batch=batch, status=AnnotationStatus.SUBMITTED, no_hallucination=False,
        segments__isnull=False,
    ).distinct()
    expected = corrections.count()
    deadline = time.monotonic() + timeout
    while (built := PreferenceRecord.objects.filter(annotation__in=corrections).count()) < expected:
        if time.monotonic() > deadline:
            raise ApplicationError(f"{built} of {expected} records built after {timeout} s (is a worker running?)")
        time.sleep(0.5)
    return built


def loop_train(*, project, checkpoint, config, timeout, log):
    """A training run of the project's records from ``checkpoint``; its output checkpoint, made active."""
    stop = job_watch(TrainingRun, project=project, log=log)
    try:
        run = training_run_create(project=project, base_checkpoint=checkpoint, config=config,
                                  trigger=TrainingTrigger.LOOP)
        run = job_wait(run, timeout=timeout)
    finally:
        stop()
    return run, checkpoint_activate(checkpoint=run.output_checkpoint)


def loop_round(*, project, checkpoint, base_url, logins, config, tasks, held_out, error_rate=0.0, seed=0,
               timeout=3600, log=print) -> dict:
    """One round from ``checkpoint``: its report row (metrics of the new checkpoint)."""
    started = time.perf_counter()
    log(f"generating {tasks} answers with {checkpoint.name}")
    batch = loop_generate(project=project, checkpoint=checkpoint, count=tasks, timeout=timeout, log=log)
    done = loop_annotate(base_url=base_url, project=project, logins=logins, error_rate=error_rate, seed=seed)
    close_old_connections()
    built = records_wait(batch=batch, timeout=timeout)
    log(f"{len(logins)} annotators did {done} tasks; {built} new records")
    run, trained = loop_train(project=project, checkpoint=checkpoint, config=config, timeout=timeout, log=log)
    log(f"trained {trained.name} on {run.record_count} records; judged on {held_out} held-out scenes or more")
    metrics = checkpoint_judged(checkpoint=trained, held_out=held_out)
    return report_row(checkpoint=trained, metrics=metrics, records=run.record_count,
                      seconds=time.perf_counter() - started)


def report_row(*, checkpoint, metrics, records, seconds) -> dict:
    keys = ("response_hallucination_rate", "mention_hallucination_rate", "coverage", "empty_rate", "unparsed_rate")
    return {"checkpoint": checkpoint.pk, "path": checkpoint.path, **{k: metrics.get(k) for k in keys},
            "records": records, "seconds": round(seconds, 1)}
