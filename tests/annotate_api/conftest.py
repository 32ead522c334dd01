import pytest

from tests.annotate_api.helpers import Team


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Each Team makes six users: a slow hasher would dominate these tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def team(db):
    """A project (overlap 1) with an annotator, a second annotator, a reviewer, a manager, and another project's reviewer."""
    return Team()
