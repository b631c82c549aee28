"""Where the shared audit reports live, for tests that read them.

They sit in ``shared/reports`` beside the project root; a clone elsewhere
finds them through ``PLUMBLINE_SHARED_REPORTS`` or the workspace's copy.
"""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _find() -> Path:
    candidates = [
        os.environ.get("PLUMBLINE_SHARED_REPORTS", ""),
        str(REPO.parent / "shared" / "reports"),
        "/work/shared/reports",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / ".").is_dir():
            return Path(candidate)
    return REPO.parent / "shared" / "reports"


REPORTS_DIR = _find()
