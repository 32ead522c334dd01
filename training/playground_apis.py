"""Playground API for reviewers and managers: ask one or two checkpoints about an image, follow the answers,
send one to the annotation queue.

A project where the caller is no member, and a request of such a project,
answer 404; an annotator of the project gets 403 on create, 404 on a request.
"""
import json

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.fields import empty
from rest_framework.response import Response
from rest_framework.utils import html
from rest_framework.views import APIView

from annotate.permissions import project_for_role
from annotate.roles import REVIEWERS
from config.fields import IdField
from training import playground_selectors as selectors
from training import playground_services as services
from training.models import PlaygroundRequest


class JsonObjectField(serializers.DictField):
    """A JSON object; in a multipart form (a request with an uploaded image), its JSON text."""

    def get_value(self, dictionary):
        if html.is_html_input(dictionary):
            return dictionary.get(self.field_name, empty)
        return super().get_value(dictionary)

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                self.fail("not_a_dict", input_type="text that is not JSON")
        return super().to_internal_value(data)


class PlaygroundCreateInputSerializer(serializers.Serializer):
    project = IdField(required=False, help_text="Default: the first checkpoint's project.")
    checkpoints = serializers.ListField(child=IdField(), min_length=1, max_length=2,
                                        help_text="One or two checkpoint ids of the project (shared ones too).")
    image_id = IdField(required=False, help_text="An image of the project's prompts or records.")
    image = serializers.FileField(required=False, help_text="Or an image file (multipart).")
    question = serializers.CharField(max_length=services.MAX_QUESTION_CHARS)
    sampling = JsonObjectField(required=False, help_text="temperature, top_p, max_new_tokens, seed (a JSON "
                               "object; JSON text in a multipart form).")


class PlaygroundSendInputSerializer(serializers.Serializer):
    checkpoint = IdField()
    marks = serializers.JSONField(required=False, help_text="[[start, end], ...]: code-point ranges of the "
                                  "answer marked as hallucination-prone.")


class PlaygroundCheckpointOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    is_active = serializers.BooleanField()


class PlaygroundAnswerOutputSerializer(serializers.Serializer):
    checkpoint = PlaygroundCheckpointOutputSerializer()
    text = serializers.CharField(allow_null=True, help_text="None until the checkpoint has answered.")
    sent = serializers.DictField(allow_null=True, help_text="{response, marks} once sent to the annotation queue.")


class PlaygroundWaitingOutputSerializer(serializers.Serializer):
    kind = serializers.CharField()
    id = serializers.IntegerField(allow_null=True, help_text="None for another project's job.")
    status = serializers.CharField()
    label = serializers.CharField()


class PlaygroundOutputSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()
    answers = serializers.SerializerMethodField()
    waiting_behind = serializers.SerializerMethodField()
    sampling = serializers.DictField(source="params")

    class Meta:
        model = PlaygroundRequest
        fields = ["id", "project", "status", "progress", "error", "question", "image_id", "image_url", "sampling",
                  "answers", "waiting_behind", "created_at", "started_at", "finished_at"]

    def get_image_url(self, request) -> str | None:
        return request.image.file.url if request.image else None

    @extend_schema_field(PlaygroundAnswerOutputSerializer(many=True))
    def get_answers(self, request):
        return [{"checkpoint": {"id": c.pk, "name": c.name, "is_active": c.is_active},
                 "text": request.answers.get(str(c.pk)), "sent": request.sent.get(str(c.pk))}
                for c in request.checkpoints]

    @extend_schema_field(PlaygroundWaitingOutputSerializer(many=True))
    def get_waiting_behind(self, request):
        return selectors.playground_waiting_behind(request=request)


class PlaygroundSendOutputSerializer(serializers.Serializer):
    response = serializers.IntegerField(source="pk")
    prompt = serializers.IntegerField(source="prompt_id")
    tasks = serializers.IntegerField(source="tasks.count")


def _project(user, values):
    """The project asked about (default: the first checkpoint's), if the caller reviews or manages it."""
    project_id = values.get("project") or selectors.checkpoint_project_id(checkpoint_id=values["checkpoints"][0])
    if project_id is None:
        raise serializers.ValidationError({"project": ["Required when the first checkpoint is no project's."]})
    return project_for_role(user=user, project_id=project_id, roles=REVIEWERS)


class PlaygroundCreateApi(APIView):
    @extend_schema(request={"application/json": PlaygroundCreateInputSerializer,
                            "multipart/form-data": PlaygroundCreateInputSerializer},
                   responses={201: PlaygroundOutputSerializer})
    def post(self, request):
        data = PlaygroundCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        playground = services.playground_request_create(
            project=_project(request.user, values), checkpoint_ids=values["checkpoints"],
            question=values["question"], image_id=values.get("image_id"), upload=values.get("image"),
            sampling=values.get("sampling"), created_by=request.user,
        )
        return Response(PlaygroundOutputSerializer(playground).data, status=status.HTTP_201_CREATED)


class PlaygroundDetailApi(APIView):
    @extend_schema(responses=PlaygroundOutputSerializer)
    def get(self, request, request_id):
        playground = get_object_or_404(selectors.playground_request_list(user=request.user), pk=request_id)
        return Response(PlaygroundOutputSerializer(playground).data)


class PlaygroundSendApi(APIView):
    @extend_schema(request=PlaygroundSendInputSerializer, responses={201: PlaygroundSendOutputSerializer})
    def post(self, request, request_id):
        playground = get_object_or_404(selectors.playground_request_list(user=request.user), pk=request_id)
        data = PlaygroundSendInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        response = services.playground_answer_send(request=playground, checkpoint_id=data.validated_data["checkpoint"],
                                                   marks=data.validated_data.get("marks"))
        return Response(PlaygroundSendOutputSerializer(response).data, status=status.HTTP_201_CREATED)
