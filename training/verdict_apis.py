"""The annotators' verdict per checkpoint (``training.verdicts``), for the reviewers and managers of a project.

Outsiders get 404, annotators of the project 403 (``project_for_role``).
"""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.apis.tables import CsvNegotiation, csv_download
from annotate.permissions import project_for_role
from annotate.roles import REVIEWERS
from training.verdicts import checkpoint_verdict_get, project_verdicts


class VerdictCategoryOutputSerializer(serializers.Serializer):
    segments = serializers.IntegerField(help_text="Segments of this category.")
    judgements = serializers.IntegerField(help_text="Judgements with at least one segment of this category.")
    rate = serializers.FloatField(help_text="Their share of all counted judgements.")


class VerdictOutputSerializer(serializers.Serializer):
    checkpoint = serializers.IntegerField(source="checkpoint.id")
    name = serializers.CharField(source="checkpoint.name")
    parent = serializers.IntegerField(source="checkpoint.parent_id", allow_null=True)
    created_at = serializers.DateTimeField(source="checkpoint.created_at")
    judgements = serializers.IntegerField(help_text="Submitted or accepted annotations of its answers (the unit).")
    answers = serializers.IntegerField(help_text="Distinct answers those judgements are of.")
    hallucinated = serializers.IntegerField(help_text="Judgements with at least one segment.")
    rate = serializers.FloatField(allow_null=True, help_text="hallucinated / judgements; null without judgements.")
    ci_low = serializers.FloatField(allow_null=True, help_text="95% Wilson score interval of rate, low end.")
    ci_high = serializers.FloatField(allow_null=True, help_text="95% Wilson score interval of rate, high end.")
    segments = serializers.IntegerField()
    words = serializers.IntegerField(help_text="Whitespace-split words of the judged answers, once per judgement.")
    segments_per_100_words = serializers.FloatField(allow_null=True)
    by_category = serializers.DictField(child=VerdictCategoryOutputSerializer())


class CheckpointVerdictApi(APIView):
    @extend_schema(responses=VerdictOutputSerializer)
    def get(self, request, checkpoint_id):
        checkpoint, verdict = checkpoint_verdict_get(user=request.user, checkpoint_id=checkpoint_id)
        return Response(VerdictOutputSerializer({"checkpoint": checkpoint, **verdict}).data)


class ProjectVerdictsApi(APIView):
    @extend_schema(responses=VerdictOutputSerializer(many=True))
    def get(self, request, project_id):
        project = project_for_role(user=request.user, project_id=project_id, roles=REVIEWERS)
        return Response(VerdictOutputSerializer(project_verdicts(project=project), many=True).data)


ANY_CATEGORY = "(any)"
VERDICT_CSV_COLUMNS = ["checkpoint", "name", "category", "judgements", "answers", "with_category", "rate", "ci_low",
                       "ci_high", "segments", "segments_per_100_words"]


def verdict_csv_rows(verdicts):
    """A row per checkpoint and category, after the checkpoint's ``(any)`` row (its overall figures): the judgements
    with a segment of that category (any: ``hallucinated``), their share of the judgements, its segments."""
    for verdict in verdicts:
        checkpoint = {"checkpoint": verdict["checkpoint"].pk, "name": verdict["checkpoint"].name,
                      "judgements": verdict["judgements"], "answers": verdict["answers"]}
        yield {**checkpoint, "category": ANY_CATEGORY, "with_category": verdict["hallucinated"],
               **{key: verdict[key] for key in ("rate", "ci_low", "ci_high", "segments", "segments_per_100_words")}}
        for category, figures in verdict["by_category"].items():
            yield {**checkpoint, "category": category, "with_category": figures["judgements"], "rate": figures["rate"],
                   "ci_low": None, "ci_high": None, "segments": figures["segments"], "segments_per_100_words": None}


class ProjectVerdictsCsvApi(APIView):
    """The verdicts of ``ProjectVerdictsApi`` as CSV, by category (the team analytics page links it)."""

    content_negotiation_class = CsvNegotiation

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request, project_id):
        project = project_for_role(user=request.user, project_id=project_id, roles=REVIEWERS)
        return csv_download(name=f"{project.name} verdicts", columns=VERDICT_CSV_COLUMNS,
                            rows=verdict_csv_rows(project_verdicts(project=project)))
