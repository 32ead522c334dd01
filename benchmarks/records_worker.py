"""Records/s that one worker of the embedded default builds from annotations as they are submitted, and the
worker's CPU per record.

The embedded default is what ``scripts/start.sh`` runs: SQLite, Celery's filesystem transport and one worker
``celery -A config worker -Q default,gpu --pool=threads --concurrency=2``. In a fresh data folder this seeds a
project whose records are built on submit, with 16 annotators; starts that worker; submits ``--annotations``
corrections through the services as fast as one process can (each annotator in turn takes their next task and
submits it; on commit, each submit schedules a records drain, at most one per ``RECORDS_SYNC_COALESCE_SECONDS``);
and waits until every record exists. It prints records/s (first submit to last record), how far a record came
after its submission (median, max), the worker's CPU per record over that time, the submitting process's CPU per
submit (its Django writes and its messages to the broker), and the CPU the worker burns idle.
16 annotators submit ~3.2 corrections/s (one every 5 s each): a worker keeps up when its records/s is above that.

Baseline, in the same run on the same data: the same worker with a drain sent for every submit, to run at once
(``RECORDS_SYNC_COALESCE_SECONDS=0``), as each submit sent its own message before drains were coalesced; its
drains still build their records in batches, so it is not the code before drains (a message and a ``record_sync``
per submit: this script run on that code measured 23.2 records/s and 17.2 ms of worker CPU per record at 200
submits). Until drains, the baseline was kombu's default polling interval, 1 s, against ours, 0.1 s (7.78x in
records/s); a coalesced drain waits out its window whatever the polling, so that lever now moves records/s
little (1.33x at 48 submits). Coalescing trades latency for CPU: a record waits out the window (about 1 s), so
records/s, first submit to last record, is lower for a burst this short (0.90x at 200 submits) while the
worker's CPU per record falls (2.15x).

    python benchmarks/records_worker.py [--annotations 200] [--idle-seconds 10] [--only-ours]

The last line is our records/s over the baseline's, and the baseline's worker CPU per record over ours.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANNOTATORS = 16
SUBMITS_PER_SECOND = ANNOTATORS / 5
TEXT = "There is a red circle and a blue square."
SEGMENT = {"start": 11, "end": 14, "category": "attribute", "replacement": "green"}


def embedded_environment(data_dir):
    """This process's environment on the embedded default in ``data_dir`` (no database or broker URL)."""
    env = {name: value for name, value in os.environ.items()
           if name not in {"DATABASE_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER"}}
    # As scripts/start.sh runs it: development settings (a generated key in DATA_DIR) unless DEBUG is given.
    env.setdefault("DEBUG", "1")
    env.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings", PYTHONUNBUFFERED="1")
    return env


def seed(annotations):
    """A project (records on submit) of ``annotations`` responses per round and its 16 annotators."""
    from django.contrib.auth import get_user_model

    from annotate.models import Membership, Project, Prompt, Response
    from annotate.services.responses import responses_create

    project = Project.objects.create(name="records-worker", record_trigger="submit")
    prompts = Prompt.objects.bulk_create(Prompt(project=project, question="Describe it.") for _ in range(annotations))
    responses_create(project=project, responses=[Response(prompt=prompt, text=TEXT) for prompt in prompts])
    annotators = [get_user_model().objects.create_user(username=f"annotator-{index}") for index in range(ANNOTATORS)]
    Membership.objects.bulk_create(Membership(project=project, user=user, role="annotator") for user in annotators)
    return project, annotators


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def start_worker(env, log):
    with open(log, "w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,gpu", "--pool=threads",
             "--concurrency=2", "-n", f"bench-{os.getpid()}@%h", "--loglevel=INFO"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while "ready." not in log.read_text():
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            raise SystemExit(f"The worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return worker


def stop_worker(worker):
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()


def measure(*, label, window, project, annotators, annotations, idle_seconds, env, data_dir):
    """One round: a fresh worker (logging as in scripts/start.sh), ``annotations`` submits scheduling drains at
    most one per ``window`` seconds, every record awaited."""
    from django.conf import settings

    from annotate.models import Annotation, PreferenceRecord
    from annotate.services import annotation_save, task_next

    settings.RECORDS_SYNC_COALESCE_SECONDS = window
    worker = start_worker({**env, "RECORDS_SYNC_COALESCE_SECONDS": str(window)}, data_dir / f"worker-{label}.log")
    try:
        # Log lines carry "ready." a moment before the consumer polls; let it settle, then read its idle CPU.
        time.sleep(2)
        idle_from = cpu_seconds(worker.pid)
        time.sleep(idle_seconds)
        idle_cpu = (cpu_seconds(worker.pid) - idle_from) / idle_seconds
        submitted = []
        busy_from = cpu_seconds(worker.pid)
        started, submit_cpu = time.monotonic(), time.process_time()
        for index in range(annotations):
            user = annotators[index % ANNOTATORS]
            task = task_next(user=user, project=project)
            annotation, _ = annotation_save(user=user, task_id=task.pk, segments=[SEGMENT], submit=True)
            submitted.append(annotation.pk)
        submit_seconds = time.monotonic() - started
        submit_ms = (time.process_time() - submit_cpu) / annotations * 1000
        deadline = time.monotonic() + max(120, annotations)
        while PreferenceRecord.objects.filter(annotation_id__in=submitted).count() < annotations:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"{label}: records missing after {max(120, annotations)} s")
            time.sleep(0.02)
        seconds = time.monotonic() - started
        cpu_ms = (cpu_seconds(worker.pid) - busy_from) / annotations * 1000
    finally:
        stop_worker(worker)
    submitted_at = dict(Annotation.objects.filter(pk__in=submitted).values_list("pk", "submitted_at"))
    lags = [(created - submitted_at[annotation_id]).total_seconds() for annotation_id, created in
            PreferenceRecord.objects.filter(annotation_id__in=submitted).values_list("annotation_id", "created_at")]
    rate = annotations / seconds
    print(f"{label}: a drain per {f'{window:g} s' if window else 'submit'}: {annotations} submitted in "
          f"{submit_seconds:.1f} s, every record after {seconds:.1f} s: {rate:.1f} records/s "
          f"({'keeps up with' if rate > SUBMITS_PER_SECOND else 'falls behind'} {ANNOTATORS} annotators' "
          f"{SUBMITS_PER_SECOND:.1f}/s); a record came {statistics.median(lags):.2f} s after its submit "
          f"(median), {max(lags):.2f} s at most; worker CPU {cpu_ms:.1f} ms per record, submitter CPU "
          f"{submit_ms:.1f} ms per submit; idle worker CPU {idle_cpu:.1%} of a core", flush=True)
    return rate, cpu_ms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=int, default=200, help="submits per round")
    parser.add_argument("--idle-seconds", type=float, default=10, help="how long the idle worker's CPU is read")
    parser.add_argument("--only-ours", action="store_true", help="skip the baseline (1 s polling)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-records-worker-") as folder:
        run(args, Path(folder))


def run(args, data_dir):
    env = embedded_environment(data_dir)
    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    ours = settings.RECORDS_SYNC_COALESCE_SECONDS
    rounds = [("ours", ours)] if args.only_ours else [("baseline", 0), ("ours", ours)]
    project, annotators = seed(args.annotations * len(rounds))
    results = {label: measure(label=label, window=window, project=project, annotators=annotators,
                              annotations=args.annotations, idle_seconds=args.idle_seconds, env=env, data_dir=data_dir)
               for label, window in rounds}
    if not args.only_ours:
        (base_rate, base_cpu), (our_rate, our_cpu) = results["baseline"], results["ours"]
        print(f"records/s ours / baseline: {our_rate / base_rate:.2f}x; "
              f"worker CPU per record baseline / ours: {base_cpu / our_cpu:.2f}x")


if __name__ == "__main__":
    main()
