"""Logging failures without the data they may quote.

An exception's message and arguments can carry pupil data (``KeyError: 'Y380345619000'`` is a
UPN; a pandas error quotes the offending value). Logs never carry names, UPNs or dates of birth,
so a failure is logged as its type (and the types of the exceptions chained to it) and its
traceback frames — file, line and function — and nothing else: no message, no arguments, no
source line (a frame's source text could hold a literal value).
"""

from __future__ import annotations

import logging
import traceback
import uuid


def new_error_id() -> str:
    """A short id that ties the 500 answer a client saw to the log line of the failure."""
    return uuid.uuid4().hex[:12]


def _frames(exc: BaseException) -> list[str]:
    return [
        f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}'
        for frame in traceback.extract_tb(exc.__traceback__)
    ]


def describe_failure(exc: BaseException) -> str:
    """The failure's type and frames, innermost chained exception first, as log text."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    lines: list[str] = []
    for i, failure in enumerate(reversed(chain)):
        if i:
            lines.append("  … which led to:")
        lines.append(f"{type(failure).__module__}.{type(failure).__qualname__} (message withheld)")
        lines.extend(_frames(failure))
    return "\n".join(lines)


def log_failure(
    logger: logging.Logger, what: str, exc: BaseException, error_id: str | None = None
) -> None:
    """Log ``what`` failed, with :func:`describe_failure` of ``exc`` (never its message)."""
    suffix = f" (error {error_id})" if error_id else ""
    logger.error("%s: %s%s\n%s", what, type(exc).__name__, suffix, describe_failure(exc))
