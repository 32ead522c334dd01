import contextlib
import json
import threading
import time
from pathlib import Path

from celery import current_app
from django.core.management.base import BaseCommand, CommandError
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connections
from django.test import override_settings
from django.utils import timezone

from annotate.models import Project, PromotionPolicy
from config.errors import ApplicationError
from demo.loop import (EmbeddedBeat, checkpoint_row, job_wait, job_watch, loop_annotate, loop_annotators_create,
                       loop_prompts_ensure, newest_batch, records_wait, round_decision, round_row, threshold_settle)
from demo.services import MAX_NEW_TOKENS, bootstrap_run_create, shapes_project_setup
from synthetic.loop import LOSSES, round_config, table_header, table_row
from training.models import PromotionOutcome, TrainingRun
from training.promotion import project_loop_settings_update
from training.selectors import checkpoint_active
from training.services import generation_batch_create, project_training_defaults_update, training_config_check

TRIGGER_TASK = "training.tasks.training_auto_trigger"


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def serve_in_thread(lock):
    """The platform's WSGI app on a free 127.0.0.1 port in a thread: ``(base_url, stop)``; ``stop()`` ends it
    and closes its database connection (kept up to CONN_MAX_AGE otherwise).

    One request at a time, and none while ``lock`` is held elsewhere: requests run Celery tasks eagerly here,
    as does the embedded beat, and Celery's "may this task join a result" flag is process-wide, so concurrent
    eager tasks in several threads would leave it set.
    """
    application = get_wsgi_application()

    def locked(environ, start_response):
        with lock:
            return application(environ, start_response)

    def serve():
        try:
            server.serve_forever()
        finally:
            connections.close_all()

    server = WSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=True)
    server.set_app(locked)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        thread.join()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}", stop


def json_object(text):
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


class Command(BaseCommand):
    help = (
        "Drive the platform's closed loop on the shapes world with simulated annotators (through the REST API). "
        "The platform does the rest: the records reach the project's auto-train threshold, the beat launches a "
        "run from the active checkpoint, its evaluation decides promotion by the project's policy, a promotion "
        "queues the next batch from unanswered prompts, whose answers are the next round's tasks."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", default="shapes", help="Created (with checkpoint 0) when missing.")
        parser.add_argument("--rounds", type=int, default=1)
        parser.add_argument("--tasks-per-round", type=int, default=200,
                            help="the project's next_batch_size; the auto-train threshold follows from it")
        parser.add_argument("--threshold", type=int,
                            help="training records that start a round's run (default: the round's tasks less the "
                                 "held-out share; lowered at the end of a round that corrected fewer answers)")
        parser.add_argument("--policy", choices=[PromotionPolicy.GATE, PromotionPolicy.ALWAYS], default="gate",
                            help="the project's promotion policy")
        parser.add_argument("--loss", choices=LOSSES, default="ddpo", help="ddpo: gamma 5; dpo: gamma 1")
        parser.add_argument("--annotators", type=int, default=3, help="simulated annotators working at once")
        parser.add_argument("--error-rate", type=float, default=0.0, help="their missed / miscategorised segments")
        parser.add_argument("--held-out", type=int,
                            help="scenes the evaluation's judge reads (EVALUATION_JUDGE_SCENES of this process; with "
                                 "--worker set it in the workers' environment); >= 500 to see effects")
        parser.add_argument("--report", type=Path, help="write the rounds as JSON")
        parser.add_argument("--config", type=json_object, default={},
                            help="training.ddpo overrides (JSON object): the project's training config")
        parser.add_argument("--bootstrap-config", type=json_object, default={},
                            help="BootstrapConfig fields for checkpoint 0 when the project has none (JSON object)")
        parser.add_argument("--base-url", help="a running platform to annotate through (default: serve one here)")
        parser.add_argument("--worker", action="store_true",
                            help="jobs run on Celery workers (queues default, gpu) and the periodic tasks on a "
                                 "running celery beat, instead of here")
        parser.add_argument("--trigger-every", type=float, default=5.0,
                            help="without --worker: seconds between the embedded beat's auto-train triggers")
        parser.add_argument("--timeout", type=int, default=3600, help="seconds to wait for one step of the chain")

    def handle(self, *args, **options):
        if options["rounds"] < 0 or options["tasks_per_round"] < 1 or options["annotators"] < 1:
            raise CommandError("--rounds must be >= 0, --tasks-per-round and --annotators >= 1")
        if options["threshold"] is not None and options["threshold"] < 1:
            raise CommandError("--threshold must be >= 1")
        eager = current_app.conf.task_always_eager
        current_app.conf.task_always_eager = not options["worker"]
        current_app.loader.import_default_modules()  # tasks sent by name run eagerly only when registered
        lock, stop_server = threading.Lock(), None
        judge = ({} if options["held_out"] is None or options["worker"]
                 else {"EVALUATION_JUDGE_SCENES": options["held_out"]})
        try:
            base_url = options["base_url"]
            if base_url is None:
                base_url, stop_server = serve_in_thread(lock)
            with override_settings(**judge):
                self.loop(**{**options, "base_url": base_url, "lock": lock})
        except ApplicationError as error:
            raise CommandError(error.message)
        finally:
            current_app.conf.task_always_eager = eager
            if stop_server is not None:
                stop_server()

    def log(self, message):
        self.stdout.write(message)
        self.stdout.flush()

    def project_prepare(self, *, name, loss, config, tasks, threshold, policy, rounds):
        """The project set to loop on its own: training recipe, threshold, policy, next batches, prompt pool."""
        training = round_config(loss, **config)
        training_config_check(training)  # before minutes of bootstrap, evaluation and annotation
        gamma, beta = training.pop("gamma"), training.pop("beta")
        project = Project.objects.filter(name=name).first() or shapes_project_setup(name=name)
        project_training_defaults_update(project=project, gamma=gamma, beta=beta, config=training)
        if threshold is None:
            threshold = max(1, tasks * (100 - project.heldout_percent) // 100)
        project_loop_settings_update(project=project, auto_train_threshold=threshold, promotion_policy=policy,
                                     next_batch_size=tasks,
                                     next_batch_params={"max_new_tokens": MAX_NEW_TOKENS, "batch_size": 64})
        # Each round's batch and the one the last promotion queues: fresh scenes for every one of them.
        created = loop_prompts_ensure(project=project, count=(rounds + 1) * tasks)
        self.log(f"{project.name}: policy {policy}, auto-train threshold {threshold} training records "
                 f"({project.heldout_percent}% of records held out), batches of {tasks}; {created} new prompts")
        return project, threshold

    def loop(self, *, base_url, lock, project, rounds, tasks_per_round, threshold, policy, loss, annotators,
             error_rate, report, config, bootstrap_config, worker, trigger_every, timeout, **options):
        since = timezone.now()  # the first round's run is the first the trigger launches from here on
        project, threshold = self.project_prepare(name=project, loss=loss, config=config, tasks=tasks_per_round,
                                                  threshold=threshold, policy=policy, rounds=rounds)
        beat = (contextlib.nullcontext() if worker else
                EmbeddedBeat(lock=lock, log=self.log, intervals={TRIGGER_TASK: trigger_every}))
        with beat:
            rows = self.rounds(project=project, lock=lock, base_url=base_url, rounds=rounds, tasks=tasks_per_round,
                               threshold=threshold, annotators=annotators, error_rate=error_rate, report=report,
                               bootstrap_config=bootstrap_config, timeout=timeout, since=since)
        if report:
            report.write_text(json.dumps({"rounds": rows}, indent=2))
            self.log(f"report: {report}")

    def rounds(self, *, project, lock, base_url, rounds, tasks, threshold, annotators, error_rate, report,
               bootstrap_config, timeout, since):
        started = time.perf_counter()
        checkpoint = checkpoint_active(project=project)
        if checkpoint is None:
            self.log(f"{project.name} has no active checkpoint: training checkpoint 0 {bootstrap_config or ''}")
            with lock:
                run = bootstrap_run_create(project=project, bootstrap=bootstrap_config)
            checkpoint = job_wait(run, timeout=timeout).output_checkpoint
        rows = [{"round": 0, **checkpoint_row(checkpoint), "records": 0, "seconds": round(time.perf_counter() - started, 1)}]
        self.log(f"{rounds} rounds, {annotators} annotators annotating through {base_url}\n{table_header()}\n"
                 f"{table_row(rows[0])}")
        batch = newest_batch(project=project, checkpoint=checkpoint)
        if batch is None and rounds:  # the first batch, as a manager asks for it; the platform queues the next ones
            with lock:
                batch = generation_batch_create(project=project, checkpoint=checkpoint, limit=tasks,
                                                params=project.next_batch_params)
        logins = loop_annotators_create(project=project, count=annotators)
        for number in range(1, rounds + 1):
            started = time.perf_counter()
            self.log(f"-- round {number}: batch #{batch.pk} of {checkpoint.name}")
            stop = job_watch(TrainingRun, project=project, log=self.log)
            try:
                batch = job_wait(batch, timeout=timeout)
                done = loop_annotate(base_url=base_url, project=project, logins=logins, error_rate=error_rate,
                                     seed=number * 1000)
                close_old_connections()
                built = records_wait(batch=batch, timeout=timeout)
                self.log(f"  {len(logins)} annotators did {done} tasks; {built} new records")
                if not threshold_settle(project=project, threshold=threshold, since=since, log=self.log):
                    self.log("  no training records this round: nothing to train on, the loop stops here")
                    break
                decision = round_decision(project=project, since=since, timeout=timeout)
            finally:
                stop()
            project_loop_settings_update(project=project, auto_train_threshold=threshold)  # for the next round
            rows.append({"round": number, **round_row(decision), "annotated": done,
                         "seconds": round(time.perf_counter() - started, 1)})
            self.log(f"  run #{rows[-1]['run']} ({rows[-1]['trigger']}) on {rows[-1]['records']} records -> "
                     f"{decision.checkpoint.name}: held-out accuracy {rows[-1]['heldout_preference_accuracy']} on "
                     f"{rows[-1]['heldout_records']} records; {decision.outcome}: {decision.reason}")
            self.log(f"{table_header()}\n" + "\n".join(table_row(row) for row in rows))
            if report:
                report.write_text(json.dumps({"rounds": rows}, indent=2))
            if decision.outcome != PromotionOutcome.PROMOTED:
                self.log(f"{decision.checkpoint.name} was not promoted: no next batch, the loop stops here")
                break
            if decision.next_batch is None:
                self.log(f"{decision.note}")
                break
            checkpoint, batch, since = decision.checkpoint, decision.next_batch, decision.checkpoint.produced_by.created_at
        return rows
