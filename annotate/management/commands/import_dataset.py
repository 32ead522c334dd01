from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotate.services.imports import dataset_import_by_name
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Import an RLHF-V (text JSON) or RLAIF-V (flat columns) parquet file into a project (created when missing)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--project", required=True, help="Project name; created when missing.")

    def handle(self, *args, file, project, **options):
        with tqdm(unit="row", desc="import") as bar:
            def on_rows(done, total):
                bar.total = total
                bar.update(done - bar.n)

            try:
                target, result = dataset_import_by_name(project_name=project, file=file, on_rows=on_rows)
            except ApplicationError as error:
                raise CommandError(error.message)
        self.stdout.write(
            f"Project {target.name!r} (id {target.pk}): {result.rows} rows, "
            f"{result.created} records created, {result.skipped} already there"
        )
