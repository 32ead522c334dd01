# A project's training defaults: what its runs, the beat's auto runs included, train with (run_loop's recipe).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotate', '0016_claim_queue'),
    ]

    operations = [
        migrations.AddField(
            model_name='project',
            name='training_config',
            field=models.JSONField(blank=True, default=dict, help_text="training.ddpo config defaults of the project's runs (not gamma, beta or paths); a run's own config overrides them."),
        ),
    ]
