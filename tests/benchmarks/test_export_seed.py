"""benchmarks/export.py's COPY seeder writes every column of a model, whatever migrations add."""
from datetime import datetime, timezone

import pytest

from annotate.models import PreferenceRecord
from benchmarks.export import copy_plan

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
GIVEN = ["project_id", "response_id", "image_id", "question", "chosen", "rejected"]


def test_plan_covers_every_column_but_the_serial_key():
    """Given columns first, then the rest at their defaults, auto_now times, or NULL."""
    columns, shared = copy_plan(PreferenceRecord, GIVEN, NOW)
    every = {f.column for f in PreferenceRecord._meta.concrete_fields} - {"id"}
    assert columns[:len(GIVEN)] == GIVEN and set(columns) == every and len(columns) == len(every)
    values = dict(zip(columns[len(GIVEN):], shared))
    assert values["version"] == 1 and values["status"] == "active" and values["import_key"] == ""
    assert values["created_at"] == values["updated_at"] == NOW and values["annotation_id"] is None


def test_a_required_column_left_out_stops_the_seeding_by_name():
    """NOT NULL without a default: a clear stop, not a failed COPY halfway."""
    with pytest.raises(SystemExit, match="column question is NOT NULL"):
        copy_plan(PreferenceRecord, [name for name in GIVEN if name != "question"], NOW)
    with pytest.raises(SystemExit, match="has no column colour"):
        copy_plan(PreferenceRecord, [*GIVEN, "colour"], NOW)
