"""evaluate_checkpoint: a clear error without a checkpoint."""
import pytest
from django.core.management import CommandError, call_command


def test_a_project_without_active_checkpoint_is_a_clear_error(db):
    with pytest.raises(CommandError, match="no active checkpoint"):
        call_command("evaluate_checkpoint", "--project", "shapes")
    with pytest.raises(CommandError, match="No checkpoint 99"):
        call_command("evaluate_checkpoint", "--checkpoint", "99")
