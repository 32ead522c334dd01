"""Review: the next response with submitted annotations side by side; accept (optionally edited) or reject."""
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response as HttpResponse
from rest_framework.views import APIView

from annotate.apis.annotations import AnnotationOutputSerializer, AnnotationSegmentsField
from config.fields import IdField
from annotate.apis.tasks import TaskPromptOutputSerializer, TaskResponseOutputSerializer
from annotate.permissions import project_for_role
from annotate.roles import REVIEWERS
from annotate.selectors.annotations import annotation_get, review_next, review_waiting_counts
from annotate.services.review import annotation_accept, annotation_reject


class ReviewNextQuerySerializer(serializers.Serializer):
    project = IdField()


class ReviewWaitingOutputSerializer(serializers.Serializer):
    answers = serializers.IntegerField()
    annotations = serializers.IntegerField()


class ReviewNextOutputSerializer(serializers.Serializer):
    response = TaskResponseOutputSerializer()
    prompt = TaskPromptOutputSerializer(source="response.prompt")
    annotations = AnnotationOutputSerializer(many=True)
    waiting = ReviewWaitingOutputSerializer(help_text="What waits for this reviewer in the project, this answer included.")


class AnnotationAcceptInputSerializer(serializers.Serializer):
    segments = AnnotationSegmentsField(required=False, help_text="Edit-then-accept: these replace the annotator's segments.")


class AnnotationRejectInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


def _reviewable(user, annotation_id):
    """The annotation if the caller may review it: 404 when they can't see it, 403 when they only see their own."""
    annotation = annotation_get(user=user, annotation_id=annotation_id)
    project_for_role(user=user, project_id=annotation.task.response.prompt.project_id, roles=REVIEWERS)
    return annotation


class ReviewNextApi(APIView):
    @extend_schema(
        parameters=[ReviewNextQuerySerializer],
        responses={200: ReviewNextOutputSerializer, 204: OpenApiResponse(description="Nothing awaits review.")},
    )
    def get(self, request):
        query = ReviewNextQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        project = project_for_role(user=request.user, project_id=query.validated_data["project"], roles=REVIEWERS)
        found = review_next(project=project, reviewer=request.user)
        if found is None:
            return HttpResponse(status=status.HTTP_204_NO_CONTENT)
        response, annotations = found
        waiting = review_waiting_counts(project=project, reviewer=request.user)
        return HttpResponse(ReviewNextOutputSerializer(
            {"response": response, "annotations": annotations, "waiting": waiting}).data)


class AnnotationAcceptApi(APIView):
    @extend_schema(
        request=AnnotationAcceptInputSerializer,
        responses={200: AnnotationOutputSerializer, 409: OpenApiResponse(description="Not a submitted annotation.")},
    )
    def post(self, request, annotation_id):
        _reviewable(request.user, annotation_id)
        data = AnnotationAcceptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        segments = data.validated_data.get("segments")
        annotation = annotation_accept(reviewer=request.user, annotation_id=annotation_id, segments=segments)
        return HttpResponse(AnnotationOutputSerializer(annotation).data)


class AnnotationRejectApi(APIView):
    @extend_schema(
        request=AnnotationRejectInputSerializer,
        responses={200: AnnotationOutputSerializer, 409: OpenApiResponse(description="Not a submitted annotation.")},
    )
    def post(self, request, annotation_id):
        _reviewable(request.user, annotation_id)
        data = AnnotationRejectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reason = data.validated_data["reason"]
        annotation = annotation_reject(reviewer=request.user, annotation_id=annotation_id, reason=reason)
        return HttpResponse(AnnotationOutputSerializer(annotation).data)
