"""What the running-health tests share: reading findings and waiting for a state."""

from __future__ import annotations

import time
from collections.abc import Callable

from audits.engine.issues import Evidence, Issue
from audits.engine.registry import Facts, run_checks
from audits.engine.schema import Schema

LIVE = frozenset({Evidence.SCHEMA, Evidence.LIVE})


def findings(schema: Schema, check: str) -> list[Issue]:
    """Return the issues of ``check`` the live checks find in ``schema``."""
    issues, _ran, errors = run_checks(Facts(schema=schema, evidence=LIVE))
    assert errors == []
    return [i for i in issues if i.check == check]


def wait_for(what: str, condition: Callable[[], bool], seconds: float = 20) -> None:
    """Wait until ``condition`` holds; fail saying ``what`` never happened."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")
