"""Error types: ParseError carries its drop reason; DatagramTooLarge is EMSGSIZE."""

from __future__ import annotations

import errno

from aionetmap.stack.drops import DropReason
from aionetmap.stack.errors import DatagramTooLarge, IntegrityError, ParseError, SanityError


def test_parse_errors_carry_the_reason() -> None:
    error = IntegrityError(DropReason.IP_BAD_CHECKSUM, "IPv4 header checksum is wrong")
    assert isinstance(error, ParseError)
    assert isinstance(error, ValueError)
    assert error.reason is DropReason.IP_BAD_CHECKSUM
    assert str(error) == "IPv4 header checksum is wrong [IP_BAD_CHECKSUM]"
    assert not issubclass(SanityError, IntegrityError)


def test_datagram_too_large() -> None:
    error = DatagramTooLarge("UDP payload", 1473, 1472, 1500)
    assert isinstance(error, OSError)
    assert error.errno == errno.EMSGSIZE
    assert (error.size, error.limit) == (1473, 1472)
    assert "1473" in str(error)
    assert "MTU of 1500" in str(error)
