"""Uploads of images and questions: a zip with a manifest, or images alone with question templates.

All or nothing. Everything is checked before anything is written: the
archive (``upload_archive``), the manifest (``upload_manifest``), each image
(``images.image_check`` under ``UPLOAD_MAX_IMAGE_PIXELS``, in a raster
allow-list). A bad upload is refused with every bad line
(``{line, field, reason}``) and stores nothing. A good one is stored in one
transaction: images deduplicated by sha256 (read back from the archive one
at a time while stored; files written are removed again if the transaction
fails), prompts reused where the project already asks that question of that
image, and each row's ``answer`` a ``Response`` credited to its ``model``
with the project's ``overlap`` annotation slots (``responses_create``, which
keeps the claim queue's counters).
"""
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from rest_framework import status

from annotate.models import ImageAsset, Project, Prompt, Response
from annotate.services.images import image_check, images_store
from annotate.services.responses import responses_create
from annotate.services.upload_archive import Archive, MemberError, entry, is_junk, refuse, too_large
from annotate.services.upload_manifest import MANIFESTS, Row, RowLimit, manifest_rows
from config.errors import ApplicationError
from config.fields import unstorable_text

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")
RASTER_FORMATS = {"jpeg", "mpo", "png", "webp", "gif", "bmp"}  # Pillow's names; MPO is a camera's JPEG
TEMPLATES_FILE = Path(__file__).resolve().parent.parent / "data" / "question_templates.txt"
MAX_TEMPLATES = 100


def default_templates() -> list[str]:
    """The shipped detailed-description questions (RLHF-V's style)."""
    lines = TEMPLATES_FILE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


class Source(NamedTuple):
    """An image to check and store: ``load()`` gives its bytes (again, when it is stored)."""

    name: str
    load: Callable[[], bytes]


class _Image:
    """A checked image whose bytes ``images_store`` reads back only when it stores it."""

    def __init__(self, checked, load):
        self.sha256, self.width, self.height, self.kind = checked.sha256, checked.width, checked.height, checked.kind
        self._load = load

    @property
    def data(self):
        data = self._load()
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise ApplicationError("An image changed while the upload was stored; send it again.")
        return data


def _image(source, line, rejected, checked):
    """The ``_Image`` of ``source`` (checked once, whoever names it), or None with its problem in ``rejected``."""
    if source.name not in checked:
        checked[source.name] = _check(source)
    result = checked[source.name]
    if isinstance(result, str):
        rejected.append(entry(line, "image", result, source.name))
        return None
    return result


def _check(source):
    name = source.name
    if name.lower().endswith((".svg", ".svgz")):
        return "SVG is not accepted (vector images are never decoded); send PNG, JPEG, WebP, GIF or BMP."
    if not name.lower().endswith(IMAGE_EXTENSIONS):
        return f"not an image file name (allowed: {', '.join(IMAGE_EXTENSIONS)})."
    try:
        data = source.load()
        checked = image_check(data, where=name, field="image", max_pixels=settings.UPLOAD_MAX_IMAGE_PIXELS)
    except MemberError as error:
        return error.args[0]
    except ApplicationError as error:
        return error.message.removeprefix(f"{name}: ")
    if checked.kind not in RASTER_FORMATS:
        return f"a {checked.kind.upper()} image; accepted are PNG, JPEG, WebP, GIF and BMP."
    return _Image(checked, source.load)


def _templates(text, per_image, rejected):
    """The questions asked of images uploaded without a manifest: ``text`` (one per line), else the shipped set."""
    if not (text or "").strip():
        templates = default_templates()
    else:
        lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
        templates = [template for _, template in lines]
        for number, template in lines:
            if len(template) > settings.UPLOAD_MAX_QUESTION_CHARS:
                rejected.append(entry(number, "templates", f"has {len(template)} characters; the limit is "
                                                           f"{settings.UPLOAD_MAX_QUESTION_CHARS}."))
            elif problem := unstorable_text(template):
                rejected.append(entry(number, "templates", problem))
        if len(templates) > MAX_TEMPLATES:
            rejected.append(entry(None, "templates", f"{len(templates)} templates; the limit is {MAX_TEMPLATES}."))
    if not 1 <= per_image <= len(templates):
        rejected.append(entry(None, "templates_per_image", f"must lie in [1, {len(templates)}] (the templates)."))
    return templates


def _template_rows(sources, text, per_image, rejected):
    """A row per image and template: each image asks ``per_image`` templates, chosen from its sha256 (stable)."""
    templates, kind = _templates(text, per_image, rejected), "custom template" if (text or "").strip() else "detailed description"
    rows, images = [], {}
    for source in sources:
        if (image := _image(source, None, rejected, images)) is None:
            continue
        first = int(image.sha256[:8], 16)
        for offset in range(per_image):
            question = templates[(first + offset) % len(templates)]
            rows.append(Row(None, source.name, question, "", "", {"type": kind}))
    return rows, images


def _manifests(archive):
    """The archive's manifests: at its root, else in its one top folder (a zipped folder); image paths are
    relative to the manifest's folder."""
    at_root = [name for name in MANIFESTS if name in archive.members]
    return at_root or [name for name in archive.members if name.count("/") == 1 and name.split("/")[1] in MANIFESTS]


def _manifest_rows(archive, manifest, rejected):
    """The manifest's rows, each naming a member that is a checked image."""
    try:
        data = archive.read(manifest, limit=settings.UPLOAD_MAX_MANIFEST_BYTES)
    except MemberError as error:
        raise refuse([entry(None, "manifest", f"{manifest}: {error.args[0]}", manifest)])
    try:
        rows = manifest_rows(data, name=manifest, rejected=rejected)
    except RowLimit:
        raise too_large(f"the manifest has more than {settings.UPLOAD_MAX_ROWS} rows (UPLOAD_MAX_ROWS).", manifest)
    folder = manifest.rpartition("/")[0]
    rows = [row._replace(image=f"{folder}/{row.image}") for row in rows] if folder else rows
    images = {}
    for row in rows:
        if row.image not in archive.members:
            rejected.append(entry(row.line, "image", f"no member {row.image!r} in the archive."))
        else:
            _image(_archive_source(archive, row.image), row.line, rejected, images)
    return rows, images


def _archive_source(archive, name):
    return Source(name, lambda: archive.read(name, limit=settings.UPLOAD_MAX_IMAGE_BYTES))


def _file_sources(files):
    """A ``Source`` per uploaded file; a name sent twice (two folders' photo.jpg) becomes ``photo (2).jpg``."""
    sources, seen = [], set()
    for file in files:
        name = stem = file.name or "image"
        base, dot, extension = stem.rpartition(".")
        count = 1
        while name in seen:
            count += 1
            name = f"{base} ({count}).{extension}" if dot else f"{stem} ({count})"
        seen.add(name)
        sources.append(_file_source(file, name))
    return sources


def _file_source(file, name):
    def load():
        if file.size > settings.UPLOAD_MAX_IMAGE_BYTES:
            raise MemberError(f"it has {file.size} bytes; the limit is {settings.UPLOAD_MAX_IMAGE_BYTES}.")
        file.seek(0)
        return file.read()
    return Source(name, load)


class UploadResult(NamedTuple):
    prompts: int
    prompts_existing: int
    images_new: int
    images_reused: int
    responses: int
    responses_existing: int
    tasks: int


def _plan(*, archive, images, templates, templates_per_image):
    """(rows, {image name: _Image}) of a valid upload; else the ``ApplicationError`` with every bad line."""
    rejected = []
    if archive is not None and images:
        raise refuse([entry(None, "file", "send a zip archive or image files, not both.")])
    if archive is None and not images:
        raise refuse([entry(None, "file", "nothing to upload: send a zip archive or image files.")])
    if archive is not None:
        found = _manifests(archive)
        if len(found) > 1:
            raise refuse([entry(None, "manifest", f"the archive has {len(found)} manifests ({', '.join(found)}); "
                                                  "send one.")])
        if found:
            if (templates or "").strip():
                raise refuse([entry(None, "templates", "a manifest brings its own questions; send no templates.")])
            rows, checked = _manifest_rows(archive, found[0], rejected)
        else:
            sources = [_archive_source(archive, name) for name in archive.members if not is_junk(name)]
            rows, checked = _template_rows(sources, templates, templates_per_image, rejected)
    else:
        if len(images) > settings.UPLOAD_MAX_MEMBERS:
            raise too_large(f"{len(images)} images; the limit is {settings.UPLOAD_MAX_MEMBERS} (UPLOAD_MAX_MEMBERS).")
        rows, checked = _template_rows(_file_sources(images), templates, templates_per_image, rejected)
    if not rows and not rejected:
        rejected.append(entry(None, "file", "nothing to upload: the archive has no images."))
    if rejected:
        raise refuse(rejected)
    return rows, checked


def _prompts(project, rows, image_ids, label):
    """The row -> Prompt id, creating the prompts the project does not ask yet (and counting them)."""
    wanted = {(image_ids[row.image], row.question): row for row in rows}
    existing = Prompt.objects.filter(project=project, image_id__in={image for image, _ in wanted})
    ids = {(p.image_id, p.question): p.pk for p in existing.only("id", "image_id", "question")}
    new = [Prompt(project=project, image_id=image, question=question, origin={**row.origin, "upload": label})
           for (image, question), row in wanted.items() if (image, question) not in ids]
    ids.update({(p.image_id, p.question): p.pk for p in Prompt.objects.bulk_create(new)})
    return {key: ids[key] for key in wanted}, len(new), len(wanted) - len(new)


def _responses(project, rows, prompt_ids, image_ids):
    """The answers not already in the project (same prompt, text and model), queued with their slots."""
    answered = [(prompt_ids[(image_ids[row.image], row.question)], row.answer, row.model) for row in rows if row.answer]
    seen = set(Response.objects.filter(prompt_id__in={p for p, _, _ in answered}, checkpoint__isnull=True)
               .values_list("prompt_id", "text", "model_name"))
    fresh = []
    for key in answered:
        if key not in seen:
            seen.add(key)
            fresh.append(Response(prompt_id=key[0], text=key[1], model_name=key[2]))
    if fresh:
        responses_create(project=project, responses=fresh)
    return len(fresh), len(answered) - len(fresh)


def _store(project, rows, checked, label, saved):
    images = {checked[row.image].sha256: checked[row.image] for row in rows}
    reused = set(ImageAsset.objects.filter(sha256__in=images).values_list("sha256", flat=True))
    by_sha = images_store(images.values(), saved=saved)
    image_ids = {row.image: by_sha[checked[row.image].sha256] for row in rows}
    prompt_ids, created, existing = _prompts(project, rows, image_ids, label)
    answers, known = _responses(project, rows, prompt_ids, image_ids)
    return UploadResult(prompts=created, prompts_existing=existing, images_new=len(images) - len(reused),
                        images_reused=len(reused), responses=answers, responses_existing=known,
                        tasks=answers * project.overlap)


def prompts_upload(*, project: Project | None = None, project_name: str = "", archive=None, archive_size=0,
                   images=(), templates: str = "", templates_per_image: int = 1, label: str = "") -> tuple[Project, UploadResult]:
    """Check then store an upload into ``project`` (or the project called ``project_name``, created when missing
    and the upload is good): ``archive`` a zip (path or seekable file of ``archive_size`` bytes), or ``images``
    (uploaded files) asked ``templates`` (one question per line; empty: the shipped set). ``label`` (the file's
    name) goes to each new prompt's ``origin.upload``."""
    opened = Archive(archive, archive_size) if archive is not None else None
    rows, checked = _plan(archive=opened, images=list(images), templates=templates,
                          templates_per_image=templates_per_image)
    saved = []
    try:
        with transaction.atomic():
            if project is None:
                project, _ = Project.objects.get_or_create(name=project_name)
            return project, _store(project, rows, checked, label, saved)
    except BaseException as error:
        for name in saved:
            default_storage.delete(name)
        if isinstance(error, IntegrityError):  # another upload stored one of these images meanwhile
            message = "Another upload stored some of these images meanwhile; send the file again."
            raise ApplicationError(message, fields={"file": [message]}, status=status.HTTP_409_CONFLICT) from error
        raise
