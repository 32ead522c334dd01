"""/healthz reports the database and the broker: the status to anyone, the details to staff (#18, finding 9)."""
import pytest
from django.test import Client

from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = make_user(username="ops")
    user.is_staff = True
    user.save()
    client.force_login(user)
    return client


def test_healthz_ok(client, staff):
    """Both the database and the configured broker answer: anyone gets the status, staff each check."""
    response = Client().get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok"}
    assert staff.get("/healthz").json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_reports_broken_broker(client, staff, monkeypatch):
    """An unreachable broker gives 503; only staff see which check failed and why (the error names the broker's
    host and port)."""
    from config.celery import app

    monkeypatch.setattr(app.conf, "broker_write_url", "redis://127.0.0.1:1/0")
    anonymous = Client().get("/healthz")
    assert anonymous.status_code == 503 and anonymous.json() == {"status": "unhealthy"}
    response = staff.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("failed") and "127.0.0.1" in response.json()["broker"]
    assert response.json()["database"] == "ok"
    member = Client()
    member.force_login(make_user(username="annotator"))
    assert member.get("/healthz").json() == {"status": "unhealthy"}


def test_login_page_and_admin(client):
    """The login page renders and the admin asks anonymous users to log in."""
    assert client.get("/login/").status_code == 200
    assert client.get("/admin/").status_code == 302
