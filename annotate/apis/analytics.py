"""Team analytics of a project (``annotate.selectors.analytics``) for its managers, as JSON and a CSV per table.

Managers only: the figures are per person (speed, skips, rejections), which
is the managers' to see. Members with another role get 403, outsiders 404
(``project_for_role``).
"""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.apis.tables import CsvNegotiation, csv_download
from annotate.permissions import project_for_role
from annotate.roles import MANAGERS
from annotate.selectors.analytics import (
    agreement_by_week, agreement_comparisons, annotator_figures, batch_progress, skip_reason_counts, team_analytics,
)


class BatchOutputSerializer(serializers.Serializer):
    batch = serializers.IntegerField(allow_null=True, help_text="Generation batch; null: answers without one.")
    checkpoint = serializers.IntegerField(allow_null=True, help_text="The checkpoint that wrote the batch.")
    answers = serializers.IntegerField()
    slots = serializers.IntegerField(help_text="Annotation slots (tasks): answers × overlap.")
    open = serializers.IntegerField(help_text="Open slots nobody holds a live lease on.")
    leased = serializers.IntegerField(help_text="Open slots under a lease that has not expired.")
    done = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="Skips (each freed its slot again).")


class AnnotatorOutputSerializer(serializers.Serializer):
    annotator = serializers.CharField()
    submitted = serializers.IntegerField(help_text="Handed in at least once and not skipped.")
    waiting = serializers.IntegerField(help_text="Submitted, waiting for review.")
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField(help_text="Sent back and not fixed yet.")
    sent_back = serializers.IntegerField(help_text="Sent back at least once (a review reason).")
    skipped = serializers.IntegerField()
    median_seconds = serializers.FloatField(allow_null=True, help_text="Median seconds from getting the slot to submit.")
    timed = serializers.IntegerField(help_text="Annotations in the median.")
    untimed = serializers.IntegerField(help_text="Submitted ones left out: no start time, or sent back.")
    skip_reasons = serializers.DictField(child=serializers.IntegerField(), help_text="Skips per reason.")
    mean_f1 = serializers.FloatField(allow_null=True, help_text="Mean span F1 against the other annotators.")
    comparisons = serializers.IntegerField(help_text="Comparisons in mean_f1.")


class AgreementWeekOutputSerializer(serializers.Serializer):
    annotator = serializers.CharField()
    week = serializers.DateField(help_text="The Monday the week starts.")
    mean_f1 = serializers.FloatField()
    comparisons = serializers.IntegerField()


class SkipReasonOutputSerializer(serializers.Serializer):
    annotator = serializers.CharField()
    reason = serializers.CharField()
    count = serializers.IntegerField()


class TeamAnalyticsOutputSerializer(serializers.Serializer):
    batches = BatchOutputSerializer(many=True)
    annotators = AnnotatorOutputSerializer(many=True)
    agreement = AgreementWeekOutputSerializer(many=True)


class ProjectAnalyticsApi(APIView):
    @extend_schema(responses=TeamAnalyticsOutputSerializer)
    def get(self, request, project_id):
        project = project_for_role(user=request.user, project_id=project_id, roles=MANAGERS)
        return Response(TeamAnalyticsOutputSerializer(team_analytics(project=project)).data)


def _annotators(project):
    return annotator_figures(project=project, comparisons=agreement_comparisons(project=project))


# name: (the rows of a project, their serializer: its fields are the columns, in order)
TABLES = {
    "batches": (lambda project: batch_progress(project=project), BatchOutputSerializer),
    "annotators": (_annotators, AnnotatorOutputSerializer),
    "skip-reasons": (lambda project: skip_reason_counts(project=project), SkipReasonOutputSerializer),
    "agreement": (lambda project: agreement_by_week(comparisons=agreement_comparisons(project=project)),
                  AgreementWeekOutputSerializer),
}
CSV_COLUMNS = {name: [field for field in serializer().fields if field != "skip_reasons"]
               for name, (_, serializer) in TABLES.items()}


class ProjectAnalyticsCsvApi(APIView):
    """One table of the analytics as CSV (``skip_reasons`` is its own table, ``skip-reasons``)."""

    content_negotiation_class = CsvNegotiation

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request, project_id, table):
        project = project_for_role(user=request.user, project_id=project_id, roles=MANAGERS)
        rows, _ = TABLES[table]
        return csv_download(name=f"{project.name} {table}", columns=CSV_COLUMNS[table], rows=rows(project))
