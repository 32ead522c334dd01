"""Reads of the loop, one round per training run: records -> run -> evaluation -> promotion decision ->
generation batch -> annotation tasks (the dashboard's timeline, ``GET /api/projects/<id>/loop/``)."""
from django.db.models import Count

from annotate.models import AnnotationTask
from jobs.models import JobStatus
from training.models import CheckpointEvaluation, GenerationBatch, PromotionDecision, PromotionOutcome
from training.selectors import checkpoint_awaiting_decision, records_since_last_run

ROUNDS_SHOWN = 20
# The evaluation's figures a round shows (ModelCheckpoint.eval_metrics); the rest is on the checkpoint.
HEADLINE = {"heldout": ("records", "preference_accuracy", "reward_margin"), "judge": ("response_hallucination_rate",)}


def _run(run):
    return {"id": run.pk, "status": run.status, "trigger": run.trigger, "step": run.step,
            "total_steps": run.total_steps, "record_count": run.record_count, "error": run.error,
            "created_at": run.created_at, "finished_at": run.finished_at}


def _evaluation(run, checkpoint, evaluation):
    """The checkpoint's newest evaluation job (status, progress, error) and its stored headline figures;
    "waiting" while a succeeded run's checkpoint has neither."""
    if checkpoint is None:
        return None
    metrics = checkpoint.eval_metrics or {}
    headline = {f"{group}.{name}": metrics[group][name] for group, names in HEADLINE.items()
                for name in names if isinstance(metrics.get(group), dict) and name in metrics[group]}
    if evaluation is not None:
        return {"id": evaluation.pk, "status": evaluation.status, "progress": evaluation.progress,
                "error": evaluation.error, "headline": headline}
    if metrics:
        return {"status": "done", "headline": headline}
    return {"status": "waiting" if run.status == JobStatus.SUCCEEDED else None, "headline": {}}


def _decision(decision):
    if decision is None:
        return None
    return {"id": decision.pk, "outcome": decision.outcome, "kind": decision.kind, "policy": decision.policy,
            "reason": decision.reason, "note": decision.note,
            "decided_by": decision.decided_by.get_username() if decision.decided_by else None,
            "created_at": decision.created_at}


def _batch(batch):
    if batch is None:
        return None
    return {"id": batch.pk, "status": batch.status, "prompt_count": batch.prompt_count,
            "response_count": batch.response_count, "progress": batch.progress}


def _latest_by(rows, key):
    """{key(row): the first row with it}; rows come newest first."""
    latest = {}
    for row in rows:
        latest.setdefault(key(row), row)
    return latest


def _tasks_by_checkpoint(checkpoint_ids):
    counts = (AnnotationTask.objects.filter(response__checkpoint_id__in=checkpoint_ids)
              .values_list("response__checkpoint_id", "status").annotate(n=Count("id")))
    tasks = {pk: {"open": 0, "done": 0} for pk in checkpoint_ids}
    for checkpoint_id, task_status, n in counts:
        tasks[checkpoint_id][task_status] = n
    return tasks


def _notice(*, project, decisions):
    """What stops or holds the loop now, in words (None when it runs on)."""
    awaiting = checkpoint_awaiting_decision(project=project)
    if awaiting is not None:
        return f"Waiting for the evaluation of {awaiting.name} before the next round."
    promoted = next((d for d in decisions if d.outcome == PromotionOutcome.PROMOTED), None)
    if promoted is None or not promoted.note:
        return None
    # A batch asked for by hand since (after uploading prompts) restarts the loop.
    restarted = GenerationBatch.objects.filter(project=project, created_at__gt=promoted.created_at).exists()
    return None if restarted else promoted.note


def project_loop(*, project, limit=ROUNDS_SHOWN) -> dict:
    """The project's last ``limit`` rounds, newest first, each ``{round, run, checkpoint, evaluation, decision,
    batch, tasks}``, plus the ``promotion_policy``, ``next_round`` (new records vs the auto-train threshold)
    and ``notice`` (what stops or holds the loop, or None)."""
    runs = list(project.training_runs.select_related("output_checkpoint").order_by("-created_at", "-id")[:limit])
    total = project.training_runs.count()
    checkpoints = {run.pk: getattr(run, "output_checkpoint", None) for run in runs}
    ids = [checkpoint.pk for checkpoint in checkpoints.values() if checkpoint is not None]
    decisions = list(PromotionDecision.objects.filter(checkpoint__project=project)
                     .select_related("decided_by", "next_batch"))
    decision_of = _latest_by(decisions, lambda d: d.checkpoint_id)
    batch_of = _latest_by(GenerationBatch.objects.filter(checkpoint_id__in=ids).order_by("-created_at", "-id"),
                          lambda b: b.checkpoint_id)
    evaluation_of = _latest_by(CheckpointEvaluation.objects.filter(checkpoint_id__in=ids).order_by("-created_at", "-id"),
                               lambda e: e.checkpoint_id)
    tasks = _tasks_by_checkpoint(ids)
    rounds = []
    for index, run in enumerate(runs):
        checkpoint = checkpoints[run.pk]
        decision = decision_of.get(checkpoint.pk) if checkpoint else None
        rounds.append({
            "round": total - index,
            "run": _run(run),
            "checkpoint": checkpoint and {"id": checkpoint.pk, "name": checkpoint.name, "is_active": checkpoint.is_active},
            "evaluation": _evaluation(run, checkpoint, checkpoint and evaluation_of.get(checkpoint.pk)),
            "decision": _decision(decision),
            # The batch the promotion queued, else the newest one someone asked of this checkpoint.
            "batch": _batch((decision and decision.next_batch) or (checkpoint and batch_of.get(checkpoint.pk))),
            "tasks": tasks.get(checkpoint.pk) if checkpoint else None,
        })
    return {"promotion_policy": project.promotion_policy,
            "next_round": {"records": records_since_last_run(project=project), "threshold": project.auto_train_threshold},
            "notice": _notice(project=project, decisions=decisions), "rounds": rounds}
