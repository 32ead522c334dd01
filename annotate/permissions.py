"""Who may act on a project: outsiders get 404 (the project is not theirs to know), members without the role 403.

``project_for_role`` is the one check, for the API and the screens alike: it
raises Django's ``Http404`` / ``PermissionDenied``, which the API's exception
handler answers in its error shape. Object-level visibility of tasks and
annotations lives in the selectors (``task_get_leased``, ``annotation_visible``):
what a user may not see answers 404, like a row that does not exist.
"""
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404
from rest_framework.permissions import BasePermission

from annotate.models import Membership, Project, Role
from annotate.roles import ANY_MEMBER, MANAGERS, project_ids_with_role, user_is_staff
from config.rows import ModelColumns

_PROJECT = ModelColumns(Project, "p")
# Written out: built with the ORM, this one query of every project endpoint cost more Python time than its run.
_PROJECT_ROLE_SQL = ("SELECT " + _PROJECT.sql + ", (SELECT m.role FROM {membership} m WHERE m.project_id = p.id AND "
                     "m.user_id = %s ORDER BY m.id LIMIT 1) FROM {project} p WHERE p.id = %s")


def project_for_role(*, user, project_id, roles=ANY_MEMBER) -> Project:
    """The project if ``user`` holds one of ``roles`` in it; 404 for outsiders and unknown ids, 403 for the wrong role."""
    if not (user and user.is_authenticated) or not 0 < int(project_id) < 2**63:  # an id past bigint: no row
        raise Http404(f"No project {project_id} of yours.")
    tables = {name: connection.ops.quote_name(model._meta.db_table) for name, model in
              (("project", Project), ("membership", Membership))}
    with connection.cursor() as cursor:  # the project and the caller's membership, in one query
        cursor.execute(_PROJECT_ROLE_SQL.format(**tables), [user.pk, project_id])
        row = cursor.fetchone()
    project = _PROJECT.build(row[:-1]) if row is not None else None
    role = Role.MANAGER if user_is_staff(user) else (row[-1] if row is not None else None)
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
