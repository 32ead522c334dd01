"""Records to export and parquet files to import, for the exchange tests."""
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from training.ddpo.alignment import alignment_spans, apply_segments
from annotate.models import PreferenceRecord
from tests.factories import make_response, make_user, png_bytes

TEXTS = [
    ("Describe the image.", "There is a red circle 🔴 and a blue square.", [(15, 21, "object", "triangle")]),
    ("What is left?", "左边有一个绿色的圆。", [(5, 7, "attribute", "红色")]),
    ("Count them.", "Three stars, e\u0301toile, and one moon.", [(0, 5, "number", "Two")]),
]


def make_record(project, question, text, segments, **fields):
    """An active annotation-style record of a new response with an image."""
    response = make_response(project, text=text, question=question, queued=False)
    chosen, alignment = apply_segments(text, [dict(start=s, end=e, category=c, replacement=r) for s, e, c, r in segments])
    rejected_spans, chosen_spans = alignment_spans(alignment)
    return PreferenceRecord.objects.create(
        project=project, response=response, image=response.prompt.image, question=question, chosen=chosen,
        rejected=text, alignment=alignment, rejected_spans=rejected_spans, chosen_spans=chosen_spans, **fields)


def make_records(project):
    return [make_record(project, *row) for row in TEXTS]


def manager_client():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=make_user(role='manager')).key}")
    return client


def export_bytes(client, project, export_format="rlhfv-parquet", **params):
    response = client.get("/api/export/", {"format": export_format, "project": project.pk, **params})
    assert response.status_code == 200, response.content
    assert response.streaming
    return b"".join(response.streaming_content)


def rlhfv_parquet(rows=None, **overrides):
    """An RLHF-V parquet file (bytes) of ``rows`` (dicts of column values); two valid rows by default."""
    rows = rows or [rlhfv_row(i) for i in range(2)]
    for key, value in overrides.items():
        for row in rows:
            row.setdefault(key, None)
        rows[-1][key] = value
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


def rlhfv_row(i, color=None):
    return {
        "ds_name": "RLHF-V",
        "image": {"bytes": png_bytes(color or (i * 40 % 256, 90, 10)), "path": f"img{i}.png"},
        "text": json.dumps({"question": f"Question {i}?", "chosen": f"A cat number {i}.", "rejected": f"A dog number {i}."}),
        "origin_dataset": "vqa",
        "origin_split": json.dumps({"model": "m", "type": "qa"}),
        "idx": i,
        "image_path": f"imgs/img{i}.png",
    }
