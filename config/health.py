"""``/healthz``: 200 when the database and the Celery broker answer, 503 when one does not.

Anyone gets the status; staff also get each check, with the error of a failed one (its text names hosts
and ports, so it is not for anonymous callers; it goes to the log as well).
"""
import logging

from django.db import connection
from django.http import JsonResponse
from rest_framework import status

from config.celery import app as celery_app

logger = logging.getLogger(__name__)


def database_ok():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


def broker_ok():
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return True


def healthz(request):
    checks = {}
    for name, check in (("database", database_ok), ("broker", broker_ok)):
        try:
            checks[name] = "ok" if check() else "failed"
        except Exception as exc:  # any failure is reported, never raised
            checks[name] = f"failed: {exc.__class__.__name__}: {exc}"
            logger.warning("Health check %s %s", name, checks[name])
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "unhealthy"}
    if request.user.is_staff or request.user.is_superuser:
        body.update(checks)
    return JsonResponse(body, status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)
