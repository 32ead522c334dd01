"""The reviewer's adjudication view in a real browser: three annotators per answer under the consensus policy."""
import json

import pytest
from django.test import Client

from annotate.models import PreferenceRecord
from annotate.services.records import record_sync
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_annotator import show_scene
from tests.factories import make_project, make_response, make_user

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AGREED = "There is a red circle and a blue square."
DISPUTED = "Two squares sit left of a star."


def judge(user, response, segments):
    """Submit through the API as ``user`` ([] = "no hallucination"), then run the record sync the worker would."""
    client = Client()
    client.force_login(user)
    task = client.post(f"/api/tasks/next/?project={response.prompt.project_id}").json()
    assert task["response"]["id"] == response.id
    body = {"task": task["id"], "segments": segments, "submit": True, "no_hallucination": not segments}
    answer = client.post("/api/annotations/", json.dumps(body), content_type="application/json")
    assert answer.status_code == 201, answer.content
    record_sync(annotation_id=answer.json()["id"])


def change(text, word, replacement, category):
    start = text.index(word)
    return [{"start": start, "end": start + len(word), "category": category, "replacement": replacement}]


def test_two_agree_one_differs_then_a_dispute_is_adjudicated_side_by_side(watched):
    """Answer 1: two say green, one yellow: one record (green), nothing to adjudicate. Answer 2: "Three", "Four"
    and "no hallucination": no majority rewrite, so it waits in the adjudication view with the three judgements
    side by side and the disputed cluster highlighted; the reviewer picks "Four" and that makes its one record."""
    page = watched.page
    project = make_project(overlap=3, record_policy="consensus", record_trigger="submit", name="shapes consensus")
    ann, bob, cat = (make_user(role="annotator", project=project, username=name) for name in ("ann", "bob", "cat"))
    reviewer = make_user(role="reviewer", project=project, username="rev")
    agreed, disputed = make_response(project, text=AGREED), make_response(project, text=DISPUTED)
    show_scene(disputed)
    for user, replacement in ((ann, "green"), (bob, "green"), (cat, "yellow")):
        judge(user, agreed, change(AGREED, "red", replacement, "attribute"))
    for user, replacement in ((ann, "Three"), (bob, "Four")):
        judge(user, disputed, change(DISPUTED, "Two", replacement, "number"))
    judge(cat, disputed, [])
    assert [r.chosen for r in PreferenceRecord.objects.all()] == ["There is a green circle and a blue square."]

    log_in(page, reviewer, then=f"/projects/{project.id}/review/")
    page.wait_for_selector("#review:not([hidden])")  # the review queue: the six submitted annotations
    page.click("#mode-adjudicate")
    page.wait_for_selector("#adjudication:not([hidden])")
    assert page.text_content("#disputed-count") == "1"
    assert sorted(page.locator(".review-card .who").all_text_contents()) == ["ann", "bob", "cat"]
    assert page.locator("#original mark.cluster.disputed").all_text_contents() == ["Two"]
    in_dispute = page.locator(".review-card", has=page.locator(".seg-item.in-dispute")).locator(".who")
    assert sorted(in_dispute.all_text_contents()) == ["ann", "bob"]
    assert page.locator(".review-card", has=page.locator(".who", has_text="cat")).locator(".badge.ok").is_visible()
    assert page.locator(".cluster-item.disputed fieldset label").count() == 3  # Three, Four, no segment
    assert page.is_disabled("#adj-submit")
    page.wait_for_selector(".agreement-alpha")
    screenshot(page, "reviewer-adjudicate")

    page.locator(".cluster-item.disputed label", has_text="bob").locator("input").check()
    assert page.text_content("#adj-preview") == "TwoFour squares sit left of a star."  # the diff: del + ins
    page.click("#adj-submit")
    page.wait_for_selector("#review-empty:not([hidden])")
    assert page.text_content("#empty-title") == "Nothing to adjudicate"

    records = PreferenceRecord.objects.order_by("response_id")
    assert [(r.response_id, r.chosen, r.annotation_id) for r in records] == [
        (agreed.id, "There is a green circle and a blue square.", None),
        (disputed.id, "Four squares sit left of a star.", None),
    ]
    assert records[1].consensus.adjudicated_by == reviewer
