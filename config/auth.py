"""Logins: the brute-force lockout on password logins, and API tokens that expire and that their owner revokes
(the token endpoint: ``config.apis``).

No view here: DRF imports this module for ``DEFAULT_AUTHENTICATION_CLASSES`` while its views module loads.
"""
from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout for every login through a request (the token endpoint, ``/login/``, the admin's).

    ``authenticate()`` without a request (Django's test ``Client.login``, a shell) is no login over the network,
    so there is nothing to count; axes itself would raise instead. Every web path passes its request
    (``tests/security/test_logins.py`` locks each one out).
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def token_expires_at(token):
    return token.created + settings.API_TOKEN_TTL


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication; a token older than ``API_TOKEN_TTL`` is a 401."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token_expires_at(token) <= timezone.now():
            raise AuthenticationFailed("The token has expired; ask for a new one with POST /api/auth/token/.")
        return user, token


def token_get_or_rotate(*, user) -> Token:
    """The user's token; an expired one is replaced by a new key (a concurrent login gets the same new one)."""
    token, _ = Token.objects.get_or_create(user=user)
    if token_expires_at(token) > timezone.now():
        return token
    Token.objects.filter(pk=token.pk).delete()
    return Token.objects.get_or_create(user=user)[0]


def token_revoke(*, user) -> None:
    Token.objects.filter(user=user).delete()
