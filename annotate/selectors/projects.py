from annotate.models import Project
from annotate.roles import project_ids_with_role


def project_list(*, user):
    """Projects the user works on; staff see all."""
    projects = Project.objects.all()
    ids = project_ids_with_role(user=user)
    if ids is not None:
        projects = projects.filter(pk__in=ids)
    return projects.order_by("name")
