"""Refusals (domain errors) and logging failures without the data they may quote.

A refusal is a :class:`ServiceError` of one kind (not found, forbidden, invalid…) raised below
the routes; the app answers each kind with its HTTP status in one handler.


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
from typing import Any


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


# --- refusals ---------------------------------------------------------------------------------


class ServiceError(Exception):
    """A request the service refuses, having changed nothing: what is wrong (``message``),
    how to put it right (``fix``) and any details a client can act on (a validation report,
    the contradicting rows…).

    Raised by the use cases and the storage below the routes, which know nothing of HTTP; the
    app turns each kind into its answer in one handler (:data:`HTTP_STATUS`). The message may
    quote pupil data (it is answered to the caller and audited), so it is never logged."""

    def __init__(self, message: str, *, fix: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.details = details

    @property
    def body(self) -> dict[str, Any]:
        """The answer's ``detail``: ``message``, ``fix`` when there is one, then the details."""
        fix = {} if self.fix is None else {"fix": self.fix}
        return {"message": self.message, **fix, **self.details}


class Unauthenticated(ServiceError):
    """No key, or a key that is unknown or revoked."""


class Forbidden(ServiceError):
    """The key is valid but may not do this (another school, another role)."""


class NotFound(ServiceError):
    """No such school, pupil, referral or key (within what the key may see)."""


class Conflict(ServiceError):
    """The request contradicts what is stored (a referral already open, a roster whose dates of
    birth differ, registers before any roster)."""


class Malformed(ServiceError):
    """A request body that cannot be parsed at all (a broken multipart form)."""


class TooLarge(ServiceError):
    """An upload past the size limit (reading stopped there)."""


class UnsupportedFile(ServiceError):
    """An upload that is not CSV (a workbook, a PDF, UTF-16 text)."""


class Invalid(ServiceError):
    """Input that was read but is wrong: a file with errors (the report says where), an empty
    file, a value the service cannot take."""


class Unavailable(ServiceError):
    """Not possible for now (no model loaded yet); worth retrying later."""


HTTP_STATUS: dict[type[ServiceError], int] = {
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Malformed: 400,
    TooLarge: 413,
    UnsupportedFile: 415,
    Invalid: 422,
    Unavailable: 503,
}
"""The answer to each kind of refusal: the one place a refusal meets an HTTP status."""


def http_status(error: ServiceError) -> int:
    """The HTTP status answering ``error`` (its kind, or the nearest kind it derives from)."""
    for kind in type(error).__mro__:
        if kind in HTTP_STATUS:
            return HTTP_STATUS[kind]
    return 400
