"""Stored outcomes of writes sent with an ``Idempotency-Key``: look one up, store one, purge old ones.

The outcome's row is inserted last, in the transaction of the write, with
its answer: a second request with the same key (a retry while the first
still runs) waits on the unique index ``(user, key)`` until the first
commits, then finds the key taken, rolls back what it wrote and answers
the first's outcome; if the first rolled back, the second's insert goes
through as if it were first.
"""
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework import status

from annotate.models import IdempotentRequest
from config.errors import ApplicationError
from config.rows import ModelColumns

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


_COLUMNS = ModelColumns(IdempotentRequest, "r")
_STORE_SQL = (
    "INSERT INTO {table} (user_id, {key}, method, path, request_fingerprint, status_code, body, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, {key}) DO NOTHING RETURNING id"
)


def idempotent_request_stored(*, user, key, method, path, fingerprint) -> IdempotentRequest | None:
    """The outcome stored under ``key`` for this request, or None when there is none (an expired one is deleted:
    the key is free again). 422 naming the header when the key was used for another request."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:  # on every request with a key: in SQL, not built with the ORM each time
        cursor.execute(f"SELECT {_COLUMNS.sql} FROM {quote(IdempotentRequest._meta.db_table)} r "
                       f"WHERE r.user_id = %s AND r.{quote('key')} = %s", [user.pk, key])
        row = cursor.fetchone()
    if row is None:
        return None
    stored = _COLUMNS.build(row)
    if stored.created_at < timezone.now() - _ttl():  # expired, not purged yet
        IdempotentRequest.objects.filter(pk=stored.pk).delete()
        return None
    if (stored.method, stored.path, stored.request_fingerprint) != (method, path, fingerprint):
        raise ApplicationError(
            f"{HEADER} {key!r} was used for another request ({stored.method} {stored.path} with another query or "
            "body); a new request needs a new key.",
            fields={HEADER: ["Already used for another request."]}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    return stored


def idempotent_request_store(*, user, key, method, path, fingerprint, status_code, body) -> bool:
    """Store the outcome of this request under ``key`` (in its transaction, before it commits); False when the key
    is taken: by an outcome committed before, or committed by a concurrent request with the key while this insert
    waited on the unique index ``(user, key)``. The caller then rolls back what it wrote and answers the stored
    outcome (``idempotent_request_stored``).

    One statement: ``ON CONFLICT DO NOTHING`` (PostgreSQL, SQLite 3.35+) needs no savepoint around an insert that
    may fail.
    """
    quote = connection.ops.quote_name
    sql = _STORE_SQL.format(table=quote(IdempotentRequest._meta.db_table), key=quote("key"))
    body = IdempotentRequest._meta.get_field("body").get_db_prep_save(body, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk, key, method, path, fingerprint, status_code, body,
                             connection.ops.adapt_datetimefield_value(timezone.now())])
        return cursor.fetchone() is not None


def idempotent_requests_purge(*, ttl: timedelta | None = None) -> int:
    """Delete the outcomes older than ``ttl`` (default ``IDEMPOTENCY_KEY_TTL_HOURS``); returns how many."""
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=timezone.now() - (ttl or _ttl())).delete()
    return deleted
