"""The closed loop on the platform, driven from outside (``manage.py run_loop``).

run_loop's own work is the simulated annotators, several at once, through the REST API. Everything else is
the platform's chain, as it runs for any team:

    annotations -> preference records (Celery task on submit) -> ``auto_train_threshold`` training records
    -> the beat's ``training_auto_trigger`` launches a run from the active checkpoint -> its success queues a
    CheckpointEvaluation (held-out records, the judge's held-out scenes) -> its end decides promotion by the
    project's ``promotion_policy`` -> a promotion queues the next generation batch from unanswered prompts
    -> its answers are the next round's tasks

Jobs run in this process when Celery is eager (run_loop's default; ``EmbeddedBeat`` then plays the beat) or on
workers and a real ``celery beat``; the functions here only wait for the chain and read what it recorded.
"""
import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection, transaction

from annotate.models import Annotation, AnnotationStatus, Membership, PreferenceRecord, Prompt, Response, Role
from config.errors import ApplicationError
from demo.services import shapes_prompts_create
from jobs.models import JobStatus
from synthetic.annotator import SimulatedAnnotator
from synthetic.client import PlatformClient, annotate_project
from synthetic.loop import LOOP_FIRST_SEED
from synthetic.scenes import DATASET
from training.models import DecisionKind, GenerationBatch, PromotionDecision, TrainingRun, TrainingTrigger
from training.promotion import project_loop_settings_update
from training.selectors import records_since_last_run

logger = logging.getLogger(__name__)

SIMULATED_USERNAME = "sim-annotator{}"
JUDGE_KEYS = ("response_hallucination_rate", "mention_hallucination_rate", "coverage", "empty_rate", "unparsed_rate")


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


def loop_prompts_ensure(*, project, count) -> int:
    """At least ``count`` prompts nobody has answered yet (fresh scenes): the pool the platform's batches
    draw from, as a team uploads prompts. Returns how many were created."""
    fresh = Prompt.objects.filter(project=project).exclude(pk__in=Response.objects.values("prompt_id")).count()
    missing = max(0, count - fresh)
    if missing:
        shapes_prompts_create(project=project, seeds=loop_seeds(project=project, count=missing))
    return missing


class EmbeddedBeat:
    """The beat of an eager run_loop: every task of ``CELERY_BEAT_SCHEDULE``, called by name at its interval
    in a thread (eager: its jobs run in that thread), under ``lock`` so that no two eager tasks overlap."""

    def __init__(self, *, lock, log, intervals=None, tick=0.5):
        """``intervals``: seconds by task name that replace the schedule's (e.g. a quicker trigger)."""
        self.lock, self.log, self.tick = lock, log, tick
        self.every = {entry["task"]: entry["schedule"].total_seconds() for entry in settings.CELERY_BEAT_SCHEDULE.values()}
        self.every.update(intervals or {})
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="embedded-beat")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join()

    def _run(self):
        due = {name: time.monotonic() + every for name, every in self.every.items()}
        while not self.stop_event.wait(self.tick):
            for name, at in due.items():
                if time.monotonic() >= at and not self.stop_event.is_set():
                    with self.lock:
                        self._call(name)
                    due[name] = time.monotonic() + self.every[name]
        connection.close()

    def _call(self, name):
        close_old_connections()
        try:
            current_app.tasks[name].apply(throw=True)
        except Exception:  # a beat task that fails is tried again at its next tick, as celery beat does
            logger.exception("Beat task %s failed", name)
            self.log(f"  beat task {name} failed (see the log); it runs again in {self.every[name]:g} s")


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


def poll(find, *, timeout, waiting_for, every=1.0):
    """``find()`` once it returns something; an ApplicationError naming ``waiting_for`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while (found := find()) is None:
        if time.monotonic() > deadline:
            raise ApplicationError(f"No {waiting_for} within {timeout} s (are a worker of queues default,gpu and "
                                   f"celery beat running?)")
        time.sleep(every)
    return found


def job_wait(job, *, timeout):
    """Wait until the job finished (at once when it ran eagerly); raise unless it succeeded."""
    def finished():
        job.refresh_from_db()
        return job if job.is_finished else None

    poll(finished, timeout=timeout, waiting_for=f"end of {job}")
    if job.status != JobStatus.SUCCEEDED:
        raise ApplicationError(f"{job}: {job.error or job.status}")
    return job


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
    poll(lambda: True if PreferenceRecord.objects.filter(annotation__in=corrections).count() >= expected else None,
         timeout=timeout, waiting_for=f"records of all {expected} corrections", every=0.5)
    return expected


def round_decision(*, project, since, timeout) -> PromotionDecision:
    """The policy's decision on the checkpoint of the first run the beat's trigger launched after ``since``, once
    the run finished and its evaluation ended; raises if the run failed."""
    runs = project.training_runs.filter(trigger=TrainingTrigger.AUTO, created_at__gt=since).order_by("created_at")
    run = poll(runs.first, timeout=timeout, waiting_for="training run launched by the auto-train trigger")
    run = job_wait(run, timeout=timeout)
    return poll(lambda: PromotionDecision.objects.filter(checkpoint__produced_by=run, kind=DecisionKind.POLICY)
                .select_related("checkpoint", "next_batch").first(),
                timeout=timeout, waiting_for=f"promotion decision on the checkpoint of {run}")


def checkpoint_row(checkpoint) -> dict:
    """A checkpoint's report figures as its evaluation job stored them: the judge's on the held-out scenes and
    the held-out records' preference accuracy."""
    checkpoint.refresh_from_db(fields=["eval_metrics"])
    metrics = checkpoint.eval_metrics or {}
    judge, heldout = metrics.get("judge") or {}, metrics.get("heldout") or {}
    return {"checkpoint": checkpoint.pk, "path": checkpoint.path, **{key: judge.get(key) for key in JUDGE_KEYS},
            "judge_scenes": judge.get("held_out"), "heldout_records": heldout.get("records"),
            "heldout_preference_accuracy": heldout.get("preference_accuracy"),
            "evaluation": metrics.get("evaluation")}


def round_row(decision) -> dict:
    """One round as the platform recorded it: the run, its checkpoint's evaluation, the decision, the next batch."""
    run = decision.checkpoint.produced_by
    return {**checkpoint_row(decision.checkpoint), "run": run.pk, "trigger": run.trigger,
            "records": run.record_count, "steps": run.step, "decision": decision.outcome, "reason": decision.reason,
            "next_batch": decision.next_batch_id, "note": decision.note}


def threshold_settle(*, project, threshold, since, log) -> bool:
    """After a round's annotations: whether a run comes. Yes when the trigger launched one since ``since`` (the
    threshold was reached before the last annotations); else when the training records since the last run fall
    short of the threshold (answers the annotators found right give no record), the threshold is lowered to
    them so the round trains; no when there is none to train on."""
    if project.training_runs.filter(trigger=TrainingTrigger.AUTO, created_at__gt=since).exists():
        return True
    records = records_since_last_run(project=project)
    if 0 < records < threshold:
        log(f"  {records} training records, below the threshold of {threshold}: threshold set to {records}")
        project_loop_settings_update(project=project, auto_train_threshold=records)
    return records > 0


def newest_batch(*, project, checkpoint) -> GenerationBatch | None:
    return GenerationBatch.objects.filter(project=project, checkpoint=checkpoint).order_by("-created_at", "-pk").first()
