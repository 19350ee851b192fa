"""Gunicorn's log lines through the process's own logging (`hooks.serving.logs`), without the
configuration dump.

Gunicorn gives its loggers (`gunicorn.error`, `gunicorn.access`) handlers and a format of their
own and keeps them from the root logger, so `--log-format json` would not reach them; and at
debug its arbiter logs every setting, about 150 lines. This logger class lets its records
through to the root logger's handler and drops that one record. Only `hooks.webhook.server`
uses it, as gunicorn's `logger_class`.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.glogging import Logger


def _not_the_configuration(record: logging.LogRecord) -> bool:
    return not (isinstance(record.msg, str) and record.msg.startswith("Current configuration"))


class GunicornLogger(Logger):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn.glogging.Logger whose records go to the root logger's handlers."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in [h for h in logger.handlers if getattr(h, "_gunicorn", False)]:
                logger.removeHandler(handler)
            logger.propagate = True
        if _not_the_configuration not in self.error_log.filters:
            self.error_log.addFilter(_not_the_configuration)
