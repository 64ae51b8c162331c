"""``Udp6Sender`` and ``family_runs`` on a sans-I/O host: when IPv6 destinations are
numbered for the C builder, and when the host's NDP state is looked at again."""

from __future__ import annotations

from ipaddress import IPv6Address
from typing import Any, cast

from aionetmap._aio.fastpath6 import Udp6Sender, family_runs
from aionetmap.stack import Host, HostConfig, StackStats

PEER = "2001:db8::77"
OLD_MAC = bytes.fromhex("02000000aa02")
NEW_MAC = bytes.fromhex("02000000aa03")


def _host() -> Host:
    host = Host(
        bytes.fromhex("020000000001"),
        "10.0.0.1/24",
        ipv6=["2001:db8::1/64"],
        config=HostConfig(dad_transmits=0, unsolicited_na=False),
    )
    host.start(0.0)
    host.take_frames()
    return host


def _learn(host: Host, mac: bytes, now: float) -> None:
    six = host.ipv6
    assert six is not None
    six.sender.learn(IPv6Address(PEER).packed, mac, now, solicited=True, override=True, create=True)


def test_unresolved_goes_to_the_host_then_is_built_here_once_known() -> None:
    host = _host()
    assert host.ipv6 is not None
    sender = Udp6Sender(host, host.ipv6, 16, StackStats(), recheck=1.0)
    errors: list[OSError] = []
    dst: Any = (PEER, 9, 0, 0)
    assert sender.send([b"a"], [dst], 5, 0.0, errors.append) is None
    assert sender.used_host
    frames = host.frames_to_send()
    assert len(frames) == 1
    assert frames[0][54] == 135
    _learn(host, OLD_MAC, 0.1)
    released = host.frames_to_send()  # the parked datagram leaves with the answer
    assert len(released) == 1
    assert released[0][:6] == OLD_MAC
    batch = sender.send([b"b"], [dst], 5, 0.2, errors.append)
    assert batch is not None
    assert batch.count == 1
    assert batch.frame_bytes(0)[:6] == OLD_MAC
    assert host.frames_to_send() == []
    assert not errors


def _ignore(exc: OSError) -> None:
    raise AssertionError(exc)


def test_the_host_is_asked_again_every_recheck_seconds() -> None:
    """A neighbour's new MAC shows once the table is forgotten, not before."""
    host = _host()
    assert host.ipv6 is not None
    sender = Udp6Sender(host, host.ipv6, 16, StackStats(), recheck=1.0)
    _learn(host, OLD_MAC, 0.0)
    dst: Any = (PEER, 9, 0, 0)
    first = sender.send([b"a"], [dst], 5, 0.0, _ignore)
    assert first is not None
    assert first.frame_bytes(0)[:6] == OLD_MAC
    _learn(host, NEW_MAC, 0.5)
    still = sender.send([b"b"], [dst], 5, 0.5, _ignore)
    assert still is not None
    assert still.frame_bytes(0)[:6] == OLD_MAC
    assert not sender.used_host
    later = sender.send([b"c"], [dst], 5, 1.0, _ignore)
    assert later is not None
    assert later.frame_bytes(0)[:6] == NEW_MAC
    assert sender.used_host  # looked up in the host again


def test_refused_destinations_reach_failed_through_the_host() -> None:
    host = _host()
    assert host.ipv6 is not None
    sender = Udp6Sender(host, host.ipv6, 16, StackStats(), recheck=1.0)
    errors: list[OSError] = []
    assert sender.send([b"x"], [cast(Any, ("2001:db9::5", 9, 0, 0))], 5, 0.0, errors.append) is None
    assert len(errors) == 1
    assert "no IPv6 router" in str(errors[0])


def test_family_runs() -> None:
    four: Any = ("10.0.0.2", 7)
    six: Any = ("2001:db8::2", 7, 0, 0)
    assert family_runs([six, six]) == [(0, 2, True)]
    assert family_runs([four]) == [(0, 1, False)]
    assert family_runs([four, six, six, four, six]) == [
        (0, 1, False),
        (1, 3, True),
        (3, 4, False),
        (4, 5, True),
    ]
