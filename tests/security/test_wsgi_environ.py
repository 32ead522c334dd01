"""The web server (granian) starts each request's environ from its process environment; the WSGI application
takes those variables out, so ``request.META`` never carries ``SECRET_KEY``, ``DATABASE_URL`` and the like."""
import io
import os

import pytest
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path

seen = {}


def meta_view(request):
    seen.update(request.META)
    return HttpResponse("ok")


urlpatterns = [path("meta/", meta_view)]


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"])
def test_process_variables_never_reach_request_meta(monkeypatch):
    from config.wsgi import application

    monkeypatch.setenv("DATABASE_URL", "postgres://someone:hunter2@db.internal/app")
    request = {"REQUEST_METHOD": "GET", "PATH_INFO": "/meta/", "QUERY_STRING": "a=1", "SERVER_NAME": "testserver",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
               "HTTP_HOST": "testserver", "HTTP_USER_AGENT": "granian-test", "CONTENT_LENGTH": "0",
               "wsgi.input": io.BytesIO(), "wsgi.url_scheme": "http", "wsgi.errors": io.StringIO()}
    environ = {**os.environ, **request}  # what granian hands the application
    statuses = []
    body = b"".join(application(environ, lambda status, headers, exc_info=None: statuses.append(status)))

    assert statuses == ["200 OK"], body
    assert not {"DATABASE_URL", "PATH", "HOME"} & seen.keys()
    assert {name: seen[name] for name in request if not name.startswith("wsgi.")} == {
        name: value for name, value in request.items() if not name.startswith("wsgi.")}
