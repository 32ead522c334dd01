"""Dataset exchange for managers: streamed export, background export jobs, parquet import.

Who may exchange which project's data: ``ManagerApi`` (as in the training API).
"""
from types import SimpleNamespace

from django.http import FileResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import get_object_or_404
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from annotate.apis.base import ManagerApi, ProjectFilterSerializer
from config.fields import IdField
from annotate.models import ExportFormat, ExportJob, RecordSplit, RecordStatus
from annotate.selectors.records import export_job_list, record_export_list, training_run_project_id
from annotate.services.export_jobs import export_job_create
from annotate.services.exports import export_chunks, export_filename
from annotate.services.imports import dataset_import
from jobs.models import JobStatus

CONTENT_TYPES = {
    ExportFormat.RLHFV_PARQUET: "application/vnd.apache.parquet",
    ExportFormat.RLHFV_JSONL: "application/x-ndjson",
    ExportFormat.TRL_PARQUET: "application/vnd.apache.parquet",
}


class FormatParamNegotiation(DefaultContentNegotiation):
    """Here ``?format=`` names the export format (DESIGN.md), not a DRF renderer."""

    settings = SimpleNamespace(URL_FORMAT_OVERRIDE=None)


class ExportFilterSerializer(serializers.Serializer):
    """The whitelisted filters, as ``record_export_list`` takes them."""

    status = serializers.ChoiceField(choices=[*RecordStatus.values, "all"], default=RecordStatus.ACTIVE)
    created_since = serializers.DateTimeField(required=False)
    created_until = serializers.DateTimeField(required=False)
    generation_batch = IdField(required=False)
    checkpoint = IdField(required=False)
    category = serializers.CharField(required=False, max_length=64)
    reviewed_only = serializers.BooleanField(default=False)
    split = serializers.ChoiceField(choices=RecordSplit.values, required=False,
                                    help_text="Only the records of this side of the held-out split (default: both).")
    training_run = IdField(required=False, help_text=(
        "The records this training run trained on, whatever their status now (409 when some were "
        "re-annotated since: the export would differ from what it trained on)."))


class ExportQuerySerializer(ExportFilterSerializer):
    format = serializers.ChoiceField(choices=ExportFormat.values)
    # Looked up by manager_project: an unknown id and another team's both answer 404.
    project = IdField(required=False, help_text="Required unless training_run names the project.")
    include_segments = serializers.BooleanField(default=False)

    def validate(self, data):
        if "project" not in data and "training_run" not in data:
            raise serializers.ValidationError({"project": ["This field is required."]})
        return data


def _filters(data):
    """The whitelisted filters of validated export input."""
    return {key: data[key] for key in ExportFilterSerializer().fields if key in data}


class ExportProjectMixin:
    def export_project(self, data):
        """The project an export reads: ``project``, or the project of ``training_run``."""
        if "training_run" in data:
            return self.manager_project(training_run_project_id(
                user=self.request.user, training_run=data["training_run"], project_id=data.get("project")))
        return self.manager_project(data["project"])


class ExportApi(ExportProjectMixin, ManagerApi):
    content_negotiation_class = FormatParamNegotiation

    @extend_schema(parameters=[ExportQuerySerializer], responses={(200, "application/octet-stream"): bytes})
    def get(self, request):
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        project, export_format = self.export_project(data), data["format"]
        records = record_export_list(project_id=project.pk, **_filters(data))
        response = StreamingHttpResponse(
            export_chunks(records=records, export_format=export_format, include_segments=data["include_segments"]),
            content_type=CONTENT_TYPES[export_format],
        )
        name = export_filename(project_name=project.name, export_format=export_format)
        response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=name)
        return response


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField()
    project = IdField()


class ImportOutputSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    skipped = serializers.IntegerField()


class ImportApi(ManagerApi):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": ImportInputSerializer}, responses={201: ImportOutputSerializer})
    def post(self, request):
        data = ImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = self.manager_project(data.validated_data["project"])
        result = dataset_import(project=project, file=data.validated_data["file"])
        return Response(ImportOutputSerializer(result._asdict()).data, status=status.HTTP_201_CREATED)


class ExportJobOutputSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = ["id", "project", "format", "filters", "status", "progress", "rows_written", "total_rows",
                  "error", "created_at", "started_at", "finished_at", "download_url"]

    def get_download_url(self, job) -> str | None:
        if job.status != JobStatus.SUCCEEDED or not job.file:
            return None
        return self.context["request"].build_absolute_uri(f"/api/export-jobs/{job.pk}/download/")


class ExportJobListApi(ExportProjectMixin, ManagerApi):
    """Background exports, newest first (``?project=`` narrows); POST queues one (same parameters as ``GET /api/export/``)."""

    @extend_schema(parameters=[ProjectFilterSerializer], responses=ExportJobOutputSerializer(many=True))
    def get(self, request):
        return self.paginated(export_job_list(user=request.user, project_id=self.project_filter()),
                              ExportJobOutputSerializer)

    @extend_schema(request=ExportQuerySerializer, responses={202: ExportJobOutputSerializer})
    def post(self, request):
        data = ExportQuerySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        filters = {key: value.isoformat() if hasattr(value, "isoformat") else value
                   for key, value in _filters(values).items()}
        job = export_job_create(user=request.user, project=self.export_project(values),
                                export_format=values["format"], filters=filters,
                                include_segments=values["include_segments"])
        return Response(ExportJobOutputSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class ExportJobDetailApi(ManagerApi):

    @extend_schema(responses=ExportJobOutputSerializer)
    def get(self, request, pk):
        job = get_object_or_404(export_job_list(user=request.user), pk=pk)
        return Response(ExportJobOutputSerializer(job, context={"request": request}).data)


class ExportJobDownloadApi(ManagerApi):

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, pk):
        job = get_object_or_404(export_job_list(user=request.user), pk=pk, status=JobStatus.SUCCEEDED)
        try:
            stream = job.file.open("rb")
        except FileNotFoundError:  # deleted from storage by hand: gone, not a server fault
            raise NotFound(f"The file of export job {pk} is no longer in storage.")
        return FileResponse(stream, as_attachment=True, filename=job.file.name.rsplit("/", 1)[-1])
