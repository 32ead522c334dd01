"""An uploaded zip, read without trusting it (``annotate.services.uploads`` stores what it yields).

Before any member is read, the archive's directory is checked: how many
members, their names (no absolute path, drive letter or ``..``), the total
they declare once uncompressed and each member's compression ratio (a zip
bomb). A member is then read with a limit, never past what its header
declared: a header that lies about its size shows as a short or long read
(or a CRC error) and the member is refused.

Every refusal is an ``ApplicationError`` whose body carries ``rejected``: a
list of ``{line, field, reason}`` (``line`` is null for the archive itself;
``member`` names the member where there is one). Limits give 413, anything
else 400.
"""
import re
import zipfile
import zlib

from django.conf import settings
from rest_framework import status

from config.errors import ApplicationError

RATIO_FLOOR_BYTES = 1 << 20  # members smaller than this are not ratio-checked (text compresses well)
REPORT_MAX_LINES = 1000  # rejected lines sent back; `rejected_total` counts them all
JUNK_PREFIXES = ("__MACOSX/",)  # macOS resource forks: never images, never read


def entry(line, field, reason, member=None) -> dict:
    """One line of a report."""
    item = {"line": line, "field": field, "reason": reason}
    return {**item, "member": member} if member is not None else item


def refuse(rejected, *, message=None, status_code=status.HTTP_400_BAD_REQUEST):
    """The ``ApplicationError`` refusing an upload for the ``rejected`` lines (stores nothing)."""
    count = len(rejected)
    rejected = sorted(rejected, key=lambda item: (item["line"] is None, item["line"] or 0))  # by line, stable
    message = message or f"The upload is refused: {count} problem{'s' if count != 1 else ''}; nothing was stored."
    return ApplicationError(message, status=status_code, fields={"file": [message]},
                            extra={"rejected": rejected[:REPORT_MAX_LINES], "rejected_total": count})


def too_large(reason, member=None):
    """A 413 for a size bound (``reason`` names the setting)."""
    return refuse([entry(None, "file", reason, member)], message=f"The upload is too large: {reason}",
                  status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)


def path_problem(name) -> str | None:
    """Why ``name`` (a member's, or a manifest's image path) may not be used, or None."""
    if not name:
        return "is empty"
    if "\x00" in name:
        return "contains a NUL character"
    if name.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", name):
        return "is an absolute path"
    if ".." in re.split(r"[\\/]", name):
        return "leaves the archive's folder (..)"
    return None


def is_junk(name) -> bool:
    base = name.rsplit("/", 1)[-1]
    return name.startswith(JUNK_PREFIXES) or base.startswith("._") or base == ".DS_Store"


class MemberError(Exception):
    """A member that cannot be read as it declares (its reason in ``args[0]``)."""


class Archive:
    """The members of an uploaded zip (``file``: a path or a seekable binary file) that pass the checks."""

    def __init__(self, file, size):
        if size > settings.UPLOAD_MAX_ARCHIVE_BYTES:
            raise too_large(f"the file has {size} bytes; the limit is {settings.UPLOAD_MAX_ARCHIVE_BYTES} "
                            "(UPLOAD_MAX_ARCHIVE_BYTES).")
        try:
            self.zip = zipfile.ZipFile(file)
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
            raise refuse([entry(None, "file", f"not a zip archive ({error}).")])
        if len(infos) > settings.UPLOAD_MAX_MEMBERS:
            raise too_large(f"the archive has {len(infos)} members; the limit is {settings.UPLOAD_MAX_MEMBERS} "
                            "(UPLOAD_MAX_MEMBERS).")
        self.members = self._members(infos)

    @staticmethod
    def _members(infos):
        members, rejected, total = {}, [], 0
        for info in infos:
            name = info.filename
            if problem := path_problem(name):
                rejected.append(entry(None, "file", f"member name {name!r} {problem}.", name))
            elif name in members:
                rejected.append(entry(None, "file", f"member name {name!r} appears twice.", name))
            elif not info.is_dir() and not is_junk(name):
                members[name] = info
        if rejected:
            raise refuse(rejected)
        for name, info in members.items():
            total += info.file_size
            if info.file_size > RATIO_FLOOR_BYTES and info.file_size > settings.UPLOAD_MAX_RATIO * max(info.compress_size, 1):
                raise too_large(f"member {name!r} expands {info.file_size // max(info.compress_size, 1)} times "
                                f"(to {info.file_size} bytes); the limit is {settings.UPLOAD_MAX_RATIO} "
                                "(UPLOAD_MAX_RATIO).", name)
        if total > settings.UPLOAD_MAX_UNCOMPRESSED_BYTES:
            raise too_large(f"the archive expands to {total} bytes; the limit is "
                            f"{settings.UPLOAD_MAX_UNCOMPRESSED_BYTES} (UPLOAD_MAX_UNCOMPRESSED_BYTES).")
        return members

    def read(self, name, *, limit) -> bytes:
        """The bytes of member ``name``, at most ``limit`` of them and exactly as many as it declares."""
        info = self.members[name]
        if info.file_size > limit:
            raise MemberError(f"it has {info.file_size} bytes; the limit is {limit}.")
        try:
            with self.zip.open(info) as member:
                data = member.read(limit + 1)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError, zlib.error) as error:
            # RuntimeError: encrypted; NotImplementedError: an unknown compression method.
            raise MemberError(f"it cannot be read ({type(error).__name__}: {error}).")
        if len(data) != info.file_size or len(data) > limit:
            raise MemberError(f"it holds {len(data)} bytes, not the {info.file_size} its header declares.")
        return data
