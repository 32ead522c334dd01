"""The platform's own endpoint: API tokens.

``POST /api/auth/token/`` logs in with a username and password through
``authenticate()``, so django-axes' lockout holds here as on ``/login/`` and
``/admin/login/`` (``AUTHENTICATION_BACKENDS`` in settings); a lockout answers
429 in the API's error shape. ``DELETE /api/auth/token/`` revokes the caller's
token.
"""
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.auth import token_expires_at, token_get_or_rotate, token_revoke
from config.errors import ApplicationError


class TokenOutputSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


class TokenApi(APIView):
    """Log in for a token (the same one until it expires or is revoked), or revoke the caller's token."""

    def get_permissions(self):
        return [] if self.request.method == "POST" else [IsAuthenticated()]

    def perform_authentication(self, request):
        if request.method != "POST":  # a login needs only the password: a stale token sent along must not stop it
            super().perform_authentication(request)

    @extend_schema(request=AuthTokenSerializer, responses={
        200: TokenOutputSerializer, 429: OpenApiResponse(description="Too many failed logins: locked for a while.")})
    def post(self, request):
        login = AuthTokenSerializer(data=request.data, context={"request": request})
        if not login.is_valid():
            if getattr(request, "axes_locked_out", False):  # set by django-axes inside authenticate()
                minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
                raise ApplicationError(f"Too many failed logins: locked for {minutes} minutes after the last failure.",
                                       status=status.HTTP_429_TOO_MANY_REQUESTS)
            raise ValidationError(login.errors)
        user = login.validated_data["user"]
        # A token is a login: it sets last_login, and django-axes clears the failures counted so far.
        user_logged_in.send(sender=type(user), request=request, user=user)
        token = token_get_or_rotate(user=user)
        return Response(TokenOutputSerializer({"token": token.key, "expires_at": token_expires_at(token)}).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request):
        token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
