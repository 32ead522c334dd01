"""``TrainingRun.config`` holds the run's full settings, resolved when it is created.

It used to hold the caller's overrides only; the worker added DDPOConfig's
defaults and the project's gamma and beta when the run started. Existing rows
are resolved here the same way, so the worker reads one format. For a finished
run that records the project's values of today, which the dashboard already
showed for it; the settings it trained with are in its checkpoint's
ddpo_config.json. Runs after annotate 0006, which raised any gamma below 1."""

from django.db import migrations, models

from training.ddpo.config import DDPOConfig

# The keys training.services sets when a run starts (its RESERVED_CONFIG_KEYS at this migration).
SERVICE_KEYS = {"model", "output_dir", "reference", "reference_cache_dir", "resume", "progress"}


def resolve(apps, schema_editor):
    defaults = {name: value for name, value in DDPOConfig(model="-", output_dir="-").to_dict().items()
                if name not in SERVICE_KEYS}
    for run in apps.get_model("training", "TrainingRun").objects.select_related("project").iterator():
        run.config = {**defaults, "gamma": run.project.gamma, "beta": run.project.beta, **run.config}
        run.save(update_fields=["config"])


class Migration(migrations.Migration):

    dependencies = [
        ('annotate', '0006_project_training_bounds'),
        ('training', '0004_remove_trainingrun_celery_task_id'),
    ]

    operations = [
        migrations.AlterField(
            model_name='trainingrun',
            name='config',
            field=models.JSONField(blank=True, default=dict, help_text="The run's training.ddpo settings, resolved when it was created: DDPOConfig's defaults, the project's gamma and beta, the caller's overrides. The paths (model, output_dir...) are set when it runs."),
        ),
        # Backwards: resolved settings are valid overrides too (no path among them).
        migrations.RunPython(resolve, migrations.RunPython.noop),
    ]
