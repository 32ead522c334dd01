"""``@idempotent``: a write view answered in one transaction, and replayed for a retry with its ``Idempotency-Key``.

Without the header the view runs in one transaction and builds its answer
inside it, from what it wrote: once the transaction commits nothing reads
the database again, so a connection lost after the commit cannot turn a
stored write into a 500.

With the header the outcome is stored in that same transaction (see
``annotate.services.idempotency``); a retry with the key gets it back with
``Idempotent-Replayed: true`` and writes nothing. Stored outcomes are the
2xx answers and the 4xx the view itself gives (validation, a stale version,
a task no longer held: what that request did, which a retry must hear
again). Never a 5xx or an unexpected error: those roll back with the write,
so a retry runs the request anew.
"""
import functools

from django.db import IntegrityError, transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import status
from rest_framework.response import Response as HttpResponse

from annotate.services.idempotency import (
    HEADER,
    MAX_KEY_LENGTH,
    idempotency_key_clean,
    idempotent_request_store,
    idempotent_request_stored,
    request_fingerprint,
)

REPLAYED_HEADER = "Idempotent-Replayed"

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description=(
        f"Optional, 1-{MAX_KEY_LENGTH} printable ASCII characters (a UUID4 per logical request). A retry with the "
        "same key (same method, path, query and body) gets the first request's stored status and body, with "
        f"`{REPLAYED_HEADER}: true`, and writes nothing: safe after a lost response. 2xx and 4xx answers are "
        "stored, never 5xx. The same key with another request answers 422; a malformed key 400. Keys are "
        "per user and kept IDEMPOTENCY_KEY_TTL_HOURS (default 24)."
    ),
)
IDEMPOTENCY_RESPONSES = {
    422: OpenApiResponse(description=f"The {HEADER} was already used for another request."),
}


class _Rollback(Exception):
    """Leaves the request's transaction, rolling back what the view wrote; ``response``: the view's 4xx answer, or
    None when a concurrent request with the key stored its outcome first."""

    def __init__(self, response=None):
        super().__init__()
        self.response = response


def _replay(stored):
    return HttpResponse(stored.body, status=stored.status_code, headers={REPLAYED_HEADER: "true"})


def idempotent(view_method):
    """Run a DRF view method in one transaction; with an ``Idempotency-Key`` store or replay its outcome.

    With a key, one transaction: look the key up (a stored outcome is replayed, the view does not run), run the
    view, insert its outcome under the key. A request that finds the key taken at that insert (a duplicate that
    ran alongside, whose insert committed first) rolls back and replays that outcome. A 4xx rolls back what the
    view wrote and stores the answer in a transaction of its own.
    """

    @functools.wraps(view_method)
    def wrapper(view, request, *args, **kwargs):
        key = idempotency_key_clean(request.headers.get(HEADER))
        if key is None:
            with transaction.atomic():
                return view_method(view, request, *args, **kwargs)
        identity = {"user": request.user, "key": key, "method": request.method, "path": request.path,
                    "fingerprint": request_fingerprint(query=list(request.query_params.lists()), body=request.data)}
        for _ in range(3):  # again only after a concurrent duplicate won, or an expired outcome was dropped
            try:
                with transaction.atomic():
                    stored = idempotent_request_stored(**identity)
                    if stored is not None:
                        return _replay(stored)
                    try:
                        response = view_method(view, request, *args, **kwargs)
                    except Exception as error:
                        response = view.handle_exception(error)  # the API's error shape; re-raises what it cannot
                        if response.status_code >= status.HTTP_500_INTERNAL_SERVER_ERROR:
                            raise
                        raise _Rollback(response) from error
                    if idempotent_request_store(**identity, status_code=response.status_code, body=response.data):
                        return response
                    raise _Rollback()
            except _Rollback as rollback:
                if rollback.response is not None:
                    with transaction.atomic():
                        if idempotent_request_store(**identity, status_code=rollback.response.status_code,
                                                    body=rollback.response.data):
                            return rollback.response
        raise IntegrityError(f"{HEADER} {key!r}: no outcome stored or replayed after three rounds.")

    return wrapper
