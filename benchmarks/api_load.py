"""Annotation loops/s of simulated annotators on the scale-out stack, with integrity and record lag checked.

The stack is the README's scale-out, each part a subprocess of this script on loopback: a fresh PostgreSQL
database (``densepref_apiload_<pid>`` on the server ``DATABASE_URL`` points at, created and dropped here),
a redis-server of its own on a free port (never the machine's shared one), the web server with the
Dockerfile's command line (granian, ``--workers 3 --blocking-threads 2``), and docker-compose.yml's ``worker`` (queue ``default``, the
only non-GPU queue of ``CELERY_TASK_ROUTES``) and ``beat`` (the records sweep), all with ``DEBUG=0``. A
process that dies is started again, as compose's ``restart: unless-stopped`` would.

It seeds ``--slots`` open slots (overlap 2, records built on submit) through ``responses_create``, as the
app's own writers do, and runs no ANALYZE of its own (``--analyze`` does): the claim must not depend on
table statistics, so it prints whether the table had any. ``--clients`` annotators, each a thread with
a keep-alive ``http.client`` connection (cheap on CPU: the generator shares the cores with the server),
loop through the REST API with token auth: claim (``POST /api/tasks/next/``), save one draft segment
(``POST /api/annotations/``), submit 1-3 segments (``PATCH /api/annotations/<id>/`` with ``version``).
Offsets are code points of answers that carry emoji before the edited words, and the rewrites carry emoji,
so UTF-16 offsets would build other texts. Each request carries an ``Idempotency-Key`` (a uuid per logical
request, the same on every retry); connection errors and 5xx are retried with it for up to 60 s.

The load runs in two phases of ``--duration`` seconds, one after the other, by the same annotators. With
closed-loop clients and no pause, the throughput and latency targets contradict each other by Little's law:
a client's mean wait is clients / throughput (64 / 150 req/s = 0.43 s at the throughput target) whatever
the server does, so p99 at saturation measures the queue, not the server. So, as load tests do, throughput
is measured at saturation and latency at a fixed offered load below it (real annotators spend seconds per
task):

- Phase 1, saturation: each annotator sends its next request as soon as the previous one is answered. It
  gives loops/s (target >= 50) and the CPU account below; ``--fault`` strikes in it.
- Phase 2, paced (``--rate R`` loops/s offered in all, default 50, the target; ``--rate 0`` skips it): an
  open-loop schedule. With P = clients / R, annotator i starts loops at t0 + phase_i + k * P, phase_i drawn
  from [0, P), and sends its claim at the loop's start, its draft at +P/3 and its submit at +2P/3, like an
  annotator who reads, drafts and submits. A request whose time has passed (the previous answer came late)
  is sent at once, and that annotator's later requests stay P/3 apart from it: its schedule slips by the
  delay, so a slow answer sends the next request at once, never a burst of requests to catch up (see
  ``Schedule``). A server that cannot keep up with R thus gets less than R, not a pile of requests, and the
  latency is that of a server at its limit: the phase prints its achieved loops/s
  (the loops whose claim fell due within the phase, per second of it) and how many requests went late. It
  gives p50/p99 per endpoint at that load (target < 100 ms), measured from the actual send as in phase 1.

Then it checks integrity over both phases: every acknowledged submit stored once (its annotation submitted,
with the segments sent), no response judged by more annotators than its overlap nor twice by one, no slot
claimed by two annotators, nobody holding two leases, and within ``--record-wait`` seconds of the load's end
every submitted annotation's record built, its ``chosen`` the text the client computed from its offsets. A
violation exits 1. For each phase it prints req/s, loops/s, p50/p99 per endpoint (the time a client waited
for its answer, retries included) and errors.

It also prints the CPU each part of the stack spent per loop over phase 1, read from /proc (utime+stime):
the web server, the PostgreSQL backends of the benchmark database, this process (the load generator), the worker,
redis-server and beat, each with its share, and how busy the whole machine was (see ``CpuAccount``).

``--fault worker-kill|broker-restart|db-terminate`` strikes midway through phase 1: SIGKILL the worker's
process group (a new worker starts), SIGKILL the benchmark's redis-server and start it again empty (the
queued messages are lost), or terminate every backend of the benchmark database. It prints the slowest
record's time after its submit (target 90 s), when the records of every annotation submitted before the
fault were all built, and how many requests needed a retry and how many of those still failed (target 0).
A lost message waits for beat's sweep (every minute, after a 60 s grace), so it waits up to 180 s.

``--claim-scale 10000,1000000`` then seeds a project of each size in turn and times ``--claim-samples``
sequential claims over HTTP by 4 annotators (each claim followed by an untimed skip, so the next claim is
a fresh pick and not the caller's held slot; at most ``--claim-seconds`` per scale). Seeding 1,000,000
slots through the ORM takes minutes (12 on the shared 2-core development machine).

Baseline: the issue's figures (~5 loops/s, Label Studio's errors) come from code that cannot run here, so
the baseline measured in the same run is the claim as it was before issue #18, at the same scale, on the
same rows: its two statements (the free slot by ``FOR UPDATE SKIP LOCKED`` over two anti-joins sorted in
queue order, then the "remaining" count over the same anti-joins), frozen below as SQL, run in-process in a
transaction that is rolled back. It runs without HTTP, authentication or the claim's other queries, so it
is timed more kindly than ours.

    python benchmarks/api_load.py [--slots 100000] [--clients 64] [--duration 60] [--rate 50]
        [--claim-scale 10000,1000000] [--fault worker-kill|broker-restart|db-terminate] [--analyze]

``DATABASE_URL`` names the PostgreSQL server (its database name is ignored; default the local one as
postgres/postgres); ``redis-server`` must be on the PATH.

The last line is phase 1's loops/s, then phase 2's offered and achieved loops/s and p99 per endpoint, and our
claim's p50 at the largest scale beside the pre-#18 one's.
"""
import argparse
import http.client
import json
import math
import os
import random
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from training.ddpo.alignment import apply_segments

DEFAULT_SERVER = "postgres://postgres:postgres@127.0.0.1:5432/postgres"
OVERLAP = 2
CLAIMERS = 4
SEED_CHUNK = 25_000  # responses per responses_create call
RETRY_SECONDS = 60
TARGET_LOOPS = 50
TARGET_P99_MS = 100
TARGET_RECORDS_SECONDS = 90
ENDPOINTS = {
    "claim": "POST /api/tasks/next/",
    "draft": "POST /api/annotations/",
    "submit": "PATCH /api/annotations/<id>/",
}
# Answers: in most an emoji (two UTF-16 units, one code point) comes before the words a client rewrites.
TEMPLATES = [
    "🐱 A cat sits left of a red square, and {n} blue circles are above it.",
    "There is a red square 🟥 above a green circle; three stars ⭐⭐⭐ are on the right of item {n}.",
    "A yellow triangle is below a blue square and a small 👀 eye, item {n}.",
    "A yellow triangle is below a blue square, item {n}.",
]
REWRITES = ["green 🟩", "two", "a 🐶 dog", "left", "purple", "🔺"]

# The claim before #18 (annotate/services/queue.py task_next and annotate/selectors/tasks.py
# task_available / task_queue_position at 7050ce1): the first free slot in queue order, sorted through two
# anti-joins, then the "remaining" count over the same anti-joins. Frozen here as SQL, so the baseline
# stays what it was whatever the app's claim becomes.
PRE18_FREE = """
    FROM annotate_annotationtask t
    JOIN annotate_response r ON r.id = t.response_id
    JOIN annotate_prompt p ON p.id = r.prompt_id
    WHERE p.project_id = %(project)s AND t.status = 'open'
      AND (t.leased_to_id IS NULL OR t.lease_expires_at <= now())
      AND NOT EXISTS (SELECT 1 FROM annotate_annotation a JOIN annotate_annotationtask a_t ON a_t.id = a.task_id
                      WHERE a.annotator_id = %(user)s AND a_t.response_id = t.response_id)
      AND NOT EXISTS (SELECT 1 FROM annotate_annotationtask lt WHERE lt.response_id = t.response_id
                      AND lt.leased_to_id = %(user)s AND lt.status = 'open')
"""
PRE18_PICK = ("SELECT t.id " + PRE18_FREE + " ORDER BY t.leased_to_id ASC NULLS FIRST, t.response_id, t.slot "
              "LIMIT 1 FOR UPDATE OF t SKIP LOCKED")
PRE18_REMAINING = "SELECT count(DISTINCT t.response_id) " + PRE18_FREE


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values, fraction):
    """Nearest-rank percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def ms(seconds):
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


# --- the stack ------------------------------------------------------------------------------------------


def image_command():
    """The Dockerfile's CMD (the ``web`` service's command)."""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("CMD "):
            return json.loads(line[4:])
    raise SystemExit("Dockerfile has no CMD")


def compose_command(service):
    import yaml

    return list(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][service]["command"])


def in_venv(argv, data_dir):
    """A compose/Dockerfile command run with this interpreter's packages, its /data paths under ``data_dir``."""
    program, *rest = argv
    return [sys.executable, "-m", program, *(str(data_dir) + a[len("/data"):] if a.startswith("/data/") else a
                                             for a in rest)]


class Stack:
    """Subprocesses, each in a process group of its own (a worker's pool children die with it), logging
    to files; one that exits unbidden is started again and counted."""

    def __init__(self, folder, env):
        self.folder, self.env = folder, env
        self.specs, self.procs, self.restarts = {}, {}, Counter()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.watcher = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def start(self, name, argv, ready=None):
        self.specs[name] = (argv, ready)
        self._spawn(name)
        if ready is not None:
            self.wait_ready(name)

    def _spawn(self, name):
        argv, _ = self.specs[name]
        log = self.folder / f"{name}.log"
        with open(log, "a") as out:
            out.write(f"--- {time.strftime('%H:%M:%S')} {shlex.join(argv)}\n")
            out.flush()
            self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                                start_new_session=True)

    def wait_ready(self, name, timeout=180):
        _, ready = self.specs[name]
        deadline = time.monotonic() + timeout
        while not ready():
            if self.procs[name].poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start:\n{self.log_tail(name)}")
            time.sleep(0.2)

    def log_tail(self, name, chars=3000):
        return (self.folder / f"{name}.log").read_text(errors="replace")[-chars:]

    def watch(self):
        self.watcher.start()

    def _watch(self):
        while not self.stopping.wait(0.2):
            with self.lock:
                for name, proc in list(self.procs.items()):
                    if proc.poll() is not None and not self.stopping.is_set():
                        self._kill_group(proc, signal.SIGKILL)  # what is left of its group (pool children)
                        self.restarts[name] += 1
                        self._spawn(name)

    def kill(self, name):
        """SIGKILL the whole group of ``name``; the supervisor starts it again."""
        with self.lock:
            self._kill_group(self.procs[name], signal.SIGKILL)
            self.procs[name].wait()
            self.restarts[name] -= 1  # the restart that follows is the fault's, not a crash
        while self.procs[name].poll() is not None:
            time.sleep(0.05)

    @staticmethod
    def _kill_group(proc, sig):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop_all(self):
        self.stopping.set()
        with self.lock:
            for proc in self.procs.values():
                self._kill_group(proc, signal.SIGTERM)
            for proc in self.procs.values():
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    pass
                self._kill_group(proc, signal.SIGKILL)  # the group, stragglers included
                proc.wait()


def http_ok(port, path="/healthz"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def redis_ok(port):
    return subprocess.run(["redis-cli", "-p", str(port), "ping"], check=False, capture_output=True,
                          text=True).stdout.strip() == "PONG"


def start_stack(stack, *, redis_port, web_port, data_dir):
    stack.start("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", str(data_dir)], ready=lambda: redis_ok(redis_port))
    web = in_venv(image_command(), data_dir)
    web[web.index("--host") + 1], web[web.index("--port") + 1] = "127.0.0.1", str(web_port)
    stack.start("web", web, ready=lambda: http_ok(web_port))
    stack.start("worker", in_venv(compose_command("worker"), data_dir), ready=lambda: " ready." in stack.log_tail("worker"))
    # ready once it has started, so its start-up (Django's import) is not in the load's CPU account
    stack.start("beat", in_venv(compose_command("beat"), data_dir), ready=lambda: "beat: Starting" in stack.log_tail("beat"))
    stack.watch()
    return web


# --- the database -----------------------------------------------------------------------------------------


def server_url():
    return os.environ.get("DATABASE_URL", DEFAULT_SERVER).rsplit("/", 1)[0]


def database_create(name):
    with psycopg.connect(f"{server_url()}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def database_drop(name):
    with psycopg.connect(f"{server_url()}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_terminate(name):
    """Terminate every backend of the benchmark database (the fault ``db-terminate``); how many."""
    with psycopg.connect(f"{server_url()}/postgres", autocommit=True) as conn:
        return conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s "
                            "AND pid <> pg_backend_pid()", (name,)).fetchone()[0]


def table_statistics():
    """Whether ANALYZE (or autovacuum's) has run on the slots' table, in words."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables WHERE relname = %s",
                       ["annotate_annotationtask"])
        row = cursor.fetchone()
    if row is None or row == (None, None):
        return "no table statistics on annotate_annotationtask (never analyzed)"
    return "annotate_annotationtask analyzed " + ("by ANALYZE" if row[0] else "by autovacuum")


def users_create(prefix, count):
    """``count`` users without a usable password and their API tokens: ``[(user, token key)]``."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"{prefix}-{index}", password="!") for index in range(count))
    tokens = Token.objects.bulk_create(Token(key=Token.generate_key(), user=user) for user in users)
    return [(user, token.key) for user, token in zip(users, tokens)]


def answer_text(index):
    return TEMPLATES[index % len(TEMPLATES)].format(n=index)


def project_seed(name, slots, members, analyze):
    """A project of ``slots`` open slots (``slots / OVERLAP`` responses), records on submit, whose annotators
    are ``members``; the slots go in through ``responses_create``, a chunk at a time."""
    from django.db import connection

    from annotate.models import (
        Membership,
        Project,
        Prompt,
        RecordTrigger,
        Response,
        Role,
    )
    from annotate.services import responses_create

    started = time.perf_counter()
    project = Project.objects.create(name=name, overlap=OVERLAP, record_trigger=RecordTrigger.SUBMIT)
    Membership.objects.bulk_create(Membership(project=project, user=user, role=Role.ANNOTATOR) for user in members)
    responses = max(1, slots // OVERLAP)
    for first in range(0, responses, SEED_CHUNK):
        count = min(SEED_CHUNK, responses - first)
        prompts = Prompt.objects.bulk_create(Prompt(project=project, question="Describe the picture.")
                                             for _ in range(count))
        responses_create(project=project, responses=[Response(prompt=prompt, text=answer_text(first + index))
                                                     for index, prompt in enumerate(prompts)])
    if analyze:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"seeded {name}: {responses * OVERLAP:,} open slots ({responses:,} responses, overlap {OVERLAP}) in "
          f"{time.perf_counter() - started:.1f} s; {table_statistics()}", flush=True)
    return project


# --- CPU accounting -------------------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def proc_stat(pid):
    """(process group, own CPU-seconds, reaped children's CPU-seconds) from /proc/<pid>/stat; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # fields[0] is the stat file's field 3 (state): pgrp is 5, utime 14, stime 15, cutime 16, cstime 17
    return (int(fields[2]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
            (int(fields[13]) + int(fields[14])) / CLOCK_TICKS)


def proc_stat_ppid(pid):
    """The parent pid of ``pid`` from /proc/<pid>/stat (None when it is not there)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError):
        return None


def machine_busy():
    """CPU-seconds the whole machine spent busy (not idle or iowait) since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        ticks = [int(n) for n in stat.readline().split()[1:8]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS


class CpuAccount:
    """CPU-seconds per component over the load, sampled from /proc at its start, every ``every`` seconds and at
    its end.

    A stack process's group (its own session, so the web server's workers and the worker's pool children are in it):
    the sum over the group's live members of their own CPU plus their reaped children's (cutime/cstime), so a
    member that exits during the load and is reaped inside the group (a web server's worker, a pool child) still
    counts, through its parent, and nothing twice. A group replaced during the load (a fault's kill and
    restart) counts its last sample before it went, plus the new group's whole life.
    PostgreSQL's backends are the postmaster's children, not ours: the pids in pg_stat_activity with the
    benchmark's datname (client backends, autovacuum and parallel workers), each counted from its first sample
    (0 for one born during the load) to its last; one that ends between two samples loses at most ``every``
    seconds of its CPU, and one that lives less than that apart may be missed whole (with CONN_MAX_AGE 60 and
    the worker keeping its connections the app's backends live through a short load; the postmaster's reaped
    children's CPU, every database's, is printed as the bound). The sampler's own connection is to the
    ``postgres`` database, so it is not counted.
    The generator is this process (``getrusage(RUSAGE_SELF)``: the annotator threads, the supervisor, the
    main thread), less the sampler thread's own CPU, reported apart."""

    STACK = ("web", "worker", "beat", "redis")

    def __init__(self, stack, database, every=1.0):
        self.stack, self.database, self.every = stack, database, every
        self.first, self.last = {}, {}  # (component, key) -> CPU-seconds; key: a group leader or a backend pid
        self.backend_kinds = Counter()
        self.stopped = threading.Event()
        self.sampler_cpu = 0.0
        self.conn = psycopg.connect(f"{server_url()}/postgres", autocommit=True)
        backend = proc_stat_ppid(self.conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        self.postmaster = backend  # the postmaster's pid (None when the server is not on this machine)
        self.thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)

    def _groups(self):
        with self.stack.lock:
            leaders = {proc.pid: name for name, proc in self.stack.procs.items() if name in self.STACK}
        totals = dict.fromkeys(leaders, 0.0)
        own = {}  # the leader's own CPU (the web server's main process, the worker's), apart
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                stat = proc_stat(int(entry))
                if stat is not None and stat[0] in totals:
                    totals[stat[0]] += stat[1] + stat[2]
                    if int(entry) == stat[0]:
                        own[(leaders[stat[0]] + " leader", stat[0])] = stat[1]
        return {(leaders[leader], leader): total for leader, total in totals.items()} | own

    def _backends(self):
        try:
            rows = self.conn.execute("SELECT pid, backend_type FROM pg_stat_activity WHERE datname = %s",
                                     (self.database,)).fetchall()
        except psycopg.Error:  # a passing hiccup: the next sample reads them again
            return {}
        found = {}
        for pid, kind in rows:
            stat = proc_stat(pid)
            if stat is not None:
                found[("PostgreSQL", pid)] = stat[1]
                self.backend_kinds[kind] += ("PostgreSQL", pid) not in self.last
        return found

    def sample(self, *, initial=False):
        for key, cpu in {**self._groups(), **self._backends()}.items():
            self.first.setdefault(key, cpu if initial else 0.0)
            self.last[key] = cpu

    def _loop(self):
        while not self.stopped.wait(self.every):
            self.sample()
        self.sampler_cpu = time.thread_time()

    def start(self):
        self.sample(initial=True)
        self.reaped = self._reaped()
        self.self_cpu = self._self_cpu()
        self.busy = machine_busy()
        self.started = time.monotonic()
        self.thread.start()

    def _reaped(self):
        """CPU-seconds of the postmaster's reaped children: every backend that has ended, on every database."""
        stat = proc_stat(self.postmaster) if self.postmaster else None
        return stat[2] if stat else 0.0

    @staticmethod
    def _self_cpu():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def stop(self):
        self.stopped.set()
        self.thread.join()
        self.sample()
        self.reaped = self._reaped() - self.reaped
        self.seconds = time.monotonic() - self.started
        self.busy = machine_busy() - self.busy
        self.generator = self._self_cpu() - self.self_cpu - self.sampler_cpu
        self.conn.close()

    def components(self):
        """``{component: CPU-seconds}`` over the load."""
        cpu = Counter()
        for (component, key), last in self.last.items():
            cpu[component] += max(0.0, last - self.first[component, key])
        self.leaders = {name: cpu[name + " leader"] for name in ("web", "worker")}
        return {"web": cpu["web"], "PostgreSQL": cpu["PostgreSQL"], "generator": self.generator,
                "worker": cpu["worker"], "redis": cpu["redis"], "beat": cpu["beat"]}

    def report(self, loops):
        components = self.components()
        total = sum(components.values())
        per = 1000 / max(loops, 1)
        print(f"CPU ms per loop over phase 1 ({loops:,} loops, {self.seconds:.1f} s; /proc utime+stime, 10 ms ticks):")
        labels = {"web": "web server (main + workers)", "PostgreSQL": "PostgreSQL backends of the benchmark DB",
                  "generator": "generator (this process)", "worker": "celery worker (+ pool children)",
                  "redis": "redis-server", "beat": "celery beat"}
        for name, cpu in components.items():
            print(f"  {labels[name]:42} {cpu * per:7.1f} ms  {cpu / total if total else 0:4.0%}  ({cpu:.1f} CPU-s)")
        print(f"  of which the web server's main process {self.leaders['web'] * per:.1f} ms, the worker's main process (not its "
              f"pool children) {self.leaders['worker'] * per:.1f} ms")
        kinds = ", ".join(f"{kind or 'unknown'}: {n}" for kind, n in sorted(self.backend_kinds.items()))
        print(f"  {'total':42} {total * per:7.1f} ms  100%  ({total:.1f} CPU-s, {total / self.seconds:.2f} cores; "
              f"{1000 / (total * per) * os.cpu_count() if total else 0:.0f} loops/s if they had all "
              f"{os.cpu_count()} cores)")
        print(f"  PostgreSQL backends seen: {kinds}; the sampler (every {self.every:.0f} s, not in the total): "
              f"{self.sampler_cpu:.2f} CPU-s; the whole machine was busy {self.busy:.1f} CPU-s, "
              f"{max(0.0, self.busy - total):.1f} of them outside this stack (other processes, PostgreSQL's shared "
              f"ones)")
        print(f"  PostgreSQL backends that ended during the load, on the whole server (other databases' too; a "
              f"backend living less than a sample apart is missed above): {self.reaped:.1f} CPU-s, "
              f"{self.reaped * per:.1f} ms per loop at most", flush=True)


# --- the simulated annotators -------------------------------------------------------------------------------


class Api:
    """One annotator's keep-alive connection; every logical request has an Idempotency-Key, kept on retries."""

    def __init__(self, port, token):
        self.port, self.token = port, token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.latency = defaultdict(list)
        self.status = defaultdict(Counter)
        self.retried = Counter()       # logical requests that needed more than one attempt
        self.retry_failed = Counter()  # ... and still did not get the answer they wanted
        self.failures = []             # (endpoint, status, body) of every failed request, for the report

    def call(self, endpoint, method, path, body=None, ok=(200,)):
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Token {self.token}", "Idempotency-Key": str(uuid.uuid4()),
                   "Content-Type": "application/json", "Accept": "application/json"}
        started = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            try:
                self.conn.request(method, path, body=payload, headers=headers)
                response = self.conn.getresponse()
                status, data = response.status, response.read()
            except (OSError, http.client.HTTPException) as error:
                self.conn.close()  # the next request opens a new connection
                status, data = None, repr(error).encode()
            if status is not None and status < 500:
                break
            if attempt >= 12 or time.perf_counter() - started > RETRY_SECONDS:
                break
            time.sleep(min(2.0, 0.05 * 2 ** attempt))
        self.latency[endpoint].append(time.perf_counter() - started)
        self.status[endpoint][status or "no answer"] += 1
        succeeded = status in ok
        if attempt > 1:
            self.retried[endpoint] += 1
            self.retry_failed[endpoint] += not succeeded
        if not succeeded:
            self.failures.append((endpoint, status, data[:300]))
            return status, None
        return status, json.loads(data) if data else None


def segments_pick(text, count, rng, categories):
    """``count`` segments over distinct words of ``text`` (code-point offsets), each rewritten to something else."""
    words = rng.sample(list(re.finditer(r"[a-z]+", text)), count)
    return [{"start": word.start(), "end": word.end(), "category": rng.choice(categories),
             "replacement": rng.choice([r for r in REWRITES if r != word.group()])}
            for word in sorted(words, key=lambda word: word.start())]


class Schedule:
    """When a paced annotator's requests are due: from ``start``, one every ``step`` seconds.

    A request whose time has passed (the previous answer came after it) is sent at once, and the next one is
    due ``step`` after that send: the schedule slips by the delay (counted in ``late`` and ``slip``) instead of
    sending requests back to back until it has caught up."""

    def __init__(self, start, step):
        self.due, self.step = start, step
        self.late, self.slip = 0, 0.0  # requests sent after their time, and the seconds the schedule slipped

    def wait(self):
        """Sleep until the next request is due; at once when it is overdue."""
        now = time.monotonic()
        if now < self.due:
            time.sleep(self.due - now)
        else:
            self.late += 1
            self.slip += now - self.due
            self.due = now
        self.due += self.step


class Annotator(threading.Thread):
    """Claim, save a one-segment draft, submit 1-3 segments; again until ``deadline`` or the queue is empty.

    Without a ``schedule`` each request goes as soon as the previous one is answered (after a failed request
    the loop starts again 50 ms later) until ``deadline``; with one, each request goes when it is due, and no
    loop starts whose claim is due after ``deadline``."""

    def __init__(self, *, index, port, token, project_id, categories, deadline, schedule=None):
        super().__init__(name=f"annotator-{index}", daemon=True)  # the same name in both phases: one annotator
        self.api = Api(port, token)
        self.project_id, self.categories, self.deadline, self.schedule = project_id, categories, deadline, schedule
        self.rng = random.Random(index)
        self.claimed = []  # task ids handed to this annotator
        self.acked = []    # (annotation id, task id, expected chosen, segment count) of every 2xx submit
        self.loops = 0

    def call(self, *args, **kwargs):
        if self.schedule is not None:
            self.schedule.wait()
        return self.api.call(*args, **kwargs)

    def again(self):
        """Whether to start another loop."""
        return (time.monotonic() if self.schedule is None else self.schedule.due) < self.deadline

    def failed(self):
        if self.schedule is None:
            time.sleep(0.05)  # a paced annotator's next request waits for its time anyway

    def run(self):
        while self.again():
            status, task = self.call("claim", "POST", f"/api/tasks/next/?project={self.project_id}", ok=(200, 204))
            if status == 204:
                return  # nothing left for this annotator
            if task is None:
                self.failed()
                continue
            self.claimed.append(task["id"])
            text = task["response"]["text"]
            _, draft = self.call("draft", "POST", "/api/annotations/", ok=(200, 201), body={
                "task": task["id"], "segments": segments_pick(text, 1, self.rng, self.categories), "submit": False})
            if draft is None:
                self.failed()
                continue
            segments = segments_pick(text, self.rng.randint(1, 3), self.rng, self.categories)
            _, submitted = self.call("submit", "PATCH", f"/api/annotations/{draft['id']}/", body={
                "version": draft["version"], "segments": segments, "submit": True})
            if submitted is None:
                self.failed()
                continue
            self.acked.append((submitted["id"], task["id"], apply_segments(text, segments)[0], len(segments)))
            self.loops += 1


def fault_strike(kind, *, stack, database):
    """Strike the fault; a line saying what was done."""
    if kind == "worker-kill":
        stack.kill("worker")
        return "SIGKILLed the worker's process group; a new worker started"
    if kind == "broker-restart":
        stack.kill("redis")
        return "SIGKILLed redis-server and started it again empty (queued messages lost)"
    return f"terminated {database_terminate(database)} backends of the benchmark database"


def annotators_start(args, *, port, annotators, project, rate=0):
    """Start one phase's annotators for ``--duration`` seconds from now: at saturation (``rate`` 0) or paced to
    ``rate`` loops/s in all, each annotator a loop every clients / ``rate`` seconds from a random phase, its
    three requests a third of that apart; (threads, start time)."""
    started = time.monotonic()
    period = len(annotators) / rate if rate else None
    phases = random.Random(0)
    threads = [Annotator(index=index, port=port, token=token, project_id=project.pk, categories=project.categories,
                         deadline=started + args.duration,
                         schedule=Schedule(started + phases.uniform(0, period), period / 3) if period else None)
               for index, (_, token) in enumerate(annotators)]
    for thread in threads:
        thread.start()
    return threads, started


def load_run(args, *, port, annotators, project, stack, database):
    """Phase 1, saturation; (annotator threads, seconds, fault time (epoch) or None, fault line, its CPU account)."""
    account = CpuAccount(stack, database)
    account.start()
    threads, started = annotators_start(args, port=port, annotators=annotators, project=project)
    fault_at, fault_line = None, ""
    if args.fault:
        time.sleep(max(0.0, started + args.duration / 2 - time.monotonic()))
        fault_at = time.time()
        fault_line = fault_strike(args.fault, stack=stack, database=database)
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    account.stop()
    return threads, seconds, fault_at, fault_line, account


def paced_run(args, *, port, annotators, project):
    """Phase 2, paced to ``--rate`` loops/s; its annotator threads, done."""
    threads, _ = annotators_start(args, port=port, annotators=annotators, project=project, rate=args.rate)
    for thread in threads:
        thread.join()
    return threads


# --- checks -------------------------------------------------------------------------------------------------


def records_missing(project):
    """Submitted annotations of ``project`` without an active record."""
    from django.db.models import Exists, OuterRef

    from annotate.models import (
        Annotation,
        AnnotationStatus,
        PreferenceRecord,
        RecordStatus,
    )

    built = PreferenceRecord.objects.filter(annotation=OuterRef("pk"), status=RecordStatus.ACTIVE)
    return Annotation.objects.filter(task__response__prompt__project=project, status=AnnotationStatus.SUBMITTED).filter(
        ~Exists(built))


def records_wait(project, seconds, since):
    """Poll until every submitted annotation has its record; seconds from ``since`` (epoch) until then, None when
    some are still missing ``seconds`` after it."""
    from django.db import connection

    while True:
        connection.close()  # a fresh connection each poll: db-terminate ends idle ones too
        if not records_missing(project).exists():
            return time.time() - since
        if time.time() - since > seconds:
            return None
        time.sleep(0.25)


def integrity_check(project, threads):
    """Every way the stored state can contradict what the clients were told; a list of violations."""
    from django.db.models import Count

    from annotate.models import (
        Annotation,
        AnnotationStatus,
        AnnotationTask,
        PreferenceRecord,
    )

    violations = []
    acked = {annotation_id: (thread.name, task_id, chosen, segments)
             for thread in threads for annotation_id, task_id, chosen, segments in thread.acked}
    stored = {a.pk: a for a in Annotation.objects.filter(pk__in=acked).annotate(n=Count("segments"))}
    for annotation_id, (_, task_id, _, segments) in acked.items():
        annotation = stored.get(annotation_id)
        if annotation is None or annotation.status != AnnotationStatus.SUBMITTED or annotation.task_id != task_id \
                or annotation.n != segments:
            violations.append(f"acknowledged submit {annotation_id} (task {task_id}, {segments} segments) is stored "
                              f"as {annotation and (annotation.status, annotation.task_id, annotation.n)}")
    if sum(len(thread.acked) for thread in threads) != len(acked):
        violations.append("one annotation was acknowledged as submitted twice")
    in_project = Annotation.objects.filter(task__response__prompt__project=project)
    twice = (in_project.order_by().values("annotator", "task__response").annotate(n=Count("pk")).filter(n__gt=1).count())
    if twice:
        violations.append(f"{twice} (annotator, response) pairs have more than one annotation")
    judged = (in_project.filter(status=AnnotationStatus.SUBMITTED).order_by().values("task__response")
              .annotate(n=Count("annotator", distinct=True)).filter(n__gt=project.overlap).count())
    done = (AnnotationTask.objects.filter(response__prompt__project=project, status=AnnotationTask.Status.DONE)
            .order_by().values("response").annotate(n=Count("pk")).filter(n__gt=project.overlap).count())
    if judged or done:
        violations.append(f"overlap {project.overlap} exceeded: {judged} responses by annotators, {done} by slots")
    holders = defaultdict(set)
    for thread in threads:
        for task_id in thread.claimed:
            holders[task_id].add(thread.name)
    shared = sum(len(names) > 1 for names in holders.values())
    if shared:
        violations.append(f"{shared} slots were handed to two annotators")
    double = (AnnotationTask.objects.filter(response__prompt__project=project, status=AnnotationTask.Status.OPEN,
                                            leased_to__isnull=False)
              .order_by().values("leased_to").annotate(n=Count("pk")).filter(n__gt=1).count())
    if double:
        violations.append(f"{double} annotators hold more than one lease")
    chosen = dict(PreferenceRecord.objects.filter(annotation_id__in=acked).values_list("annotation_id", "chosen"))
    wrong = [annotation_id for annotation_id, (_, _, text, _) in acked.items()
             if annotation_id in chosen and chosen[annotation_id] != text]
    if wrong:
        violations.append(f"{len(wrong)} records' chosen text is not what the client's code-point offsets make "
                          f"(annotation {wrong[0]}: {chosen[wrong[0]]!r} vs {acked[wrong[0]][2]!r})")
    unacked = in_project.filter(status=AnnotationStatus.SUBMITTED).exclude(pk__in=acked).count()
    return violations, len(acked), unacked


def fault_recovery(project, fault_at):
    """Seconds from the fault until the records of every annotation submitted up to it were built."""
    from django.db.models import Max

    from annotate.models import PreferenceRecord

    at = datetime.fromtimestamp(fault_at, UTC)
    last = PreferenceRecord.objects.filter(project=project, annotation__submitted_at__lte=at).aggregate(
        last=Max("created_at"))["last"]
    return None if last is None else max(0.0, (last - at).total_seconds())


def record_lags(project):
    """``[(submitted at (epoch), seconds from the submit to its record's first build)]``."""
    from annotate.models import PreferenceRecord

    return [(submitted.timestamp(), (created - submitted).total_seconds())
            for created, submitted in PreferenceRecord.objects.filter(
                project=project, annotation__isnull=False).values_list("created_at", "annotation__submitted_at")]


# --- the claim at scale -----------------------------------------------------------------------------------


def claims_over_http(port, claimers, project, samples, budget):
    """Seconds of sequential claims by ``claimers`` in turn, each followed by an untimed skip; (times, failed
    claims, the last failure)."""
    apis = [Api(port, token) for _, token in claimers]
    started = time.monotonic()
    times = []
    for attempt in range(samples):
        if attempt >= 3 and time.monotonic() - started > budget:
            break
        api = apis[attempt % len(apis)]
        before = time.perf_counter()
        _, task = api.call("claim", "POST", f"/api/tasks/next/?project={project.pk}", ok=(200,))
        if task is not None:
            times.append(time.perf_counter() - before)
            api.call("skip", "POST", f"/api/tasks/{task['id']}/skip/", body={"reason": "benchmark"})
    failures = [failure for api in apis for failure in api.failures]
    return times, len(failures), failures[-1] if failures else None


def claims_pre18(claimers, project, samples, budget):
    """Seconds of the pre-#18 claim's two statements (rolled back), for ``claimers`` in turn; None per one past
    the 120 s statement timeout."""
    from django.db import OperationalError, connection, transaction

    started = time.monotonic()
    times = []
    while len(times) < samples and (len(times) < 3 or time.monotonic() - started < budget):
        user = claimers[len(times) % len(claimers)][0]
        params = {"project": project.pk, "user": user.pk}
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = '120s'")
                before = time.perf_counter()
                cursor.execute(PRE18_PICK, params)
                cursor.fetchone()
                cursor.execute(PRE18_REMAINING, params)
                cursor.fetchone()
                times.append(time.perf_counter() - before)
                transaction.set_rollback(True)
        except OperationalError:
            times.append(None)
    return times


def claim_scale(args, *, port, claimers):
    """Per scale: (open slots, our HTTP claim times, the pre-#18 claim's times)."""
    results = []
    for scale in args.claim_scale:
        project = project_seed(f"claim-{scale}", scale, [user for user, _ in claimers], args.analyze)
        ours, failed, failure = claims_over_http(port, claimers, project, args.claim_samples, args.claim_seconds)
        pre18 = claims_pre18(claimers, project, args.claim_samples, args.claim_seconds)
        timed_out = pre18.count(None)
        pre18 = [t for t in pre18 if t is not None]
        print(f"claim at {scale:,} open slots: ours p50 {ms(percentile(ours, 0.5))}, p99 {ms(percentile(ours, 0.99))}"
              f" ({len(ours)} claims over HTTP{f', {failed} claims or skips failed, e.g. {failure}' if failed else ''}); pre-#18 claim query p50 {ms(percentile(pre18, 0.5))} ({len(pre18)} "
              f"runs in-process{f', {timed_out} past 120 s' if timed_out else ''}); {table_statistics()}", flush=True)
        results.append((scale, ours, pre18))
    return results


# --- the run ------------------------------------------------------------------------------------------------


def report_load(threads, seconds, clients, phase):
    """Print one phase's throughput, latency per endpoint and errors; (loops/s, {endpoint: p99 seconds})."""
    latency, status, retried, retry_failed = defaultdict(list), defaultdict(Counter), Counter(), Counter()
    failures = []
    for thread in threads:
        for endpoint in ENDPOINTS:
            latency[endpoint] += thread.api.latency[endpoint]
            status[endpoint] += thread.api.status[endpoint]
        retried += thread.api.retried
        retry_failed += thread.api.retry_failed
        failures += thread.api.failures
    requests = sum(len(values) for values in latency.values())
    loops = sum(thread.loops for thread in threads)
    print(f"{phase}: {clients} annotators for {seconds:.1f} s: {loops:,} loops, {requests:,} requests: "
          f"{requests / seconds:.1f} req/s, {loops / seconds:.1f} loops/s", flush=True)
    for endpoint, label in ENDPOINTS.items():
        values = latency[endpoint]
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(status[endpoint].items(), key=str))
        print(f"  {endpoint:6} {label:30} {len(values):6,} requests  p50 {ms(percentile(values, 0.5)):>9}  "
              f"p99 {ms(percentile(values, 0.99)):>9} (target < {TARGET_P99_MS} ms)  [{codes}]")
    errors = len(failures)
    print(f"errors: {errors} (target 0); requests retried after a connection error or 5xx: {sum(retried.values())}, "
          f"of which still failed: {sum(retry_failed.values())} (target 0)")
    for endpoint, code, body in failures[:5]:
        print(f"  e.g. {endpoint}: {code} {body!r}")
    schedules = [thread.schedule for thread in threads if thread.schedule is not None]
    if schedules:
        print(f"requests sent late (the previous answer came after their time): {sum(s.late for s in schedules):,} "
              f"of {requests:,}; an annotator's schedule slipped {max(s.slip for s in schedules):.2f} s at most, "
              f"{sum(s.slip for s in schedules) / len(schedules):.2f} s on average")
    return loops / seconds, {endpoint: percentile(latency[endpoint], 0.99) for endpoint in ENDPOINTS}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=100_000, help="open slots seeded for the load")
    parser.add_argument("--clients", type=int, default=64, help="concurrent simulated annotators")
    parser.add_argument("--duration", type=float, default=60, help="seconds of each phase of load")
    parser.add_argument("--rate", type=float, default=TARGET_LOOPS,
                        help="loops/s offered in all in the paced phase (0 skips it)")
    parser.add_argument("--fault", choices=["worker-kill", "broker-restart", "db-terminate"])
    parser.add_argument("--record-wait", type=float, help="seconds to wait for the records after the load "
                        f"(default {TARGET_RECORDS_SECONDS}, 180 with --fault: the sweep waits out a 60 s grace)")
    parser.add_argument("--claim-scale", default="10000,1000000",
                        type=lambda text: [int(n) for n in text.split(",") if n.strip()],
                        help="open slots at which the claim is timed, comma-separated ('' skips)")
    parser.add_argument("--claim-samples", type=int, default=200, help="claims timed per scale")
    parser.add_argument("--claim-seconds", type=float, default=60, help="at most this long per scale and side")
    parser.add_argument("--analyze", action="store_true", help="ANALYZE after each seeding")
    args = parser.parse_args()
    if args.rate < 0:
        parser.error("--rate must be 0 (no paced phase) or more")
    if args.record_wait is None:
        args.record_wait = 180 if args.fault else TARGET_RECORDS_SECONDS

    # SIGTERM and SIGHUP unwind like Ctrl+C, so the finally below stops every process and drops the database.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda number, frame: sys.exit(128 + number))
    folder = Path(tempfile.mkdtemp(prefix="bench-api-load-"))
    database = f"densepref_apiload_{os.getpid()}"
    ports = {"redis": free_port(), "web": free_port()}
    env = {name: value for name, value in os.environ.items() if name not in {
        "CELERY_TASK_ALWAYS_EAGER", "MEDIA_ROOT", "STATIC_ROOT", "CHECKPOINT_ROOT", "DJANGO_SETTINGS_MODULE"}}
    env.update(DATABASE_URL=f"{server_url()}/{database}", CELERY_BROKER_URL=f"redis://127.0.0.1:{ports['redis']}/0",
               DEBUG="0", SECRET_KEY="bench-api-load-not-secret", ALLOWED_HOSTS="127.0.0.1",
               SECURE_SSL_REDIRECT="0", DATA_DIR=str(folder / "data"), LOG_LEVEL="WARNING",
               DJANGO_SETTINGS_MODULE="config.settings", PYTHONUNBUFFERED="1")
    stack = Stack(folder, env)
    database_create(database)
    try:
        os.environ.clear()
        os.environ.update(env)
        run(args, stack=stack, database=database, ports=ports, folder=folder)
    finally:
        stack.stop_all()
        from django.db import connections

        connections.close_all()
        database_drop(database)
        shutil.rmtree(folder, ignore_errors=True)


def run(args, *, stack, database, ports, folder):
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    call_command("migrate", verbosity=0)
    annotators = users_create("annotator", args.clients)
    claimers = users_create("claimer", CLAIMERS)
    project = project_seed("load", args.slots, [user for user, _ in annotators], args.analyze)
    web = start_stack(stack, redis_port=ports["redis"], web_port=ports["web"], data_dir=folder / "data")
    print(f"stack: {shlex.join(web[2:])}; celery {shlex.join(compose_command('worker')[3:])}; celery beat; "
          f"redis-server :{ports['redis']}; PostgreSQL {database}", flush=True)

    threads, seconds, fault_at, fault_line, account = load_run(args, port=ports["web"], annotators=annotators,
                                                      project=project, stack=stack, database=database)
    loops_per_second, _ = report_load(threads, seconds, args.clients,
                                      "phase 1, saturation (each request as soon as the previous one is answered)")
    account.report(sum(thread.loops for thread in threads))
    if args.rate:
        period = args.clients / args.rate
        paced = paced_run(args, port=ports["web"], annotators=annotators, project=project)
        # over --duration, the window in which every paced loop's claim fell due, as the offered rate counts
        # them (their last requests come up to 2P/3 after it)
        achieved, paced_p99 = report_load(paced, args.duration, args.clients,
                                          f"phase 2, paced at {args.rate:g} loops/s offered (a loop every {period:.2f} "
                                          f"s per annotator, its requests {period / 3:.2f} s apart)")
        threads += paced
    load_end = time.time()
    connection.close()  # idle through the load, it may have been terminated (db-terminate)
    print(f"by the end of the load: {table_statistics()}")
    built_after = records_wait(project, args.record_wait, load_end)
    violations, acked, unacked = integrity_check(project, threads)
    missing = records_missing(project).count()
    if missing:
        violations.append(f"{missing} submitted annotations still have no record {args.record_wait:.0f} s after the load")
    lags = record_lags(project)
    lag_seconds = [lag for _, lag in lags]
    print(f"integrity: {acked:,} acknowledged submits, each stored once with its segments; {unacked} stored but not "
          f"acknowledged (a lost answer whose retry failed); overlap {project.overlap} never exceeded; no slot handed "
          f"to two annotators; nobody holds two leases; records' chosen texts match the clients' code-point offsets: "
          f"{'clean' if not violations else 'VIOLATED'}")
    for violation in violations:
        print(f"  VIOLATION: {violation}")
    if built_after is not None:
        print(f"records: all {len(lags):,} built by {built_after:.1f} s after the load stopped (target within "
              f"{TARGET_RECORDS_SECONDS} s); a record came "
              f"{statistics.median(lag_seconds or [0]):.2f} s after its submit (median), {max(lag_seconds, default=0):.1f} s "
              f"at most")
    if args.fault and lags:
        recovery = fault_recovery(project, fault_at)
        submitted, slowest = max(lags, key=lambda pair: pair[1])
        print(f"fault {args.fault} at {args.duration / 2:.1f} s into phase 1: {fault_line}. The slowest record came "
              f"{slowest:.1f} s after its submit (target <= {TARGET_RECORDS_SECONDS} s), one submitted "
              f"{submitted - fault_at:+.1f} s from the fault; the records of every annotation submitted before the "
              f"fault were built by {'n/a' if recovery is None else f'{recovery:.1f} s'} after it")
    restarts = {name: n for name, n in stack.restarts.items() if n}
    print(f"processes restarted after dying on their own: {restarts or 'none'}", flush=True)

    scales = claim_scale(args, port=ports["web"], claimers=claimers) if args.claim_scale else []
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the machine may be shared: figures "
          f"are lower bounds)")
    last = f"loops/s: {loops_per_second:.1f} (target >= {TARGET_LOOPS})"
    if args.rate:
        last += (f"; at {args.rate:g} loops/s offered ({achieved:.1f} achieved): p99 "
                 + ", ".join(f"{endpoint} {ms(paced_p99[endpoint])}" for endpoint in ENDPOINTS)
                 + f" (target < {TARGET_P99_MS} ms)")
    if len(scales) > 1 and scales[0][1] and scales[-1][1]:
        (small, small_ours, _), (large, large_ours, large_pre18) = scales[0], scales[-1]
        print(f"claim p50 at {large:,} / {small:,} open slots: "
              f"{percentile(large_ours, 0.5) / percentile(small_ours, 0.5):.2f}x (target <= 1.5x)")
    if scales and scales[-1][1] and scales[-1][2]:
        large, large_ours, large_pre18 = scales[-1]
        ours, theirs = percentile(large_ours, 0.5), percentile(large_pre18, 0.5)
        last += (f"; claim p50 at {large:,} open slots {ms(ours)} vs the pre-#18 claim query's {ms(theirs)}: "
                 f"{theirs / ours:.1f}x")
    print(last, flush=True)
    if violations:
        raise SystemExit("integrity violated: " + "; ".join(violations))


if __name__ == "__main__":
    main()
