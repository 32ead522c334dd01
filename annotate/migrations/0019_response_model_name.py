# Answers generated outside the platform (an upload's `model` column) keep who wrote them.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotate', '0017_project_training_config'),
    ]

    operations = [
        migrations.AddField(
            model_name='response',
            name='model_name',
            field=models.CharField(blank=True, help_text="Who wrote an answer generated outside the platform (an upload's `model`); checkpoint stays null.", max_length=200),
        ),
    ]
