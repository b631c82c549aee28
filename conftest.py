"""Test-wide settings that must exist before Django loads."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
