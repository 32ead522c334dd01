from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from tqdm import tqdm

from annotate.models import Annotation, AnnotationStatus, PreferenceRecord, Project, RecordSource
from annotate.services.records import record_imported_align, record_sync


class Command(BaseCommand):
    help = (
        "Rebuild preference records: sync every annotation that has or may need a record (build, "
        "rebuild with a new version, retire), and recover the alignment of imported records that lack one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", help="Only this project (by name).")

    def handle(self, *args, project=None, **options):
        annotations = Annotation.objects.filter(
            Q(record__isnull=False) | Q(status__in=[AnnotationStatus.SUBMITTED, AnnotationStatus.ACCEPTED])
        )
        imported = PreferenceRecord.objects.filter(source=RecordSource.IMPORTED, alignment=[])
        if project is not None:
            found = Project.objects.filter(name=project).first()
            if found is None:
                raise CommandError(f"No project named {project!r}")
            annotations = annotations.filter(task__response__prompt__project=found)
            imported = imported.filter(project=found)
        annotation_ids = list(annotations.order_by("pk").values_list("pk", flat=True))
        record_ids = list(imported.order_by("pk").values_list("pk", flat=True))
        built = 0
        for annotation_id in tqdm(annotation_ids, desc="annotations", unit="annotation"):
            built += record_sync(annotation_id=annotation_id) is not None
        for record_id in tqdm(record_ids, desc="imported records", unit="record"):
            record_imported_align(record_id=record_id)
        self.stdout.write(
            f"Synced {len(annotation_ids)} annotations ({built} with a record), aligned {len(record_ids)} imported records."
        )
