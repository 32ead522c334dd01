"""Bad uploads: each refused with a 4xx naming what is wrong (line, field, reason), and nothing stored."""
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from django.test import Client
from rest_framework.test import APIClient

from annotate.models import Role
from annotate.services import uploads
from tests.factories import make_project, make_user
from tests.uploads.helpers import BLUE, RED, jsonl, make_zip, stored_counts

pytestmark = pytest.mark.django_db

GOOD_MANIFEST = jsonl({"image": "red.png", "question": "What colour is it?", "answer": "Red.", "model": "m"})


@pytest.fixture
def project():
    return make_project()


@pytest.fixture
def client():
    client = APIClient()
    client.force_authenticate(make_user(role=Role.MANAGER))
    return client


def post_zip(client, project, data, **fields):
    return client.post(f"/api/projects/{project.pk}/uploads/",
                       {"file": SimpleUploadedFile("upload.zip", data, "application/zip"), **fields}, format="multipart")


def refused(answer, status=400):
    """The body of a refusal with ``status``, after checking its shape and that nothing was stored."""
    assert answer.status_code == status, answer.content
    body = answer.json()
    assert body["error"] and body["rejected"] and body["rejected_total"] == len(body["rejected"])
    assert all({"line", "field", "reason"} <= set(item) for item in body["rejected"])
    assert stored_counts() == {"images": 0, "prompts": 0, "responses": 0, "tasks": 0, "files": 0}
    return body["rejected"]


@pytest.mark.parametrize("name", ["../evil.png", "images/../../evil.png", "/etc/evil.png", "C:/evil.png", "..\\evil.png"])
def test_member_names_leaving_the_archive_are_refused(client, project, name):
    """`..`, absolute and drive-letter member names refuse the whole archive, naming the member."""
    data = make_zip({"red.png": RED, name: BLUE, "manifest.jsonl": GOOD_MANIFEST})
    [item] = refused(post_zip(client, project, data))
    assert item["member"] == name and item["line"] is None
    assert "absolute" in item["reason"] or ".." in item["reason"]


def test_zip_bomb_by_ratio_is_refused(client, project):
    """A member that inflates past UPLOAD_MAX_RATIO is refused from the zip's directory, before it is read."""
    data = make_zip({"red.png": RED, "bomb.png": b"\0" * (4 << 20), "manifest.jsonl": GOOD_MANIFEST})
    assert len(data) < 100_000
    [item] = refused(post_zip(client, project, data), status=413)
    assert item["member"] == "bomb.png" and "UPLOAD_MAX_RATIO" in item["reason"]


def test_zip_bomb_by_total_size_is_refused(client, project, settings):
    """Members declaring more than UPLOAD_MAX_UNCOMPRESSED_BYTES in all are refused (stored, ratio 1)."""
    settings.UPLOAD_MAX_UNCOMPRESSED_BYTES = 50_000
    data = make_zip({"red.png": RED, "big.png": b"x" * 60_000, "manifest.jsonl": GOOD_MANIFEST}, zipfile.ZIP_STORED)
    [item] = refused(post_zip(client, project, data), status=413)
    assert "UPLOAD_MAX_UNCOMPRESSED_BYTES" in item["reason"]


def test_archive_over_the_byte_limit_is_refused(client, project, settings):
    settings.UPLOAD_MAX_ARCHIVE_BYTES = 100
    [item] = refused(post_zip(client, project, make_zip({"red.png": RED, "manifest.jsonl": GOOD_MANIFEST})), status=413)
    assert "UPLOAD_MAX_ARCHIVE_BYTES" in item["reason"]


def test_member_whose_header_lies_about_its_size_is_refused(client, project):
    """A header declaring fewer bytes than the member holds: the read stops there and the CRC fails."""
    data = bytearray(make_zip({"red.png": RED, "manifest.jsonl": GOOD_MANIFEST}, zipfile.ZIP_STORED))
    declared = len(RED).to_bytes(4, "little")
    smaller = (len(RED) - 10).to_bytes(4, "little")
    # The local header (offset 22) and the central directory entry (offset 24) both carry the size.
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    assert data[local + 22:local + 26] == declared and data[central + 24:central + 28] == declared
    data[local + 22:local + 26] = smaller
    data[central + 24:central + 28] = smaller
    [item] = refused(post_zip(client, project, bytes(data)))
    assert item["line"] == 1 and item["field"] == "image"


def test_more_members_than_the_limit(client, project, settings):
    settings.UPLOAD_MAX_MEMBERS = 2
    data = make_zip({"red.png": RED, "blue.png": BLUE, "manifest.jsonl": GOOD_MANIFEST})
    [item] = refused(post_zip(client, project, data), status=413)
    assert "UPLOAD_MAX_MEMBERS" in item["reason"]


def test_more_rows_than_the_limit(client, project, settings):
    settings.UPLOAD_MAX_ROWS = 2
    data = make_zip({"red.png": RED, "manifest.jsonl": GOOD_MANIFEST * 3})
    [item] = refused(post_zip(client, project, data), status=413)
    assert "UPLOAD_MAX_ROWS" in item["reason"]


def test_image_file_over_the_byte_limit(client, project, settings):
    settings.UPLOAD_MAX_IMAGE_BYTES = len(RED) - 1
    answer = client.post(f"/api/projects/{project.pk}/uploads/", {"images": [SimpleUploadedFile("red.png", RED)]},
                         format="multipart")
    [item] = refused(answer)
    assert item["member"] == "red.png" and f"the limit is {len(RED) - 1}" in item["reason"]


def test_not_a_zip_is_refused(client, project):
    [item] = refused(post_zip(client, project, b"plain text, not a zip"))
    assert "not a zip" in item["reason"]


def test_non_image_bytes_with_an_image_extension(client, project):
    data = make_zip({"red.png": b"<html>not an image</html>", "manifest.jsonl": GOOD_MANIFEST})
    [item] = refused(post_zip(client, project, data))
    assert (item["line"], item["field"]) == (1, "image") and "not an image" in item["reason"]


def test_svg_is_refused(client, project):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    data = make_zip({"shape.svg": svg, "manifest.jsonl": jsonl({"image": "shape.svg", "question": "What is it?"})})
    [item] = refused(post_zip(client, project, data))
    assert (item["line"], item["field"]) == (1, "image") and "SVG" in item["reason"]


def test_svg_among_images_without_a_manifest_is_refused(client, project):
    [item] = refused(post_zip(client, project, make_zip({"red.png": RED, "logo.svg": b"<svg/>"})))
    assert item["member"] == "logo.svg" and "SVG" in item["reason"]


def test_raster_outside_the_allow_list_is_refused(client, project):
    """Pillow reads TIFF, but it is not in the allow-list (a .png name does not make it a PNG)."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="TIFF")
    [item] = refused(post_zip(client, project, make_zip({"red.png": buffer.getvalue(), "manifest.jsonl": GOOD_MANIFEST})))
    assert "TIFF" in item["reason"]


def test_image_over_the_pixel_limit(client, project, settings):
    settings.UPLOAD_MAX_IMAGE_PIXELS = 1000  # the test image has 32 x 32 = 1024
    [item] = refused(post_zip(client, project, make_zip({"red.png": RED, "manifest.jsonl": GOOD_MANIFEST})))
    assert (item["line"], item["field"]) == (1, "image") and "1000 pixels" in item["reason"]


def test_row_naming_a_missing_image_and_every_bad_line_reported(client, project):
    manifest = jsonl(
        {"image": "red.png", "question": "Fine."},
        {"image": "missing.png", "question": "Where is it?"},
        {"image": "red.png"},
        {"image": "red.png", "question": "Who?", "model": "gpt"},
    ) + "not json\n[1, 2]\n"
    rejected = refused(post_zip(client, project, make_zip({"red.png": RED, "manifest.jsonl": manifest})))
    assert [(item["line"], item["field"]) for item in rejected] == [
        (2, "image"), (3, "question"), (4, "model"), (5, "manifest"), (6, "manifest")]
    assert "missing.png" in rejected[0]["reason"]


def test_csv_with_the_wrong_columns(client, project):
    csv = "img,prompt\nred.png,What is it?\n"
    [item] = refused(post_zip(client, project, make_zip({"red.png": RED, "manifest.csv": csv})))
    assert (item["line"], item["field"]) == (1, "columns") and "missing column(s) image, question" in item["reason"]


def test_csv_row_with_too_many_fields(client, project):
    csv = "image,question\nred.png,What is it?\nred.png,a,b\n"
    [item] = refused(post_zip(client, project, make_zip({"red.png": RED, "manifest.csv": csv})))
    assert (item["line"], item["field"]) == (3, "columns")


def test_invalid_utf8_manifest(client, project):
    manifest = GOOD_MANIFEST.encode() + b'{"image": "red.png", "question": "caf\xe9"}\n'
    [item] = refused(post_zip(client, project, make_zip({"red.png": RED, "manifest.jsonl": manifest})))
    assert (item["line"], item["field"]) == (2, "manifest") and "UTF-8" in item["reason"]


def test_ten_megabyte_question(client, project):
    manifest = jsonl({"image": "red.png", "question": "q" * (10 << 20)})
    data = make_zip({"red.png": RED, "manifest.jsonl": manifest}, zipfile.ZIP_STORED)
    [item] = refused(post_zip(client, project, data))
    assert (item["line"], item["field"]) == (1, "question") and "the limit is 4000" in item["reason"]


def test_ten_megabyte_template_is_refused(client, project):
    answer = client.post(f"/api/projects/{project.pk}/uploads/", {
        "images": [SimpleUploadedFile("red.png", RED)], "templates": "q" * (10 << 20)}, format="multipart")
    assert answer.status_code in (400, 413), answer.content
    assert stored_counts()["prompts"] == 0


def test_bad_templates_are_reported_by_their_line(client, project, settings):
    settings.UPLOAD_MAX_QUESTION_CHARS = 20
    answer = client.post(f"/api/projects/{project.pk}/uploads/", {
        "images": [SimpleUploadedFile("red.png", RED)], "templates": "Short one.\n\nThis template is far too long.\n",
        "templates_per_image": "1"}, format="multipart")
    [item] = refused(answer)
    assert (item["line"], item["field"]) == (3, "templates") and "the limit is 20" in item["reason"]


def test_images_and_a_zip_together_are_refused(client, project):
    answer = client.post(f"/api/projects/{project.pk}/uploads/", {
        "file": SimpleUploadedFile("a.zip", make_zip({"red.png": RED})), "images": [SimpleUploadedFile("b.png", BLUE)]},
        format="multipart")
    refused(answer)


def test_nothing_stored_when_the_transaction_fails_after_images_were_written(client, project, monkeypatch):
    """Image files written before a failure in the same transaction are removed again."""
    def fail(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(uploads, "responses_create", fail)
    with pytest.raises(RuntimeError):
        uploads.prompts_upload(project=project, archive=io.BytesIO(make_zip({"red.png": RED, "manifest.jsonl": GOOD_MANIFEST})),
                               archive_size=1000)
    assert stored_counts() == {"images": 0, "prompts": 0, "responses": 0, "tasks": 0, "files": 0}


def test_annotator_gets_403_and_outsider_404(project):
    annotator = make_user(role=Role.ANNOTATOR, project=project)
    outsider = make_user(role=Role.ANNOTATOR, project=make_project())
    data = make_zip({"red.png": RED, "manifest.jsonl": GOOD_MANIFEST})
    for user, status in ((annotator, 403), (outsider, 404), (None, 401)):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        answer = post_zip(client, project, data)
        assert answer.status_code in ((401, 403) if user is None else (status,)), answer.content
    assert stored_counts()["prompts"] == 0


def test_the_upload_page_is_for_the_projects_managers(project):
    """The page answers like the API: 200 for a manager, 403 for an annotator, 404 for an outsider."""
    manager = make_user(username="lead")
    project.memberships.create(user=manager, role=Role.MANAGER)
    annotator = make_user(role=Role.ANNOTATOR, project=project)
    outsider = make_user(role=Role.ANNOTATOR, project=make_project())
    for user, status in ((manager, 200), (annotator, 403), (outsider, 404)):
        browser = Client()
        browser.force_login(user)
        assert browser.get(f"/projects/{project.pk}/upload/").status_code == status
