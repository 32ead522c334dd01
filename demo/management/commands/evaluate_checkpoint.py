import json

from django.core.management.base import BaseCommand, CommandError

from demo.services import checkpoint_evaluate
from synthetic.scenes import HELD_OUT_SIZE
from training.models import ModelCheckpoint


class Command(BaseCommand):
    help = ("Judge a checkpoint's greedy descriptions of the fixed held-out shapes scenes (hallucination rates, "
            "coverage, per category); prints them and stores them as the checkpoint's eval_metrics.")

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--checkpoint", type=int, help="checkpoint id")
        target.add_argument("--project", help="the project's active checkpoint (by project name)")
        parser.add_argument("--held-out", type=int, default=HELD_OUT_SIZE, help="scenes (>= 500: fewer hides ~7 points)")

    def handle(self, *args, checkpoint=None, project=None, held_out, **options):
        if held_out < 1:
            raise CommandError("--held-out must be >= 1")
        if checkpoint is not None:
            found = ModelCheckpoint.objects.filter(pk=checkpoint).first()
        else:
            found = ModelCheckpoint.objects.filter(project__name=project, is_active=True).first()
        if found is None:
            raise CommandError(f"No checkpoint {checkpoint}" if checkpoint is not None
                               else f"Project {project!r} has no active checkpoint")
        metrics = checkpoint_evaluate(checkpoint=found, held_out=held_out)
        self.stdout.write(f"{found.name} ({found.path}) on {held_out} held-out scenes:")
        self.stdout.write(json.dumps(metrics, indent=2))
