"""The base of the manager endpoints (dataset exchange here, the training API in ``training.apis``).

Staff manage every project; a member with the manager role, that of their
projects. Anyone else gets 403; a project the caller does not manage, existing
or not, answers 404 (``manager_project``). Lists take ``?project=`` (a bad id
is a 400 naming it) and answer a page of the DRF default pagination.
"""
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from annotate.models import Project
from annotate.permissions import ManagesAProject, project_for_role
from annotate.roles import MANAGERS
from config.fields import IdField


class ProjectFilterSerializer(serializers.Serializer):
    project = IdField(required=False, help_text="Only this project's rows.")


class ManagerApi(APIView):
    permission_classes = [IsAuthenticated, ManagesAProject]
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    def project_filter(self) -> int | None:
        """The validated ``?project=`` of a list (None without one)."""
        query = ProjectFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return query.validated_data.get("project")

    def paginated(self, queryset, serializer_class):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(serializer_class(page, many=True, context={"request": self.request}).data)

    def manager_project(self, project_id) -> Project:
        return project_for_role(user=self.request.user, project_id=project_id, roles=MANAGERS)
