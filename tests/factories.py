"""Small factories for test fixtures: each builds one valid row with overridable fields."""
import hashlib
import io
import itertools

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from PIL import Image

from annotate.models import (
    Annotation,
    AnnotationStatus,
    AnnotationTask,
    ImageAsset,
    Membership,
    Project,
    Prompt,
    Response,
    Role,
    Segment,
)
from annotate.services.responses import responses_create

_counter = itertools.count(1)

PASSWORD = "test-pass-123"


def make_project(**fields):
    """A project; no held-out split unless ``heldout_percent`` is given, so a test's records all train (which
    of them a split would hold out depends on the ids the database hands out)."""
    fields.setdefault("name", f"project-{next(_counter)}")
    fields.setdefault("heldout_percent", 0)
    return Project.objects.create(**fields)


def make_user(*, role=None, project=None, username=None, password=PASSWORD):
    """A user; with ``project`` and ``role`` a member of that project in that role. A manager is a role on a
    project: ``role='manager'`` without a project makes an administrator instead (staff, managing every project)."""
    username = username or f"{role or 'user'}-{next(_counter)}"
    is_staff = role == Role.MANAGER and project is None
    user = get_user_model().objects.create_user(username=username, password=password, is_staff=is_staff)
    if project is not None and role is not None:
        Membership.objects.create(project=project, user=user, role=role)
    return user


def png_bytes(color=(200, 30, 30), size=(32, 32)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def make_image(color=None, size=(32, 32)):
    data = png_bytes(color or (next(_counter) % 256, 30, 30), size)
    digest = hashlib.sha256(data).hexdigest()
    existing = ImageAsset.objects.filter(sha256=digest).first()
    if existing:
        return existing
    image = ImageAsset(sha256=digest, width=size[0], height=size[1], size_bytes=len(data))
    image.file.save(f"{digest[:16]}.png", ContentFile(data), save=False)
    image.save()
    return image


def make_response(project, text="There is a red circle and a blue square.", question="Describe the image in detail.", queued=True):
    """A prompt + response with the project's overlap of annotation slots (``responses_create``); none when not ``queued``."""
    prompt = Prompt.objects.create(project=project, image=make_image(), question=question)
    if not queued:  # an answer outside the queue (an imported record's)
        return Response.objects.create(prompt=prompt, text=text)
    return responses_create(project=project, responses=[Response(prompt=prompt, text=text)])[0]


def make_judged_response(project, checkpoint, text, judgements):
    """A response of ``checkpoint`` with a done slot per judgement ``(annotator, status, [category, ...])``: one
    one-character segment per category; no categories is a "no hallucination" (or a skip, for that status)."""
    prompt = Prompt.objects.create(project=project, image=make_image(), question="Describe the image.")
    response = Response.objects.create(prompt=prompt, checkpoint=checkpoint, text=text)
    for slot, (annotator, status, categories) in enumerate(judgements):
        task = AnnotationTask.objects.create(project=project, response=response, slot=slot,
                                             status=AnnotationTask.Status.DONE)
        annotation = Annotation.objects.create(task=task, annotator=annotator, status=status,
                                               no_hallucination=not categories and status != AnnotationStatus.SKIPPED)
        Segment.objects.bulk_create(Segment(annotation=annotation, start=i, end=i + 1, category=category,
                                            replacement="x") for i, category in enumerate(categories))
    return response
