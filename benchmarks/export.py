"""Rows/s and peak RSS of the streamed RLHF-V parquet export through the API, on PostgreSQL.

Seeds a project of ``--records`` preference records (each with a prompt, a
response and a small 32x32 PNG; ``--images`` distinct files shared round
robin) with COPY, once: a later run reuses it. Then starts the web server (granian, one
worker process, one thread) on 127.0.0.1, streams ``GET /api/export/?format=rlhfv-parquet`` as a
client would, checks the file has every row, and reads the worker's peak
resident memory (``VmHWM``) from /proc.

Baseline, in the same run on the same rows: the export built in memory in one
go, as Label Studio's export request does (every record through the ORM, each
image file read, one pyarrow table, one parquet file), in a fresh process
whose peak memory is read the same way. It runs without HTTP, so it is timed
more kindly than ours.

    python benchmarks/export.py [--records 100000] [--images 5000]

``DATABASE_URL`` (default: a ``dp_bench_export`` database on the local
PostgreSQL, created when missing) and ``DATA_DIR`` (default ``var/bench-export``)
say where. The last line is our rows/s over the baseline's.
"""
import argparse
import http.client
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
from django.db import connection, transaction
from django.db.models.fields import AutoFieldMixin

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres:postgres@127.0.0.1:5432/dp_bench_export"
sys.path.insert(0, str(ROOT))


def ensure_database(url):
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def small_png(index):
    from PIL import Image

    rng = __import__("random").Random(index)
    image = Image.frombytes("RGB", (32, 32), bytes(rng.getrandbits(8) for _ in range(32 * 32 * 3)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def copy_plan(model, given, now):
    """The columns to COPY into ``model``'s table and the values every row shares: the ``given`` fields
    (attnames, written by each row in this order), then every other concrete field but the serial key,
    at ``now`` for auto_now(_add) fields, else at the model's default ("" for blank text), else NULL
    where nullable. Derived from the model, so a column a migration adds is seeded too; one that is
    NOT NULL with no default stops the seeding with its name, before a row is written."""
    fields = [f for f in model._meta.concrete_fields if not (f.primary_key and isinstance(f, AutoFieldMixin))]
    by_name = {field.attname: field for field in fields}
    unknown = [name for name in given if name not in by_name]
    if unknown:
        raise SystemExit(f"{model._meta.db_table} has no column {', '.join(unknown)}")
    shared = {}
    for field in fields:
        if field.attname in given:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            shared[field.column] = now
        elif field.has_default() or (field.blank and field.empty_strings_allowed):  # blank text: Django saves ""
            shared[field.column] = field.get_db_prep_save(field.get_default(), connection)
        elif field.null:
            shared[field.column] = None
        else:
            raise SystemExit(f"cannot seed {model._meta.db_table}: column {field.column} is NOT NULL and has "
                             "no default; benchmarks/export.py must write it")
    return [by_name[name].column for name in given] + list(shared), tuple(shared.values())


def copy_rows(cursor, model, given, rows, now):
    """COPY ``rows`` (tuples of the ``given`` fields) into ``model``'s table, every column written."""
    columns, shared = copy_plan(model, given, now)
    with cursor.copy(f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row((*row, *shared))


def seed(records, images):
    """The benchmark project with ``records`` records, seeded with COPY unless it is there already."""
    import hashlib

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from annotate.models import ImageAsset, PreferenceRecord, Project, Prompt, Response

    name = f"bench-export-{records}"
    project = Project.objects.filter(name=name).first()
    if project and PreferenceRecord.objects.filter(project=project).count() == records:
        image = ImageAsset.objects.filter(records__project=project).first()
        if image is not None and not default_storage.exists(image.file.name):
            raise SystemExit(f"{name} is seeded but its images are gone from {default_storage.location}: "
                             "use the DATA_DIR it was seeded with, or drop the benchmark database")
        return project
    started = time.perf_counter()
    with transaction.atomic():
        Project.objects.filter(name=name).delete()
        project = Project.objects.create(name=name)
        assets = []
        for index in range(images):
            data = small_png(index)
            sha = hashlib.sha256(data).hexdigest()
            asset = ImageAsset.objects.filter(sha256=sha).first()
            if asset is None:
                path = default_storage.save(f"images/bench/{sha[:16]}.png", ContentFile(data))
                asset = ImageAsset.objects.create(file=path, sha256=sha, width=32, height=32, size_bytes=len(data))
            assets.append(asset.pk)
        now = datetime.now(timezone.utc)
        origin = json.dumps({"dataset": "shapes", "type": "detailed description"})
        with connection.cursor() as cursor:
            raw = cursor.cursor
            copy_rows(raw, Prompt, ["project_id", "image_id", "question", "origin"],
                      ((project.pk, assets[i % images], f"Describe image {i} in detail.", origin)
                       for i in range(records)), now)
            prompts = [row[0] for row in raw.execute(
                "SELECT id FROM annotate_prompt WHERE project_id = %s ORDER BY id", (project.pk,))]
            copy_rows(raw, Response, ["prompt_id", "text"],
                      ((prompt, f"There is a red circle left of a blue square, number {i}.")
                       for i, prompt in enumerate(prompts)), now)
            responses = raw.execute(
                "SELECT r.id, p.image_id, p.question, r.text FROM annotate_response r JOIN annotate_prompt p "
                "ON p.id = r.prompt_id WHERE p.project_id = %s ORDER BY r.id", (project.pk,)).fetchall()
            alignment = json.dumps([{"rejected": [11, 14], "chosen": [11, 16], "category": "attribute"}])
            copy_rows(raw, PreferenceRecord,
                      ["project_id", "response_id", "image_id", "question", "chosen", "rejected", "alignment",
                       "chosen_spans", "rejected_spans"],
                      ((project.pk, rid, image, question, text.replace("red", "green", 1), text, alignment,
                        "[[11, 16]]", "[[11, 14]]")
                       for rid, image, question, text in responses), now)
            raw.execute("ANALYZE")
    print(f"seeded {records} records ({images} images) in {time.perf_counter() - started:.1f} s", flush=True)
    return project


def manager_token():
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user, _ = get_user_model().objects.get_or_create(username="bench-manager", defaults={"is_staff": True})
    return Token.objects.get_or_create(user=user)[0].key


def start_server(port, log):
    env = dict(os.environ, DEBUG="0", SECRET_KEY="bench-export-not-secret", ALLOWED_HOSTS="127.0.0.1",
               SECURE_SSL_REDIRECT="0", LOG_LEVEL="WARNING")
    server = subprocess.Popen(
        [sys.executable, "-m", "granian", "--interface", "wsgi", "config.wsgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "--blocking-threads", "1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the web server did not start")


def worker_pid(master):
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def proc_status(pid, key):
    """A ``/proc/<pid>/status`` memory figure in MB (VmRSS: now, VmHWM: peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def warm_up(port, token):
    """One small API request, so that the URLconf and the apps are imported before the clock starts."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/api/projects/", headers={"Authorization": f"Token {token}"})
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise SystemExit(f"warm-up answered {response.status}")


def cpu_seconds(pid):
    """User + system CPU time of a process so far (the machine may be shared: this is what the export cost)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stream_export(port, token, project_id, out):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    started = time.perf_counter()
    conn.request("GET", f"/api/export/?format=rlhfv-parquet&project={project_id}",
                 headers={"Authorization": f"Token {token}"})
    response = conn.getresponse()
    if response.status != 200:
        raise SystemExit(f"export answered {response.status}: {response.read()[:500]!r}")
    first_byte = None
    while chunk := response.read1(1 << 20):
        first_byte = first_byte or time.perf_counter() - started
        out.write(chunk)
    return first_byte, time.perf_counter() - started


def in_memory_export(project_id):
    """The baseline (in a child process): (rows, seconds, peak RSS in MB) of building the whole file in memory."""
    import django

    django.setup()
    import pyarrow as pa

    from annotate.models import PreferenceRecord

    started = time.perf_counter()
    rows = []
    for record in PreferenceRecord.objects.filter(project_id=project_id, status="active").select_related(
            "image", "project").order_by("pk"):
        with record.image.file.open("rb") as image:
            data = image.read()
        rows.append({"ds_name": record.project.name, "image": {"bytes": data, "path": record.image.file.name},
                     "text": json.dumps({"question": record.question, "chosen": record.chosen, "rejected": record.rejected}),
                     "origin_dataset": "", "origin_split": "{}", "idx": record.pk, "image_path": record.image.file.name})
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return len(rows), time.perf_counter() - started, proc_status(os.getpid(), "VmHWM")


def main():
    # Here, not at import: a test that imports this module must not change its own environment.
    os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
    os.environ.setdefault("DATA_DIR", str(ROOT / "var" / "bench-export"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")  # this process: development settings (a generated key); the server is DEBUG=0
    if sys.argv[1:2] == ["--baseline"]:
        print(json.dumps(in_memory_export(int(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    import django

    ensure_database(os.environ["DATABASE_URL"])
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    project = seed(args.records, args.images)
    token = manager_token()
    connection.close()

    with tempfile.TemporaryDirectory() as tmp, open(os.environ.get("EXPORT_BENCH_LOG", Path(tmp) / "web.log"), "w") as log:
        server = start_server(args.port, log)
        try:
            worker = worker_pid(server.pid)
            warm_up(args.port, token)
            idle, cpu = proc_status(worker, "VmRSS"), cpu_seconds(worker)
            with open(Path(tmp) / "export.parquet", "wb") as out:
                first_byte, elapsed = stream_export(args.port, token, project.pk, out)
            cpu = cpu_seconds(worker) - cpu
            peak = proc_status(worker, "VmHWM")
        finally:
            server.terminate()
            server.wait(timeout=30)
        size = (Path(tmp) / "export.parquet").stat().st_size
        rows = pq.ParquetFile(Path(tmp) / "export.parquet").metadata.num_rows
    if rows != args.records:
        raise SystemExit(f"the export has {rows} rows, expected {args.records}")
    print(f"rows: {rows}, file: {size / 1e6:.1f} MB, first byte after {first_byte * 1000:.0f} ms, total {elapsed:.2f} s")
    print(f"server worker CPU: {cpu:.2f} s, {rows / cpu:.0f} rows per CPU-second; load average {os.getloadavg()[0]:.1f}"
          f" on {os.cpu_count()} cores")
    print(f"server worker RSS: {idle:.0f} MB before the request, peak {peak:.0f} MB (target < 300 MB)")
    print(f"ours: {rows / elapsed:.0f} rows/s (target >= 20000)", flush=True)
    baseline = subprocess.run([sys.executable, __file__, "--baseline", str(project.pk)], cwd=ROOT, check=True,
                              capture_output=True, text=True)
    base_rows, base_seconds, base_peak = json.loads(baseline.stdout.splitlines()[-1])
    print(f"baseline, in memory: {base_rows / base_seconds:.0f} rows/s, peak RSS {base_peak:.0f} MB")
    print(f"rows/s ours over the in-memory baseline: {(rows / elapsed) / (base_rows / base_seconds):.2f}x")


if __name__ == "__main__":
    main()
