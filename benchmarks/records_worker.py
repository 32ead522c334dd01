"""Records/s that one worker of the embedded default builds from annotations as they are submitted.

The embedded default is what ``scripts/start.sh`` runs: SQLite, Celery's filesystem transport and one worker
``celery -A config worker -Q default,gpu --pool=threads --concurrency=2``. In a fresh data folder this seeds a
project whose records are built on submit, with 16 annotators; starts that worker; submits ``--annotations``
corrections through the services as fast as one process can (each annotator in turn takes their next task and
submits it, each submit sending its sync message on commit); and waits until every record exists. It prints
records/s (first submit to last record), how far a record came after its submission (median, max), and the CPU
the worker then burns idle. 16 annotators submit ~3.2 corrections/s (one every 5 s each): a worker keeps up
when its records/s is above that.

Baseline, in the same run on the same data: the same worker at kombu's default polling interval, 1 s
(``CELERY_BROKER_POLLING_INTERVAL=1``), as before that setting existed.

    python benchmarks/records_worker.py [--annotations 200] [--idle-seconds 10] [--only-ours]

The last line is our records/s over the baseline's.
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


def measure(*, label, polling_interval, project, annotators, annotations, idle_seconds, env, data_dir):
    """One round: a fresh worker (logging as in scripts/start.sh) at ``polling_interval``, ``annotations``
    submits, every record awaited."""
    from annotate.models import Annotation, PreferenceRecord
    from annotate.services import annotation_save, task_next

    worker = start_worker({**env, "CELERY_BROKER_POLLING_INTERVAL": str(polling_interval)},
                          data_dir / f"worker-{label}.log")
    try:
        # Log lines carry "ready." a moment before the consumer polls; let it settle, then read its idle CPU.
        time.sleep(2)
        idle_from = cpu_seconds(worker.pid)
        time.sleep(idle_seconds)
        idle_cpu = (cpu_seconds(worker.pid) - idle_from) / idle_seconds
        submitted = []
        started = time.monotonic()
        for index in range(annotations):
            user = annotators[index % ANNOTATORS]
            task = task_next(user=user, project=project)
            annotation, _ = annotation_save(user=user, task_id=task.pk, segments=[SEGMENT], submit=True)
            submitted.append(annotation.pk)
        submit_seconds = time.monotonic() - started
        deadline = time.monotonic() + max(120, annotations)
        while PreferenceRecord.objects.filter(annotation_id__in=submitted).count() < annotations:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"{label}: records missing after {max(120, annotations)} s")
            time.sleep(0.02)
        seconds = time.monotonic() - started
    finally:
        stop_worker(worker)
    submitted_at = dict(Annotation.objects.filter(pk__in=submitted).values_list("pk", "submitted_at"))
    lags = [(created - submitted_at[annotation_id]).total_seconds() for annotation_id, created in
            PreferenceRecord.objects.filter(annotation_id__in=submitted).values_list("annotation_id", "created_at")]
    rate = annotations / seconds
    print(f"{label}: polling every {polling_interval} s: {annotations} submitted in {submit_seconds:.1f} s, "
          f"every record after {seconds:.1f} s: {rate:.1f} records/s "
          f"({'keeps up with' if rate > SUBMITS_PER_SECOND else 'falls behind'} {ANNOTATORS} annotators' "
          f"{SUBMITS_PER_SECOND:.1f}/s); a record came {statistics.median(lags):.2f} s after its submit "
          f"(median), {max(lags):.2f} s at most; idle worker CPU {idle_cpu:.1%} of a core", flush=True)
    return rate


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
    ours = settings.CELERY_BROKER_TRANSPORT_OPTIONS["polling_interval"]
    rounds = [("ours", ours)] if args.only_ours else [("baseline", 1.0), ("ours", ours)]
    project, annotators = seed(args.annotations * len(rounds))
    rates = {label: measure(label=label, polling_interval=interval, project=project, annotators=annotators,
                            annotations=args.annotations, idle_seconds=args.idle_seconds, env=env, data_dir=data_dir)
             for label, interval in rounds}
    if not args.only_ours:
        print(f"records/s ours / baseline: {rates['ours'] / rates['baseline']:.2f}x")


if __name__ == "__main__":
    main()
