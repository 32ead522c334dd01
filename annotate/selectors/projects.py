from annotate.models import Project
from annotate.roles import user_is_manager


def project_list(*, user):
    """Projects the user works on; managers see all."""
    projects = Project.objects.all()
    if not user_is_manager(user):
        projects = projects.filter(memberships__user=user).distinct()
    return projects.order_by("name")
