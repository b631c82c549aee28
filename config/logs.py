"""Logging filters named in settings.LOGGING."""

import logging


class OneLineForbidden(logging.Filter):
    """Log a refused request (403) as one line, without the traceback.

    A viewer pressing a button they may not use is expected, not an error;
    the line says who was refused where, which is all an operator needs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
