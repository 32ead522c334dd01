"""Brute force is stopped on every login path; API tokens expire and are revoked by their owner (#18, finding 4)."""
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def token_login(password, username="victim", address="10.0.0.1"):
    answer = APIClient().post("/api/auth/token/", {"username": username, "password": password}, REMOTE_ADDR=address)
    return answer.status_code == 200, answer


def page_login(url):
    def login(password, username="victim", address="10.0.0.1"):
        client = Client()
        answer = client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)
        return "_auth_user_id" in client.session, answer
    return login


LOGINS = {"api-token": token_login, "login-page": page_login("/login/"), "admin-login": page_login("/admin/login/")}


@pytest.fixture(params=LOGINS)
def login(request):
    user = make_user(username="victim")
    user.is_staff = True  # the admin takes staff only
    user.save()
    return LOGINS[request.param]


def test_forty_wrong_passwords_lock_the_right_one_out(login, settings):
    assert settings.AXES_FAILURE_LIMIT == 10  # the default
    for attempt in range(40):
        assert login(f"guess-{attempt}")[0] is False
    logged_in, answer = login(PASSWORD)
    assert not logged_in and answer.status_code == 429


def test_the_lockout_ends_after_the_cool_off(login, settings):
    for attempt in range(10):
        login(f"guess-{attempt}")
    assert login(PASSWORD)[0] is False
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert login(PASSWORD)[0] is True


def test_a_success_clears_the_failures(login):
    for _ in range(3):
        for attempt in range(9):
            assert login(f"guess-{attempt}")[0] is False
        assert login(PASSWORD)[0] is True


def test_the_lockout_is_for_that_username_from_that_address(login):
    """Another address, or another user from the locked-out address, still logs in: a wrong password cannot
    lock a colleague out."""
    make_user(username="colleague").__class__.objects.filter(username="colleague").update(is_staff=True)
    for attempt in range(10):
        login(f"guess-{attempt}")
    assert login(PASSWORD)[0] is False
    assert login(PASSWORD, address="10.0.0.2")[0] is True
    assert login(PASSWORD, username="colleague")[0] is True


def test_the_api_lockout_answers_in_the_error_shape():
    make_user(username="victim")
    for attempt in range(9):
        assert token_login(f"guess-{attempt}")[1].status_code == 400
    answer = token_login("guess-9")[1]
    assert answer.status_code == 429 and set(answer.json()) == {"error", "fields"}
    assert "Too many failed logins" in answer.json()["error"]


# Tokens


def token_client(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_expires_after_api_token_ttl(settings):
    user = make_user(username="victim")
    answer = token_login(PASSWORD)[1]
    key = answer.json()["token"]
    assert token_client(key).get("/api/projects/").status_code == 200
    expires_at = Token.objects.get(key=key).created + settings.API_TOKEN_TTL
    assert answer.json()["expires_at"] == expires_at.isoformat().replace("+00:00", "Z")
    assert settings.API_TOKEN_TTL == timedelta(days=30)  # the default

    Token.objects.filter(user=user).update(created=timezone.now() - settings.API_TOKEN_TTL)
    cache.clear()  # the update moves the token's birth back, not the clock on: the cache still has the row as it was
    expired = token_client(key).get("/api/projects/")
    assert expired.status_code == 401 and "expired" in expired.json()["error"]
    # A login, even one that sends the stale token along, gets a new key.
    answer = token_client(key).post("/api/auth/token/", {"username": "victim", "password": PASSWORD})
    assert answer.status_code == 200 and answer.json()["token"] != key
    assert token_client(answer.json()["token"]).get("/api/projects/").status_code == 200


def test_a_login_before_expiry_gives_the_same_token():
    make_user(username="victim")
    assert token_login(PASSWORD)[1].json()["token"] == token_login(PASSWORD)[1].json()["token"]


def test_the_owner_revokes_their_token():
    make_user(username="victim")
    other = make_user(username="other")
    other_key = Token.objects.create(user=other).key
    key = token_login(PASSWORD)[1].json()["token"]
    assert token_client(key).delete("/api/auth/token/").status_code == 204
    assert token_client(key).get("/api/projects/").status_code == 401
    assert token_client(other_key).get("/api/projects/").status_code == 200  # only the caller's
    assert APIClient().delete("/api/auth/token/").status_code in (401, 403)
    session = APIClient()
    session.force_login(get_user_model().objects.get(username="other"))
    assert session.delete("/api/auth/token/").status_code == 204
    assert not Token.objects.exists()


def test_a_token_looked_up_once_is_cached_until_revoked():
    """The next request with a token reads no token row; the owner's revoke ends it at once all the same."""
    make_user(username="victim")
    client = token_client(token_login(PASSWORD)[1].json()["token"])
    assert client.get("/api/projects/").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/projects/").status_code == 200
    assert not [query for query in queries.captured_queries if "authtoken_token" in query["sql"]]
    assert client.delete("/api/auth/token/").status_code == 204
    assert client.get("/api/projects/").status_code == 401
