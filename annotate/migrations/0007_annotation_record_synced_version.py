"""The sync state moves from the record (``annotation_version``) to the annotation (``record_synced_version``),
so that the beat sweep finds the annotations behind by a partial index (0008) instead of joining every record.

An annotation with a record takes the version its record was synced from; one that calls for a record and has
none is due (0); every other one is in step (its own version)."""

from django.db import migrations, models
from django.db.models import F, OuterRef, Q, Subquery


def sync_state_to_annotation(apps, schema_editor):
    Annotation = apps.get_model("annotate", "Annotation")
    PreferenceRecord = apps.get_model("annotate", "PreferenceRecord")
    Annotation.objects.update(record_synced_version=F("version"))
    Annotation.objects.filter(record__isnull=False).update(record_synced_version=Subquery(
        PreferenceRecord.objects.filter(annotation=OuterRef("pk")).values("annotation_version")[:1]))
    reached = Q(status="accepted") | Q(status="submitted", task__response__prompt__project__record_trigger="submit")
    Annotation.objects.filter(reached, no_hallucination=False, record__isnull=True).update(record_synced_version=0)


def sync_state_to_record(apps, schema_editor):
    Annotation = apps.get_model("annotate", "Annotation")
    PreferenceRecord = apps.get_model("annotate", "PreferenceRecord")
    PreferenceRecord.objects.filter(annotation__isnull=False).update(annotation_version=Subquery(
        Annotation.objects.filter(pk=OuterRef("annotation_id")).values("record_synced_version")[:1]))


class Migration(migrations.Migration):

    dependencies = [
        ('annotate', '0006_project_training_bounds'),
    ]

    operations = [
        migrations.AddField(
            model_name='annotation',
            name='record_synced_version',
            field=models.PositiveIntegerField(default=0, help_text='The version its record (or the lack of one) was last synced to; beat syncs the ones behind.'),
        ),
        migrations.RunPython(sync_state_to_annotation, sync_state_to_record),
        migrations.RemoveField(
            model_name='preferencerecord',
            name='annotation_version',
        ),
    ]
