"""A pytest plugin (loaded with ``-p`` from pyproject) that gives the test run
the environment the settings need, before pytest-django loads them."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
