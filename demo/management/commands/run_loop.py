import json
import threading
import time
from pathlib import Path

from celery import current_app
from django.core.management.base import BaseCommand, CommandError
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.core.wsgi import get_wsgi_application

from annotate.models import Project
from config.errors import ApplicationError
from demo.loop import job_wait, loop_annotators_create, loop_round, report_row
from demo.services import bootstrap_run_create, checkpoint_judged, shapes_project_setup
from synthetic.loop import LOSSES, round_config, table_header, table_row
from synthetic.scenes import HELD_OUT_SIZE
from training.models import ModelCheckpoint
from training.selectors import checkpoint_active
from training.services import training_config_check


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def serve_in_thread():
    """The platform's WSGI app on a free 127.0.0.1 port in a thread: ``(base_url, server)``.

    One request at a time: requests run Celery tasks eagerly here, and Celery's
    "may this task join a result" flag is process-wide, so concurrent eager tasks
    in several request threads would leave it set.
    """
    server = WSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=True)
    server.set_app(get_wsgi_application())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def json_object(text):
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


class Command(BaseCommand):
    help = (
        "The closed loop on the shapes world: each round the active checkpoint answers fresh scenes, "
        "simulated annotators correct the answers through the REST API, the records train the next "
        "checkpoint (reference = the current one), which is evaluated on held-out scenes and made active."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", default="shapes", help="Created (with checkpoint 0) when missing.")
        parser.add_argument("--rounds", type=int, default=1)
        parser.add_argument("--tasks-per-round", type=int, default=200)
        parser.add_argument("--loss", choices=LOSSES, default="ddpo", help="ddpo: gamma 5; dpo: gamma 1")
        parser.add_argument("--annotators", type=int, default=3, help="simulated annotators working at once")
        parser.add_argument("--error-rate", type=float, default=0.0, help="their missed / miscategorised segments")
        parser.add_argument("--held-out", type=int, default=HELD_OUT_SIZE, help="evaluation scenes (>= 500 to see effects)")
        parser.add_argument("--report", type=Path, help="write the rounds as JSON")
        parser.add_argument("--config", type=json_object, default={}, help="training.ddpo overrides (JSON object)")
        parser.add_argument("--bootstrap-config", type=json_object, default={},
                            help="BootstrapConfig fields for checkpoint 0 when the project has none (JSON object)")
        parser.add_argument("--base-url", help="a running platform to annotate through (default: serve one here)")
        parser.add_argument("--worker", action="store_true",
                            help="send jobs to Celery workers (queues default, gpu) instead of running them here")
        parser.add_argument("--timeout", type=int, default=3600, help="seconds to wait for one job")

    def handle(self, *args, **options):
        if options["rounds"] < 0 or options["tasks_per_round"] < 1 or options["annotators"] < 1:
            raise CommandError("--rounds must be >= 0, --tasks-per-round and --annotators >= 1")
        eager = current_app.conf.task_always_eager
        current_app.conf.task_always_eager = not options["worker"]
        current_app.loader.import_default_modules()  # tasks sent by name run eagerly only when registered
        server = None
        try:
            base_url = options["base_url"]
            if base_url is None:
                base_url, server = serve_in_thread()
            self.loop(**{**options, "base_url": base_url})
        except ApplicationError as error:
            raise CommandError(error.message)
        finally:
            current_app.conf.task_always_eager = eager
            if server is not None:
                server.shutdown()
                server.server_close()

    def log(self, message):
        self.stdout.write(message)
        self.stdout.flush()

    def loop(self, *, base_url, project, rounds, tasks_per_round, loss, annotators, error_rate, held_out, report,
             config, bootstrap_config, timeout, **options):
        training = round_config(loss, **config)
        training_config_check(training)  # before minutes of bootstrap, evaluation and annotation
        project = Project.objects.filter(name=project).first() or shapes_project_setup(name=project)
        checkpoint, started = checkpoint_active(project=project), time.perf_counter()
        if checkpoint is None:
            self.log(f"{project.name} has no active checkpoint: training checkpoint 0 {bootstrap_config or ''}")
            run = job_wait(bootstrap_run_create(project=project, bootstrap=bootstrap_config), timeout=timeout)
            checkpoint = run.output_checkpoint
        judged = checkpoint_judged(checkpoint=checkpoint, held_out=held_out)
        rows = [{"round": 0, **report_row(checkpoint=checkpoint, metrics=judged, records=0,
                                          seconds=time.perf_counter() - started)}]
        self.log(f"{project.name}: {rounds} rounds of {tasks_per_round} tasks, {loss}, {annotators} annotators, "
                 f"annotating through {base_url}\n{table_header()}\n{table_row(rows[0])}")
        logins = loop_annotators_create(project=project, count=annotators)
        for number in range(1, rounds + 1):
            self.log(f"-- round {number}")
            row = loop_round(project=project, checkpoint=checkpoint, base_url=base_url, logins=logins,
                             config=training, tasks=tasks_per_round, held_out=held_out, error_rate=error_rate,
                             seed=number * 1000, timeout=timeout, log=self.log)
            rows.append({"round": number, **row})
            checkpoint = ModelCheckpoint.objects.get(pk=row["checkpoint"])
            self.log(f"{table_header()}\n" + "\n".join(table_row(r) for r in rows))
            if report:
                report.write_text(json.dumps({"rounds": rows}, indent=2))
        if report:
            report.write_text(json.dumps({"rounds": rows}, indent=2))
            self.log(f"report: {report}")
