"""Streamed exports: RLHF-V parquet/JSONL and TRL parquet, loadable by ``datasets``; filters; permissions."""
import base64
import io
import json

import pyarrow.parquet as pq
import pytest
from rest_framework.test import APIClient

from annotate.models import Membership, PreferenceRecord, RecordSplit, RecordStatus, Role
from tests.exchange.helpers import export_bytes, make_record, make_records, manager_client
from tests.factories import make_project, make_user

pytestmark = pytest.mark.django_db

RLHFV_COLUMNS = ["ds_name", "image", "text", "origin_dataset", "origin_split", "idx", "image_path"]


def _load(tmp_path, data):
    import datasets

    path = tmp_path / "export.parquet"
    path.write_bytes(data)
    return datasets.load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))


def test_rlhfv_parquet_round_trips_through_datasets(tmp_path):
    """Every row's image bytes and text equal the database; text has exactly three keys; schema as RLHF-V."""
    import datasets

    project = make_project()
    records = make_records(project)
    make_record(project, "Retired?", "Old text here.", [(0, 3, "other", "New")], status=RecordStatus.RETIRED)
    dataset = _load(tmp_path, export_bytes(manager_client(), project))
    assert dataset.column_names == RLHFV_COLUMNS
    assert isinstance(dataset.features["image"], datasets.Image)
    assert dataset.features["idx"] == datasets.Value("int64")
    assert dataset[0]["image"].size == (32, 32)  # decoded to PIL by the Image feature
    raw = dataset.cast_column("image", datasets.Image(decode=False))
    assert len(raw) == len(records)
    for row, record in zip(raw, records):
        text = json.loads(row["text"])
        assert list(text) == ["question", "chosen", "rejected"]
        assert text == {"question": record.question, "chosen": record.chosen, "rejected": record.rejected}
        assert row["image"]["bytes"] == record.image.file.open("rb").read()
        assert row["idx"] == record.pk and row["ds_name"] == project.name
        assert row["image_path"] == record.image.file.name
        assert json.loads(row["origin_split"]).keys() == {"model", "type"}


def test_segments_column_holds_the_alignment():
    """include_segments=1 adds the alignment; readers that ignore it still get the RLHF-V columns."""
    project = make_project()
    records = make_records(project)
    table = pq.read_table(io.BytesIO(export_bytes(manager_client(), project, include_segments=1)))
    assert table.column_names == RLHFV_COLUMNS + ["segments"]
    assert table.column("segments").to_pylist() == [record.alignment for record in records]


def test_trl_parquet_is_conversational_with_images(tmp_path):
    """trl-parquet: images list, user prompt with an image part then the question, assistant answers."""
    import datasets

    project = make_project()
    record = make_records(project)[0]
    dataset = _load(tmp_path, export_bytes(manager_client(), project, "trl-parquet"))
    assert dataset.column_names == ["images", "prompt", "chosen", "rejected"]
    assert isinstance(dataset.features["images"].feature, datasets.Image)
    row = dataset[0]
    assert row["prompt"] == [{"role": "user", "content": [
        {"type": "image", "text": None}, {"type": "text", "text": record.question}]}]
    assert row["chosen"] == [{"role": "assistant", "content": [{"type": "text", "text": record.chosen}]}]
    assert row["rejected"][0]["content"][0]["text"] == record.rejected
    assert row["images"][0].size == (32, 32)


def test_jsonl_lines_carry_base64_images():
    project = make_project()
    records = make_records(project)
    lines = export_bytes(manager_client(), project, "rlhfv-jsonl").decode().splitlines()
    assert len(lines) == len(records)
    row = json.loads(lines[1])
    assert list(row) == RLHFV_COLUMNS
    assert base64.b64decode(row["image"]["bytes"]) == records[1].image.file.open("rb").read()
    assert json.loads(row["text"])["chosen"] == records[1].chosen


def test_response_streams_before_reading_records():
    """The first chunk (parquet magic) comes before any row is read."""
    project = make_project()
    make_records(project)
    response = manager_client().get("/api/export/", {"format": "rlhfv-parquet", "project": project.pk})
    assert response["Content-Disposition"].endswith('.parquet"')
    assert next(iter(response.streaming_content)) == b"PAR1"


def test_row_groups_are_bounded_by_image_bytes(monkeypatch):
    """A row group closes once it holds GROUP_BYTES of images, so large images keep memory bounded."""
    from annotate.services import exports

    project = make_project()
    records = make_records(project)
    monkeypatch.setattr(exports, "GROUP_BYTES", records[0].image.size_bytes + 1)
    parquet = pq.ParquetFile(io.BytesIO(export_bytes(manager_client(), project)))
    assert [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)] == [2, 1]


def test_filters_select_records():
    """status, created since/until, checkpoint, generation batch, category and reviewed-only are applied."""
    from training.models import GenerationBatch, ModelCheckpoint

    project = make_project()
    first, second, third = make_records(project)
    checkpoint = ModelCheckpoint.objects.create(project=project, name="c1", path="/x")
    batch = GenerationBatch.objects.create(project=project, checkpoint=checkpoint)
    second.response.checkpoint, second.response.generation_batch = checkpoint, batch
    second.response.save()
    client = manager_client()

    def idx(**params):
        table = pq.read_table(io.BytesIO(export_bytes(client, project, **params)))
        return table.column("idx").to_pylist()

    assert idx(checkpoint=checkpoint.pk) == [second.pk]
    assert idx(generation_batch=batch.pk) == [second.pk]
    assert idx(category="attribute") == [second.pk]
    assert idx(category="number") == [third.pk]
    assert idx(created_since=second.created_at.isoformat()) == [second.pk, third.pk]
    assert idx(created_until=second.created_at.isoformat()) == [first.pk]
    assert idx(reviewed_only=1) == []
    first.status = RecordStatus.RETIRED
    first.save()
    assert idx(status="retired") == [first.pk]
    assert idx(status="all") == [first.pk, second.pk, third.pk]
    assert json.loads(pq.read_table(io.BytesIO(export_bytes(client, project, checkpoint=checkpoint.pk)))
                      .column("origin_split")[0].as_py())["model"] == "c1"


def test_bad_export_parameters_are_400_naming_the_field():
    project = make_project()
    client = manager_client()
    for params, field in [({"format": "csv"}, "format"), ({"format": "rlhfv-parquet", "project": "abc"}, "project"),
                          ({"format": "rlhfv-parquet", "status": "gone"}, "status"),
                          ({"format": "rlhfv-parquet", "created_since": "yesterday"}, "created_since")]:
        response = client.get("/api/export/", {"project": project.pk, **params})
        assert response.status_code == 400, params
        assert field in response.json()["fields"]
    # A project id that does not exist answers like another team's: 404, so ids are not probed.
    assert client.get("/api/export/", {"format": "rlhfv-parquet", "project": 999999}).status_code == 404


@pytest.mark.parametrize("method,url", [
    ("get", "/api/export/?format=rlhfv-parquet&project={project}"),
    ("post", "/api/import/"),
    ("get", "/api/export-jobs/"),
    ("post", "/api/export-jobs/"),
])
def test_only_managers_exchange_datasets(method, url):
    """Anonymous: 401; annotators and reviewers of the project: 403."""
    project = make_project()
    url = url.format(project=project.pk)
    assert getattr(APIClient(), method)(url).status_code == 401
    for role in (Role.ANNOTATOR, Role.REVIEWER):
        member = APIClient()
        member.force_authenticate(make_user(role=role, project=project))
        assert getattr(member, method)(url).status_code == 403


def test_a_project_manager_exchanges_the_data_of_their_projects_only():
    """A member with the manager role (not staff) exports, imports and lists export jobs of their project; another
    project answers 404 (its jobs are not listed), as in the training API the same dashboard uses."""
    from annotate.models import ExportJob
    from tests.exchange.helpers import rlhfv_parquet

    mine, other = make_project(), make_project()
    make_records(mine)
    lead = make_user()
    Membership.objects.create(project=mine, user=lead, role=Role.MANAGER)
    client = APIClient()
    client.force_authenticate(lead)
    assert pq.read_table(io.BytesIO(export_bytes(client, mine))).num_rows == 3
    assert client.get("/api/export/", {"format": "rlhfv-parquet", "project": other.pk}).status_code == 404
    theirs = ExportJob.objects.create(project=other, format="rlhfv-jsonl")
    queued = client.post("/api/export-jobs/", {"format": "rlhfv-jsonl", "project": mine.pk}, format="json")
    assert queued.status_code == 202
    assert [job["id"] for job in client.get("/api/export-jobs/").json()["results"]] == [queued.json()["id"]]
    assert client.get(f"/api/export-jobs/{theirs.pk}/").status_code == 404
    assert client.post("/api/export-jobs/", {"format": "rlhfv-jsonl", "project": other.pk}, format="json").status_code == 404
    for project, status in ((mine, 201), (other, 404)):
        upload = io.BytesIO(rlhfv_parquet())
        upload.name = "data.parquet"
        answer = client.post("/api/import/", {"project": project.pk, "file": upload}, format="multipart")
        assert answer.status_code == status, answer.content


def test_the_download_name_keeps_a_non_latin_project_name():
    """RFC 6266 filename* (UTF-8), which browsers decode, not a raw or RFC 2047 header."""
    project = make_project(name="猫 données")
    response = manager_client().get("/api/export/", {"format": "rlhfv-jsonl", "project": project.pk})
    assert response["Content-Disposition"] == "attachment; filename*=utf-8''%E7%8C%AB_donn%C3%A9es-rlhfv.jsonl"


def test_empty_export_is_a_valid_file():
    project = make_project()
    table = pq.read_table(io.BytesIO(export_bytes(manager_client(), project)))
    assert table.num_rows == 0 and table.column_names == RLHFV_COLUMNS


def test_record_whose_image_vanished_is_left_out_of_a_complete_file(tmp_path, caplog):
    """The image file of one record is deleted from storage: the export skips it, logs it, and ends well."""
    project = make_project()
    records = make_records(project)
    assert records[1].image_id not in (records[0].image_id, records[2].image_id)
    records[1].image.file.storage.delete(records[1].image.file.name)
    lines = export_bytes(manager_client(), project, "rlhfv-jsonl").decode().splitlines()
    assert [json.loads(line)["idx"] for line in lines] == [records[0].pk, records[2].pk]
    assert f"leaves out record {records[1].pk}" in caplog.text
    table = _load(tmp_path, export_bytes(manager_client(), project))
    assert len(table) == 2


def test_split_selects_either_side_of_the_held_out_split():
    """?split=train|heldout exports one side; without it both; another value is a 400 naming split."""
    project = make_project()
    first, second, third = make_records(project)
    PreferenceRecord.objects.filter(pk=second.pk).update(split=RecordSplit.HELDOUT)
    client = manager_client()

    def idx(**params):
        return pq.read_table(io.BytesIO(export_bytes(client, project, **params))).column("idx").to_pylist()

    assert idx(split="heldout") == [second.pk]
    assert idx(split="train") == [first.pk, third.pk]
    assert idx() == [first.pk, second.pk, third.pk]
    response = client.get("/api/export/", {"format": "rlhfv-parquet", "project": project.pk, "split": "test"})
    assert response.status_code == 400 and "split" in response.json()["fields"]
    job = client.post("/api/export-jobs/", {"format": "rlhfv-jsonl", "project": project.pk, "split": "heldout"})
    assert job.status_code == 202 and job.json()["filters"]["split"] == "heldout"
