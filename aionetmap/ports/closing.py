"""ClosingContext: ``with obj:`` hands back ``obj`` and calls ``obj.close()`` on the way out."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["ClosingContext"]


class ClosingContext:
    """Mixin for objects that own a resource released by ``close()`` (ports, pcap files)."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
