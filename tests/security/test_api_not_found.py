"""An unknown ``/api/`` path answers the API's JSON error shape whatever DEBUG is (#18, finding 2).

With DEBUG on, Django skips ``handler404`` and shows its HTML page listing
every route; the last ``/api/`` route answers instead.
"""
import pytest
from rest_framework.test import APIClient

from tests.factories import make_user


@pytest.fixture(params=[True, False], ids=["debug", "no-debug"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.fixture
def clients(db):
    """An anonymous client, a logged-in one and one that sends CSRF-checked requests like a browser."""
    user = make_user(username="lost")
    logged_in = APIClient()
    logged_in.force_login(user)
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(user)
    return {"anonymous": APIClient(), "logged-in": logged_in, "browser": browser}


def assert_error_shape(answer, path):
    assert answer.status_code == 404, (path, answer.content[:300])
    assert answer["Content-Type"] == "application/json", path
    body = answer.json()
    assert set(body) == {"error", "fields"} and body["fields"] == {} and path in body["error"]
    return body["error"]


@pytest.mark.parametrize("method", ["get", "post", "delete"])
@pytest.mark.parametrize("path", ["/api/", "/api/nope/", "/api/nope", "/api/tasks/x/", "/api/projects/1/nope/"])
def test_an_unknown_api_path_is_a_json_404(debug, clients, method, path):
    for client in clients.values():
        assert_error_shape(getattr(client, method)(path), path)


def test_a_missing_slash_names_the_endpoint(debug, clients):
    """A POST cannot be redirected to the slashed URL (APPEND_SLASH would be a 500 with DEBUG on): the 404 says it."""
    for method in ("get", "post"):
        error = assert_error_shape(getattr(clients["logged-in"], method)("/api/annotations"), "/api/annotations")
        assert "/api/annotations/ (with the slash)" in error


def test_pages_outside_the_api_keep_djangos_404(db, settings):
    settings.DEBUG = False
    assert APIClient().get("/nope/")["Content-Type"].startswith("text/html")
