"""Input fields shared by every API endpoint."""
from rest_framework import serializers

# Row ids are 64-bit; a larger number would overflow the database driver
# (SQLite raises OverflowError), so it is refused as input instead.
MAX_ID = 2**63 - 1


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
