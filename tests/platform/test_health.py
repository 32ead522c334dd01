"""/healthz reports the database and the broker."""
import pytest

pytestmark = pytest.mark.django_db


def test_healthz_ok(client):
    """Both the database and the configured broker answer."""
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_reports_broken_broker(client, monkeypatch):
    """An unreachable broker gives 503 naming it."""
    from config.celery import app

    monkeypatch.setattr(app.conf, "broker_write_url", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("failed")
    assert response.json()["database"] == "ok"


def test_login_page_and_admin(client):
    """The login page renders and the admin asks anonymous users to log in."""
    assert client.get("/login/").status_code == 200
    assert client.get("/admin/").status_code == 302
