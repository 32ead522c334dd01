"""The rebuild_records management command."""
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotate.models import PreferenceRecord
from tests.factories import make_project
from tests.records.conftest import RED_TO_GREEN, make_annotation

pytestmark = pytest.mark.django_db


def test_rebuild_command_with_project_filter(capsys):
    """rebuild_records --project syncs that project's annotations only and aligns its imported records."""
    project, other = make_project(), make_project()
    eligible = make_annotation(project=project, status="accepted", segments=[RED_TO_GREEN])
    make_annotation(project=project, status="submitted", segments=[RED_TO_GREEN])
    elsewhere = make_annotation(project=other, status="accepted", segments=[RED_TO_GREEN])
    imported = PreferenceRecord.objects.create(
        project=project, question="q", rejected="A red circle.", chosen="A blue circle.", source="imported", import_key="k")
    call_command("rebuild_records", project=project.name)
    assert list(PreferenceRecord.objects.filter(source="annotation").values_list("annotation", flat=True)) == [eligible.pk]
    imported.refresh_from_db()
    assert (imported.rejected_spans, imported.chosen_spans, imported.version) == ([[2, 5]], [[2, 6]], 2)
    assert "annotations" in capsys.readouterr().err  # the tqdm bar
    call_command("rebuild_records")
    assert PreferenceRecord.objects.filter(annotation=elsewhere).exists()
    with pytest.raises(CommandError, match="No project named 'nope'"):
        call_command("rebuild_records", project="nope")
