from django.contrib.auth import get_user_model
from django.db import transaction

from annotate.models import Membership, Project, Role
from annotate.roles import ensure_role_groups
from annotate.services.members import password_check
from config.errors import ApplicationError

CREATED, MEMBER, SKIPPED = "created", "member already", "skipped"


@transaction.atomic
def project_team_create(*, project_name, password, annotators=2, reviewers=1, managers=1, prefix=""):
    """Create (or reuse) a project with users ``<prefix><role><n>`` for each role; returns
    ``(project, [(username, role, outcome)])``, outcome ``created``, ``member already`` or ``skipped``.

    Existing users are never changed: one already in this project stays as it is; any other is skipped (not
    added, its password, flags and memberships untouched), so a team never takes over another's logins. A
    manager is a role on this project, not staff. The password passes Django's validators (400 naming it)."""
    counts = {"annotators": annotators, "reviewers": reviewers, "managers": managers}
    negative = {name: [f"Must be 0 or more, got {count}."] for name, count in counts.items() if count < 0}
    if negative:
        raise ApplicationError("Team sizes cannot be negative.", fields=negative)
    User = get_user_model()
    wanted = [(f"{prefix}{role}{number}", role)
              for role, count in ((Role.ANNOTATOR, annotators), (Role.REVIEWER, reviewers), (Role.MANAGER, managers))
              for number in range(1, count + 1)]
    existing = {user.get_username(): user for user in User.objects.filter(username__in=[name for name, _ in wanted])}
    for username, _ in wanted:  # every name: a team of skipped users still says its password is weak
        password_check(username=username, password=password)
    groups = ensure_role_groups()
    project, _ = Project.objects.get_or_create(name=project_name)
    logins = []
    for username, role in wanted:
        user = existing.get(username)
        if user is None:
            user = User.objects.create_user(username=username, password=password)
            user.groups.add(groups[role])
            Membership.objects.create(project=project, user=user, role=role)
            logins.append((username, role, CREATED))
        elif Membership.objects.filter(project=project, user=user).exists():
            logins.append((username, role, MEMBER))
        else:
            logins.append((username, role, SKIPPED))
    return project, logins
