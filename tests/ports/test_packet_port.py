"""PacketPort lifecycle and errors: missing interface/namespace, privileges, close, TX limits."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aionetmap.ports.base import FrameBatch, PortClosedError
from aionetmap.ports.packet import (
    InterfaceNotFoundError,
    NetnsNotFoundError,
    PacketPort,
    netns_path,
    netns_socket,
)
from aionetmap.testing.netns import VethLink

pytestmark = pytest.mark.netns

ROOT = Path(__file__).resolve().parents[2]


def frame(size: int = 60) -> bytes:
    return b"\xff" * 6 + b"\x02" + bytes(5) + b"\x88\xb5" + bytes(size - 14)


def thread_netns() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def test_missing_interface_names_it_and_the_namespace(veth: VethLink) -> None:
    with pytest.raises(InterfaceNotFoundError, match=r"no interface named 'nosuch0'") as info:
        PacketPort.open("nosuch0", netns=veth.our_netns)
    assert info.value.errno == errno.ENODEV
    assert veth.our_netns in str(info.value)
    # the kernel end exists, but in the other namespace
    with pytest.raises(InterfaceNotFoundError, match=veth.our_netns):
        PacketPort.open(veth.peer_ifname, netns=veth.our_netns)


def test_missing_namespace_and_bad_names() -> None:
    before = thread_netns()
    with pytest.raises(NetnsNotFoundError, match="'aionetmap-none' does not exist") as info:
        PacketPort.open("lo", netns="aionetmap-none")
    assert isinstance(info.value, FileNotFoundError)
    for bad in ("", "x" * 16, "a/b"):
        with pytest.raises(ValueError, match="bad interface name"):
            PacketPort.open(bad)
    with pytest.raises(ValueError, match="bad network namespace name"):
        netns_path("../etc")
    assert netns_path("/proc/1/ns/net") == "/proc/1/ns/net"
    assert thread_netns() == before


def test_thread_is_switched_back_even_when_socket_creation_fails(veth: VethLink) -> None:
    before = thread_netns()
    with pytest.raises(OSError, match="creating the socket failed") as info:
        netns_socket(veth.peer_netns, socket.AF_INET, 12345)  # no such socket type
    assert info.value.errno == errno.EINVAL
    assert thread_netns() == before
    with netns_socket(veth.peer_netns, socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((veth.peer_ip, 0))  # only possible inside the peer namespace
    assert thread_netns() == before


@pytest.mark.parametrize(
    ("netns", "needs"),
    [(None, "CAP_NET_RAW"), ("peer", "CAP_SYS_ADMIN")],
    ids=["raw-socket", "enter-namespace"],
)
def test_missing_privileges_explain_what_is_needed(
    veth: VethLink, netns: str | None, needs: str
) -> None:
    ns = veth.peer_netns if netns else None
    code = (
        "from aionetmap.ports.packet import PacketPort\n"
        "try:\n"
        f"    PacketPort.open('lo', netns={ns!r})\n"
        "except PermissionError as exc:\n"
        "    print('PermissionError', exc)\n"
    )
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=60,
        check=False,
    )
    assert proc.stdout.startswith("PermissionError"), proc.stdout + proc.stderr
    assert needs in proc.stdout


def test_close_is_idempotent_and_releases_the_socket(veth: VethLink) -> None:
    port = veth.open_port()
    fd = port.fileno()
    assert not port.closed
    port.close()
    port.close()
    assert port.closed
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)
    for op in (port.fileno, port.tx_space, port.flush, port.stats):
        with pytest.raises(PortClosedError, match="port is closed"):
            op()
    with pytest.raises(PortClosedError):
        port.recv(FrameBatch(4))
    with pytest.raises(PortClosedError):
        port.send([frame()])
    assert "closed" in repr(port)


def test_context_manager_closes(veth: VethLink) -> None:
    with veth.open_port() as port:
        assert port.fileno() >= 0
    assert port.closed


def test_leaked_port_warns(veth: VethLink) -> None:
    port = veth.open_port()
    name = port.info.name
    with pytest.warns(ResourceWarning, match=f"unclosed <PacketPort {name}"):
        del port  # the last reference: __del__ runs here


def test_oversize_and_runt_frames_are_refused_before_queueing(veth: VethLink) -> None:
    with veth.open_port() as port:
        with pytest.raises(ValueError, match=r"frame 1 is 1515 bytes; frames must be 14..1514"):
            port.send([frame(), frame(1515), frame()])
        with pytest.raises(ValueError, match="frame 0 is 13 bytes"):
            port.send([bytes(13)])
        batch = FrameBatch(4)
        batch.extend([frame(), frame(1600)])
        with pytest.raises(ValueError, match="frame 1 is 1600 bytes"):
            port.send_batch(batch)
        assert port.tx_pending() == 0
        assert port.send_batch(batch, start=2) == 0
        with pytest.raises(IndexError):
            port.send_batch(batch, start=3)
        assert port.send([frame(1514), memoryview(frame(60)), bytearray(frame(14))]) == 3


def test_tx_staging_fills_and_flush_empties_it(veth: VethLink) -> None:
    with veth.open_port(tx_slots=4) as port:
        assert port.tx_space() == 4
        assert port.send([frame()] * 10) == 4
        assert port.tx_space() == 0
        assert port.send([frame()]) == 0
        port.flush()
        assert (port.tx_space(), port.tx_pending()) == (4, 0)
        assert port.stats()["tx_frames"] == 4


def test_flush_on_a_downed_interface_raises_and_drops(veth: VethLink) -> None:
    with veth.open_port() as port:
        veth.peer_exec("ip", "netns", "exec", veth.our_netns, "ip", "link", "set",
                       veth.our_ifname, "down")  # fmt: skip
        port.send([frame(), frame()])
        with pytest.raises(OSError, match=f"{port.info.name}: sending failed") as info:
            port.flush()
        assert info.value.errno == errno.ENETDOWN
        stats = port.stats()
        assert (stats["tx_dropped_error"], stats["tx_pending"]) == (2, 0)


def test_open_port_dispatches_packet_specs_with_conf(veth: VethLink) -> None:
    from aionetmap.ports import open_port

    spec = f"packet:{veth.our_ifname}@conf:rx-frames=40,tx-slots=8"
    port = open_port(spec, netns=veth.our_netns)
    assert isinstance(port, PacketPort)
    with port:
        assert port.info.name == f"packet:{veth.our_ifname}"
        assert port.info.rx_slots >= 40  # rounded up to whole ring blocks
        assert port.info.tx_slots == port.tx_space() == 8


def tagged(size: int) -> bytes:
    return b"\xff" * 6 + b"\x02" + bytes(5) + b"\x81\x00\x00\x64\x88\xb5" + bytes(size - 18)


def test_the_vlan_tag_may_exceed_the_mtu_and_only_it(veth: VethLink) -> None:
    """Linux lets a frame carry an 802.1Q tag past the MTU: 1518 bytes tagged pass, an
    untagged frame of that size is refused before it could fail the whole sendmmsg."""
    with veth.open_port() as port:
        assert port.info.max_frame == 1518
        with pytest.raises(ValueError, match=r"frame 0 is 1515 bytes; .* 1518 with an 802.1Q"):
            port.send([frame(1515)])
        batch = FrameBatch(2)
        batch.extend([tagged(1518), frame(1518)])
        with pytest.raises(ValueError, match="frame 1 is 1518 bytes"):
            port.send_batch(batch)
        assert port.tx_pending() == 0
        assert port.send([tagged(1518), memoryview(tagged(1518)).cast("H")]) == 2
        single = FrameBatch(1)
        single.extend([tagged(1518)])
        assert port.send_batch(single) == 1
        port.flush()
        stats = port.stats()
        assert (stats["tx_frames"], stats["tx_dropped_error"]) == (3, 0)
