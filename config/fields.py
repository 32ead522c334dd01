"""Input fields shared by every API endpoint."""
import math

from rest_framework import serializers

# Row ids are 64-bit; a larger number would overflow the database driver
# (SQLite raises OverflowError), so it is refused as input instead.
MAX_ID = 2**63 - 1


def is_int64(value) -> bool:
    """An integer (not a bool) that fits a 64-bit signed column or parquet int64."""
    return type(value) is int and -MAX_ID - 1 <= value <= MAX_ID


class IdField(serializers.IntegerField):
    """A row id from the client: a positive 64-bit integer, else a 400 naming the field."""

    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)


class IdConverter:
    """``<id:name>`` in URL patterns: at most 18 digits, so an id in a path always fits a 64-bit column."""

    regex = "[0-9]{1,18}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(value)


def unstorable_text(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None: PostgreSQL's text and JSON refuse NUL, UTF-8 refuses lone
    surrogates. DRF's CharField checks both; raw JSON input (segments, configs, imported files) needs this."""
    if "\x00" in value:
        return "Contains a NUL character (\\u0000), which cannot be stored."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Contains a lone surrogate (not valid Unicode), which cannot be stored."
    return None


def unstorable_json(value) -> str | None:
    """``unstorable_text`` of the first bad string (or key) anywhere in a JSON value, else None.
    Walks with its own stack: a deeply nested value must be a 400, not a RecursionError."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if problem := unstorable_text(item):
                return problem
        elif isinstance(item, dict):
            pending += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            pending += item
    return None


def finite(value):
    """A serializer validator: NaN and infinities are no settings (a float field lets them through)."""
    if not math.isfinite(value):
        raise serializers.ValidationError("Must be a finite number.")
    return value
