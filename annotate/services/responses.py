"""Responses enter the annotation queue here, whoever wrote them (a generation batch, the demo's habit corpus)."""
from django.db import connection, transaction

from annotate.models import AnnotationTask, Response
from annotate.services.queue import queue_open_responses_add

# Slots written at once from which the queue's tables are analysed on commit (PostgreSQL).
ANALYZE_AFTER_SLOTS = 1000


def _tables_analyze() -> None:
    """Fresh statistics for the queue's tables, so that no query meets a large table autovacuum has not looked at
    yet (a claim, whose plan follows an index, does not depend on them; the reads around it do)."""
    with connection.cursor() as cursor:
        for model in (Response, AnnotationTask):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


@transaction.atomic
def responses_create(*, project, responses: list[Response]) -> list[Response]:
    """Store unsaved ``responses`` (of ``project``'s prompts) with ``project.overlap`` annotation slots each."""
    responses = Response.objects.bulk_create(responses)
    tasks = AnnotationTask.objects.bulk_create(
        AnnotationTask(project=project, response=response, slot=slot)
        for response in responses for slot in range(project.overlap)
    )
    if responses:
        queue_open_responses_add(project_id=project.pk, response_id=responses[0].pk, count=len(responses))
    if connection.vendor == "postgresql" and len(tasks) >= ANALYZE_AFTER_SLOTS:
        transaction.on_commit(_tables_analyze)
    return responses
