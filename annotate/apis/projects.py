from rest_framework import serializers
from rest_framework.generics import ListAPIView

from annotate.models import Project
from annotate.selectors.projects import project_list


class ProjectOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "name", "instructions", "categories", "overlap", "record_trigger", "record_policy",
                  "consensus_threshold", "gamma", "beta"]


class ProjectListApi(ListAPIView):
    serializer_class = ProjectOutputSerializer
    pagination_class = None  # DESIGN.md: a plain list

    def get_queryset(self):
        return project_list(user=self.request.user)
