from django.contrib.auth import get_user_model
from django.db import transaction

from annotate.models import Membership, Project, Role
from annotate.roles import ensure_role_groups
from config.errors import ApplicationError


@transaction.atomic
def project_team_create(*, project_name, password, annotators=2, reviewers=1, managers=1):
    """Create (or update) a project with users ``<role><n>`` for each role; returns
    ``(project, [(username, role, created)])``. A user that exists already (of another project, say) joins
    with its password and staff flag untouched: one project's team must not take over another's logins."""
    counts = {"annotators": annotators, "reviewers": reviewers, "managers": managers}
    negative = {name: [f"Must be 0 or more, got {count}."] for name, count in counts.items() if count < 0}
    if negative:
        raise ApplicationError("Team sizes cannot be negative.", fields=negative)
    groups = ensure_role_groups()
    project, _ = Project.objects.get_or_create(name=project_name)
    User = get_user_model()
    logins = []
    for role, count in ((Role.ANNOTATOR, annotators), (Role.REVIEWER, reviewers), (Role.MANAGER, managers)):
        for number in range(1, count + 1):
            username = f"{role}{number}"
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.is_staff = role == Role.MANAGER
                user.set_password(password)
                user.save()
            user.groups.add(groups[role])
            Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
            logins.append((username, role, created))
    return project, logins
