"""Roles: Django groups ``annotator``, ``reviewer``, ``manager`` plus per-project memberships.

Superusers and staff are managers everywhere (the administrators; only they
reach ``/admin/``). Everyone else, managers included, acts only in the projects
they are a member of, in the role of that membership: a manager of one project
is no one in another. Screens and endpoints check a role
with ``annotate.permissions.project_for_role``; selectors narrow their rows
with ``project_ids_with_role``.
"""
from django.contrib.auth.models import Group, Permission

from annotate.models import Membership, Role

ROLE_GROUPS = tuple(Role.values)
ANY_MEMBER = (Role.ANNOTATOR, Role.REVIEWER, Role.MANAGER)
REVIEWERS = (Role.REVIEWER, Role.MANAGER)
MANAGERS = (Role.MANAGER,)


# The role groups mirror memberships for the admin's permission screens; the admin itself is for staff only
# (staff without model permissions would see an empty admin, so the manager group carries them).
MANAGER_ADMIN_APPS = ("annotate", "training")


def ensure_role_groups():
    """The role groups; the manager group holds every permission of ``MANAGER_ADMIN_APPS`` (added: what an
    admin gave the group besides stays)."""
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ROLE_GROUPS}
    groups[Role.MANAGER].permissions.add(*Permission.objects.filter(content_type__app_label__in=MANAGER_ADMIN_APPS))
    return groups


def user_is_staff(user):
    return bool(user and user.is_authenticated and (user.is_superuser or user.is_staff))


def project_ids_with_role(*, user, roles=ANY_MEMBER):
    """Ids of the projects where ``user`` holds one of ``roles`` (a subquery); None means all (staff and superusers)."""
    if user_is_staff(user):
        return None
    return Membership.objects.filter(user=user, role__in=roles).values("project_id")


def user_project_role(*, user, project_id):
    """The caller's role in a project (staff: ``manager``), or None for outsiders."""
    if user_is_staff(user):
        return Role.MANAGER
    if not (user and user.is_authenticated):
        return None
    return Membership.objects.filter(user=user, project_id=project_id).values_list("role", flat=True).first()
