"""``/healthz``: 200 when the database and the Celery broker answer, 503 naming what failed."""
from django.db import connection
from django.http import JsonResponse
from rest_framework import status

from config.celery import app as celery_app


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
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unhealthy", **checks}, status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)
