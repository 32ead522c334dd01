"""Exports of preference records as RLHF-V rows (parquet or JSON lines) or TRL's vision preference format.

Rows are produced as the query iterates (``.iterator()``: a server-side
cursor on PostgreSQL), one image file read at a time, and written out in
row groups of bounded size, so memory stays flat however many records there
are. ``export_chunks`` yields bytes for a streamed HTTP response;
``annotate.services.export_jobs`` writes the same bytes to storage in a worker.
"""
import base64
import json
import logging
import os
from collections import defaultdict
from functools import lru_cache
from itertools import accumulate

import pyarrow as pa
import pyarrow.parquet as pq
from django.core.files.storage import default_storage
from django.db.models import TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, NullIf

from annotate.models import ExportFormat
from config.fields import is_int64

logger = logging.getLogger(__name__)

CHUNK_ROWS = 2000  # rows fetched per cursor round trip
GROUP_ROWS = 1000  # at most this many rows per parquet row group ...
GROUP_BYTES = 4 << 20  # ... or this many image bytes (each group is held a few times over while written)

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
_FIELDS = ("id", "question", "chosen", "rejected", "origin_text", "image__file", "image__size_bytes", "project__name",
           "written_by", "prompt_dataset", "prompt_type")


def export_schema(export_format: str, *, include_segments: bool = False) -> pa.Schema:
    """The arrow schema of a parquet export, with the ``datasets`` features in its metadata."""
    columns = TRL_COLUMNS if export_format == ExportFormat.TRL_PARQUET else RLHFV_COLUMNS
    if include_segments and export_format != ExportFormat.TRL_PARQUET:
        columns = columns + [SEGMENTS_COLUMN]
    features = {name: feature for name, _, feature in columns}
    metadata = {"huggingface": json.dumps({"info": {"features": features}})}
    return pa.schema([(name, kind) for name, kind, _ in columns], metadata=metadata)


def _image_reader():
    """``read(name, size) -> bytes`` of stored images: two system calls when the storage is a local folder."""
    try:
        root = default_storage.path("")
    except NotImplementedError:
        return lambda name, size: default_storage.open(name, "rb").read()

    def read(name, size):
        handle = os.open(os.path.join(root, name), os.O_RDONLY)
        try:
            data = os.read(handle, size + 1)
            while len(data) > size and (more := os.read(handle, 1 << 20)):  # larger than recorded: read on
                data += more
            return data
        finally:
            os.close(handle)

    return read


@lru_cache(maxsize=1024)
def _origin_split(checkpoint, question_type):
    return json.dumps({"model": checkpoint or "", "type": question_type or ""}, ensure_ascii=False)


def _values(records, include_segments):
    """Row tuples, JSON left undecoded where it can be (``{}`` origins are the common case)."""
    records = records.annotate(
        origin_text=Cast("origin", TextField()),
        prompt_dataset=KeyTextTransform("dataset", "response__prompt__origin"),
        prompt_type=KeyTextTransform("type", "response__prompt__origin"),
        # The checkpoint that wrote the answer, else the model an upload credited it to.
        written_by=Coalesce("response__checkpoint__name", NullIf("response__model_name", Value(""))),
    )
    fields = _FIELDS + (("alignment",) if include_segments else ())
    return records.values_list(*fields).iterator(chunk_size=CHUNK_ROWS)


def _groups(records, include_segments):
    """Successive row groups as column lists; imported records give back what they were imported with."""
    read = _image_reader()
    group, group_bytes = defaultdict(list), 0
    for pk, question, chosen, rejected, origin, image, image_size, project, checkpoint, dataset, kind, *alignment in (
            _values(records, include_segments)):
        try:
            data = read(image, image_size) if image else None
        except FileNotFoundError:
            # Left out rather than exported without its image: the stream stays one complete file.
            logger.warning("Export leaves out record %s: its image %s is missing from storage", pk, image)
            continue
        origin = json.loads(origin) if origin != "{}" else {}
        group["ds_name"].append(origin.get("ds_name", project))
        group["image_bytes"].append(data)
        group["image_path"].append(origin.get("image_path") or image or "")
        group["question"].append(question)
        group["chosen"].append(chosen)
        group["rejected"].append(rejected)
        group["origin_dataset"].append(origin.get("origin_dataset", dataset or ""))
        group["origin_split"].append(origin.get("origin_split") or _origin_split(checkpoint, kind))
        group["idx"].append(origin["idx"] if is_int64(origin.get("idx")) else pk)
        group["segments"].extend(alignment)
        group_bytes += len(data or b"")
        if len(group["idx"]) >= GROUP_ROWS or group_bytes >= GROUP_BYTES:
            yield group
            group, group_bytes = defaultdict(list), 0
    if group:
        yield group


def _texts(group):
    return [json.dumps({"question": q, "chosen": c, "rejected": r}, ensure_ascii=False)
            for q, c, r in zip(group["question"], group["chosen"], group["rejected"])]


def _images(group):
    data = pa.array(group["image_bytes"], pa.binary())
    return pa.StructArray.from_arrays([data, pa.array(group["image_path"], pa.string())],
                                      fields=list(_IMAGE), mask=data.is_null())


def _rlhfv_table(group, schema):
    columns = {"text": pa.array(_texts(group), pa.string()), "image": _images(group)}
    return pa.Table.from_arrays(
        [columns[field.name] if field.name in columns else pa.array(group[field.name], field.type) for field in schema],
        schema=schema,
    )


def _trl_table(group, schema):
    def answers(texts):
        return pa.array([[{"role": "assistant", "content": [{"type": "text", "text": t}]}] for t in texts], _MESSAGES)

    images = _images(group)
    present = [0] + [int(v) for v in images.is_valid().to_pylist()]
    offsets = pa.array(list(accumulate(present)), pa.int32())
    prompts = [[{"role": "user", "content": [{"type": "image", "text": None}, {"type": "text", "text": q}]}]
               for q in group["question"]]
    return pa.Table.from_arrays([
        pa.ListArray.from_arrays(offsets, images.drop_null()), pa.array(prompts, _MESSAGES),
        answers(group["chosen"]), answers(group["rejected"]),
    ], schema=schema)


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


def _parquet_chunks(groups, schema, to_table, on_rows):
    sink = _Drain()
    # Dictionaries only where values repeat, statistics only on idx: min/max of image bytes cost more than the rest.
    writer = pq.ParquetWriter(sink, schema, compression="snappy", use_dictionary=[
        name for name in ("ds_name", "origin_dataset", "origin_split") if name in schema.names
    ] or True, write_statistics=["idx"] if "idx" in schema.names else False)
    yield sink.take()  # the magic bytes: the response starts before the first query returns
    written = 0
    for group in groups:
        writer.write_table(to_table(group, schema))
        written += len(group["idx"])
        on_rows(written)
        yield sink.take()
    writer.close()
    yield sink.take()


def _jsonl_chunks(groups, include_segments, on_rows):
    written = 0
    for group in groups:
        lines = []
        for i, text in enumerate(_texts(group)):
            data = group["image_bytes"][i]
            image = None if data is None else {"bytes": base64.b64encode(data).decode("ascii"),
                                               "path": group["image_path"][i]}
            row = {"ds_name": group["ds_name"][i], "image": image, "text": text,
                   **{name: group[name][i] for name in ("origin_dataset", "origin_split", "idx", "image_path")}}
            if include_segments:
                row["segments"] = group["segments"][i]
            lines.append(json.dumps(row, ensure_ascii=False) + "\n")
        written += len(lines)
        on_rows(written)
        yield "".join(lines).encode()


def export_chunks(*, records, export_format: str, include_segments: bool = False, on_rows=lambda count: None):
    """Yield the export of ``records`` as bytes; ``on_rows(count)`` reports the rows written so far.

    ``rlhfv-jsonl`` lines carry the image as ``{"bytes": <base64>, "path": ...}``.
    """
    include_segments = include_segments and export_format != ExportFormat.TRL_PARQUET
    groups = _groups(records, include_segments)
    if export_format == ExportFormat.RLHFV_JSONL:
        return _jsonl_chunks(groups, include_segments, on_rows)
    to_table = _trl_table if export_format == ExportFormat.TRL_PARQUET else _rlhfv_table
    return _parquet_chunks(groups, export_schema(export_format, include_segments=include_segments), to_table, on_rows)


def export_filename(*, project_name: str, export_format: str) -> str:
    base, _, kind = export_format.rpartition("-")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in project_name)
    return f"{safe}-{base}.{kind}"
