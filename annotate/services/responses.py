"""Responses enter the annotation queue here, whoever wrote them (a generation batch, the demo's habit corpus)."""
from django.db import transaction

from annotate.models import AnnotationTask, Response


@transaction.atomic
def responses_create(*, project, responses: list[Response]) -> list[Response]:
    """Store unsaved ``responses`` (of ``project``'s prompts) with ``project.overlap`` annotation slots each."""
    responses = Response.objects.bulk_create(responses)
    AnnotationTask.objects.bulk_create(
        AnnotationTask(response=response, slot=slot) for response in responses for slot in range(project.overlap)
    )
    return responses
