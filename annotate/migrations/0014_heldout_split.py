"""The held-out split: every project holds out ``heldout_percent`` (5) of its records for evaluation.

Existing records get the side ``annotate.splits`` gives their key, as new ones do. A checkpoint trained before
this migration may have trained on records it now holds out: its held-out figures flatter it."""
from django.conf import settings
from django.db import migrations, models

from annotate.splits import record_split, record_split_key

BATCH = 2000


def split_existing_records(apps, schema_editor):
    PreferenceRecord = apps.get_model("annotate", "PreferenceRecord")
    records = (PreferenceRecord.objects.exclude(response__isnull=True, import_key="")
               .values_list("pk", "response_id", "import_key", "project__heldout_percent"))
    held_out = [pk for pk, response_id, import_key, percent in records.iterator(chunk_size=BATCH)
                if record_split(record_split_key(response_id=response_id, import_key=import_key), percent) == "heldout"]
    for start in range(0, len(held_out), BATCH):
        PreferenceRecord.objects.filter(pk__in=held_out[start:start + BATCH]).update(split="heldout")


class Migration(migrations.Migration):

    dependencies = [
        ('annotate', '0013_analytics_timing'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='preferencerecord',
            name='split',
            field=models.CharField(choices=[('train', 'Training'), ('heldout', 'Held out (evaluation only)')], default='train', help_text='Held-out records are evaluation data: no training run ever takes them.', max_length=8),
        ),
        migrations.AddField(
            model_name='project',
            name='heldout_percent',
            field=models.PositiveSmallIntegerField(default=5, help_text='Share of new preference records held out for evaluation, never trained on (annotate/splits.py). A record keeps the side it was given: a change applies to records built afterwards, except that the records of an answer that already has one follow it, so a held-out record never trains.'),
        ),
        migrations.AddIndex(
            model_name='preferencerecord',
            index=models.Index(fields=['project', 'split'], name='record_split_idx'),
        ),
        migrations.AddConstraint(
            model_name='preferencerecord',
            constraint=models.CheckConstraint(condition=models.Q(('split__in', ['train', 'heldout'])), name='record_split_valid'),
        ),
        migrations.AddConstraint(
            model_name='project',
            constraint=models.CheckConstraint(condition=models.Q(('heldout_percent__gte', 0), ('heldout_percent__lte', 50)), name='project_heldout_percent_range', violation_error_message='heldout_percent must be between 0 and 50.'),
        ),
        # Last: PostgreSQL alters no table with updates still pending in the same transaction (see 0008).
        migrations.RunPython(split_existing_records, migrations.RunPython.noop),
    ]
