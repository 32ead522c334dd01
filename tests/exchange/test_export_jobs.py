"""Background export jobs: guarded status, progress, a file in storage and its download link."""
import io
import time

import pyarrow.parquet as pq
import pytest

from annotate.models import ExportJob
from annotate.services.export_jobs import export_job_run
from tests.exchange.helpers import make_records, manager_client
from tests.factories import make_project, make_user
from jobs.models import JobStatus


def _download(client, job):
    response = client.get(f"/api/export-jobs/{job['id']}/")
    assert response.status_code == 200
    url = response.json()["download_url"]
    assert url.endswith(f"/api/export-jobs/{job['id']}/download/")
    download = client.get(url)
    assert download.status_code == 200
    return pq.read_table(io.BytesIO(b"".join(download.streaming_content)))


@pytest.mark.django_db
def test_job_writes_the_file_with_progress():
    """A queued job runs once: file stored, all rows written, progress 1; a second run changes nothing."""
    project = make_project()
    records = make_records(project)
    client = manager_client()
    job = ExportJob.objects.create(project=project, format="rlhfv-parquet", filters={"category": "object"})
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.progress, job.rows_written, job.total_rows) == (JobStatus.SUCCEEDED, 1.0, 1, 1)
    table = _download(client, {"id": job.pk})
    assert table.column("idx").to_pylist() == [records[0].pk]
    finished_at = job.finished_at
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.finished_at == finished_at
    job.file.storage.delete(job.file.name)
    assert client.get(f"/api/export-jobs/{job.pk}/download/").status_code == 404


@pytest.mark.django_db
def test_cancelled_job_is_not_run():
    job = ExportJob.objects.create(project=make_project(), format="trl-parquet")
    job.transition(JobStatus.CANCELLED)
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and not job.file
    response = manager_client().get(f"/api/export-jobs/{job.pk}/download/")
    assert response.status_code == 404


@pytest.mark.django_db
def test_failed_export_records_the_error():
    job = ExportJob.objects.create(project=make_project(), format="rlhfv-parquet", filters={"no_such_filter": 1})
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "no_such_filter" in job.error


@pytest.mark.slow
def test_export_job_through_a_real_worker(celery_worker_process):
    """POST /api/export-jobs/ → a Celery worker writes the file → the download link serves it."""
    project = make_project()
    make_records(project)
    client = manager_client()
    response = client.post("/api/export-jobs/", {"format": "rlhfv-parquet", "project": project.pk,
                                                 "include_segments": True}, format="json")
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["status"] == JobStatus.QUEUED and job["download_url"] is None
    deadline = time.monotonic() + 60
    while ExportJob.objects.get(pk=job["id"]).status in (JobStatus.QUEUED, JobStatus.RUNNING):
        assert time.monotonic() < deadline, "export job did not finish"
        time.sleep(0.2)
    assert ExportJob.objects.get(pk=job["id"]).status == JobStatus.SUCCEEDED
    table = _download(client, job)
    assert table.num_rows == 3 and "segments" in table.column_names
    listed = client.get("/api/export-jobs/").json()
    assert [row["id"] for row in listed["results"]] == [job["id"]]


@pytest.mark.django_db
def test_job_list_narrows_to_a_project(client):
    """?project= lists that project's jobs only; a bad id is a 400 naming the field."""
    manager = make_user(role="manager")
    mine, other = make_project(), make_project()
    ExportJob.objects.create(project=mine, format="rlhfv-parquet")
    ExportJob.objects.create(project=other, format="trl-parquet")
    client.force_login(manager)
    listed = client.get(f"/api/export-jobs/?project={mine.pk}").json()["results"]
    assert [job["project"] for job in listed] == [mine.pk]
    assert len(client.get("/api/export-jobs/").json()["results"]) == 2
    bad = client.get("/api/export-jobs/?project=abc")
    assert bad.status_code == 400 and "project" in bad.json()["fields"]


@pytest.mark.slow
def test_a_job_whose_message_was_lost_is_sent_again(celery_worker_process):
    """A job still queued long after its task was sent (the broker lost the message) is sent again by the
    beat sweep, and a real worker runs it; a job sent recently is left alone."""
    from datetime import timedelta

    from django.utils import timezone

    from jobs.services import RESEND_AFTER, jobs_resend_unstarted

    project = make_project()
    make_records(project)
    long_ago = timezone.now() - RESEND_AFTER - timedelta(minutes=1)
    lost = ExportJob.objects.create(project=project, format="rlhfv-jsonl", sent_at=long_ago)
    waiting = ExportJob.objects.create(project=project, format="rlhfv-jsonl", sent_at=timezone.now())
    assert jobs_resend_unstarted() == 1
    deadline = time.monotonic() + 60
    while lost.stored_status() in (JobStatus.QUEUED, JobStatus.RUNNING):
        assert time.monotonic() < deadline, "the job sent again did not run"
        time.sleep(0.2)
    lost.refresh_from_db()
    assert lost.status == JobStatus.SUCCEEDED and lost.rows_written == 3 and lost.sent_at > long_ago
    assert waiting.stored_status() == JobStatus.QUEUED
    assert jobs_resend_unstarted() == 0
