"""The queue by index: the task's project repeated on it, who claimed which response, the count of open responses.

Not atomic: PostgreSQL alters no table whose rows the same transaction updated (pending foreign-key checks), so the
backfills commit before the column becomes NOT NULL and the indexes are built.
"""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery


def tasks_project_fill(apps, schema_editor):
    Response = apps.get_model("annotate", "Response")
    AnnotationTask = apps.get_model("annotate", "AnnotationTask")
    AnnotationTask.objects.update(project_id=Subquery(
        Response.objects.filter(pk=OuterRef("response_id")).values("prompt__project_id")[:1]))


def claims_and_counts_fill(apps, schema_editor):
    """A claim for every (response, user) with an annotation or an open lease there; each project's open responses."""
    AnnotationTask = apps.get_model("annotate", "AnnotationTask")
    Annotation = apps.get_model("annotate", "Annotation")
    ResponseClaim = apps.get_model("annotate", "ResponseClaim")
    ProjectQueue = apps.get_model("annotate", "ProjectQueue")
    Project = apps.get_model("annotate", "Project")
    open_slots = AnnotationTask.objects.filter(status="open")
    open_response_ids = set(open_slots.values_list("response_id", flat=True).distinct())
    pairs = set(Annotation.objects.values_list("task__project_id", "task__response_id", "annotator_id").distinct())
    pairs |= set(open_slots.filter(leased_to__isnull=False).values_list("project_id", "response_id", "leased_to_id"))
    ResponseClaim.objects.bulk_create(
        (ResponseClaim(project_id=project_id, response_id=response_id, user_id=user_id,
                       response_open=response_id in open_response_ids)
         for project_id, response_id, user_id in pairs), batch_size=5000)
    counts = dict(open_slots.values("project_id").annotate(n=Count("response_id", distinct=True)).values_list("project_id", "n"))
    ProjectQueue.objects.bulk_create(ProjectQueue(project_id=pk, open_responses=counts.get(pk, 0))
                                     for pk in Project.objects.values_list("pk", flat=True))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('annotate', '0015_consensus'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='annotationtask',
            name='project',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='annotate.project'),
        ),
        migrations.RunPython(tasks_project_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='annotationtask',
            name='project',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='annotate.project'),
        ),
        migrations.CreateModel(
            name='ProjectQueue',
            fields=[
                ('project', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='queue', serialize=False, to='annotate.project')),
                ('open_responses', models.IntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name='ResponseClaim',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('response_open', models.BooleanField(default=True)),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='annotate.project')),
                ('response', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='claims', to='annotate.response')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='response_claims', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'indexes': [models.Index(condition=models.Q(('response_open', True)), fields=['project', 'user'], name='claim_open_idx')],
                'constraints': [models.UniqueConstraint(fields=('response', 'user'), name='one_claim_per_response_and_user')],
            },
        ),
        migrations.RunPython(claims_and_counts_fill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name='annotationtask',
            index=models.Index(models.F('project'), models.ExpressionWrapper(models.Q(('leased_to__isnull', False)), output_field=models.BooleanField()), models.F('response'), models.F('slot'), condition=models.Q(('status', 'open')), name='task_open_idx'),
        ),
    ]
