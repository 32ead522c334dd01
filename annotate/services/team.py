from django.contrib.auth import get_user_model
from django.db import transaction

from annotate.models import Membership, Project, Role
from annotate.roles import ensure_role_groups


@transaction.atomic
def project_team_create(*, project_name, password, annotators=2, reviewers=1, managers=1):
    """Create (or update) a project with demo users for each role; returns ``(project, [(username, role)])``."""
    groups = ensure_role_groups()
    project, _ = Project.objects.get_or_create(name=project_name)
    User = get_user_model()
    logins = []
    for role, count in ((Role.ANNOTATOR, annotators), (Role.REVIEWER, reviewers), (Role.MANAGER, managers)):
        for number in range(1, count + 1):
            username = f"{role}{number}"
            user, _ = User.objects.get_or_create(username=username)
            user.is_staff = role == Role.MANAGER
            user.set_password(password)
            user.save()
            user.groups.add(groups[role])
            Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
            logins.append((username, role))
    return project, logins
