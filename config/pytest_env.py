"""A pytest plugin (loaded with ``-p`` from pyproject) that gives the test run
the environment the settings need, before pytest-django loads them."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")

# The suite scans files it writes under the temporary folder and the
# repository's own demo, and live databases on 127.0.0.1: the operator
# switches that allow those are on for the tests (worker processes they
# start inherit them). The security tests turn them off where that is the
# point.
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

_REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("PLUMBLINE_TARGET_PATH_ROOTS", f"{tempfile.gettempdir()},{_REPO}")
os.environ.setdefault("PLUMBLINE_ALLOW_PRIVATE_TARGETS", "1")
# In-process test audits never beat (a beat from a second connection would
# wait on the test's open transaction); the worker tests set their own.
os.environ.setdefault("PLUMBLINE_AUDIT_HEARTBEAT_SECONDS", "600")
# Tests run a started audit in the request that starts it, unless they ask
# for the background thread (settings.AUDITS_IN_THREAD) themselves.
os.environ.setdefault("PLUMBLINE_AUDIT_THREADS", "0")
