"""IPv4 identification of what a host sends (stack/ident.py): Linux's rules, through the
Host and on the counters alone."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether

from aionetmap.stack import Host, HostConfig
from aionetmap.stack.ident import Identification

A_MAC = bytes.fromhex("020000000001")
A_IP = "10.0.0.1"


def test_unconnected_atomic_datagrams_carry_ident_zero_and_ttl_from_config() -> None:
    a = Host(A_MAC, f"{A_IP}/24", config=HostConfig(ip_ident_seed=0x1234, default_ttl=5))
    for _ in range(2):
        a.send_datagram(b"", ("10.0.0.255", 1), 1, 0.0)
    first, second = (Ether(f)[IP] for f in a.frames_to_send())
    assert (first.id, second.id) == (0, 0)
    assert first.flags == second.flags == "DF"
    assert first.ttl == 5


def test_connected_datagrams_number_from_their_ports_own_counter() -> None:
    a = Host(A_MAC, f"{A_IP}/24", config=HostConfig(ip_ident_seed=0xFFFF))
    for port in (1, 1, 2, 1):
        a.send_datagram(b"", ("10.0.0.255", 1), port, 0.0, connected=True)
    a.send_datagram(bytes(3000), ("10.0.0.255", 1), 1, 0.0, connected=True)
    items = a.take_frames()
    ids = [Ether(item if isinstance(item, bytes) else item[0])[IP].id for item in items]
    one = ids[0]
    assert ids[1] == (one + 1) & 0xFFFF
    assert ids[3] == (one + 2) & 0xFFFF
    assert ids[4] == (one + 3) & 0xFFFF  # fragmented too: connected is what counts
    assert ids[2] != ids[0]  # port 2's counter starts elsewhere
    assert a.reserve_idents(5, 1) == ((one + 4) & 0xFFFF, 1)
    assert a.reserve_idents(5, None) == (0, 0)
    a.unbind_udp(1)  # a closed socket's counter goes with it
    assert a.reserve_idents(1, 1) == (one, 1)


def test_fragmented_datagrams_use_per_destination_counters() -> None:
    a = Host(A_MAC, f"{A_IP}/24", config=HostConfig(ip_ident_seed=7))
    for dst in ("10.0.0.255", "10.0.0.255", "255.255.255.255"):
        a.send_datagram(bytes(2000), (dst, 1), 1, 0.0)
    groups = [item for item in a.take_frames() if isinstance(item, tuple)]
    assert len(groups) == 3
    ids = [{Ether(f)[IP].id for f in group} for group in groups]
    assert ids == [{7}, {8}, {7}]
    assert all(not Ether(f)[IP].flags.DF for group in groups for f in group)


def test_counters_wrap_and_are_kept_per_destination_and_per_port() -> None:
    idents = Identification(0xFFFE)
    assert [idents.select(1, 17, None, False) for _ in range(3)] == [0xFFFE, 0xFFFF, 0]
    assert idents.select(2, 17, None, False) == 0xFFFE  # another destination's bucket
    assert idents.select(1, 17, None, True) == 0  # atomic: no counter moves
    assert idents.select(1, 17, None, False) == 1
    port = idents.select(1, 17, 9, True)  # connected: the port's counter, atomic or not
    assert idents.select(2, 1, 9, False) == (port + 1) & 0xFFFF
    assert idents.reserve(3, 9) == ((port + 2) & 0xFFFF, 1)
    assert idents.select(1, 17, 9, True) == (port + 5) & 0xFFFF
    idents.forget(9)
    assert idents.select(1, 17, 9, True) == port


@pytest.mark.parametrize("seed", [0, 0x8000, 0xFFFF])
def test_reserve_for_unconnected_datagrams_is_atomic(seed: int) -> None:
    idents = Identification(seed)
    assert idents.reserve(10, None) == (0, 0)
    assert idents.select(1, 17, None, False) == seed  # nothing was taken
