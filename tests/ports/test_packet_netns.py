"""The namespace/veth fixtures the packet and integration tests stand on."""

from __future__ import annotations

import os
import subprocess

import pytest

from aionetmap._native._packet import ffi, lib
from aionetmap.ports.packet import set_checksum_offload
from aionetmap.testing import netns as netns_mod
from aionetmap.testing.netns import NETNS_PREFIX, VethLink, cleanup_leftovers, ip
from aionetmap.testing.pytest_plugin import require_root

pytestmark = pytest.mark.netns


def namespaces() -> set[str]:
    return set(ip("netns", "list").stdout.split())


def test_link_is_set_up_as_documented(veth: VethLink) -> None:
    other = VethLink()
    assert len({veth.peer_ifname, veth.our_ifname, other.peer_ifname, other.our_ifname}) == 4
    assert all(len(name) <= 15 for name in (veth.peer_ifname, veth.our_ifname))
    assert veth.peer_ip.rsplit(".", 1)[0] != other.peer_ip.rsplit(".", 1)[0]
    assert {veth.peer_netns, veth.our_netns} <= namespaces()
    for ns in (veth.peer_netns, veth.our_netns):
        path = "/proc/sys/net/ipv6/conf/all/disable_ipv6"
        out = veth.peer_exec("ip", "netns", "exec", ns, "cat", path).stdout
        assert out.strip() == "1"
    ours = veth.peer_exec("ip", "netns", "exec", veth.our_netns, "ip", "-4", "-o", "addr").stdout
    assert veth.our_ifname not in ours  # no IPv4 address on our end either
    # The kernel's defaults, as a user's veth has them: checksum offload on.
    assert peer_checksum_offloads(veth) == [1, 1]


def test_link_without_offload_turns_checksum_offload_off(veth_no_offload: VethLink) -> None:
    assert veth_no_offload.checksum_offload is False
    assert peer_checksum_offloads(veth_no_offload) == [0, 0]


def peer_checksum_offloads(link: VethLink) -> list[int]:
    """TX and RX checksum offload (1 on, 0 off) of the link's kernel end."""
    value = ffi.new("uint32_t *")
    found = []
    with link.peer_socket(track=False) as sock:
        for cmd in (lib.ETHTOOL_GTXCSUM, lib.ETHTOOL_GRXCSUM):
            assert lib.pkt_ethtool_get(sock.fileno(), link.peer_ifname.encode(), cmd, value) == 0
            found.append(int(value[0]))
    return found


def test_set_checksum_offload_turns_both_directions_on_and_off(veth: VethLink) -> None:
    """The ports helper VethLink uses (testing reaches ethtool through ports, not _native)."""
    with veth.peer_socket(track=False) as sock:
        set_checksum_offload(sock, veth.peer_ifname, False)
        assert peer_checksum_offloads(veth) == [0, 0]
        set_checksum_offload(sock, veth.peer_ifname, True)
        assert peer_checksum_offloads(veth) == [1, 1]
        with pytest.raises(OSError, match="TX checksum offload of nosuchif0 off failed"):
            set_checksum_offload(sock, "nosuchif0", False)


def test_namespaces_are_deleted_even_when_the_body_fails(netns_guard: None) -> None:
    link = VethLink(mtu=9000)
    seen: list[set[str]] = []
    socks = []

    def body() -> None:
        with link:
            seen.append(namespaces())
            with link.open_port() as port:
                assert (port.info.mtu, port.info.max_frame) == (9000, 9018)
            socks.append(link.peer_socket())
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        body()
    assert {link.peer_netns, link.our_netns} <= seen[0]
    assert not {link.peer_netns, link.our_netns} & namespaces()
    assert socks[0].fileno() == -1  # handed-out peer sockets were closed
    link.close()  # idempotent


def test_leftover_guard_removes_only_dead_runs(netns_guard: None) -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    dead_name = f"{NETNS_PREFIX}{child.pid}-1-peer"
    live_name = f"{NETNS_PREFIX}1-1-peer"  # pid 1 is always alive
    foreign = "anm-not-ours-test"
    for name in (dead_name, live_name, foreign):
        ip("netns", "add", name)
    try:
        removed = cleanup_leftovers()
        assert dead_name in removed
        left = namespaces()
        assert dead_name not in left
        assert {live_name, foreign} <= left
    finally:
        for name in (dead_name, live_name, foreign):
            netns_mod.delete_netns(name)


def test_non_root_skips_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.skip.Exception, match="needs root"):
        require_root()
