"""Writes of the annotate app, one module per concern; the names other code relies on are re-exported here."""
from annotate.services.team import project_team_create

__all__ = ["project_team_create"]
