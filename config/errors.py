"""One error shape for the whole API: ``{"error": message, "fields": {...}}``.

Services raise ``ApplicationError`` (a domain rule broke) or Django's
``ValidationError``; views never build error bodies by hand.
"""
from django.conf import settings
from django.core.exceptions import (
    PermissionDenied, RequestDataTooBig, SuspiciousOperation, ValidationError as DjangoValidationError,
)
from django.http import Http404, JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


API_NOT_FOUND = "api-not-found"


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE allows."
    default_code = "body_too_large"


class ApplicationError(Exception):
    """A request that breaks a domain rule; ``status`` is the HTTP code to answer with; ``extra`` adds keys to the
    body beside ``error`` and ``fields`` (an upload's ``rejected`` lines)."""

    def __init__(self, message, *, fields=None, status=status.HTTP_400_BAD_REQUEST, extra=None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.status = status
        self.extra = extra or {}


def api_exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response({**exc.extra, "error": exc.message, "fields": exc.fields}, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {}
        exc = exceptions.ValidationError(fields or {"non_field_errors": exc.messages})
    elif isinstance(exc, Http404):  # the message of ``project_for_role`` and the selectors reaches the client
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    elif isinstance(exc, RequestDataTooBig):  # DRF refuses the body; Django alone would answer an HTML 400
        exc = BodyTooLarge(f"The request body is larger than the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
    elif isinstance(exc, SuspiciousOperation):  # too many form fields or files, a bad multipart body...
        exc = exceptions.ParseError(str(exc))
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        names = ", ".join(detail)
        response.data = {"error": f"Invalid input: {names}", "fields": detail}
    else:
        response.data = {"error": str(exc.detail) if hasattr(exc, "detail") else str(exc), "fields": {}}
    return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def _is_endpoint(path) -> bool:
    try:
        return resolve(path).url_name != API_NOT_FOUND
    except Resolver404:
        return False


@csrf_exempt  # it changes nothing; CSRF's HTML 403 would hide the JSON 404 from a POST
def api_not_found(request):
    """The last ``/api/`` route: an unknown path answers 404 in the API's error shape whatever DEBUG is
    (``handler404`` alone is skipped with DEBUG on, which shows Django's HTML page listing every route)."""
    message = f"No endpoint {request.path}."
    if not request.path.endswith("/") and _is_endpoint(f"{request.path}/"):  # APPEND_SLASH cannot redirect a POST
        message = f"No endpoint {request.path}; the endpoint is {request.path}/ (with the slash)."
    return JsonResponse({"error": message, "fields": {}}, status=status.HTTP_404_NOT_FOUND)


def page_not_found(request, exception):
    """``handler404``: a 404 raised under ``/api/`` answers in the API's error shape, other paths Django's page."""
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """``handler500``: an API client gets the error shape (the traceback goes to the log, never to the client)."""
    if _is_api(request):
        return JsonResponse({"error": "Server error; it is logged.", "fields": {}},
                            status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return defaults.server_error(request)
