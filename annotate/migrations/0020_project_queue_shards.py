"""``ProjectQueue`` becomes ``QUEUE_SHARDS`` rows per project (a submit closing a response updates its shard's row,
not the project's one row that every such submit queued on); each project's count moves to shard 0."""
from django.db import migrations, models
import django.db.models.deletion


def counts_move(apps, schema_editor):
    old = apps.get_model("annotate", "ProjectQueueUnsharded")
    new = apps.get_model("annotate", "ProjectQueue")
    new.objects.bulk_create(new(project_id=row.project_id, shard=0, open_responses=row.open_responses)
                            for row in old.objects.all())


def counts_move_back(apps, schema_editor):
    old = apps.get_model("annotate", "ProjectQueueUnsharded")
    new = apps.get_model("annotate", "ProjectQueue")
    totals = {}
    for row in new.objects.all():
        totals[row.project_id] = totals.get(row.project_id, 0) + row.open_responses
    old.objects.bulk_create(old(project_id=pk, open_responses=total) for pk, total in totals.items())


class Migration(migrations.Migration):

    dependencies = [
        ("annotate", "0019_response_model_name"),
    ]

    operations = [
        migrations.RenameModel("ProjectQueue", "ProjectQueueUnsharded"),
        migrations.CreateModel(
            name="ProjectQueue",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("shard", models.PositiveSmallIntegerField()),
                ("open_responses", models.IntegerField(default=0)),
                ("project", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                              related_name="queue_shards", to="annotate.project")),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("project", "shard"), name="project_queue_shard_unique"),
                    models.CheckConstraint(condition=models.Q(("shard__lt", 16)), name="project_queue_shard_range"),
                ],
            },
        ),
        migrations.RunPython(counts_move, counts_move_back),
        migrations.DeleteModel("ProjectQueueUnsharded"),
    ]
