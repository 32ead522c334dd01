"""Inter-annotator agreement of a project, for its reviewers and managers."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response as HttpResponse
from rest_framework.views import APIView

from annotate.permissions import project_for_role
from annotate.roles import REVIEWERS
from annotate.selectors.agreement import agreement_for_project


class AgreementPairOutputSerializer(serializers.Serializer):
    annotator_a = serializers.CharField()
    annotator_b = serializers.CharField()
    f1 = serializers.FloatField(help_text="Mean span-level character-overlap F1 over the responses both annotated.")
    responses = serializers.IntegerField()
    matched_spans = serializers.IntegerField(help_text="Pairs of touching segments of the two, over their common responses.")
    category_agreement = serializers.FloatField(allow_null=True, help_text="Share of matched spans with the same category.")
    rewrite_agreement = serializers.FloatField(
        allow_null=True, help_text="Share of matched spans with the same rewrite (whitespace normalised).")


class AgreementOutputSerializer(serializers.Serializer):
    overall_f1 = serializers.FloatField(allow_null=True, help_text="Mean over every (response, pair); null without pairs.")
    matched_spans = serializers.IntegerField()
    category_agreement = serializers.FloatField(allow_null=True, help_text="Pooled over every matched span; null without one.")
    rewrite_agreement = serializers.FloatField(allow_null=True, help_text="Pooled over every matched span; null without one.")
    alpha = serializers.FloatField(
        allow_null=True, help_text="Krippendorff's alpha, nominal, on per-code-point labels (inside a marked span or "
                                   "not); null when undefined (annotate.selectors.agreement).")
    pairs = AgreementPairOutputSerializer(many=True)


class ProjectAgreementApi(APIView):
    @extend_schema(responses=AgreementOutputSerializer)
    def get(self, request, project_id):
        project = project_for_role(user=request.user, project_id=project_id, roles=REVIEWERS)
        return HttpResponse(AgreementOutputSerializer(agreement_for_project(project=project)).data)
