"""Beat task of stored Idempotency-Key outcomes: thin, the work is in ``annotate.services.idempotency``."""
from celery import shared_task

from annotate.services.idempotency import idempotent_requests_purge as purge


@shared_task(name="annotate.tasks.idempotency.idempotent_requests_purge")
def idempotent_requests_purge():
    """Beat: delete the outcomes past ``IDEMPOTENCY_KEY_TTL_HOURS``; returns how many."""
    return purge()
