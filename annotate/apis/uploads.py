"""Uploads of images and questions into a project, for its managers (``annotate.services.uploads``)."""
from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.permissions import project_for_role
from annotate.roles import MANAGERS
from annotate.services.upload_archive import too_large
from annotate.services.uploads import MAX_TEMPLATES, prompts_upload
from config.errors import ApplicationError

BODY_SLACK_BYTES = 1 << 20  # multipart headers and form fields around the files


class UploadInputSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text=(
        "A zip: images plus manifest.jsonl or manifest.csv (image, question, optional answer, model, more columns "
        "kept in the prompt's origin), or images alone (asked the templates)."))
    images = serializers.ListField(child=serializers.FileField(), required=False, help_text="Image files instead of a zip.")
    templates = serializers.CharField(required=False, allow_blank=True, default="", max_length=1_000_000, help_text=(
        "Images without a manifest: questions, one per line; empty: the shipped detailed-description set."))
    templates_per_image = serializers.IntegerField(min_value=1, max_value=MAX_TEMPLATES, default=1)


class UploadOutputSerializer(serializers.Serializer):
    prompts = serializers.IntegerField(help_text="Prompts created.")
    prompts_existing = serializers.IntegerField(help_text="Rows whose image and question the project already had.")
    images_new = serializers.IntegerField()
    images_reused = serializers.IntegerField(help_text="Images already stored (same sha256).")
    responses = serializers.IntegerField(help_text="Answers queued for annotation.")
    responses_existing = serializers.IntegerField(help_text="Answers the project already had (same prompt, text, model).")
    tasks = serializers.IntegerField(help_text="Annotation slots opened (responses x overlap).")


class ProjectUploadApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": UploadInputSerializer}, responses={201: UploadOutputSerializer})
    def post(self, request, project_id):
        project = project_for_role(user=request.user, project_id=project_id, roles=MANAGERS)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise ApplicationError("The Content-Length header is not a number.",
                                   fields={"Content-Length": ["Must be a number of bytes."]}) from None
        if length > settings.UPLOAD_MAX_ARCHIVE_BYTES + BODY_SLACK_BYTES:  # refused before the body is read
            raise too_large(f"the request has {length} bytes; the limit is {settings.UPLOAD_MAX_ARCHIVE_BYTES} "
                            "(UPLOAD_MAX_ARCHIVE_BYTES).")
        data = UploadInputSerializer(data={**request.data.dict(), "images": request.FILES.getlist("images")})
        data.is_valid(raise_exception=True)
        values = data.validated_data
        archive = values.get("file")
        _, result = prompts_upload(
            project=project, archive=archive, archive_size=archive.size if archive else 0, images=values.get("images", []),
            templates=values["templates"], templates_per_image=values["templates_per_image"],
            label=archive.name if archive else "images")
        return Response(UploadOutputSerializer(result._asdict()).data, status=status.HTTP_201_CREATED)

