"""The loop's API: promote / keep overrides, the project's loop settings, and the rounds of GET /api/projects/ID/loop/."""
import pytest
from rest_framework.test import APIClient

from annotate.models import AnnotationTask, Prompt, Response, Role
from jobs.models import JobStatus
from tests.factories import make_project, make_user
from training import promotion
from training.models import GenerationBatch, ModelCheckpoint, PromotionDecision, TrainingRun


@pytest.fixture
def project(db):
    project = make_project(next_batch_size=2)
    ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base", is_active=True)
    return project


def trained(project, name="round 1", metrics=None, status=JobStatus.SUCCEEDED):
    base = ModelCheckpoint.objects.get(project=project, is_active=True)
    run = TrainingRun.objects.create(project=project, base_checkpoint=base, status=status, step=4, total_steps=4,
                                     record_count=12, trigger="auto")
    checkpoint = ModelCheckpoint.objects.create(project=project, name=name, path=f"/nowhere/{name}", parent=base,
                                                produced_by=run, eval_metrics=metrics or {})
    return run, checkpoint


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def member_manager(project):
    user = make_user(role=Role.MANAGER, project=project)
    return user


def test_only_the_projects_managers_decide_and_read_the_loop(project):
    """Annotators and reviewers 403, another project's manager 404, on every loop endpoint; nothing recorded."""
    _, checkpoint = trained(project)
    outsider = member_manager(make_project())
    calls = [("post", f"/api/checkpoints/{checkpoint.pk}/promote/"), ("post", f"/api/checkpoints/{checkpoint.pk}/keep/"),
             ("get", f"/api/projects/{project.pk}/loop/"), ("get", f"/api/projects/{project.pk}/"),
             ("patch", f"/api/projects/{project.pk}/")]
    for method, url in calls:
        assert getattr(APIClient(), method)(url, {}, format="json").status_code in (401, 403)
        for role in (Role.ANNOTATOR, Role.REVIEWER):
            answer = getattr(client_for(make_user(role=role, project=project)), method)(url, {}, format="json")
            assert answer.status_code == 403, (url, answer.content)
        answer = getattr(client_for(outsider), method)(url, {"promotion_policy": "always"}, format="json")
        assert answer.status_code == 404, (url, answer.content)
    assert not PromotionDecision.objects.exists()
    assert ModelCheckpoint.objects.get(is_active=True).name == "base"
    project.refresh_from_db()
    assert project.promotion_policy == "gate"


def test_a_manager_promotes_and_keeps(project):
    """Promote activates, records the manager and queues the next batch; keep on another checkpoint records only."""
    manager = member_manager(project)
    prompts = [Prompt.objects.create(project=project, question=f"q{i}") for i in range(3)]
    _, checkpoint = trained(project)
    answer = client_for(manager).post(f"/api/checkpoints/{checkpoint.pk}/promote/", {"reason": "read 20 answers"},
                                      format="json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["outcome"], body["kind"], body["decided_by"]) == ("promoted", "override", manager.username)
    assert body["reason"] == f"promoted by {manager.username}: read 20 answers"
    batch = GenerationBatch.objects.get(pk=body["next_batch"])
    assert batch.checkpoint == checkpoint and list(batch.prompts.order_by("id")) == prompts[:2]
    assert ModelCheckpoint.objects.get(is_active=True) == checkpoint
    again = client_for(manager).post(f"/api/checkpoints/{checkpoint.pk}/promote/", format="json")
    assert again.status_code == 409 and again.json()["error"]
    _, other = trained(project, name="round 2")
    kept = client_for(manager).post(f"/api/checkpoints/{other.pk}/keep/", format="json")
    assert kept.status_code == 201 and kept.json()["outcome"] == "kept"
    assert ModelCheckpoint.objects.get(is_active=True) == checkpoint and GenerationBatch.objects.count() == 1


@pytest.mark.parametrize("body,field", [
    ({"promotion_policy": "sometimes"}, "promotion_policy"), ({"promotion_margin": -0.1}, "promotion_margin"),
    ({"promotion_margin": "NaN"}, "promotion_margin"), ({"judge_margin": 2}, "judge_margin"),
    ({"next_batch_size": 0}, "next_batch_size"), ({"next_batch_size": 10_001}, "next_batch_size"),
    ({"next_batch_params": {"top_p": 0}}, "next_batch_params"), ({"next_batch_params": {"tmp": 1}}, "next_batch_params"),
    ({"next_batch_params": {"max_new_tokens": 10**6}}, "next_batch_params.max_new_tokens"),
    ({"next_batch_params": [1]}, "next_batch_params"), ({"auto_train_threshold": -1}, "auto_train_threshold"),
])
def test_bad_loop_settings_are_a_400_naming_the_field(project, body, field):
    answer = client_for(make_user(role=Role.MANAGER)).patch(f"/api/projects/{project.pk}/", body, format="json")
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["fields"]
    project.refresh_from_db()
    assert (project.promotion_policy, project.next_batch_size, project.next_batch_params) == ("gate", 2, {})


def test_loop_settings_read_and_patch(project):
    """GET shows the settings (the loop's among all of the project's); PATCH sets some, stores the sampling
    resolved, leaves the rest."""
    client = client_for(member_manager(project))
    settings = client.get(f"/api/projects/{project.pk}/").json()
    loop = ["id", "name", "auto_train_threshold", "promotion_policy", "promotion_margin", "judge_margin",
            "next_batch_size", "next_batch_params"]
    assert {name: settings[name] for name in loop} == {
        "id": project.pk, "name": project.name, "auto_train_threshold": 0, "promotion_policy": "gate",
        "promotion_margin": 0.02, "judge_margin": 0.02, "next_batch_size": 2, "next_batch_params": {}}
    answer = client.patch(f"/api/projects/{project.pk}/", {
        "promotion_policy": "manual", "next_batch_size": 50, "auto_train_threshold": 20,
        "next_batch_params": {"temperature": 0.8, "top_p": 0.95, "max_new_tokens": 96, "samples_per_prompt": 2}},
        format="json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["promotion_policy"], body["next_batch_size"], body["auto_train_threshold"]) == ("manual", 50, 20)
    assert body["next_batch_params"] == {"temperature": 0.8, "top_p": 0.95, "max_new_tokens": 96,
                                         "samples_per_prompt": 2, "batch_size": 32, "seed": 0}
    assert body["promotion_margin"] == 0.02


def test_the_loop_api_gives_each_round_newest_first(project):
    """Round 1 promoted by the gate with its batch and tasks; round 2 evaluated and kept; round 3 still training;
    the next round's record count and the threshold."""
    project.auto_train_threshold = 5
    project.save()
    base = ModelCheckpoint.objects.get(is_active=True)
    base.eval_metrics = {"heldout": {"records": 30, "preference_accuracy": 0.6, "reward_margin": 0.1}}
    base.save()
    for index in range(3):
        Prompt.objects.create(project=project, question=f"q{index}")
    run1, first = trained(project, metrics={"heldout": {"records": 30, "preference_accuracy": 0.7, "reward_margin": 0.4},
                                            "judge": {"response_hallucination_rate": 0.25, "seconds": 3.0}})
    promoted = promotion.checkpoint_promotion_decide(checkpoint=first)
    batch = promoted.next_batch
    batch.transition(JobStatus.RUNNING)
    for prompt in batch.prompts.all():
        response = Response.objects.create(prompt=prompt, checkpoint=first, generation_batch=batch, text="an answer")
        AnnotationTask.objects.create(project=project, response=response)
    batch.transition(JobStatus.SUCCEEDED, response_count=2)
    AnnotationTask.objects.filter(pk=AnnotationTask.objects.first().pk).update(status="done")
    run2, second = trained(project, name="round 2",
                           metrics={"heldout": {"records": 31, "preference_accuracy": 0.5, "reward_margin": 0.0}})
    kept = promotion.checkpoint_promotion_decide(checkpoint=second)
    run3 = TrainingRun.objects.create(project=project, base_checkpoint=first, status=JobStatus.RUNNING, step=1,
                                      total_steps=8, trigger="auto")

    loop = client_for(make_user(role=Role.MANAGER)).get(f"/api/projects/{project.pk}/loop/").json()
    assert loop["next_round"] == {"records": 0, "threshold": 5} and loop["notice"] is None
    assert loop["promotion_policy"] == "gate"
    assert [r["round"] for r in loop["rounds"]] == [3, 2, 1]
    assert [r["run"]["id"] for r in loop["rounds"]] == [run3.pk, run2.pk, run1.pk]
    third, middle, oldest = loop["rounds"]
    assert (third["run"]["status"], third["run"]["step"], third["run"]["total_steps"]) == ("running", 1, 8)
    assert third["checkpoint"] is third["evaluation"] is third["decision"] is third["batch"] is third["tasks"] is None
    assert middle["evaluation"] == {"status": "done", "headline": {
        "heldout.records": 31, "heldout.preference_accuracy": 0.5, "heldout.reward_margin": 0.0}}
    assert middle["decision"]["outcome"] == "kept" and middle["decision"]["reason"] == kept.reason
    assert middle["batch"] is None and middle["tasks"] == {"open": 0, "done": 0}
    assert oldest["checkpoint"] == {"id": first.pk, "name": "round 1", "is_active": True}
    assert oldest["evaluation"]["headline"] == {"heldout.records": 30, "heldout.preference_accuracy": 0.7,
                                                "heldout.reward_margin": 0.4, "judge.response_hallucination_rate": 0.25}
    assert {key: oldest["decision"][key] for key in ("id", "outcome", "kind", "policy", "decided_by", "note")} == {
        "id": promoted.pk, "outcome": "promoted", "kind": "policy", "policy": "gate", "decided_by": None, "note": ""}
    assert oldest["batch"] == {"id": batch.pk, "status": "succeeded", "prompt_count": 2, "response_count": 2,
                               "progress": 1.0}
    assert oldest["tasks"] == {"open": 1, "done": 1}
    assert oldest["run"]["record_count"] == 12 and oldest["run"]["trigger"] == "auto"


def test_the_loop_says_when_it_waits_and_when_the_pool_is_empty(project):
    """A succeeded run without a decision: waiting for its evaluation; a promotion with no prompt left: the
    notice asks for more prompts, until a batch is asked for by hand."""
    client = client_for(make_user(role=Role.MANAGER))
    _, checkpoint = trained(project, metrics={})
    loop = client.get(f"/api/projects/{project.pk}/loop/").json()
    assert loop["notice"] == "Waiting for the evaluation of round 1 before the next round."
    assert loop["rounds"][0]["evaluation"] == {"status": "waiting", "headline": {}}
    promotion.checkpoint_promotion_override(checkpoint=checkpoint, outcome="promoted", user=make_user(role="manager"))
    loop = client.get(f"/api/projects/{project.pk}/loop/").json()
    assert loop["notice"] == promotion.POOL_EXHAUSTED == loop["rounds"][0]["decision"]["note"]
    Prompt.objects.create(project=project, question="fresh")
    assert client.post("/api/generation-batches/", {"project": project.pk}, format="json").status_code == 201
    assert client.get(f"/api/projects/{project.pk}/loop/").json()["notice"] is None
