"""Members of a project: add an existing account or create one, change a role, remove a member.

A manager is a role on a project (a ``Membership``), never global staff:
these services never touch ``is_staff`` or ``is_superuser``. A new account's
password passes Django's ``AUTH_PASSWORD_VALIDATORS`` (their messages name
``password``). A project keeps at least one manager among its members.
"""
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from annotate.models import Membership, Role
from config.errors import ApplicationError


def password_check(*, username, password):
    """Django's password validators on a would-be account; 400 naming ``password`` with their messages."""
    try:
        validate_password(password, user=get_user_model()(username=username))
    except ValidationError as exc:
        raise ApplicationError(f"Password refused: {' '.join(exc.messages)}", fields={"password": exc.messages}) from exc


def user_create(*, username, password):
    """A new plain account (not staff); the username must be free and valid, the password pass the validators."""
    User = get_user_model()
    username = (username or "").strip()
    field = User._meta.get_field(User.USERNAME_FIELD)
    try:
        field.clean(username, None)
    except ValidationError as exc:
        raise ApplicationError(f"Invalid username: {' '.join(exc.messages)}", fields={"username": exc.messages}) from exc
    if User.objects.filter(**{f"{User.USERNAME_FIELD}__iexact": username}).exists():
        raise ApplicationError(f"A user named {username!r} exists already: add it without a password.",
                               fields={"username": ["This username is taken."]})
    password_check(username=username, password=password)
    return User.objects.create_user(username=username, password=password)


@transaction.atomic
def membership_add(*, project, username, role, password=None) -> Membership:
    """Add the user named ``username`` as ``role``; with ``password``, create that account first."""
    if role not in Role.values:
        raise ApplicationError(f"No role {role!r}.", fields={"role": [f"One of {', '.join(Role.values)}."]})
    User = get_user_model()
    if password is not None:
        user = user_create(username=username, password=password)
    else:
        user = User.objects.filter(**{User.USERNAME_FIELD: (username or "").strip()}).first()
        if user is None:
            raise ApplicationError(f"No user named {username!r}: give a password to create the account.",
                                   fields={"username": ["No such user."]})
    if Membership.objects.filter(project=project, user=user).exists():
        raise ApplicationError(f"{user.get_username()} is a member already: change the role instead.",
                               fields={"username": ["Already a member."]})
    return Membership.objects.create(project=project, user=user, role=role)


def _managers_lock(membership):
    """Lock the project's manager rows: two concurrent demotions cannot each leave the other as the last one."""
    list(Membership.objects.select_for_update().filter(project_id=membership.project_id, role=Role.MANAGER)
         .values_list("pk", flat=True))


def _last_manager_check(membership):
    others = Membership.objects.filter(project_id=membership.project_id, role=Role.MANAGER).exclude(pk=membership.pk)
    if membership.role == Role.MANAGER and not others.exists():
        raise ApplicationError("A project keeps at least one manager: make someone else manager first.",
                               fields={"role": ["The project's last manager."]}, status=409)


@transaction.atomic
def membership_role_set(*, membership, role) -> Membership:
    if role not in Role.values:
        raise ApplicationError(f"No role {role!r}.", fields={"role": [f"One of {', '.join(Role.values)}."]})
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    _managers_lock(membership)
    if role != Role.MANAGER:
        _last_manager_check(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership) -> None:
    """Remove the member (their account stays; an open lease of theirs lapses as any other)."""
    _managers_lock(membership)
    _last_manager_check(membership)
    membership.delete()
