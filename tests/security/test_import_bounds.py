"""Imports are bounded: nesting, rows, texts and decompressed bytes; a refused file stores nothing (#18, finding 3)."""
import io
import json
import re
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from annotate.models import ImageAsset, PreferenceRecord, Project, Prompt
from tests.conftest import ROOT
from tests.exchange.helpers import manager_client, rlhfv_parquet, rlhfv_row
from tests.factories import make_project, png_bytes


def post_import(data):
    upload = io.BytesIO(data)
    upload.name = "data.parquet"
    project = make_project()
    return manager_client().post("/api/import/", {"project": project.pk, "file": upload}, format="multipart")


def assert_refused(answer, *words, settings):
    """A 400 on ``file`` whose message has ``words``, and no row, prompt, image or media file stored."""
    assert answer.status_code == 400, answer.content[:300]
    error = answer.json()["error"]
    assert answer.json()["fields"] == {"file": [error]}
    assert all(word in error for word in words), error
    assert not PreferenceRecord.objects.exists() and not Prompt.objects.exists() and not ImageAsset.objects.exists()
    media = settings.MEDIA_ROOT
    assert not media.exists() or not [path for path in media.rglob("*") if path.is_file()]


def rlaifv_parquet(**texts):
    """An RLAIF-V file (flat columns): a good row, then one with ``texts``."""
    rows = [{"image": {"bytes": png_bytes((i, 2, 3)), "path": None}, "question": "What?", "chosen": "Yes.",
             "rejected": "No.", "ds_name": "RLAIF-V"} for i in range(2)]
    rows[-1].update(texts)
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_text_json_is_a_400(depth, settings):
    """A RecursionError in the JSON decoder was a 500."""
    nested = json.dumps({"question": "q", "chosen": "c", "rejected": "r", "x": None})
    nested = nested.replace("null", "[" * depth + "]" * depth)
    assert_refused(post_import(rlhfv_parquet(text=nested)), "Row 1", "`text` is nested too deeply", settings=settings)


@pytest.mark.django_db
@pytest.mark.parametrize("make_file, column", [
    (lambda text: rlhfv_parquet(text=json.dumps({"question": "q", "chosen": text, "rejected": "r"})), "chosen"),
    (lambda text: rlaifv_parquet(question=text), "question"),
    (lambda text: rlaifv_parquet(rejected=text), "rejected"),
    (lambda text: rlaifv_parquet(ds_name=text), "ds_name"),
], ids=["rlhfv-text", "rlaifv-question", "rlaifv-rejected", "origin-column"])
def test_a_text_over_the_limit_is_a_400_naming_it(make_file, column, settings):
    """One row over the limit among others passes the footer's check and is refused as it is read."""
    settings.IMPORT_MAX_TEXT_CHARS = 40
    answer = post_import(make_file("é" * 41))
    assert_refused(answer, "Row 1", f"`{column}` has 41 characters; the limit is 40", "IMPORT_MAX_TEXT_CHARS",
                   settings=settings)


@pytest.mark.django_db
def test_texts_at_the_limit_import(settings):
    settings.IMPORT_MAX_TEXT_CHARS = 40
    answer = post_import(rlaifv_parquet(question="🐕" * 40, chosen="c" * 40))
    assert answer.status_code == 201, answer.content


@pytest.mark.django_db
def test_a_string_column_larger_than_its_rows_can_hold_is_refused_from_the_footer(settings):
    settings.IMPORT_MAX_TEXT_CHARS = 40
    answer = post_import(rlaifv_parquet(chosen="x" * 100_000))
    assert_refused(answer, "Column `chosen` of row group 0 decompresses to", "IMPORT_MAX_TEXT_CHARS", settings=settings)


@pytest.mark.django_db
def test_more_rows_than_the_limit_are_a_400(settings):
    settings.IMPORT_MAX_ROWS = 2
    answer = post_import(rlhfv_parquet([rlhfv_row(i) for i in range(3)]))
    assert_refused(answer, "more than 2 rows", "IMPORT_MAX_ROWS", settings=settings)


@pytest.mark.django_db
def test_rows_at_the_limit_import(settings):
    settings.IMPORT_MAX_ROWS = 2
    assert post_import(rlhfv_parquet([rlhfv_row(i) for i in range(2)])).status_code == 201


@pytest.mark.django_db
def test_a_file_decompressing_past_the_limit_is_a_400(settings):
    data = rlhfv_parquet()
    settings.IMPORT_MAX_DECOMPRESSED_BYTES = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).total_byte_size - 1
    assert_refused(post_import(data), "decompresses to", "IMPORT_MAX_DECOMPRESSED_BYTES", settings=settings)


# A 200 MB question that zstd packs into a few kilobytes; written in another process, so that this one never holds it.
WRITE_BOMB = """
import sys
import pyarrow as pa, pyarrow.parquet as pq
image = {"bytes": bytes.fromhex(sys.argv[2]), "path": None}
table = pa.table({"image": [image], "question": ["a" * 200_000_000], "chosen": ["c"], "rejected": ["r"]})
pq.write_table(table, sys.argv[1], compression="zstd")
"""


# Runs a script and reports its own peak resident memory. Not the parent's ru_maxrss of the child: Linux keeps
# there the size of the forked copy of this (large) test process from before the exec.
PEAK_MEMORY_OF = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print("peak_kb", int(peak.split()[1]), file=sys.stderr)
"""


@pytest.mark.slow
def test_a_small_file_whose_question_decompresses_to_200_mb_is_refused_without_reading_it(
        transactional_db, process_env, tmp_path):
    """Before the fix the row was imported at a peak of 2.9 GB resident; now the footer refuses it."""
    bomb = tmp_path / "bomb.parquet"
    subprocess.run([sys.executable, "-c", WRITE_BOMB, str(bomb), png_bytes().hex()], check=True)
    assert bomb.stat().st_size < 100_000
    process = subprocess.run(
        [sys.executable, "-c", PEAK_MEMORY_OF, "manage.py", "import_dataset", str(bomb), "--project", "bomb"],
        cwd=ROOT, env=process_env, capture_output=True, text=True, check=False)
    assert process.returncode != 0, process.stderr
    assert "Column `question` of row group 0 decompresses to 2000000" in process.stderr, process.stderr
    peak_mb = int(re.search(r"peak_kb (\d+)", process.stderr).group(1)) / 1024
    assert peak_mb < 250, f"peak resident {peak_mb:.0f} MB: the 200 MB question was read"
    assert not Project.objects.filter(name="bomb").exists() and not PreferenceRecord.objects.exists()
