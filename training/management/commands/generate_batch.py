from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotate.models import Project
from config.errors import ApplicationError
from config.fields import MAX_ID
from jobs.models import JobStatus
from training.models import ModelCheckpoint
from training.services import checkpoint_register, generation_batch_create, generation_batch_execute


class Command(BaseCommand):
    help = (
        "Answer a project's prompts with a checkpoint and turn the answers into annotation tasks "
        "(one GenerationBatch). Runs here with a progress bar, or with --queue on a gpu worker."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project name.")
        parser.add_argument("--checkpoint", help="Checkpoint id, or a model folder / hub id to register "
                            "(default: the project's active checkpoint).")
        parser.add_argument("--limit", type=int, default=64, help="Prompts the checkpoint has not answered yet.")
        parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy.")
        parser.add_argument("--top-p", type=float, default=1.0)
        parser.add_argument("--max-new-tokens", type=int, default=64)
        parser.add_argument("--samples", type=int, default=1, help="Answers per prompt.")
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--queue", action="store_true", help="Enqueue on the gpu worker instead of running here.")

    def handle(self, *args, **options):
        project = Project.objects.filter(name=options["project"]).first()
        if project is None:
            raise CommandError(f"No project named {options['project']!r}")
        params = {"temperature": options["temperature"], "top_p": options["top_p"], "seed": options["seed"],
                  "max_new_tokens": options["max_new_tokens"], "samples_per_prompt": options["samples"],
                  "batch_size": options["batch_size"]}
        try:
            with transaction.atomic():  # a refused batch leaves no checkpoint registered for it either
                batch = generation_batch_create(
                    project=project, checkpoint=self._checkpoint(project, options["checkpoint"]), limit=options["limit"],
                    params=params, enqueue=options["queue"])
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} {exc.fields or ''}".strip()) from exc
        if options["queue"]:
            self.stdout.write(f"Queued generation batch {batch.pk}: {batch.prompt_count} prompts.")
            return
        batch = generation_batch_execute(batch_id=batch.pk, progress=True)
        if batch.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Generation batch {batch.pk} {batch.status}: {batch.error}")
        self.stdout.write(f"Generation batch {batch.pk}: {batch.response_count} answers to {batch.prompt_count} prompts, "
                          f"{batch.response_count * project.overlap} annotation tasks.")

    def _checkpoint(self, project, value):
        if value is None:
            return None
        if value.isascii() and value.isdigit():
            checkpoint = ModelCheckpoint.objects.filter(pk=int(value)).first() if int(value) <= MAX_ID else None
            if checkpoint is None:
                raise CommandError(f"No checkpoint {value}")
            return checkpoint
        folder = Path(value).expanduser()
        if folder.is_dir():
            value = str(folder.resolve())  # from_pretrained expands neither ~ nor a relative path from elsewhere
        elif value.startswith(("/", ".", "~")):
            raise CommandError(f"No model folder {value} (nothing registered)")
        existing = ModelCheckpoint.objects.filter(project=project, path=value).first()
        return existing or checkpoint_register(project=project, path=value)
