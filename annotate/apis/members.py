"""Members of a project, for its managers: ``/api/projects/<id>/members/`` (list, add or create an account) and
``/api/projects/<id>/members/<user_id>/`` (change the role, remove). Members without the manager role get 403,
anyone else 404 (``project_for_role``)."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import Membership, Role
from annotate.permissions import project_for_role
from annotate.roles import MANAGERS
from annotate.selectors.projects import project_member_list
from annotate.services.members import (
    membership_add,
    membership_remove,
    membership_role_set,
)


class MemberOutputSerializer(serializers.ModelSerializer):
    user = serializers.IntegerField(source="user_id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["user", "username", "role"]


class MemberAddInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)
    password = serializers.CharField(required=False, trim_whitespace=False, write_only=True,
                                     help_text="Creates the account (Django's password validators apply).")


class MemberRoleInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class _ProjectMembersApi(APIView):
    permission_classes = [IsAuthenticated]

    def managed_project(self, project_id):
        return project_for_role(user=self.request.user, project_id=project_id, roles=MANAGERS)


class ProjectMemberListApi(_ProjectMembersApi):
    @extend_schema(responses=MemberOutputSerializer(many=True))
    def get(self, request, project_id):
        project = self.managed_project(project_id)
        return Response(MemberOutputSerializer(project_member_list(project=project), many=True).data)

    @extend_schema(request=MemberAddInputSerializer, responses={201: MemberOutputSerializer})
    def post(self, request, project_id):
        project = self.managed_project(project_id)
        data = MemberAddInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_add(project=project, **data.validated_data)
        return Response(MemberOutputSerializer(membership).data, status=status.HTTP_201_CREATED)


class ProjectMemberDetailApi(_ProjectMembersApi):
    def membership(self, project_id, user_id):
        project = self.managed_project(project_id)
        return get_object_or_404(Membership.objects.select_related("user"), project=project, user_id=user_id)

    @extend_schema(request=MemberRoleInputSerializer, responses=MemberOutputSerializer)
    def patch(self, request, project_id, user_id):
        membership = self.membership(project_id, user_id)
        data = MemberRoleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(MemberOutputSerializer(membership_role_set(membership=membership, **data.validated_data)).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, project_id, user_id):
        membership_remove(membership=self.membership(project_id, user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
