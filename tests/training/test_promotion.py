"""training.promotion: the policy's decision per checkpoint, manager overrides, the next batch after a promotion,
and the auto trigger starting from the promoted checkpoint on new records only."""
import pytest
from django.db import IntegrityError, transaction

from annotate.models import Prompt, PromotionPolicy, Response
from config.errors import ApplicationError
from jobs.models import JobStatus
from tests.factories import make_project, make_user
from tests.training.conftest import make_record
from training import promotion, services
from training.models import DecisionKind, GenerationBatch, ModelCheckpoint, PromotionDecision, TrainingRun

PARAMS = {"temperature": 0.7, "top_p": 0.9, "max_new_tokens": 48, "samples_per_prompt": 2}


def heldout(accuracy, records=40, margin=0.3):
    return {"heldout": {"records": records, "preference_accuracy": accuracy, "reward_margin": margin}}


@pytest.fixture
def project(db):
    project = make_project(next_batch_size=3, next_batch_params=PARAMS)
    ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base", is_active=True,
                                   eval_metrics=heldout(0.69))
    return project


def trained(project, metrics, name="round 1"):
    """A checkpoint as a succeeded run leaves it, with its evaluation in."""
    base = ModelCheckpoint.objects.get(project=project, is_active=True)
    run = TrainingRun.objects.create(project=project, base_checkpoint=base, status=JobStatus.SUCCEEDED)
    return ModelCheckpoint.objects.create(project=project, name=name, path=f"/nowhere/{name}", parent=base,
                                          produced_by=run, eval_metrics=metrics)


def prompts(project, count):
    return [Prompt.objects.create(project=project, question=f"q{i}") for i in range(count)]


def active(project):
    return ModelCheckpoint.objects.get(project=project, is_active=True)


def test_a_passing_gate_promotes_and_queues_the_next_batch_from_the_new_checkpoint(project, django_capture_on_commit_callbacks):
    """Accuracy within the margin of the parent's: promoted, the reason gives both figures, and a batch of
    next_batch_size prompts the new checkpoint has not answered is queued with next_batch_params."""
    answered, *fresh = prompts(project, 5)
    checkpoint = trained(project, heldout(0.71))
    Response.objects.create(prompt=answered, checkpoint=checkpoint, text="already")
    with django_capture_on_commit_callbacks() as sent:
        decision = promotion.checkpoint_promotion_decide(checkpoint=checkpoint)
    assert decision.outcome == "promoted" and decision.kind == DecisionKind.POLICY and decision.decided_by is None
    assert decision.parent.name == "base" and decision.policy == PromotionPolicy.GATE
    assert decision.reason == ("gate passes: held-out preference accuracy 0.710 vs parent 0.690 (margin 0.02) "
                               "on 40 records: passes")
    assert active(project) == checkpoint
    batch = decision.next_batch
    assert batch.checkpoint == checkpoint and batch.status == JobStatus.QUEUED and batch.created_by is None
    assert list(batch.prompts.order_by("id")) == fresh[:3] and batch.prompt_count == 3
    assert {name: batch.params[name] for name in PARAMS} == PARAMS
    assert len(sent) == 1  # the batch's task, sent once the transaction commits


def test_a_failing_gate_keeps_the_old_checkpoint_and_says_why(project):
    """Accuracy below the parent's by more than the margin: kept, nothing queued."""
    prompts(project, 2)
    checkpoint = trained(project, heldout(0.60))
    decision = promotion.checkpoint_promotion_decide(checkpoint=checkpoint)
    assert decision.outcome == "kept" and decision.next_batch is None
    assert decision.reason == ("gate fails: held-out preference accuracy 0.600 vs parent 0.690 (margin 0.02) "
                               "on 40 records: fails")
    assert active(project).name == "base" and not GenerationBatch.objects.exists()


def test_the_judge_gates_too_where_there_is_one(project):
    """A shapes checkpoint whose judge hallucination rate rose by more than judge_margin is kept, though its
    held-out accuracy passes; within the margin it is promoted."""
    base = active(project)
    base.eval_metrics = {**heldout(0.69), "judge": {"response_hallucination_rate": 0.20}}
    base.save()
    worse = trained(project, {**heldout(0.75), "judge": {"response_hallucination_rate": 0.25}}, name="worse")
    decision = promotion.checkpoint_promotion_decide(checkpoint=worse)
    assert decision.outcome == "kept"
    assert "judge hallucination rate 0.250 vs parent 0.200 (margin 0.02): fails" in decision.reason
    better = trained(project, {**heldout(0.70), "judge": {"response_hallucination_rate": 0.21}}, name="better")
    assert promotion.checkpoint_promotion_decide(checkpoint=better).outcome == "promoted"


@pytest.mark.parametrize("metrics,outcome,says", [
    (heldout(0.55), "promoted", "vs chance 0.5 (the parent has no held-out figure) on 40 records: passes"),
    (heldout(0.5), "kept", "vs chance 0.5 (the parent has no held-out figure) on 40 records: fails"),
    (heldout(0.9, records=0), "kept", "no held-out records to evaluate on and no judge figure: nothing to gate on"),
    ({}, "kept", "nothing to gate on"),
    ({**heldout(0.9, records=0), "judge": {"response_hallucination_rate": 0.1}}, "promoted",
     "no held-out records to evaluate on; judge hallucination rate 0.100 (the parent has no judge figure): passes"),
])
def test_the_gate_without_a_parent_figure_or_without_records(project, metrics, outcome, says):
    """An unevaluated parent (an imported base): the accuracy must beat chance; no held-out records and no
    judge: nothing to gate on, kept (a manager may promote)."""
    base = active(project)
    base.eval_metrics = {}
    base.save()
    decision = promotion.checkpoint_promotion_decide(checkpoint=trained(project, metrics))
    assert decision.outcome == outcome and says in decision.reason


def test_a_failed_evaluation_is_decided_too_so_the_loop_goes_on(project):
    """The gate keeps the active checkpoint and names the failure; the beat no longer waits for a decision."""
    project.auto_train_threshold = 1
    project.save()
    checkpoint = trained(project, {})
    make_record(project, 0)
    assert services.training_auto_trigger() == []  # waiting for the evaluation
    decision = promotion.checkpoint_promotion_decide(checkpoint=checkpoint, evaluation_error="CUDA out of memory")
    assert decision.outcome == "kept"
    assert decision.reason == "gate fails: the evaluation failed (CUDA out of memory): nothing to gate on"
    [run] = services.training_auto_trigger()
    assert run.base_checkpoint.name == "base"


def test_manual_policy_promotes_nothing_until_a_manager_does(project):
    """Manual: the decision waits for a manager (the gate's verdict for information); the override promotes,
    records who, and queues the next batch."""
    project.promotion_policy = PromotionPolicy.MANUAL
    project.save()
    prompts(project, 4)
    checkpoint = trained(project, heldout(0.8))
    decision = promotion.checkpoint_promotion_decide(checkpoint=checkpoint)
    assert decision.outcome == "pending" and decision.reason.startswith("policy manual: waiting for a manager")
    assert active(project).name == "base" and not GenerationBatch.objects.exists()
    manager = make_user(role="manager")
    override = promotion.checkpoint_promotion_override(checkpoint=checkpoint, outcome="promoted", user=manager,
                                                       reason="looks right")
    assert override.kind == DecisionKind.OVERRIDE and override.decided_by == manager
    assert override.reason == f"promoted by {manager.username}: looks right" and override.policy == "manual"
    assert active(project) == checkpoint and override.next_batch.checkpoint == checkpoint
    assert override.next_batch.created_by == manager and override.next_batch.prompt_count == 3


def test_always_promotes(project):
    """Always: promoted whatever the figures, which the reason still gives."""
    project.promotion_policy = PromotionPolicy.ALWAYS
    project.save()
    prompts(project, 1)
    decision = promotion.checkpoint_promotion_decide(checkpoint=trained(project, heldout(0.1)))
    assert decision.outcome == "promoted" and decision.reason.startswith("policy always: promoted without a gate")
    assert "fails" in decision.reason and decision.next_batch.prompt_count == 1


def test_deciding_twice_promotes_once(project):
    """A second decide (a resent evaluation task) returns the first decision; the database holds one policy
    decision per checkpoint."""
    prompts(project, 6)
    checkpoint = trained(project, heldout(0.71))
    first = promotion.checkpoint_promotion_decide(checkpoint=checkpoint)
    assert promotion.checkpoint_promotion_decide(checkpoint=checkpoint) == first
    assert PromotionDecision.objects.count() == 1 and GenerationBatch.objects.count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        PromotionDecision.objects.create(checkpoint=checkpoint, outcome="kept", kind=DecisionKind.POLICY,
                                         policy="gate", reason="again")


def test_an_exhausted_prompt_pool_stops_the_loop_without_failing(project):
    """Every prompt answered by the new checkpoint: promoted all the same, no batch, the note says so."""
    checkpoint = trained(project, heldout(0.71))
    for prompt in prompts(project, 2):
        Response.objects.create(prompt=prompt, checkpoint=checkpoint, text="done")
    decision = promotion.checkpoint_promotion_decide(checkpoint=checkpoint)
    assert decision.outcome == "promoted" and active(project) == checkpoint
    assert decision.next_batch is None and decision.note == promotion.POOL_EXHAUSTED
    assert not GenerationBatch.objects.exists()


def test_a_batch_the_limits_refuse_leaves_the_promotion_standing(project, settings):
    """Stored sampling above a generation limit lowered since: promoted, the note names the refusal."""
    prompts(project, 2)
    settings.GENERATION_LIMITS = {**settings.GENERATION_LIMITS, "max_new_tokens": 16}
    decision = promotion.checkpoint_promotion_decide(checkpoint=trained(project, heldout(0.71)))
    assert decision.outcome == "promoted" and decision.next_batch is None
    assert decision.note.startswith("No next batch queued:") and "params.max_new_tokens" in decision.note


def test_overrides_refuse_an_active_checkpoint_and_a_shared_one(project):
    """Promoting or keeping the active checkpoint is a 409; a checkpoint of no project a 400."""
    manager = make_user(role="manager")
    for outcome in ("promoted", "kept"):
        with pytest.raises(ApplicationError) as caught:
            promotion.checkpoint_promotion_override(checkpoint=active(project), outcome=outcome, user=manager)
        assert caught.value.status == 409
    shared = ModelCheckpoint.objects.create(name="hub", path="org/model")
    with pytest.raises(ApplicationError) as caught:
        promotion.checkpoint_promotion_override(checkpoint=shared, outcome="promoted", user=manager)
    assert caught.value.status == 400 and "checkpoint" in caught.value.fields
    assert not PromotionDecision.objects.exists()


def test_a_manager_keeps_what_the_gate_promoted_nothing_else_changes(project):
    """Keep records the decision only: the active checkpoint stays, nothing is queued."""
    checkpoint = trained(project, heldout(0.71))
    decision = promotion.checkpoint_promotion_override(checkpoint=checkpoint, outcome="kept", user=make_user(role="manager"))
    assert decision.outcome == "kept" and active(project).name == "base" and not GenerationBatch.objects.exists()


def test_loop_settings_are_validated_and_the_sampling_stored_resolved(project):
    """Sampling params go through SamplingParams and GENERATION_LIMITS naming next_batch_params; the rest is set."""
    with pytest.raises(ApplicationError) as caught:
        promotion.project_loop_settings_update(project=project, next_batch_params={"top_p": 2})
    assert "next_batch_params" in caught.value.fields
    with pytest.raises(ApplicationError) as caught:
        promotion.project_loop_settings_update(project=project, next_batch_params={"max_new_tokens": 10**6})
    assert "next_batch_params.max_new_tokens" in caught.value.fields
    promotion.project_loop_settings_update(project=project, promotion_policy="always", next_batch_params={"top_p": 0.5, "temperature": 1.0})
    project.refresh_from_db()
    assert project.promotion_policy == "always" and project.next_batch_params["top_p"] == 0.5
    assert project.next_batch_params["max_new_tokens"] == 64  # SamplingParams' default, stored


@pytest.mark.parametrize("fields", [{"promotion_margin": -0.01}, {"promotion_margin": float("nan")},
                                    {"judge_margin": 1.5}, {"next_batch_size": 0}, {"next_batch_size": 10_001},
                                    {"promotion_policy": "never"}])
def test_the_database_refuses_bad_loop_settings(db, fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_project(**fields)


def test_auto_trigger_starts_from_the_promoted_checkpoint_on_new_records_only(project):
    """The beat waits while a succeeded run's checkpoint awaits its decision, then launches from the newly
    promoted checkpoint, counting only records created after the last run started."""
    project.auto_train_threshold = 2
    project.save()
    make_record(project, 0), make_record(project, 1)
    [run] = services.training_auto_trigger()
    assert run.base_checkpoint.name == "base"
    run.transition(JobStatus.RUNNING)
    make_record(project, 2), make_record(project, 3)  # after the run took its records
    run.transition(JobStatus.SUCCEEDED)
    checkpoint = ModelCheckpoint.objects.create(project=project, name="round 1", path="/nowhere/r1",
                                                parent=run.base_checkpoint, produced_by=run, eval_metrics=heldout(0.71))
    assert services.training_auto_trigger() == []  # its evaluation and decision are not in yet
    promotion.checkpoint_promotion_decide(checkpoint=checkpoint)
    [second] = services.training_auto_trigger()
    assert second.base_checkpoint == checkpoint
    second.transition(JobStatus.RUNNING)
    second.transition(JobStatus.FAILED, error="out of memory")
    assert services.training_auto_trigger() == []  # records 2 and 3 were the second run's


def test_a_kept_checkpoint_lets_the_next_round_start_from_the_old_one(project):
    """After a failing gate the beat goes on from the checkpoint that stayed active."""
    project.auto_train_threshold = 1
    project.save()
    checkpoint = trained(project, heldout(0.5))
    promotion.checkpoint_promotion_decide(checkpoint=checkpoint)
    make_record(project, 0)
    [run] = services.training_auto_trigger()
    assert run.base_checkpoint.name == "base"
