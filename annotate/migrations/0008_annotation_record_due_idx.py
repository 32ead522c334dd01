"""The annotations whose record is behind them, newest first, for the beat sweep. Its own migration: PostgreSQL
creates no index on a table with the updates of 0007 still pending in the same transaction."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotate', '0007_annotation_record_synced_version'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='annotation',
            index=models.Index(condition=models.Q(('record_synced_version__lt', models.F('version'))), fields=['updated_at'], name='annotation_record_due_idx'),
        ),
    ]
