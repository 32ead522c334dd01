"""Exports of preference records as RLHF-V rows (parquet or JSON lines) or TRL's vision preference format.

Rows are produced as the query iterates (``.iterator()``: a server-side
cursor on PostgreSQL), one image file read at a time, and written out in
row groups of bounded size, so memory stays flat however many records there
are. ``export_chunks`` yields bytes for a streamed HTTP response;
``export_job_run`` writes the same bytes to storage in a worker.
"""
import base64
import json
import logging
import tempfile

import pyarrow as pa
import pyarrow.parquet as pq
from celery import current_app
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from annotate.models import ExportFormat, ExportJob
from annotate.selectors.records import record_export_list
from training.jobs import JobStatus

logger = logging.getLogger(__name__)

EXPORT_TASK = "annotate.tasks.exports.export_job_execute"
CHUNK_ROWS = 2000  # rows fetched per cursor round trip
GROUP_ROWS = 5000  # at most this many rows per parquet row group ...
GROUP_BYTES = 8 << 20  # ... or this many image bytes

_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
_SPAN = pa.list_(pa.int64())
_SEGMENTS = pa.list_(pa.struct([("rejected", _SPAN), ("chosen", _SPAN), ("category", pa.string())]))
_MESSAGES = pa.list_(pa.struct([
    ("role", pa.string()), ("content", pa.list_(pa.struct([("type", pa.string()), ("text", pa.string())]))),
]))

# Hugging Face ``datasets`` features, stored in the parquet metadata so ``load_dataset`` decodes images.
_STR, _INT = {"dtype": "string", "_type": "Value"}, {"dtype": "int64", "_type": "Value"}
_HF_IMAGE = {"_type": "Image"}
_HF_SEGMENTS = {"feature": {"rejected": {"feature": _INT, "_type": "List"}, "chosen": {"feature": _INT, "_type": "List"},
                            "category": _STR}, "_type": "List"}
_HF_MESSAGES = {"feature": {"role": _STR, "content": {"feature": {"type": _STR, "text": _STR}, "_type": "List"}},
                "_type": "List"}
RLHFV_COLUMNS = [
    ("ds_name", pa.string(), _STR), ("image", _IMAGE, _HF_IMAGE), ("text", pa.string(), _STR),
    ("origin_dataset", pa.string(), _STR), ("origin_split", pa.string(), _STR), ("idx", pa.int64(), _INT),
    ("image_path", pa.string(), _STR),
]
SEGMENTS_COLUMN = ("segments", _SEGMENTS, _HF_SEGMENTS)
TRL_COLUMNS = [
    ("images", pa.list_(_IMAGE), {"feature": _HF_IMAGE, "_type": "List"}), ("prompt", _MESSAGES, _HF_MESSAGES),
    ("chosen", _MESSAGES, _HF_MESSAGES), ("rejected", _MESSAGES, _HF_MESSAGES),
]
_FIELDS = ("id", "question", "chosen", "rejected", "alignment", "origin", "image__file", "project__name",
           "response__checkpoint__name", "response__prompt__origin")


def export_schema(export_format: str, *, include_segments: bool = False) -> pa.Schema:
    """The arrow schema of a parquet export, with the ``datasets`` features in its metadata."""
    columns = TRL_COLUMNS if export_format == ExportFormat.TRL_PARQUET else RLHFV_COLUMNS
    if include_segments and export_format != ExportFormat.TRL_PARQUET:
        columns = columns + [SEGMENTS_COLUMN]
    features = {name: feature for name, _, feature in columns}
    metadata = {"huggingface": json.dumps({"info": {"features": features}})}
    return pa.schema([(name, kind) for name, kind, _ in columns], metadata=metadata)


def _image_bytes(name):
    if not name:
        return None
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def _rlhfv_row(values, include_segments):
    """One RLHF-V row; imported records give back what they were imported with."""
    pk, question, chosen, rejected, alignment, origin, image_name, project, checkpoint, prompt_origin = values
    prompt_origin = prompt_origin or {}
    split = origin.get("origin_split") or json.dumps(
        {"model": checkpoint or "", "type": prompt_origin.get("type", "")}, ensure_ascii=False)
    image_path = origin.get("image_path") or image_name or ""
    data = _image_bytes(image_name)
    row = {
        "ds_name": origin.get("ds_name", project),
        "image": None if data is None else {"bytes": data, "path": image_path},
        "text": json.dumps({"question": question, "chosen": chosen, "rejected": rejected}, ensure_ascii=False),
        "origin_dataset": origin.get("origin_dataset", prompt_origin.get("dataset", "")),
        "origin_split": split,
        "idx": origin["idx"] if isinstance(origin.get("idx"), int) else pk,
        "image_path": image_path,
    }
    if include_segments:
        row["segments"] = alignment
    return row, question, chosen, rejected


def _trl_row(rlhfv_row, question, chosen, rejected):
    def answer(text):
        return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]

    image = rlhfv_row["image"]
    return {
        "images": [] if image is None else [image],
        "prompt": [{"role": "user", "content": [{"type": "image", "text": None}, {"type": "text", "text": question}]}],
        "chosen": answer(chosen),
        "rejected": answer(rejected),
    }


def _rows(records, export_format, include_segments):
    for values in records.values_list(*_FIELDS).iterator(chunk_size=CHUNK_ROWS):
        row, question, chosen, rejected = _rlhfv_row(values, include_segments)
        yield _trl_row(row, question, chosen, rejected) if export_format == ExportFormat.TRL_PARQUET else row


class _Drain:
    """A write-only file that hands back what was written since the last ``take()`` (parquet needs ``tell``)."""

    closed = False

    def __init__(self):
        self._parts, self._position = [], 0

    def write(self, data):
        self._parts.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self):
        return self._position

    def flush(self):
        pass

    def close(self):
        self.closed = True

    def take(self):
        data, self._parts = b"".join(self._parts), []
        return data


def _row_size(row):
    image = row.get("image") or (row.get("images") or [None])[0]
    return len(image["bytes"]) if image else 0


def _parquet_chunks(rows, schema, on_rows):
    sink = _Drain()
    writer = pq.ParquetWriter(sink, schema, compression="snappy")
    yield sink.take()  # the magic bytes: the response starts before the first query returns
    group, group_bytes, written = [], 0, 0
    for row in rows:
        group.append(row)
        group_bytes += _row_size(row)
        if len(group) >= GROUP_ROWS or group_bytes >= GROUP_BYTES:
            writer.write_table(pa.Table.from_pylist(group, schema=schema))
            written += len(group)
            group, group_bytes = [], 0
            on_rows(written)
            yield sink.take()
    if group:
        writer.write_table(pa.Table.from_pylist(group, schema=schema))
        on_rows(written + len(group))
    writer.close()
    yield sink.take()


def _jsonl_line(row):
    if row["image"] is not None:
        row["image"] = {"bytes": base64.b64encode(row["image"]["bytes"]).decode("ascii"), "path": row["image"]["path"]}
    return json.dumps(row, ensure_ascii=False) + "\n"


def _jsonl_chunks(rows, on_rows):
    lines, written = [], 0
    for row in rows:
        lines.append(_jsonl_line(row))
        if len(lines) >= 500:
            written += len(lines)
            on_rows(written)
            yield "".join(lines).encode()
            lines = []
    on_rows(written + len(lines))
    yield "".join(lines).encode()


def export_chunks(*, records, export_format: str, include_segments: bool = False, on_rows=lambda count: None):
    """Yield the export of ``records`` as bytes; ``on_rows(count)`` reports the rows written so far.

    ``rlhfv-jsonl`` lines carry the image as ``{"bytes": <base64>, "path": ...}``.
    """
    rows = _rows(records, export_format, include_segments)
    if export_format == ExportFormat.RLHFV_JSONL:
        return _jsonl_chunks(rows, on_rows)
    return _parquet_chunks(rows, export_schema(export_format, include_segments=include_segments), on_rows)


def export_filename(*, project_name: str, export_format: str) -> str:
    base, _, kind = export_format.rpartition("-")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in project_name)
    return f"{safe}-{base}.{kind}"


@transaction.atomic
def export_job_create(*, user, project, export_format: str, filters: dict, include_segments: bool = False) -> ExportJob:
    """Queue a background export of ``project`` (``filters``: ``record_export_list`` keywords, JSON-ready)."""
    job = ExportJob.objects.create(
        project=project, format=export_format, created_by=user,
        filters={**filters, "include_segments": include_segments},
    )
    transaction.on_commit(lambda: current_app.signature(EXPORT_TASK, args=(job.pk,)).apply_async(queue="default"))
    return job


class _Stopped(Exception):
    """The job stopped running (cancelled or failed elsewhere) while it was writing."""


def export_job_run(*, job_id: int) -> ExportJob | None:
    """Write a queued export job's file to storage with progress; a job not queued any more is left alone."""
    job = ExportJob.objects.select_related("project").filter(pk=job_id).first()
    if job is None or not job.transition(JobStatus.RUNNING):
        return job
    filters = dict(job.filters)
    include_segments = bool(filters.pop("include_segments", False))
    try:
        records = record_export_list(project_id=job.project_id, **filters)
        total = records.count()
        ExportJob.objects.filter(pk=job.pk).update(total_rows=total)

        def on_rows(count):
            if not job.beat(progress=count / total if total else 1.0, rows_written=count):
                raise _Stopped

        name = export_filename(project_name=job.project.name, export_format=job.format)
        with tempfile.TemporaryFile() as out:
            for chunk in export_chunks(records=records, export_format=job.format,
                                       include_segments=include_segments, on_rows=on_rows):
                out.write(chunk)
            out.seek(0)
            stored = default_storage.save(f"exports/{job.pk}/{name}", File(out))
        job.transition(JobStatus.SUCCEEDED, file=stored, rows_written=total)
    except _Stopped:
        logger.info("Export job %s stopped while running", job_id)
    except Exception as error:
        logger.exception("Export job %s failed", job_id)
        job.transition(JobStatus.FAILED, error=f"{type(error).__name__}: {error}")
    return job
