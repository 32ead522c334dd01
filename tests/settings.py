"""The test run's settings: the project's, with ``DEBUG=1`` unless the environment says otherwise, as
``scripts/start.sh`` runs them (a generated key, no TLS redirect or secure-only cookies; pytest-django still
runs each test with ``settings.DEBUG`` False).

Set in the environment, so that the workers, servers and commands a test starts read the same;
``tests/platform/test_settings.py`` checks the production side in subprocesses given ``DEBUG=0``.
"""
import os

os.environ.setdefault("DEBUG", "1")

from config.settings import *
