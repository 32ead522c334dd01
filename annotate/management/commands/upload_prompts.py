from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate.services.uploads import prompts_upload
from config.errors import ApplicationError


class Command(BaseCommand):
    help = ("Upload a zip of images with manifest.jsonl / manifest.csv (or images alone, asked question templates) "
            "into a project, created when missing; all or nothing.")

    def add_arguments(self, parser):
        parser.add_argument("zip")
        parser.add_argument("--project", required=True, help="Project name; created when missing (not for a bad file).")
        parser.add_argument("--templates", help="Images without a manifest: a text file of questions, one per line "
                                                "(default: the shipped detailed-description set).")
        parser.add_argument("--templates-per-image", type=int, default=1)

    def handle(self, *args, zip, project, templates, templates_per_image, **options):
        path = Path(zip)
        if not path.is_file():
            raise CommandError(f"No file {zip}.")
        text = Path(templates).read_text(encoding="utf-8") if templates else ""
        try:
            with path.open("rb") as archive:
                target, result = prompts_upload(project_name=project, archive=archive, archive_size=path.stat().st_size,
                                                templates=text, templates_per_image=templates_per_image, label=path.name)
        except ApplicationError as error:
            lines = [error.message] + [f"  line {item['line'] if item['line'] is not None else '-'}: {item['field']}: "
                                       f"{item['reason']}" for item in error.extra.get("rejected", [])]
            raise CommandError("\n".join(lines))
        self.stdout.write(
            f"Project {target.name!r} (id {target.pk}): {result.prompts} prompts created "
            f"({result.prompts_existing} already there), images {result.images_new} new / {result.images_reused} "
            f"reused, {result.responses} answers queued ({result.responses_existing} already there), "
            f"{result.tasks} annotation tasks")
