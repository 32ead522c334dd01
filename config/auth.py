"""Logins: the brute-force lockout on password logins, and API tokens that expire and that their owner revokes
(the token endpoint: ``config.apis``).

No view here: DRF imports this module for ``DEFAULT_AUTHENTICATION_CLASSES`` while its views module loads.
"""
import hashlib

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.core.cache import cache
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


def _token_cache_key(key):
    # A digest, not the key itself: a shared cache (Redis) then holds nothing a client could present.
    return "api-token:" + hashlib.sha256(key.encode()).hexdigest()


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication; a token older than ``API_TOKEN_TTL`` is a 401.

    A token found is kept in Django's cache for ``API_TOKEN_CACHE_SECONDS`` (its user with it), so a client's
    requests in a row cost no query to authenticate. Expiry is checked on every request. ``token_revoke`` and
    ``token_get_or_rotate`` drop the entry; with a cache each process keeps for itself (the default, local
    memory), another process may still accept a revoked token, or a user made inactive, until its entry times
    out: at most ``API_TOKEN_CACHE_SECONDS``. Set it to 0 to look every token up.
    """

    def authenticate_credentials(self, key):
        cache_key = _token_cache_key(key)
        found = cache.get(cache_key)
        if found is None:
            found = super().authenticate_credentials(key)
            if settings.API_TOKEN_CACHE_SECONDS > 0:
                cache.set(cache_key, found, timeout=settings.API_TOKEN_CACHE_SECONDS)
        user, token = found
        if token_expires_at(token) <= timezone.now():
            raise AuthenticationFailed("The token has expired; ask for a new one with POST /api/auth/token/.")
        return user, token


def token_get_or_rotate(*, user) -> Token:
    """The user's token; an expired one is replaced by a new key (a concurrent login gets the same new one)."""
    token, _ = Token.objects.get_or_create(user=user)
    if token_expires_at(token) > timezone.now():
        return token
    Token.objects.filter(pk=token.pk).delete()
    cache.delete(_token_cache_key(token.key))
    return Token.objects.get_or_create(user=user)[0]


def token_revoke(*, user) -> None:
    keys = list(Token.objects.filter(user=user).values_list("key", flat=True))
    Token.objects.filter(user=user).delete()
    cache.delete_many([_token_cache_key(key) for key in keys])
