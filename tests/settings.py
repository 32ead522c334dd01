"""The test run's settings: the project's, with ``DEBUG=1`` unless the environment says otherwise, as
``scripts/start.sh`` runs them (a generated key, no TLS redirect or secure-only cookies; pytest-django still
runs each test with ``settings.DEBUG`` False).

Set in the environment (as ``EVALUATION_JUDGE_SCENES``), so that the workers, servers and commands a test starts read the same;
``tests/platform/test_settings.py`` checks the production side in subprocesses given ``DEBUG=0``.
"""
import os

os.environ.setdefault("DEBUG", "1")
# A shapes-world checkpoint's evaluation job judges this many held-out scenes (500 in production): seconds,
# not minutes, on the tiny models of the tests.
os.environ.setdefault("EVALUATION_JUDGE_SCENES", "8")

from config.settings import *
