"""The annotator's queue: take the next task, reload the one held, skip it."""
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response as HttpResponse
from rest_framework.views import APIView

from annotate.apis.annotations import AnnotationOutputSerializer
from annotate.apis.idempotency import IDEMPOTENCY_KEY_PARAMETER, IDEMPOTENCY_RESPONSES, idempotent
from config.fields import IdField
from config.output import serialized
from annotate.permissions import project_for_role
from annotate.selectors.tasks import task_detail, task_get_leased
from annotate.services.queue import task_next, task_skip


class TaskResponseOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField(help_text="The answer to correct; offsets are its code points.")
    written_by = serializers.CharField(help_text="The checkpoint that wrote it, or the model an upload credited it to "
                                                 "('' when neither is known).")


class TaskPromptOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    question = serializers.CharField()
    image_url = serializers.SerializerMethodField()

    def get_image_url(self, prompt) -> str | None:
        return prompt.image.file.url if prompt.image else None


class TaskQueueOutputSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="The caller's submitted judgements in the project.")
    remaining = serializers.IntegerField(help_text="Responses still to do by the caller, the held one included.")


class TaskOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="task.id")
    project = serializers.IntegerField(source="task.project_id")
    slot = serializers.IntegerField(source="task.slot")
    lease_expires_at = serializers.DateTimeField(source="task.lease_expires_at")
    response = TaskResponseOutputSerializer(source="task.response")
    prompt = TaskPromptOutputSerializer(source="task.response.prompt")
    annotation = AnnotationOutputSerializer(allow_null=True, help_text="The caller's annotation (draft) on this task.")
    queue = TaskQueueOutputSerializer()


class TaskNextQuerySerializer(serializers.Serializer):
    project = IdField()


class TaskSkipInputSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True, default="", max_length=2000)


class TaskNextApi(APIView):
    @extend_schema(
        parameters=[TaskNextQuerySerializer, IDEMPOTENCY_KEY_PARAMETER],
        request=None,
        responses={200: TaskOutputSerializer, 204: OpenApiResponse(description="Nothing left for the caller."),
                   **IDEMPOTENCY_RESPONSES},
    )
    @idempotent
    def post(self, request):
        query = TaskNextQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        project = project_for_role(user=request.user, project_id=query.validated_data["project"])
        task = task_next(user=request.user, project=project)
        if task is None:
            return HttpResponse(status=status.HTTP_204_NO_CONTENT)
        return HttpResponse(serialized(TaskOutputSerializer, task_detail(user=request.user, task=task)))


class TaskDetailApi(APIView):
    @extend_schema(responses=TaskOutputSerializer)
    def get(self, request, task_id):
        task = task_get_leased(user=request.user, task_id=task_id)
        return HttpResponse(serialized(TaskOutputSerializer, task_detail(user=request.user, task=task)))


class TaskSkipApi(APIView):
    @extend_schema(
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=TaskSkipInputSerializer,
        responses={200: AnnotationOutputSerializer, **IDEMPOTENCY_RESPONSES},
    )
    @idempotent
    def post(self, request, task_id):
        data = TaskSkipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        annotation = task_skip(user=request.user, task_id=task_id, reason=data.validated_data["reason"])
        return HttpResponse(serialized(AnnotationOutputSerializer, annotation))
