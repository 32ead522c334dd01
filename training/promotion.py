"""Writes of the loop after a run: decide whether an evaluated checkpoint replaces the active one, and
after a promotion queue the next batch from it.

The project's ``promotion_policy`` decides once per checkpoint, when its evaluation is in
(``checkpoint_promotion_decide``); a manager may override at any time (``checkpoint_promotion_override``).
Every decision is a ``PromotionDecision`` row with its reason in words. A promotion activates the checkpoint
and, in the same transaction, queues its first batch: ``project.next_batch_size`` prompts it has not
answered, sampled with ``project.next_batch_params``. An empty prompt pool stops the loop there, said in the
decision's note, instead of failing.

The gate reads ``ModelCheckpoint.eval_metrics``: ``heldout.preference_accuracy`` (on ``heldout.records``
held-out records, each checkpoint against its run's reference, i.e. its parent) and, where a judge scores
the checkpoint (the shapes world), ``judge.response_hallucination_rate``. The evaluation job's worker body
(``checkpoint_evaluation_execute``) lives here: its end is where a run's checkpoint is decided.
"""
import logging

from django.db import transaction
from rest_framework import status

from annotate.models import Project, PromotionPolicy
from config.errors import ApplicationError
from jobs.models import JobStatus, JobStopped
from jobs.services import job_beating
from training.models import CheckpointEvaluation, DecisionKind, ModelCheckpoint, PromotionDecision, PromotionOutcome
from training.selectors import checkpoint_active, prompts_without_response
from training.services import (checkpoint_activate, checkpoint_evaluation_measure, generation_batch_create,
                               sampling_params_resolve)

logger = logging.getLogger(__name__)

# A checkpoint's accuracy against its own parent is the share of held-out pairs it moved towards the
# correction: above one half it learned more than it unlearned. The bar when the active checkpoint has no
# held-out figure to compare with (an imported base that was never evaluated).
CHANCE = 0.5
# A figure exactly at the margin passes, whatever the float rounding of ``parent - margin``.
TOLERANCE = 1e-9
POOL_EXHAUSTED = "Prompt pool exhausted: upload more prompts. The loop stops here."


def _heldout_check(*, metrics, parent_metrics, margin):
    """(passes or None when there is nothing to compare, the sentence saying so)."""
    heldout = metrics.get("heldout") or {}
    records, accuracy = heldout.get("records") or 0, heldout.get("preference_accuracy")
    if not records or accuracy is None:
        return None, "no held-out records to evaluate on"
    parent = (parent_metrics.get("heldout") or {}).get("preference_accuracy")
    if parent is None:
        passes, against = accuracy > CHANCE + TOLERANCE, f"chance {CHANCE:g} (the parent has no held-out figure)"
    else:
        passes, against = accuracy + TOLERANCE >= parent - margin, f"parent {parent:.3f} (margin {margin:g})"
    return passes, (f"held-out preference accuracy {accuracy:.3f} vs {against} on {records} records: "
                    f"{'passes' if passes else 'fails'}")


def _judge_check(*, metrics, parent_metrics, margin):
    """(passes or None without a judge figure, the sentence saying so or None)."""
    rate = (metrics.get("judge") or {}).get("response_hallucination_rate")
    if rate is None:
        return None, None
    parent_rate = (parent_metrics.get("judge") or {}).get("response_hallucination_rate")
    if parent_rate is None:
        return True, f"judge hallucination rate {rate:.3f} (the parent has no judge figure): passes"
    passes = rate <= parent_rate + margin + TOLERANCE
    return passes, (f"judge hallucination rate {rate:.3f} vs parent {parent_rate:.3f} (margin {margin:g}): "
                    f"{'passes' if passes else 'fails'}")


def promotion_gate(*, checkpoint, parent, project) -> tuple[bool, str]:
    """Whether ``checkpoint``'s evaluation passes ``project``'s gate against ``parent`` (the active checkpoint,
    None when there is none), and why in words. Every figure present must pass; with none, it fails."""
    metrics, parent_metrics = checkpoint.eval_metrics or {}, (parent.eval_metrics if parent else None) or {}
    checks = [_heldout_check(metrics=metrics, parent_metrics=parent_metrics, margin=project.promotion_margin),
              _judge_check(metrics=metrics, parent_metrics=parent_metrics, margin=project.judge_margin)]
    verdicts = [passes for passes, _ in checks if passes is not None]
    reason = "; ".join(sentence for _, sentence in checks if sentence)
    if not verdicts:
        return False, f"{reason} and no judge figure: nothing to gate on"
    return all(verdicts), reason


def _next_batch(*, project, checkpoint, created_by):
    """The newly promoted checkpoint's first batch (None and why when there is none)."""
    prompts = prompts_without_response(project=project, checkpoint=checkpoint, limit=project.next_batch_size)
    if not prompts:
        return None, POOL_EXHAUSTED
    try:
        batch = generation_batch_create(project=project, checkpoint=checkpoint, prompt_ids=[p.pk for p in prompts],
                                        params=project.next_batch_params, created_by=created_by)
    except ApplicationError as exc:  # e.g. stored sampling params above a limit lowered since: the promotion stands
        return None, f"No next batch queued: {exc.message}"
    return batch, ""


def _record(*, checkpoint, parent, outcome, kind, reason, decided_by=None) -> PromotionDecision:
    """Write the decision; a promotion activates the checkpoint and queues its first batch with it."""
    batch, note = None, ""
    if outcome == PromotionOutcome.PROMOTED:
        checkpoint_activate(checkpoint=checkpoint)
        batch, note = _next_batch(project=checkpoint.project, checkpoint=checkpoint, created_by=decided_by)
    return PromotionDecision.objects.create(
        checkpoint=checkpoint, parent=parent, outcome=outcome, kind=kind, policy=checkpoint.project.promotion_policy,
        reason=reason, decided_by=decided_by, next_batch=batch, note=note)


def _locked(checkpoint) -> ModelCheckpoint:
    """The checkpoint as stored, with its project locked: decisions of one project happen one at a time."""
    if checkpoint.project_id is None:
        raise ApplicationError("Only a project's checkpoint can be promoted.", fields={"checkpoint": ["No project."]})
    Project.objects.select_for_update().filter(pk=checkpoint.project_id).first()
    return ModelCheckpoint.objects.select_related("project").get(pk=checkpoint.pk)


def _policy_outcome(*, checkpoint, parent, evaluation_error):
    project = checkpoint.project
    if checkpoint.is_active:
        return PromotionOutcome.KEPT, "already the active checkpoint (activated before its evaluation was in)"
    if evaluation_error:
        passes, gate = False, f"the evaluation failed ({evaluation_error}): nothing to gate on"
    else:
        passes, gate = promotion_gate(checkpoint=checkpoint, parent=parent, project=project)
    if project.promotion_policy == PromotionPolicy.ALWAYS:
        return PromotionOutcome.PROMOTED, f"policy always: promoted without a gate ({gate})"
    if project.promotion_policy == PromotionPolicy.MANUAL:
        return PromotionOutcome.PENDING, (f"policy manual: waiting for a manager (the gate would "
                                          f"{'pass' if passes else 'fail'}: {gate})")
    return (PromotionOutcome.PROMOTED if passes else PromotionOutcome.KEPT), f"gate {'passes' if passes else 'fails'}: {gate}"


@transaction.atomic
def checkpoint_promotion_decide(*, checkpoint, evaluation_error="") -> PromotionDecision:
    """Apply the project's promotion policy to ``checkpoint`` once the evaluation that follows its run ended:
    succeeded (figures in ``eval_metrics``), or failed with ``evaluation_error`` (the gate then keeps the active
    checkpoint, saying why; deciding anyway lets the next round start). Gate: promote when every figure passes
    (``promotion_gate``); always: promote; manual: record that a manager must decide. Deciding again returns
    the first decision unchanged."""
    checkpoint = _locked(checkpoint)
    decided = PromotionDecision.objects.filter(checkpoint=checkpoint, kind=DecisionKind.POLICY).first()
    if decided is not None:
        return decided
    parent = checkpoint_active(project=checkpoint.project)
    outcome, reason = _policy_outcome(checkpoint=checkpoint, parent=parent, evaluation_error=evaluation_error)
    return _record(checkpoint=checkpoint, parent=parent, outcome=outcome, kind=DecisionKind.POLICY, reason=reason)


@transaction.atomic
def checkpoint_promotion_override(*, checkpoint, outcome, user, reason="") -> PromotionDecision:
    """A manager's decision: promote (activate, then queue the next batch) or keep the active checkpoint."""
    checkpoint = _locked(checkpoint)
    if outcome not in (PromotionOutcome.PROMOTED, PromotionOutcome.KEPT):
        raise ApplicationError(f"outcome must be promoted or kept, got {outcome!r}.", fields={"outcome": ["Invalid."]})
    if checkpoint.is_active:
        raise ApplicationError("The checkpoint is already active; promote another one to replace it.",
                               status=status.HTTP_409_CONFLICT)
    said = f"{outcome} by {user.get_username()}" + (f": {reason}" if reason else "")
    return _record(checkpoint=checkpoint, parent=checkpoint_active(project=checkpoint.project), outcome=outcome,
                   kind=DecisionKind.OVERRIDE, reason=said, decided_by=user)


LOOP_SETTINGS = ("auto_train_threshold", "promotion_policy", "promotion_margin", "judge_margin", "next_batch_size",
                 "next_batch_params")


@transaction.atomic
def project_loop_settings_update(*, project, **changes) -> Project:
    """Set the project's loop settings (``LOOP_SETTINGS``); the sampling params are stored resolved
    (``SamplingParams`` defaults filled in), within ``GENERATION_LIMITS``."""
    unknown = sorted(set(changes) - set(LOOP_SETTINGS))
    if unknown:
        raise ApplicationError(f"Not a loop setting: {', '.join(unknown)}.", fields={name: ["Unknown."] for name in unknown})
    if "next_batch_params" in changes:
        changes["next_batch_params"] = sampling_params_resolve(changes["next_batch_params"], field="next_batch_params")
    for name, value in changes.items():
        setattr(project, name, value)
    project.save(update_fields=list(changes))
    return project


# The end of an evaluation -----------------------------------------------------------------------


@transaction.atomic
def _checkpoint_evaluation_store(*, evaluation, metrics):
    """Succeed with ``metrics``, make them the checkpoint's ``eval_metrics`` and, for a run's checkpoint, let the
    project's policy decide on it in the same transaction (a promotion queues the next batch on commit); nothing
    if the evaluation stopped meanwhile."""
    ModelCheckpoint.objects.select_for_update().filter(pk=evaluation.checkpoint_id).first()
    if not evaluation.transition(JobStatus.SUCCEEDED, metrics=metrics, record_count=metrics["heldout"]["records"]):
        raise JobStopped
    ModelCheckpoint.objects.filter(pk=evaluation.checkpoint_id).update(eval_metrics=metrics)
    if evaluation.checkpoint.produced_by_id is not None:
        checkpoint_promotion_decide(checkpoint=evaluation.checkpoint)


def checkpoint_evaluation_execute(*, evaluation_id) -> CheckpointEvaluation | None:
    """The worker's body: score the held-out pairs (and judge the held-out scenes), store the metrics on the
    evaluation and its checkpoint, then decide on a run's checkpoint (a failed evaluation is decided too: the
    gate keeps the active checkpoint and says why, and the next round can start)."""
    evaluation = (CheckpointEvaluation.objects.select_related("checkpoint__project", "checkpoint__produced_by",
                                                              "reference").filter(pk=evaluation_id).first())
    if evaluation is None or not evaluation.transition(JobStatus.RUNNING):
        return evaluation
    try:
        with job_beating(evaluation):
            metrics = checkpoint_evaluation_measure(evaluation)
        _checkpoint_evaluation_store(evaluation=evaluation, metrics=metrics)
    except JobStopped:
        logger.info("Evaluation %s stopped while running: %s", evaluation.pk, evaluation.stored_status() or "deleted")
    except Exception as exc:
        logger.exception("Evaluation %s failed", evaluation.pk)
        error = f"{type(exc).__name__}: {exc}"
        if evaluation.transition(JobStatus.FAILED, error=error) and evaluation.checkpoint.produced_by_id is not None:
            checkpoint_promotion_decide(checkpoint=evaluation.checkpoint, evaluation_error=error)
    return evaluation
