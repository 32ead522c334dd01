"""A project's gamma and beta obey training.ddpo.DDPOConfig's bounds: gamma >= 1 (was > 0), both finite.

A gamma below 1 is raised to 1, the nearest value DDPOConfig accepts: every run
that took it as its default failed on the worker, so no trained result used it.
A NaN or infinite gamma or beta (the admin never writes one) fails the new
constraint: fix that row by hand, then migrate again."""

from django.db import migrations, models


def gamma_at_least_one(apps, schema_editor):
    apps.get_model("annotate", "Project").objects.filter(gamma__lt=1).update(gamma=1.0)


class Migration(migrations.Migration):

    dependencies = [
        ('annotate', '0005_record_annotation_version'),
    ]

    operations = [
        migrations.RunPython(gamma_at_least_one, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name='project',
            name='project_gamma_positive',
        ),
        migrations.RemoveConstraint(
            model_name='project',
            name='project_beta_positive',
        ),
        migrations.AddConstraint(
            model_name='project',
            constraint=models.CheckConstraint(condition=models.Q(('gamma__gte', 1), ('gamma__lte', 1.7976931348623157e+308)), name='project_gamma_valid', violation_error_message='gamma must be a finite number >= 1.'),
        ),
        migrations.AddConstraint(
            model_name='project',
            constraint=models.CheckConstraint(condition=models.Q(('beta__gt', 0), ('beta__lte', 1.7976931348623157e+308)), name='project_beta_valid', violation_error_message='beta must be a finite number > 0.'),
        ),
    ]
