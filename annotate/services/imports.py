"""Imports of RLHF-V (``text`` JSON) and RLAIF-V (flat ``question``/``chosen``/``rejected``) parquet files.

One file is one transaction: a bad row anywhere rejects the whole file with
an ``ApplicationError`` naming the row and the problem, and the image files
already written are removed again. Images are deduplicated by sha256 and
never read from the server's disk (``image_path`` is only recorded). A row
is keyed by a hash of its content, so importing a file twice adds nothing, and the
same hash puts it on the same side of the held-out split (``annotate.splits``).
Changed spans come from the file's ``segments`` column when it has one (our
own exports), else from ``alignment_from_diff``.

Sizes are bounded by settings (``IMPORT_MAX_ROWS``, ``IMPORT_MAX_TEXT_CHARS``,
``IMPORT_MAX_DECOMPRESSED_BYTES``): the parquet footer's uncompressed sizes
are checked before any page is decompressed, so a small compressed file that
expands to gigabytes is refused without being read; each cell is checked again
as it is read (a footer can lie about sizes).
"""
import hashlib
import json
import re
from collections.abc import Callable
from typing import NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from rest_framework import status

from training.ddpo.alignment import alignment_from_diff, alignment_spans
from annotate.models import PreferenceRecord, Project, Prompt, RecordSource, Response
from annotate.services.images import image_check, images_store
from annotate.splits import record_split, record_split_key
from config.errors import ApplicationError
from config.fields import is_int64, unstorable_text

BATCH_ROWS = 256
TEXT_KEYS = ("question", "chosen", "rejected")
ORIGIN_COLUMNS = ("ds_name", "origin_dataset", "origin_split", "idx", "image_path")
STRING_COLUMNS = (*TEXT_KEYS, "text", *ORIGIN_COLUMNS)


class ImportResult(NamedTuple):
    rows: int
    created: int
    skipped: int


def _bad(message):
    return ApplicationError(message, fields={"file": [message]})


def _open(file):
    try:
        return pq.ParquetFile(file)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise _bad(f"Not a parquet file: {error}")


def _cell_chars(column):
    """The most characters a cell of ``column`` may hold: one text, or in RLHF-V's ``text`` three texts as
    JSON, each character escaped to at most 12 (a surrogate pair as two ``\\uXXXX``), plus the keys."""
    return 3 * 12 * settings.IMPORT_MAX_TEXT_CHARS + 1024 if column == "text" else settings.IMPORT_MAX_TEXT_CHARS


def _check_length(value, column, where):
    if len(value) > (limit := _cell_chars(column)):
        raise _bad(f"{where}: `{column}` has {len(value)} characters; the limit is {limit} "
                   "(from IMPORT_MAX_TEXT_CHARS).")


def _check_rows(rows):
    if rows > settings.IMPORT_MAX_ROWS:
        raise _bad(f"The file has more than {settings.IMPORT_MAX_ROWS} rows (IMPORT_MAX_ROWS).")


def _check_sizes(metadata):
    """Refuse a file by its footer: too many rows, too many bytes once decompressed, or a string column
    larger than its rows' texts can be (what one cell decompressing to gigabytes looks like)."""
    _check_rows(metadata.num_rows)
    chunks = [(index, metadata.row_group(index)) for index in range(metadata.num_row_groups)]
    chunks = [(index, group.num_rows, group.column(i)) for index, group in chunks for i in range(group.num_columns)]
    total = sum(chunk.total_uncompressed_size for _, _, chunk in chunks)
    if total > settings.IMPORT_MAX_DECOMPRESSED_BYTES:
        raise _bad(f"The file decompresses to {total} bytes; the limit is {settings.IMPORT_MAX_DECOMPRESSED_BYTES} "
                   "(IMPORT_MAX_DECOMPRESSED_BYTES).")
    for index, rows, chunk in chunks:
        column, size = chunk.path_in_schema, chunk.total_uncompressed_size
        # At most 4 bytes a character in UTF-8 and 4 of length a value, plus a page header's worth.
        if column in STRING_COLUMNS and size > rows * (4 * _cell_chars(column) + 4) + 4096:
            raise _bad(f"Column `{column}` of row group {index} decompresses to {size} bytes, more than "
                       f"{rows} row(s) of at most IMPORT_MAX_TEXT_CHARS characters can hold.")


def _check_columns(names):
    missing = [] if "image" in names else ["image"]
    if "text" not in names:
        missing += [key for key in TEXT_KEYS if key not in names]
    if missing:
        raise _bad(f"Missing column(s) {', '.join(missing)}: an RLHF-V file has image and text, "
                   "an RLAIF-V file image, question, chosen and rejected.")


def _texts(row, where):
    if "text" in row:
        if isinstance(row["text"], (str, bytes)):
            _check_length(row["text"], "text", where)
        try:
            text = json.loads(row["text"])
        except (TypeError, ValueError) as error:
            raise _bad(f"{where}: `text` is not JSON ({error}).")
        except RecursionError:
            raise _bad(f"{where}: `text` is nested too deeply to be the JSON of a question and two answers.") from None
        if not isinstance(text, dict):
            raise _bad(f"{where}: `text` is not a JSON object.")
    else:
        text = row
    for key in TEXT_KEYS:
        if not isinstance(text.get(key), str):
            what = f"`text` lacks the key {key!r}" if "text" in row else f"`{key}` is missing"
            raise _bad(f"{where}: {what} (or it is not a string).")
        if problem := unstorable_text(text[key]):
            raise _bad(f"{where}: `{key}`: {problem}")
        _check_length(text[key], key, where)
    return tuple(text[key] for key in TEXT_KEYS)


def _check_path(path, where):
    if path is not None and not isinstance(path, str):
        raise _bad(f"{where}: image path {path!r} is not a string.")
    if path and (path.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", path)
                 or ".." in re.split(r"[\\/]", path)):
        raise _bad(f"{where}: image path {path!r} is absolute or leaves its folder.")


def _image(value, where):
    """The row's image as a ``CheckedImage``: bytes that are a real, sane image (its path is only recorded)."""
    data = value.get("bytes") if isinstance(value, dict) else value
    if isinstance(value, dict):
        _check_path(value.get("path"), where)
    if not isinstance(data, bytes) or not data:
        raise _bad(f"{where}: `image` has no bytes (image files are never read from the server).")
    return image_check(data, where=where, field="file")


def _alignment(row, rejected, chosen, where):
    if row.get("segments") is None:
        return alignment_from_diff(rejected, chosen)
    try:
        alignment = [{"rejected": list(item["rejected"]), "chosen": list(item["chosen"]),
                      "category": item.get("category") or ""} for item in row["segments"]]
        in_range = all(len(item[side]) == 2 and all(type(offset) is int for offset in item[side])
                       and 0 <= item[side][0] <= item[side][1] <= len(text) and isinstance(item["category"], str)
                       and not unstorable_text(item["category"])
                       for item in alignment for side, text in (("rejected", rejected), ("chosen", chosen)))
    except (TypeError, KeyError, AttributeError):
        in_range = False
    if not in_range:
        raise _bad(f"{where}: `segments` is not a list of in-range {{rejected, chosen, category}} spans.")
    return alignment


def _parse(row, where):
    question, chosen, rejected = _texts(row, where)
    origin = {key: row[key] if isinstance(row[key], str) or key == "idx" and is_int64(row[key]) else str(row[key])
              for key in ORIGIN_COLUMNS if row.get(key) is not None}
    for key, value in origin.items():
        if not isinstance(value, str):
            continue
        if problem := unstorable_text(value):
            raise _bad(f"{where}: `{key}`: {problem}")
        _check_length(value, key, where)
    _check_path(origin.get("image_path"), where)
    image = _image(row["image"], where)
    key = hashlib.sha256(json.dumps([image.sha256, question, chosen, rejected]).encode()).hexdigest()
    return {"question": question, "chosen": chosen, "rejected": rejected, "origin": origin, "image": image,
            "key": key, "alignment": _alignment(row, rejected, chosen, where)}


def _prompt_ids(project, rows, image_ids):
    """(image id, question) -> Prompt id in ``project``, creating the missing prompts."""
    wanted = {(image_ids[row["image"].sha256], row["question"]): row for row in rows}
    existing = Prompt.objects.filter(project=project, image_id__in={image for image, _ in wanted})
    ids = {(p.image_id, p.question): p.pk for p in existing.only("id", "image_id", "question")}
    new = [Prompt(project=project, image_id=image, question=question,
                  origin={"dataset": row["origin"].get("origin_dataset", ""), "split": row["origin"].get("origin_split", "")})
           for (image, question), row in wanted.items() if (image, question) not in ids]
    ids.update({(p.image_id, p.question): p.pk for p in Prompt.objects.bulk_create(new)})
    return ids


def _store(project, rows, saved):
    image_ids = images_store((row["image"] for row in rows), saved=saved)
    prompt_ids = _prompt_ids(project, rows, image_ids)
    responses = Response.objects.bulk_create([
        Response(prompt_id=prompt_ids[(image_ids[row["image"].sha256], row["question"])], text=row["rejected"])
        for row in rows
    ])
    records = []
    for row, response in zip(rows, responses):
        rejected_spans, chosen_spans = alignment_spans(row["alignment"])
        records.append(PreferenceRecord(
            project=project, response=response, image_id=image_ids[row["image"].sha256], question=row["question"],
            chosen=row["chosen"], rejected=row["rejected"], alignment=row["alignment"],
            rejected_spans=rejected_spans, chosen_spans=chosen_spans, source=RecordSource.IMPORTED,
            origin=row["origin"], import_key=row["key"],
            split=record_split(record_split_key(import_key=row["key"]), project.heldout_percent),
        ))
    PreferenceRecord.objects.bulk_create(records)


def _batches(parquet):
    """The file's record batches; a damaged page is the file's fault (400), not ours."""
    batches = parquet.iter_batches(batch_size=BATCH_ROWS)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as error:
            raise _bad(f"The parquet file is damaged: {error}")
        yield batch


def _import_rows(project, parquet, saved, on_rows):
    seen = set(PreferenceRecord.objects.filter(project=project).exclude(import_key="").values_list("import_key", flat=True))
    total, done, created = parquet.metadata.num_rows, 0, 0
    for batch in _batches(parquet):
        _check_rows(done + batch.num_rows)
        fresh = []
        for offset, row in enumerate(batch.to_pylist()):
            parsed = _parse(row, f"Row {done + offset}")
            if parsed["key"] not in seen:
                seen.add(parsed["key"])
                fresh.append(parsed)
        if fresh:
            _store(project, fresh, saved)
        done += batch.num_rows
        created += len(fresh)
        on_rows(done, total)
    return ImportResult(rows=done, created=created, skipped=done - created)


def dataset_import(*, project: Project, file, on_rows: Callable[[int, int], None] = lambda done, total: None) -> ImportResult:
    """Import an RLHF-V / RLAIF-V parquet ``file`` (path or binary file object) into ``project``, all or nothing."""
    parquet = _open(file)
    _check_columns(parquet.schema_arrow.names)
    _check_sizes(parquet.metadata)
    saved = []
    try:
        with transaction.atomic():
            return _import_rows(project, parquet, saved, on_rows)
    except BaseException as error:
        for name in saved:
            default_storage.delete(name)
        if isinstance(error, IntegrityError):  # an import of the same rows or images committed meanwhile
            message = "Another import stored some of these rows meanwhile; send the file again (rows already there are skipped)."
            raise ApplicationError(message, fields={"file": [message]}, status=status.HTTP_409_CONFLICT) from error
        raise


@transaction.atomic
def dataset_import_by_name(*, project_name: str, file, on_rows=lambda done, total: None) -> tuple[Project, ImportResult]:
    """``dataset_import`` into the project called ``project_name``, created when missing (and not when the file is bad)."""
    project, _ = Project.objects.get_or_create(name=project_name)
    return project, dataset_import(project=project, file=file, on_rows=on_rows)
