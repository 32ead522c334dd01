"""Stored outcomes of writes sent with an Idempotency-Key (``annotate.apis.idempotency``)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotate', '0008_annotation_record_due_idx'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='IdempotentRequest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=255)),
                ('method', models.CharField(max_length=8)),
                ('path', models.CharField(max_length=2000)),
                ('request_fingerprint', models.CharField(help_text='sha256 of the canonical query and body.', max_length=64)),
                ('status_code', models.PositiveSmallIntegerField(help_text="Null only inside the request's own transaction.", null=True)),
                ('body', models.JSONField(blank=True, null=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'indexes': [models.Index(fields=['created_at'], name='idempotent_request_created_idx')],
                'constraints': [models.UniqueConstraint(fields=('user', 'key'), name='idempotent_request_user_key_unique')],
            },
        ),
    ]
