"""Reads of the annotate app, one module per concern."""
from annotate.selectors.projects import project_list

__all__ = ["project_list"]
