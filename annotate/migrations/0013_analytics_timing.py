"""When annotators start: AnnotationTask.leased_at, Annotation.started_at (team analytics: seconds per task)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotate', '0012_promotion_policy'),
    ]

    operations = [
        migrations.AddField(
            model_name='annotation',
            name='started_at',
            field=models.DateTimeField(blank=True, help_text="The slot's leased_at when the annotation was created; null before it was stored (untimed).", null=True),
        ),
        migrations.AddField(
            model_name='annotationtask',
            name='leased_at',
            field=models.DateTimeField(blank=True, help_text="When the slot last went to a new holder (a renewal keeps it): where an annotator's time starts.", null=True),
        ),
    ]
