"""Reads of the annotate app, one module per concern."""
from annotate.selectors.projects import project_list
from annotate.selectors.records import record_export_list
from annotate.selectors.agreement import agreement_for_project
from annotate.selectors.annotations import annotation_get, annotation_list, review_next
from annotate.selectors.tasks import task_available, task_get_leased

__all__ = ["project_list", "record_export_list", "agreement_for_project", "annotation_get", "annotation_list",
           "review_next", "task_available", "task_get_leased"]
