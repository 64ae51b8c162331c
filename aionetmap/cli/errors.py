"""Errors a command-line user can cause, turned into one readable line each.

A bad portspec, a missing ``/dev/netmap``, a missing interface or missing privileges are
the user's to fix, so the CLI prints one line and exits non-zero. Anything else is a bug in
aionetmap and keeps its traceback.
"""

from __future__ import annotations

from aionetmap.portspec import PortSpecError

__all__ = ["EXIT_FAILURE", "CliError", "user_message"]

EXIT_FAILURE = 1


class CliError(Exception):
    """A failure with a message meant for the user as it stands."""


def user_message(exc: BaseException) -> str | None:
    """One line describing ``exc`` if the user can fix its cause, else ``None``."""
    if isinstance(exc, PortSpecError):
        return f"invalid portspec {exc.spec!r}: {exc.reason} (at character {exc.offset + 1})"
    if isinstance(exc, CliError):
        return _one_line(str(exc))
    if isinstance(exc, OSError):
        # OSError(errno, message) keeps the message in strerror; OSError(message) in args.
        text = exc.strerror or str(exc)
        if exc.filename is not None and str(exc.filename) not in text:
            text = f"{exc.filename}: {text}"
        return _one_line(text)
    if isinstance(exc, ValueError):
        return _one_line(str(exc))
    return None


def _one_line(text: str) -> str:
    first = text.strip().splitlines()
    return first[0] if first else "unknown error"
