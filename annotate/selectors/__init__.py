"""Reads of the annotate app, one module per concern."""
from annotate.selectors.projects import project_list
from annotate.selectors.records import record_export_list

__all__ = ["project_list", "record_export_list"]
