"""Zips to upload, and what an upload must leave behind (or not)."""
import io
import json
import os
import zipfile

from django.conf import settings

from annotate.models import AnnotationTask, ImageAsset, Prompt, Response
from tests.factories import png_bytes

RED, BLUE = png_bytes((200, 30, 30)), png_bytes((30, 30, 200))


def make_zip(members, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``{name: bytes or str}`` (names as given, unchecked)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def jsonl(*rows) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def stored_counts():
    """Rows and media files an upload may write."""
    files = sum(len(names) for _, _, names in os.walk(settings.MEDIA_ROOT)) if os.path.isdir(settings.MEDIA_ROOT) else 0
    return {"images": ImageAsset.objects.count(), "prompts": Prompt.objects.count(),
            "responses": Response.objects.count(), "tasks": AnnotationTask.objects.count(), "files": files}
