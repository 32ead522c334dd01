"""Imports of RLHF-V / RLAIF-V parquet: round trip, idempotency, bad files refused whole."""
import io
import json
import struct

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from PIL import Image

from annotate.models import ImageAsset, PreferenceRecord, Project, Prompt, RecordSource, Response
from tests.exchange.helpers import export_bytes, make_records, manager_client, rlhfv_parquet, rlhfv_row
from tests.factories import make_project, png_bytes

pytestmark = pytest.mark.django_db


def _import(client, project, data, name="data.parquet"):
    upload = io.BytesIO(data)
    upload.name = name
    return client.post("/api/import/", {"project": project.pk, "file": upload}, format="multipart")


def test_export_import_export_gives_the_same_rows():
    """Export → import into a new project → export again: the same rows, segments included."""
    source, target = make_project(), make_project()
    make_records(source)
    client = manager_client()
    first = export_bytes(client, source, include_segments=1)
    response = _import(client, target, first)
    assert response.status_code == 201, response.content
    assert response.json() == {"rows": 3, "created": 3, "skipped": 0}
    again = export_bytes(client, target, include_segments=1)
    assert pq.read_table(io.BytesIO(again)).to_pylist() == pq.read_table(io.BytesIO(first)).to_pylist()
    records = PreferenceRecord.objects.filter(project=target)
    assert {r.source for r in records} == {RecordSource.IMPORTED}
    assert ImageAsset.objects.count() == 3  # deduplicated by sha256 across projects


def test_import_is_idempotent_and_recovers_spans_by_diff():
    """The same file twice adds nothing; without segments the changed spans come from the diff."""
    project = make_project()
    client = manager_client()
    data = rlhfv_parquet()
    assert _import(client, project, data).json() == {"rows": 2, "created": 2, "skipped": 0}
    counts = (PreferenceRecord.objects.count(), Prompt.objects.count(), Response.objects.count(), ImageAsset.objects.count())
    assert _import(client, project, data).json() == {"rows": 2, "created": 0, "skipped": 2}
    assert counts == (PreferenceRecord.objects.count(), Prompt.objects.count(), Response.objects.count(), ImageAsset.objects.count())
    record = PreferenceRecord.objects.get(project=project, origin__idx=1)
    assert (record.rejected, record.chosen) == ("A dog number 1.", "A cat number 1.")
    assert record.rejected_spans == [[2, 5]] and record.chosen_spans == [[2, 5]]
    assert record.origin["image_path"] == "imgs/img1.png"
    assert record.response.text == record.rejected and record.response.prompt.image_id == record.image_id


def test_rlaifv_flat_columns_import():
    """RLAIF-V: flat question/chosen/rejected, string idx; prompts shared by question and image."""
    image = {"bytes": png_bytes((1, 2, 3)), "path": None}
    rows = [{"ds_name": "RLAIF-V", "image": image, "question": "What?", "chosen": f"Yes {i}.", "rejected": f"No {i}.",
             "origin_dataset": "coco", "origin_split": "{}", "idx": f"OmniLMM_{i}", "image_path": "a/b.jpg"} for i in range(3)]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    project = make_project()
    assert _import(manager_client(), project, buffer.getvalue()).json()["created"] == 3
    assert Prompt.objects.filter(project=project).count() == 1
    record = PreferenceRecord.objects.filter(project=project).last()
    assert record.origin["idx"] == "OmniLMM_2" and record.chosen == "Yes 2."
    table = pq.read_table(io.BytesIO(export_bytes(manager_client(), project)))
    assert table.column("idx").to_pylist() == list(PreferenceRecord.objects.filter(project=project).values_list("id", flat=True))


def _bomb():
    buffer = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buffer, format="PNG")
    return buffer.getvalue()


def _dds_of_unknown_pixel_format():
    """A DDS header whose pixel format flags are 0: Pillow raises NotImplementedError, not an OSError."""
    header = struct.pack("<4s7I44x", b"DDS ", 124, 0x1007, 4, 4, 0, 0, 0)
    pixel_format = struct.pack("<2I4s5I", 32, 0, b"\0\0\0\0", 0, 0, 0, 0, 0)
    return header + pixel_format + struct.pack("<5I", 0x1000, 0, 0, 0, 0) + bytes(64)


def _texts(**texts):
    return json.dumps({"question": "q", "chosen": "c", "rejected": "r", **texts})


def _damaged(data):
    """Valid header and footer, garbage in the first column's page header."""
    return data[:8] + b"\xff" * 32 + data[40:]


BAD_FILES = {
    "not parquet": (lambda: b"ds_name,text\nx,y\n", "Not a parquet file"),
    "damaged pages": (lambda: _damaged(rlhfv_parquet()), "damaged"),
    "missing columns": (lambda: rlhfv_parquet([{"text": "{}"}]), "Missing column(s) image"),
    "text not JSON": (lambda: rlhfv_parquet(text="{question"), "Row 1: `text` is not JSON"),
    "text lacks a key": (lambda: rlhfv_parquet(text=json.dumps({"question": "q", "chosen": "c"})), "lacks the key 'rejected'"),
    "not an image": (lambda: rlhfv_parquet(image={"bytes": b"GIF89a-but-not-really", "path": "x.gif"}), "not an image"),
    "image without bytes": (lambda: rlhfv_parquet(image={"bytes": None, "path": "x.png"}), "has no bytes"),
    "image as a path": (lambda: rlhfv_parquet([{**rlhfv_row(0), "image": "/etc/hostname"}]), "has no bytes"),
    "decompression bomb": (lambda: rlhfv_parquet(image={"bytes": _bomb(), "path": "b.png"}), "pixels"),
    "absolute image_path": (lambda: rlhfv_parquet(image_path="/etc/passwd"), "absolute or leaves its folder"),
    "dotdot image_path": (lambda: rlhfv_parquet(image_path="imgs/../../secret.png"), "absolute or leaves its folder"),
    "bad segments": (lambda: rlhfv_parquet(segments=[{"rejected": [0, 99], "chosen": [0, 1], "category": "x"}]), "segments"),
    "segment category not text": (lambda: rlhfv_parquet(segments=[{"rejected": [2, 5], "chosen": [2, 5], "category": 7}]),
                                  "segments"),
    "segment offsets as bools": (lambda: rlhfv_parquet(segments=[{"rejected": [True, True], "chosen": [True, True],
                                                                  "category": "x"}]), "segments"),
    "NUL in a text": (lambda: rlhfv_parquet(text=_texts(question="q\x00")), "Row 1: `question`: Contains a NUL"),
    "lone surrogate in a text": (lambda: rlhfv_parquet(text=_texts(chosen="c\ud800")), "`chosen`: Contains a lone surrogate"),
    "NUL in an origin column": (lambda: rlhfv_parquet(origin_dataset="v\x00"), "`origin_dataset`: Contains a NUL"),
    "image path not a string": (lambda: rlhfv_parquet([{**rlhfv_row(0), "image": {"bytes": png_bytes((1, 2, 3)), "path": 5}}]),
                                "is not a string"),
    "image of an unknown pixel format": (lambda: rlhfv_parquet(image={"bytes": _dds_of_unknown_pixel_format(), "path": "x.dds"}),
                                         "NotImplementedError"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_is_400_and_nothing_is_stored(case, settings):
    """The bad row is the last: the rows before it must not be stored either (nor their image files)."""
    make_data, message = BAD_FILES[case]
    project = make_project()
    response = _import(manager_client(), project, make_data())
    assert response.status_code == 400
    assert message in response.json()["error"] and response.json()["fields"]["file"] == [response.json()["error"]]
    assert not PreferenceRecord.objects.exists() and not Prompt.objects.exists() and not ImageAsset.objects.exists()
    media = settings.MEDIA_ROOT
    assert not media.exists() or not [p for p in media.rglob("*") if p.is_file()]


@pytest.mark.parametrize("idx", [pa.array([True, False]), pa.array([2**64 - 1, 2**63], type=pa.uint64())])
def test_an_idx_that_is_no_int64_imports_and_exports_as_the_record_id(idx):
    """A bool or uint64 idx beyond int64 is kept as text in the origin; exports write the record id instead."""
    table = pq.read_table(io.BytesIO(rlhfv_parquet()))
    buffer = io.BytesIO()
    pq.write_table(table.set_column(table.schema.get_field_index("idx"), "idx", idx), buffer)
    project = make_project()
    assert _import(manager_client(), project, buffer.getvalue()).status_code == 201
    exported = pq.read_table(io.BytesIO(export_bytes(manager_client(), project, include_segments=1)))
    assert exported.column("idx").to_pylist() == list(PreferenceRecord.objects.filter(project=project).values_list("id", flat=True))


def test_large_upload_spooled_to_disk_imports(settings):
    """Uploads over FILE_UPLOAD_MAX_MEMORY_SIZE arrive as temporary files; they import the same."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    response = _import(manager_client(), make_project(), rlhfv_parquet())
    assert response.status_code == 201 and response.json()["created"] == 2


def test_import_without_file_is_400():
    response = manager_client().post("/api/import/", {"project": make_project().pk}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()["fields"]


def test_import_dataset_command_creates_the_project(tmp_path):
    path = tmp_path / "rlhfv.parquet"
    path.write_bytes(rlhfv_parquet())
    out = io.StringIO()
    call_command("import_dataset", str(path), "--project", "Imported RLHF-V", stdout=out, stderr=io.StringIO())
    project = Project.objects.get(name="Imported RLHF-V")
    assert project.records.count() == 2 and "2 records created" in out.getvalue()
    call_command("import_dataset", str(path), "--project", "Imported RLHF-V", stdout=out, stderr=io.StringIO())
    assert project.records.count() == 2


def test_import_dataset_command_refuses_bad_file_without_creating_project(tmp_path):
    from django.core.management.base import CommandError

    path = tmp_path / "bad.parquet"
    path.write_bytes(rlhfv_parquet(text="nope"))
    with pytest.raises(CommandError, match="is not JSON"):
        call_command("import_dataset", str(path), "--project", "Never", stdout=io.StringIO(), stderr=io.StringIO())
    assert not Project.objects.filter(name="Never").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_imports_of_one_file_at_once_store_it_once_and_answer_409():
    """The second import waits on the first one's rows (unique image and row keys) and, once the first commits,
    answers 409 (send again: its rows are then skipped) instead of a 500; the file is stored once."""
    import threading

    from django.db import connection

    from annotate.services.imports import dataset_import
    from config.errors import ApplicationError

    project, data = make_project(), rlhfv_parquet()
    first_stored, outcome = threading.Event(), {}

    def hold_the_transaction(done, total):
        first_stored.set()
        threading.Event().wait(2)  # the second import reaches the same rows meanwhile and waits on them

    def run(name, **options):
        try:
            outcome[name] = dataset_import(project=project, file=io.BytesIO(data), **options)
        except ApplicationError as error:
            outcome[name] = error
        finally:
            connection.close()

    first = threading.Thread(target=run, args=("first",), kwargs={"on_rows": hold_the_transaction})
    first.start()
    assert first_stored.wait(30)
    second = threading.Thread(target=run, args=("second",))
    second.start()
    first.join(60)
    second.join(60)
    assert outcome["first"].created == 2
    assert isinstance(outcome["second"], ApplicationError) and outcome["second"].status == 409
    assert PreferenceRecord.objects.filter(project=project).count() == 2 and ImageAsset.objects.count() == 2
