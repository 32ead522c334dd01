"""Stored outcomes of writes sent with an ``Idempotency-Key``: claim a key, store the outcome, purge old ones.

The key's row is inserted first, in the transaction of the write: a second
request with the same key (a retry while the first still runs) waits on
the unique index ``(user, key)`` until the first commits, then gets its
outcome; if the first rolled back, the second runs as if it were first.
"""
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection
from django.utils import timezone
from rest_framework import status

from annotate.models import IdempotentRequest
from config.errors import ApplicationError

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = IdempotentRequest._meta.get_field("key").max_length


def idempotency_key_clean(value: str | None) -> str | None:
    """The header's key, or None without one; 400 naming the header unless 1-255 printable ASCII characters."""
    if value is None:
        return None
    problem = None
    if not value:
        problem = "Must not be empty."
    elif len(value) > MAX_KEY_LENGTH:
        problem = f"At most {MAX_KEY_LENGTH} characters; this one has {len(value)}."
    elif not all(" " <= char <= "~" for char in value):
        problem = "Only printable ASCII characters (a UUID is a good key)."
    if problem:
        raise ApplicationError(f"Invalid input: {HEADER}", fields={HEADER: [problem]})
    return value


def request_fingerprint(*, query: list, body) -> str:
    """sha256 of the request's parsed query and body in a canonical JSON form (sorted keys, no spaces)."""
    canonical = json.dumps({"query": sorted(query), "body": body}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _ttl() -> timedelta:
    return timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)


_CLAIM_INSERT_SQL = (
    "INSERT INTO {table} (user_id, {key}, method, path, request_fingerprint, status_code, body, created_at) "
    "VALUES (%s, %s, %s, %s, %s, NULL, NULL, %s) ON CONFLICT (user_id, {key}) DO NOTHING RETURNING id"
)


def _claim_insert(*, user, key, method, path, fingerprint) -> IdempotentRequest | None:
    """The new row for ``key``, or None when the key is taken (committed, or committed while this insert waited
    on the unique index). One statement: ``ON CONFLICT DO NOTHING`` needs no savepoint around a failing insert
    (PostgreSQL and SQLite 3.35+)."""
    now = timezone.now()
    quote = connection.ops.quote_name
    sql = _CLAIM_INSERT_SQL.format(table=quote(IdempotentRequest._meta.db_table), key=quote("key"))
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk, key, method, path, fingerprint, connection.ops.adapt_datetimefield_value(now)])
        row = cursor.fetchone()
    if row is None:
        return None
    claim = IdempotentRequest(pk=row[0], user_id=user.pk, key=key, method=method, path=path,
                              request_fingerprint=fingerprint, created_at=now)
    claim._state.adding = False  # the row exists: a save() updates it
    return claim


def idempotent_request_claim(*, user, key, method, path, fingerprint) -> IdempotentRequest:
    """Take ``key`` for this request, inside the caller's transaction; or return the outcome stored under it.

    The new row has ``status_code`` None: the caller runs the request, then
    ``idempotent_request_finish`` before its transaction commits. A stored
    row has it set: the caller answers with it. An outcome older than
    ``IDEMPOTENCY_KEY_TTL_HOURS`` is gone, and the key is free again. 422
    naming the header when the key was used for another request.
    """
    claim = _claim_insert(user=user, key=key, method=method, path=path, fingerprint=fingerprint)
    if claim is not None:
        return claim
    stored = IdempotentRequest.objects.get(user=user, key=key)  # the key is taken
    if stored.created_at < timezone.now() - _ttl():
        # Expired, not purged yet. Two retries racing here after the TTL: the second insert finds the first's row
        # (a 500, nothing written) and the client's next retry gets the first one's outcome.
        stored.delete()
        claim = _claim_insert(user=user, key=key, method=method, path=path, fingerprint=fingerprint)
        if claim is None:
            raise IntegrityError(f"{HEADER} {key!r} was taken again while its expired outcome was dropped.")
        return claim
    if (stored.method, stored.path, stored.request_fingerprint) != (method, path, fingerprint):
        raise ApplicationError(
            f"{HEADER} {key!r} was used for another request ({stored.method} {stored.path} with another query or "
            "body); a new request needs a new key.",
            fields={HEADER: ["Already used for another request."]}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    return stored


def idempotent_request_finish(*, claim: IdempotentRequest, status_code: int, body) -> None:
    """Store the outcome of the request that claimed the key (in its transaction, before it commits)."""
    claim.status_code, claim.body = status_code, body
    claim.save(update_fields=["status_code", "body"])


def idempotent_requests_purge(*, ttl: timedelta | None = None) -> int:
    """Delete the outcomes older than ``ttl`` (default ``IDEMPOTENCY_KEY_TTL_HOURS``); returns how many."""
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=timezone.now() - (ttl or _ttl())).delete()
    return deleted
