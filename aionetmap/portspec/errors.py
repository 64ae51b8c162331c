"""The portspec errors: one that quotes the spec and marks the bad part, and its subclass for
valid libnetmap specs that aionetmap does not support."""

from __future__ import annotations

__all__ = ["PortSpecError", "UnsupportedPortSpecError"]


class PortSpecError(ValueError):
    """A portspec that does not parse. The message quotes it and marks the bad part."""

    def __init__(self, spec: str, offset: int, reason: str) -> None:
        self.spec = spec
        self.offset = offset
        self.reason = reason
        caret = " " * offset + "^"
        super().__init__(f"invalid portspec {spec!r}: {reason}\n    {spec}\n    {caret}")

    def __reduce__(self) -> tuple[type[PortSpecError], tuple[str, int, str]]:
        return type(self), (self.spec, self.offset, self.reason)


class UnsupportedPortSpecError(PortSpecError):
    """A valid libnetmap portspec asking for something aionetmap does not do."""
