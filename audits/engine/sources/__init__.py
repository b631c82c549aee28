"""Sources turn a target into facts: a schema model, engine facts, code facts."""

from __future__ import annotations


class SourceError(Exception):
    """A target could not be read; the message is shown to the user as is."""
