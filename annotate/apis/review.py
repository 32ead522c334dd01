"""Review: the next response with submitted annotations side by side; accept (optionally edited) or reject.

With ``mode=adjudicate``: the next disputed answer of a "consensus" project, its judgements side by side with the
clusters they disagree on; ``POST /api/consensus/ID/adjudicate/`` decides it.
"""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response as HttpResponse
from rest_framework.views import APIView

from annotate.apis.annotations import AnnotationOutputSerializer, AnnotationSegmentSerializer, AnnotationSegmentsField
from config.fields import IdField
from annotate.apis.tasks import TaskPromptOutputSerializer, TaskResponseOutputSerializer
from annotate.permissions import project_for_role
from annotate.roles import REVIEWERS
from annotate.models import Consensus, ConsensusStatus
from annotate.selectors.annotations import (
    adjudication_next, adjudication_waiting_count, annotation_get, review_next, review_waiting_counts,
)
from annotate.services.review import annotation_accept, annotation_reject, consensus_adjudicate


class ReviewNextQuerySerializer(serializers.Serializer):
    project = IdField()
    mode = serializers.ChoiceField(choices=["review", "adjudicate"], default="review",
                                   help_text="adjudicate: the next disputed answer instead of submitted annotations.")


class ReviewWaitingOutputSerializer(serializers.Serializer):
    answers = serializers.IntegerField()
    annotations = serializers.IntegerField()
    disputed = serializers.IntegerField(help_text="Answers of a consensus project waiting for this reviewer to adjudicate.")


class ClusterVersionOutputSerializer(serializers.Serializer):
    segments = AnnotationSegmentSerializer(many=True)
    annotations = serializers.ListField(child=serializers.IntegerField())
    annotators = serializers.ListField(child=serializers.CharField())


class ClusterNoneOutputSerializer(serializers.Serializer):
    annotation = serializers.IntegerField()
    annotator = serializers.CharField()


class ConsensusClusterOutputSerializer(serializers.Serializer):
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    votes = serializers.IntegerField(help_text="Judgements with a segment in the cluster.")
    judgements = serializers.IntegerField()
    decision = serializers.ChoiceField(choices=["kept", "dropped", "disputed"])
    reason = serializers.CharField()
    versions = ClusterVersionOutputSerializer(many=True, help_text="Distinct versions (exact spans, rewrites) and who wrote each.")
    none = ClusterNoneOutputSerializer(many=True, help_text="Judgements that mark nothing here.")
    segments = AnnotationSegmentSerializer(many=True, help_text="The agreed segments when kept.")


class ConsensusOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    response = serializers.IntegerField(source="response_id")
    status = serializers.ChoiceField(choices=ConsensusStatus.choices)
    basis = serializers.CharField(help_text="Fingerprint of the judgements; send it back with the adjudication.")
    clusters = ConsensusClusterOutputSerializer(many=True)
    segments = AnnotationSegmentSerializer(many=True, help_text="What the answer's record is built from.")
    adjudicated_by = serializers.CharField(source="adjudicated_by.username", allow_null=True, default=None)
    adjudicated_at = serializers.DateTimeField(allow_null=True)
    record = serializers.SerializerMethodField()

    def get_record(self, consensus) -> int | None:
        record = getattr(consensus, "record", None)
        return record.pk if record is not None and record.status == "active" else None


class ReviewNextOutputSerializer(serializers.Serializer):
    response = TaskResponseOutputSerializer()
    prompt = TaskPromptOutputSerializer(source="response.prompt")
    annotations = AnnotationOutputSerializer(many=True)
    waiting = ReviewWaitingOutputSerializer(help_text="What waits for this reviewer in the project, this answer included.")
    consensus = ConsensusOutputSerializer(allow_null=True, default=None, help_text="mode=adjudicate: the disputed consensus.")


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
        consensus = None
        if query.validated_data["mode"] == "adjudicate":
            found = adjudication_next(project=project, reviewer=request.user)
            if found is not None:
                consensus, annotations = found
                response = consensus.response
        else:
            found = review_next(project=project, reviewer=request.user)
            if found is not None:
                response, annotations = found
        if found is None:
            return HttpResponse(status=status.HTTP_204_NO_CONTENT)
        waiting = {**review_waiting_counts(project=project, reviewer=request.user),
                   "disputed": adjudication_waiting_count(project=project, reviewer=request.user)}
        return HttpResponse(ReviewNextOutputSerializer(
            {"response": response, "annotations": annotations, "waiting": waiting, "consensus": consensus}).data)


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


class ConsensusAdjudicateInputSerializer(serializers.Serializer):
    basis = serializers.CharField(max_length=64, help_text="The consensus's basis as loaded (409 when the judgements changed).")
    segments = AnnotationSegmentsField(help_text="The answer's segments as decided: the picked versions, or an edit.")


class ConsensusAdjudicateApi(APIView):
    @extend_schema(
        request=ConsensusAdjudicateInputSerializer,
        responses={200: ConsensusOutputSerializer, 409: OpenApiResponse(description="Not disputed, or stale basis.")},
    )
    def post(self, request, consensus_id):
        consensus = get_object_or_404(Consensus.objects.select_related("response__prompt"), pk=consensus_id)
        project_for_role(user=request.user, project_id=consensus.response.prompt.project_id, roles=REVIEWERS)
        data = ConsensusAdjudicateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        consensus = consensus_adjudicate(reviewer=request.user, consensus_id=consensus_id, **data.validated_data)
        return HttpResponse(ConsensusOutputSerializer(consensus).data)
