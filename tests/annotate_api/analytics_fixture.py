"""A team with known timings, for the analytics hand count (tests/annotate_api/test_analytics.py) and its page.

Project with overlap 2; annotators alice, bob, carol; two generation batches of one checkpoint and answers without a
batch. What each slot holds (T = now; times of submissions are fixed dates, "+60 s" = submitted_at - started_at):

    batch 1  r1  s0 alice accepted +60 s [0,3)   s1 bob accepted +120 s [0,3)
             r2  s0 alice submitted +30 s [0,4)  s1 bob rejected ("wrong") [2,4), leased to bob until T+20 min
             r3  s0 carol submitted, no start (untimed), no hallucination; alice skipped it ("image broken")
                 s1 bob: a draft again after a send-back ("fix"), lease expired at T-1 min
    batch 2  r4  s0 carol's draft, leased until T+10 min   s1 lease to alice expired at T-5 min; bob skipped it
                 ("image broken")
             r7  s0 alice accepted +100 s [1,2)           s1 never leased
    no batch r5  s0 carol accepted +90 s [0,2); bob skipped it ("unclear question")   s1 alice accepted +45 s [0,2) [5,6)
             r6  imported: no slots
"""
from datetime import datetime, timedelta, timezone as tz

from django.utils import timezone

from annotate.models import Annotation, AnnotationStatus, AnnotationTask, Membership, Prompt, Response, Role, Segment
from tests.factories import make_image, make_project, make_user
from training.models import GenerationBatch, ModelCheckpoint

TEXT = "The red circle sits left of a blue square."
A, S, R, K, D = (AnnotationStatus.ACCEPTED, AnnotationStatus.SUBMITTED, AnnotationStatus.REJECTED,
                 AnnotationStatus.SKIPPED, AnnotationStatus.DRAFT)
WEEK_1, WEEK_2 = "2026-02-23", "2026-03-02"  # Mondays


def at(day, hour, minute=0, second=0):
    return datetime(2026, 2 if day > 10 else 3, day, hour, minute, second, tzinfo=tz.utc)


def _response(project, batch, slots=2):
    prompt = Prompt.objects.create(project=project, image=make_image(), question="Describe the image.")
    response = Response.objects.create(prompt=prompt, text=TEXT, generation_batch=batch,
                                       checkpoint=batch.checkpoint if batch else None)
    return response, [AnnotationTask.objects.create(project=project, response=response, slot=slot) for slot in range(slots)]


def _lease(task, user, minutes):
    task.leased_to, task.lease_expires_at = user, timezone.now() + timedelta(minutes=minutes)
    task.save()


def _done(task):
    task.status = AnnotationTask.Status.DONE
    task.save()


def _annotation(task, user, status, *, spans=(), started=None, seconds=None, submitted=None, **fields):
    submitted = submitted or (started + timedelta(seconds=seconds) if seconds is not None else None)
    annotation = Annotation.objects.create(task=task, annotator=user, status=status, started_at=started,
                                           submitted_at=submitted, no_hallucination=not spans and status != K,
                                           **fields)
    Segment.objects.bulk_create(Segment(annotation=annotation, start=s, end=e, category="object", replacement="x")
                                for s, e in spans)
    return annotation


def analytics_team():
    """``(project, users, (batch 1, batch 2))``: the fixture above; ``users`` holds alice, bob, carol, a reviewer, a project manager
    (a member, not staff) and an outsider (the manager of another project)."""
    project, other = make_project(overlap=2, name="Team analytics"), make_project()
    users = {name: make_user(role=Role.ANNOTATOR, project=project, username=name) for name in ("alice", "bob", "carol")}
    users["reviewer"] = make_user(role=Role.REVIEWER, project=project, username="rita")
    users["manager"] = make_user(username="mona")
    Membership.objects.create(project=project, user=users["manager"], role=Role.MANAGER)
    users["outsider"] = make_user(username="otto")
    Membership.objects.create(project=other, user=users["outsider"], role=Role.MANAGER)
    alice, bob, carol = users["alice"], users["bob"], users["carol"]

    checkpoint = ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base")
    batch1, batch2 = (GenerationBatch.objects.create(project=project, checkpoint=checkpoint) for _ in range(2))
    r1, (r1s0, r1s1) = _response(project, batch1)
    r2, (r2s0, r2s1) = _response(project, batch1)
    r3, (r3s0, r3s1) = _response(project, batch1)
    r4, (r4s0, r4s1) = _response(project, batch2)
    r7, (r7s0, _) = _response(project, batch2)
    r5, (r5s0, r5s1) = _response(project, None)
    _response(project, None, slots=0)

    _annotation(r1s0, alice, A, spans=[(0, 3)], started=at(24, 10), seconds=60)
    _annotation(r1s1, bob, A, spans=[(0, 3)], started=at(24, 11), seconds=120)
    _annotation(r2s0, alice, S, spans=[(0, 4)], started=at(2, 9), seconds=30)
    _annotation(r2s1, bob, R, spans=[(2, 4)], started=at(2, 9, 30), seconds=200, review_reason="wrong")
    _annotation(r3s0, carol, S, submitted=at(3, 8))
    _annotation(r3s0, alice, K, skip_reason="image broken")
    _annotation(r3s1, bob, D, spans=[(1, 2)], started=at(3, 9), review_reason="fix")
    _annotation(r4s0, carol, D, started=at(4, 9))
    _annotation(r4s1, bob, K, skip_reason="image broken")
    _annotation(r7s0, alice, A, spans=[(1, 2)], started=at(4, 10), seconds=100)
    _annotation(r5s0, bob, K, skip_reason="unclear question")
    _annotation(r5s0, carol, A, spans=[(0, 2)], started=at(3, 10), seconds=90)
    _annotation(r5s1, alice, A, spans=[(0, 2), (5, 6)], started=at(3, 11), seconds=45)
    for task in (r1s0, r1s1, r2s0, r3s0, r5s0, r5s1, r7s0):
        _done(task)
    _lease(r2s1, bob, 20)
    _lease(r3s1, bob, -1)
    _lease(r4s0, carol, 10)
    _lease(r4s1, alice, -5)
    return project, users, (batch1, batch2)
