"""The "consensus" record policy through the API: k judgements of one answer give one record, disputes go to a
reviewer who adjudicates them side by side, and the adjudicated segments become the record."""
from datetime import timedelta

import pytest

from annotate.models import Annotation, Consensus, PreferenceRecord, Role
from annotate.selectors.records import record_export_list
from annotate.services.records import project_records_resync, record_sync, records_sync_missing
from tests.annotate_api.helpers import Team, next_task, segment
from tests.factories import make_user

pytestmark = pytest.mark.django_db

TEXT = "There is a red circle and a blue square."
RED, BLUE = TEXT.index("red"), TEXT.index("blue")


def red(replacement, category="attribute"):
    return segment(RED, RED + 3, category, replacement)


def blue(replacement, category="attribute"):
    return segment(BLUE, BLUE + 4, category, replacement)


@pytest.fixture
def trio():
    """Three annotators on one answer, records on submit, consensus policy."""
    team = Team(overlap=3)
    team.project.record_policy = "consensus"
    team.project.record_trigger = "submit"
    team.project.save()
    team.third = make_user(role=Role.ANNOTATOR, project=team.project, username="third")
    team.response(text=TEXT)
    return team


def judge(team, marks):
    """Each annotator submits their segments ([] = "no hallucination"); then the worker's sync runs for each."""
    for user, segments in zip((team.annotator, team.other, team.third), marks):
        client = team.client(user)
        task = next_task(client, team.project)
        body = {"segments": segments, "submit": True} if segments else {"no_hallucination": True}
        answer = client.post("/api/annotations/", {"task": task["id"], **body}, format="json")
        assert answer.status_code == 201, answer.content
        record_sync(annotation_id=answer.json()["id"])  # what the worker runs on commit


def test_two_agree_one_differs_give_one_record_with_the_agreed_segments(trio):
    """Two rewrite red as green; the third says yellow and also marks blue: one record, red -> green only
    (the blue mark is 1 of 3: most say nothing is wrong there). Nothing waits for adjudication."""
    judge(trio, [[red("green")], [red("green", "object")], [red("yellow"), blue("purple")]])
    record = PreferenceRecord.objects.get()
    assert record.chosen == "There is a green circle and a blue square."
    assert record.annotation is None and record.consensus.status == "agreed" and record.status == "active"
    assert record.alignment == [{"rejected": [RED, RED + 3], "chosen": [RED, RED + 5], "category": "attribute"}]
    assert [cluster["decision"] for cluster in record.consensus.clusters] == ["kept", "dropped"]
    reviewer = trio.client(trio.reviewer)
    assert reviewer.get(f"/api/review/next/?project={trio.project.pk}&mode=adjudicate").status_code == 204


def test_no_record_before_the_last_judgement(trio):
    """Two of three in: the consensus waits, no record; the third makes it."""
    judge(trio, [[red("green")], [red("green")]])
    assert not PreferenceRecord.objects.exists() and Consensus.objects.get().status == "waiting"
    client = trio.client(trio.third)
    task = next_task(client, trio.project)
    answer = client.post("/api/annotations/", {"task": task["id"], "no_hallucination": True}, format="json")
    record_sync(annotation_id=answer.json()["id"])
    assert PreferenceRecord.objects.get().chosen == "There is a green circle and a blue square."


def test_a_stricter_threshold_sends_two_against_one_to_adjudication(trio):
    """At 0.7, two of three is not enough either way: the answer is disputed, waits for a reviewer in the
    adjudication view with the three judgements side by side, and has no record until then."""
    trio.project.consensus_threshold = 0.7
    trio.project.save()
    judge(trio, [[red("green")], [red("green")], []])
    assert not PreferenceRecord.objects.exists()
    reviewer = trio.client(trio.reviewer)
    body = reviewer.get(f"/api/review/next/?project={trio.project.pk}&mode=adjudicate").json()
    assert body["consensus"]["status"] == "disputed" and body["waiting"]["disputed"] == 1
    assert [a["annotator"] for a in body["annotations"]] == ["ann", "other", "third"]
    (cluster,) = body["consensus"]["clusters"]
    assert cluster["decision"] == "disputed" and cluster["votes"] == 2 and cluster["judgements"] == 3
    assert cluster["versions"][0]["annotators"] == ["ann", "other"]
    assert cluster["none"] == [{"annotation": body["annotations"][2]["id"], "annotator": "third"}]


def test_the_adjudicated_result_becomes_the_record(trio):
    """Rewrites green / yellow and a "no hallucination": no majority rewrite; the reviewer picks yellow and the
    record holds it; the adjudication leaves the view. A second decision (changed mind) rebuilds the record."""
    judge(trio, [[red("green")], [red("yellow")], []])
    reviewer = trio.client(trio.reviewer)
    url = f"/api/review/next/?project={trio.project.pk}&mode=adjudicate"
    body = reviewer.get(url).json()
    consensus = body["consensus"]
    assert "no majority rewrite" in consensus["clusters"][0]["reason"]
    yellow = next(v for v in consensus["clusters"][0]["versions"] if v["annotators"] == ["other"])
    adjudicate = f"/api/consensus/{consensus['id']}/adjudicate/"
    answer = reviewer.post(adjudicate, {"basis": consensus["basis"], "segments": yellow["segments"]}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == "adjudicated" and answer.json()["adjudicated_by"] == "rev"
    record = PreferenceRecord.objects.get()
    assert record.chosen == "There is a yellow circle and a blue square." and record.version == 1
    assert reviewer.get(url).status_code == 204

    answer = reviewer.post(adjudicate, {"basis": consensus["basis"], "segments": [red("green")]}, format="json")
    record.refresh_from_db()
    assert record.chosen == "There is a green circle and a blue square." and record.version == 2
    # Syncing a judgement again (a redelivered message) keeps the reviewer's decision.
    record_sync(annotation_id=body["annotations"][0]["id"])
    record.refresh_from_db()
    assert record.version == 2 and record.status == "active"


def test_adjudication_refuses_stale_bad_or_own(trio):
    judge(trio, [[red("green")], [red("yellow")], []])
    consensus = Consensus.objects.get()
    url = f"/api/consensus/{consensus.pk}/adjudicate/"
    reviewer = trio.client(trio.reviewer)
    stale = reviewer.post(url, {"basis": "0" * 64, "segments": []}, format="json")
    assert stale.status_code == 409 and "basis" in stale.json()["fields"]
    bad = reviewer.post(url, {"basis": consensus.basis, "segments": [segment(0, 99)]}, format="json")
    assert bad.status_code == 400 and "segments[0].end" in bad.json()["fields"]
    own = trio.client(trio.annotator).post(url, {"basis": consensus.basis, "segments": []}, format="json")
    assert own.status_code == 403
    assert trio.client(trio.outsider_reviewer).post(url, {"basis": consensus.basis, "segments": []},
                                                    format="json").status_code in (403, 404)
    assert not PreferenceRecord.objects.exists()


def test_the_record_is_rebuilt_when_a_judgement_changes(trio):
    """Records on submit: a reviewer rejecting one of the three retires the record (two judgements count);
    the annotator's fix brings it back, rebuilt from the new majority."""
    judge(trio, [[red("green")], [red("green")], [red("blue")]])
    record = PreferenceRecord.objects.get()
    assert record.chosen.startswith("There is a green circle") and record.version == 1
    reviewer = trio.client(trio.reviewer)
    rejected = Annotation.objects.get(annotator=trio.other)
    assert reviewer.post(f"/api/annotations/{rejected.pk}/reject/", {"reason": "Say blue"}, format="json").status_code == 200
    record_sync(annotation_id=rejected.pk)
    record.refresh_from_db()
    assert record.status == "retired" and Consensus.objects.get().status == "waiting"

    client = trio.client(trio.other)
    task = next_task(client, trio.project)
    fixed = client.patch(f"/api/annotations/{rejected.pk}/", {
        "version": task["annotation"]["version"], "segments": [red("blue")], "submit": True}, format="json")
    assert fixed.status_code == 200, fixed.content
    record_sync(annotation_id=rejected.pk)
    record.refresh_from_db()
    assert record.status == "active" and record.version == 2
    assert record.chosen == "There is a blue circle and a blue square."
    assert PreferenceRecord.objects.count() == 1


def test_each_policy_keeps_one_record_per_annotation(trio):
    """The default policy as before: three corrections, three records, no consensus."""
    trio.project.record_policy = "each"
    trio.project.save()
    judge(trio, [[red("green")], [red("green")], [red("yellow")]])
    assert PreferenceRecord.objects.filter(annotation__isnull=False).count() == 3
    assert not Consensus.objects.exists()


def test_reviewed_only_exports_take_adjudicated_consensus_records(trio):
    """Records on submit: an agreed consensus record is not reviewed, an adjudicated one is."""
    judge(trio, [[red("green")], [red("yellow")], []])
    consensus = Consensus.objects.get()
    assert not record_export_list(project_id=trio.project.pk, reviewed_only=True).exists()
    trio.client(trio.reviewer).post(f"/api/consensus/{consensus.pk}/adjudicate/",
                                    {"basis": consensus.basis, "segments": [red("green")]}, format="json")
    assert record_export_list(project_id=trio.project.pk, reviewed_only=True).get().consensus_id == consensus.pk


def test_switching_the_policy_resyncs_records_both_ways(trio):
    """each -> consensus (the admin marks the judgements due, the sweep syncs them): the three per-annotation
    records retire and the answer's one record appears; consensus -> each: the other way round."""
    trio.project.record_policy = "each"
    trio.project.save()
    judge(trio, [[red("green")], [red("green")], [red("yellow")]])
    assert PreferenceRecord.objects.filter(status="active").count() == 3

    trio.project.record_policy = "consensus"
    trio.project.save()
    assert project_records_resync(project_id=trio.project.pk, policy_changed=True) == 3
    assert records_sync_missing(grace=timedelta(0)) == 3
    (active,) = PreferenceRecord.objects.filter(status="active")
    assert active.consensus is not None and active.chosen == "There is a green circle and a blue square."

    trio.project.record_policy = "each"
    trio.project.save()
    project_records_resync(project_id=trio.project.pk, policy_changed=True)
    records_sync_missing(grace=timedelta(0))
    assert PreferenceRecord.objects.filter(status="active", annotation__isnull=False).count() == 3
    active.refresh_from_db()
    assert active.status == "retired"
