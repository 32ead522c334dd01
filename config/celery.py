"""The Celery app: two queues, ``default`` (records, exports) and ``gpu`` (training, generation)."""
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fix-up closes every database connection before and after each task unless this is set, so
# each record sync paid for a new PostgreSQL backend (its start-up cost more CPU than the sync's queries:
# benchmarks/api_load.py's CPU account). With it the fix-up closes them only every 1000 tasks, and the
# handlers below treat a task like Django's request cycle: a connection past CONN_MAX_AGE, or left unusable by
# an error (a terminated backend), is closed and the next query opens a fresh one; CONN_HEALTH_CHECKS applies.
app.conf["CELERY_DB_REUSE_MAX"] = 1000


@task_prerun.connect
@task_postrun.connect
def _connections_recycle(sender=None, **kwargs):
    """Not for an eager task: it runs inside its caller's request or transaction (the fix-up skips those too)."""
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


app.autodiscover_tasks()
