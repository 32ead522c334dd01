"""The API docs load nothing from another host, and the schema and docs need a login (#18, finding 6)."""
import re
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/api/schema/", "/api/schema/?format=json"])
def test_anonymous_callers_get_no_schema(url):
    answer = APIClient().get(url)
    assert answer.status_code in (401, 403)
    assert b"openapi" not in answer.content and b"/api/annotations/" not in answer.content


def test_anonymous_browsers_are_sent_to_the_login_page_for_the_docs():
    answer = APIClient().get("/api/docs/")
    assert answer.status_code == 302 and answer["Location"] == "/login/?next=/api/docs/"


def test_a_token_or_a_session_gets_the_schema():
    user = make_user()
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    session = APIClient()
    session.force_login(user)
    for client in (token, session):
        answer = client.get("/api/schema/?format=json")
        assert answer.status_code == 200 and "/api/annotations/" in answer.json()["paths"]


def test_the_docs_page_loads_only_our_own_static_files():
    client = APIClient()
    client.force_login(make_user())
    answer = client.get("/api/docs/")
    assert answer.status_code == 200
    page = answer.content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(urls) >= 3  # the stylesheet, the bundle, the preset (and the icon)
    for url in urls:
        assert not urlparse(url).netloc, f"{url} is on another host"
        path = urlparse(url).path.removeprefix(settings.STATIC_URL)
        assert finders.find(path), f"{url} is not one of our static files"
    assert not re.search(r"https?://", page.replace("http://testserver", "")), "the page names another host"
    assert '"validatorUrl": null' in page  # else Swagger UI sends the schema's URL to validator.swagger.io
