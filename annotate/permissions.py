"""Who may act on a project: outsiders get 404 (the project is not theirs to know), members without the role 403.

``project_for_role`` is the one check, for the API and the screens alike: it
raises Django's ``Http404`` / ``PermissionDenied``, which the API's exception
handler answers in its error shape. Object-level visibility of tasks and
annotations lives in the selectors (``task_get_leased``, ``annotation_visible``):
what a user may not see answers 404, like a row that does not exist.
"""
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404
from rest_framework.permissions import BasePermission

from annotate.models import Membership, Project, Role
from annotate.roles import ANY_MEMBER, MANAGERS, project_ids_with_role, user_is_staff


def project_for_role(*, user, project_id, roles=ANY_MEMBER) -> Project:
    """The project if ``user`` holds one of ``roles`` in it; 404 for outsiders and unknown ids, 403 for the wrong role."""
    if user_is_staff(user):
        role, project = Role.MANAGER, Project.objects.filter(pk=project_id).first()
    else:  # the membership and the project in one query
        member = Membership.objects.filter(project=OuterRef("pk"), user=user).order_by("pk").values("role")[:1]
        project = (Project.objects.filter(pk=project_id).annotate(caller_role=Subquery(member)).first()
                   if user and user.is_authenticated else None)
        role = project.caller_role if project is not None else None
    project = project if role else None
    if project is None:
        raise Http404(f"No project {project_id} of yours.")
    if role not in roles:
        raise PermissionDenied(f"This needs the {' or '.join(roles)} role in project {project_id}.")
    return project


class ManagesAProject(BasePermission):
    """Staff, or a member with the manager role in at least one project (which project: ``project_for_role``)."""

    message = "This needs the manager role."

    def has_permission(self, request, view):
        managed = project_ids_with_role(user=request.user, roles=MANAGERS)
        return managed is None or managed.exists()
