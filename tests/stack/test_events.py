"""Events are frozen, slotted and compare by value."""

from __future__ import annotations

import dataclasses
import errno

import pytest

from aionetmap.stack.events import (
    ArpResolved,
    DatagramReceived,
    EchoReplyReceived,
    IcmpErrorReceived,
    SendFailed,
)

ERROR = OSError(errno.EHOSTUNREACH, "no ARP reply")
EVENTS = [
    DatagramReceived(("10.0.0.2", 5), 53, b"x"),
    SendFailed(("10.0.0.9", 7), 1000, ERROR),
    EchoReplyReceived("10.0.0.2", 1, 2, b"p"),
    IcmpErrorReceived("10.0.0.2", "port_unreachable", ("10.0.0.2", 9), 4, ERROR),
    ArpResolved("10.0.0.2", b"\x02" * 6),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_frozen_and_slotted(event: object) -> None:
    assert not hasattr(event, "__dict__")
    field = dataclasses.fields(event)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, field, None)


def test_value_equality() -> None:
    assert DatagramReceived(("a", 1), 2, b"x") == DatagramReceived(("a", 1), 2, b"x")
    assert DatagramReceived(("a", 1), 2, b"x") != DatagramReceived(("a", 1), 2, b"y")
