from django.db.models import Case, IntegerField, Value, When

from annotate.models import Project, Role
from annotate.roles import project_ids_with_role


def project_list(*, user):
    """Projects the user works on; staff see all."""
    projects = Project.objects.all()
    ids = project_ids_with_role(user=user)
    if ids is not None:
        projects = projects.filter(pk__in=ids)
    return projects.order_by("name")


def project_member_list(*, project):
    """The project's memberships with their users, managers first, then by username."""
    order = {Role.MANAGER: 0, Role.REVIEWER: 1, Role.ANNOTATOR: 2}
    rank = Case(*[When(role=role, then=Value(n)) for role, n in order.items()], output_field=IntegerField())
    return project.memberships.select_related("user").order_by(rank, "user__username")
