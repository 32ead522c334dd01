"""``/api/projects/``: the caller's projects; ``POST`` creates one (staff, or whoever manages a project already;
the creator becomes its manager). Its settings: ``training.apis.ProjectSettingsApi`` at ``/api/projects/<id>/``."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import Project
from annotate.permissions import ManagesAProject
from annotate.selectors.projects import project_list
from annotate.services.projects import (
    MAX_CATEGORIES,
    MAX_INSTRUCTIONS_CHARS,
    MAX_LEASE_MINUTES,
    MAX_OVERLAP,
    project_create,
)
from config.fields import finite


class ProjectOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "name", "instructions", "categories", "overlap", "record_trigger", "record_policy",
                  "consensus_threshold", "gamma", "beta"]


class ProjectCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=Project._meta.get_field("name").max_length)
    instructions = serializers.CharField(required=False, allow_blank=True, max_length=MAX_INSTRUCTIONS_CHARS,
                                         help_text="Markdown (rendered safely).")
    categories = serializers.ListField(child=serializers.CharField(allow_blank=True, trim_whitespace=False),
                                       max_length=MAX_CATEGORIES, required=False, help_text="1-9 names; the annotator's key is the position.")
    overlap = serializers.IntegerField(min_value=1, max_value=MAX_OVERLAP, required=False)
    lease_minutes = serializers.IntegerField(min_value=1, max_value=MAX_LEASE_MINUTES, required=False)
    record_trigger = serializers.ChoiceField(choices=Project._meta.get_field("record_trigger").choices, required=False)
    gamma = serializers.FloatField(min_value=1, validators=[finite], required=False)
    beta = serializers.FloatField(min_value=1e-12, validators=[finite], required=False)


class ProjectListApi(APIView):
    permission_classes = [IsAuthenticated]

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsAuthenticated(), ManagesAProject()]
        return super().get_permissions()

    @extend_schema(responses=ProjectOutputSerializer(many=True))
    def get(self, request):
        # DESIGN.md: a plain list
        return Response(ProjectOutputSerializer(project_list(user=request.user), many=True).data)

    @extend_schema(request=ProjectCreateInputSerializer, responses={201: ProjectOutputSerializer})
    def post(self, request):
        data = ProjectCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(user=request.user, **data.validated_data)
        return Response(ProjectOutputSerializer(project).data, status=status.HTTP_201_CREATED)
