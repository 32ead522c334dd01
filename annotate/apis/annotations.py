"""Annotations: list, create or update a draft, submit, PATCH with ``version``, read one.

Double submit: a POST or PATCH on a task whose annotation by the caller is
already submitted (or reviewed) answers **409** with the existing
annotation's id in ``fields.task``; nothing new is created. A retry sent
with the first request's ``Idempotency-Key`` gets the first answer instead
(``annotate.apis.idempotency``).
"""
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response as HttpResponse
from rest_framework.views import APIView

from training.ddpo.alignment import apply_segments
from config.fields import IdField
from config.output import serialized
from annotate.apis.idempotency import IDEMPOTENCY_KEY_PARAMETER, IDEMPOTENCY_RESPONSES, idempotent
from annotate.models import AnnotationStatus
from annotate.selectors.annotations import annotation_get, annotation_list
from annotate.services.annotations import annotation_save, annotation_update

MAX_SEGMENTS = 1000


class AnnotationSegmentSerializer(serializers.Serializer):
    start = serializers.IntegerField(min_value=0, help_text="Code-point offset in the answer (inclusive).")
    end = serializers.IntegerField(min_value=0, help_text="Code-point offset (exclusive); start == end inserts.")
    category = serializers.CharField()
    replacement = serializers.CharField(allow_blank=True, default="", help_text="The rewrite; empty deletes.")


@extend_schema_field(AnnotationSegmentSerializer(many=True))
class AnnotationSegmentsField(serializers.ListField):
    """Segments as sent; each is checked by ``segments_validate``, which names the bad field (``segments[1].end``)."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.JSONField(), max_length=MAX_SEGMENTS, **kwargs)


class AnnotationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    task = serializers.IntegerField(source="task_id")
    response = serializers.IntegerField(source="task.response_id")
    annotator = serializers.CharField(source="annotator.username")
    status = serializers.ChoiceField(choices=AnnotationStatus.choices)
    no_hallucination = serializers.BooleanField()
    version = serializers.IntegerField()
    segments = AnnotationSegmentSerializer(many=True, source="segments.all")
    chosen = serializers.SerializerMethodField(help_text="The answer with the segments applied.")
    skip_reason = serializers.CharField()
    review_reason = serializers.CharField(help_text="The last rejection's reason, kept while the annotator fixes it and after.")
    reviewer = serializers.CharField(source="reviewer.username", allow_null=True, default=None)
    reviewed_at = serializers.DateTimeField(allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()

    def get_chosen(self, annotation) -> str:
        if hasattr(annotation, "chosen"):  # a write just applied its segments (segments_validate)
            return annotation.chosen
        segments = [
            {"start": s.start, "end": s.end, "category": s.category, "replacement": s.replacement}
            for s in annotation.segments.all()
        ]
        return apply_segments(annotation.task.response.text, segments)[0]


class AnnotationListFilterSerializer(serializers.Serializer):
    """The whitelist of list filters (exact matches); other query parameters are ignored."""

    project = IdField(required=False)
    status = serializers.ChoiceField(choices=AnnotationStatus.choices, required=False)
    task = IdField(required=False)
    response = IdField(required=False)


class AnnotationCreateInputSerializer(serializers.Serializer):
    task = IdField()
    segments = AnnotationSegmentsField(default=list)
    submit = serializers.BooleanField(default=False, help_text="False saves a draft.")
    no_hallucination = serializers.BooleanField(
        default=False, help_text="The answer is correct as it stands: final like a submit; segments must be empty."
    )


class AnnotationUpdateInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, help_text="The version this edit is based on; a stale one answers 409.")
    segments = AnnotationSegmentsField(required=False)
    submit = serializers.BooleanField(default=False)
    no_hallucination = serializers.BooleanField(required=False)


class AnnotationListCreateApi(GenericAPIView):
    serializer_class = AnnotationOutputSerializer

    @extend_schema(parameters=[AnnotationListFilterSerializer], responses=AnnotationOutputSerializer(many=True))
    def get(self, request):
        filters = AnnotationListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(annotation_list(user=request.user, filters=filters.validated_data))
        return self.get_paginated_response(AnnotationOutputSerializer(page, many=True).data)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=AnnotationCreateInputSerializer,
        responses={
            201: AnnotationOutputSerializer,
            200: OpenApiResponse(AnnotationOutputSerializer, description="The caller's draft on that task, updated."),
            409: OpenApiResponse(description="The caller's annotation on that task is already submitted."),
            **IDEMPOTENCY_RESPONSES,
        },
    )
    @idempotent
    def post(self, request):
        data = AnnotationCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        annotation, created = annotation_save(user=request.user, task_id=data.validated_data.pop("task"), **data.validated_data)
        return HttpResponse(
            serialized(AnnotationOutputSerializer, annotation), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class AnnotationDetailApi(APIView):
    @extend_schema(responses=AnnotationOutputSerializer)
    def get(self, request, annotation_id):
        return HttpResponse(serialized(AnnotationOutputSerializer, annotation_get(user=request.user, annotation_id=annotation_id)))

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=AnnotationUpdateInputSerializer,
        responses={200: AnnotationOutputSerializer, 409: OpenApiResponse(description="Stale version, or already submitted."),
                   **IDEMPOTENCY_RESPONSES},
    )
    @idempotent
    def patch(self, request, annotation_id):
        data = AnnotationUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        annotation = annotation_update(user=request.user, annotation_id=annotation_id, **data.validated_data)
        return HttpResponse(serialized(AnnotationOutputSerializer, annotation))
