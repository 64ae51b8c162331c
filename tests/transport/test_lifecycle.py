"""Endpoint lifecycles: callback order under churn, writes after the end, creation that
fails half-way, the shared-interface registry, extra info, repr and leak warnings."""

from __future__ import annotations

import asyncio
import errno
import gc
import itertools
import logging
import os
import socket
import weakref
from typing import Any

import pytest

import aionetmap
from aionetmap import endpoints
from aionetmap.ports.pipe import PipePort
from aionetmap.stack import build_udp_frame
from aionetmap.testing.protocols import EchoProtocol, RecordingProtocol
from tests.loops import catch_loop_errors
from tests.transport.helpers import PEER_IP, ManualPeer, wait_until

SERVER = "10.0.0.1/24"
PEER_MAC = bytes.fromhex("020000000002")
_names = itertools.count()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _registry() -> dict[Any, aionetmap.NetInterface]:
    """The implicit interfaces create_datagram_endpoint keeps for the running loop."""
    return dict(endpoints._shared.get(asyncio.get_running_loop(), {}))


@pytest.fixture
def spec() -> Any:
    """A fresh named-pipe portspec; its /dev/shm files must be gone afterwards."""
    name = f"lifecycle-{os.getpid()}-{next(_names)}"
    yield f"pipe:{name}{{0"
    assert not [f for f in os.listdir("/dev/shm") if name in f], "pipe files left behind"


class Strict(RecordingProtocol):
    """Fails (through the loop's exception handler) on any callback out of order."""

    def _check(self, name: str) -> None:
        names = self.names()
        assert names[:1] == ["connection_made"], f"{name} before connection_made"
        assert "connection_lost" not in names, f"{name} after connection_lost"

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._check("datagram_received")
        super().datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:
        self._check("error_received")
        super().error_received(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._check("connection_lost")
        super().connection_lost(exc)


# === order ===


async def test_callback_order_holds_under_churn(pipe: tuple[PipePort, PipePort]) -> None:
    """Endpoints come and go on a port the peer floods: connection_made always first,
    connection_lost once and last, no datagram after close()."""
    a, b = pipe
    iface = await aionetmap.open_interface(a, address=SERVER)
    flooder, _ = await aionetmap.create_frame_endpoint(RecordingProtocol, port=b)
    frames = [
        build_udp_frame(PEER_MAC, iface.host.mac, PEER_IP, "10.0.0.1", 9, 7 + i % 3, b"%d" % i)
        for i in range(64)
    ]
    stop = False

    async def flood() -> None:
        while not stop:
            flooder.send_many(frames)
            await asyncio.sleep(0)

    task = asyncio.create_task(flood())
    protocols: list[Strict] = []
    for round_ in range(30):
        made = [await iface.create_datagram_endpoint(Strict, local_port=p) for p in (7, 8, 9)]
        protocols += [p for _, p in made]
        for _ in range(round_ % 3):
            await asyncio.sleep(0)
        for t, p in made:
            t.close() if round_ % 2 else t.abort()
            count = len(p.datagrams)
            await asyncio.sleep(0)
            assert len(p.datagrams) == count  # nothing delivered after close()/abort()
        await asyncio.gather(*(p.lost for _, p in made))
    stop = True
    await task
    assert sum(len(p.datagrams) for p in protocols) > 0
    for p in protocols:
        assert p.names().count("connection_lost") == 1
        assert p.names()[-1] == "connection_lost"
    flooder.close()
    iface.close()


@pytest.mark.parametrize("kind", ["udp", "frame"])
async def test_writes_after_connection_lost_count_then_log(
    pipe: tuple[PipePort, PipePort], kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """As asyncio: writes to a lost transport are dropped; from the fifth on each logs."""
    a, _ = pipe
    transport: Any
    if kind == "udp":
        transport, proto = await aionetmap.create_datagram_endpoint(
            RecordingProtocol, port=a, local_addr=(SERVER, 7)
        )

        def write() -> None:
            transport.sendto(b"late", (PEER_IP, 9))
    else:
        transport, proto = await aionetmap.create_frame_endpoint(RecordingProtocol, port=a)

        def write() -> None:
            transport.send(PEER_MAC * 2 + b"\x88\xb5" + bytes(46))

    transport.close()
    await proto.lost
    with caplog.at_level(logging.WARNING, logger="aionetmap"):
        for _ in range(4):
            write()
        assert caplog.records == []
        write()
        write()
    assert len(caplog.records) == 2
    assert "closed" in caplog.records[0].getMessage()
    assert transport.get_write_buffer_size() == 0
    assert proto.names()[-1] == "connection_lost"


# === endpoints that fail half-way ===


class Boom(Exception):
    pass


def _raising_factory() -> RecordingProtocol:
    raise Boom("factory")


async def test_protocol_factory_raising_leaves_the_port_free(
    pipe: tuple[PipePort, PipePort],
) -> None:
    a, _ = pipe
    iface = await aionetmap.open_interface(a, address=SERVER)
    with pytest.raises(Boom):
        await iface.create_datagram_endpoint(_raising_factory, local_port=7)
    assert iface.endpoints == {}
    transport, proto = await iface.create_datagram_endpoint(RecordingProtocol, local_port=7)
    assert transport.get_extra_info("sockname") == ("10.0.0.1", 7)
    iface.close()
    await proto.lost


@pytest.mark.parametrize(
    ("case", "error", "match"),
    [
        ("local-ip-mismatch", ValueError, "does not match the interface address"),
        ("port-out-of-range", ValueError, "invalid UDP port 70000"),
        ("factory-raises", Boom, "factory"),
        ("bad-remote", socket.gaierror, "does not resolve names"),
        ("no-prefix", ValueError, "prefix length"),
    ],
)
async def test_failed_creation_leaks_nothing(
    spec: str, case: str, error: type[Exception], match: str
) -> None:
    fds = _open_fds()
    kwargs: dict[str, Any] = {"port": spec, "local_addr": (SERVER, 7)}
    factory: Any = RecordingProtocol
    if case == "local-ip-mismatch":
        kwargs.update(address=SERVER, local_addr=("10.0.0.9", 7))
    elif case == "port-out-of-range":
        kwargs["local_addr"] = (SERVER, 70000)
    elif case == "factory-raises":
        factory = _raising_factory
    elif case == "bad-remote":
        kwargs["remote_addr"] = ("not-an-address", 9)
    else:
        kwargs["local_addr"] = ("10.0.0.1", 7)
    with pytest.raises(error, match=match):
        await aionetmap.create_datagram_endpoint(factory, **kwargs)
    await asyncio.sleep(0)
    assert _registry() == {}
    assert _open_fds() == fds


async def test_port_in_use_fails_clearly_and_the_first_endpoint_carries_on(spec: str) -> None:
    fds = _open_fds()
    first, proto = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=spec, local_addr=(SERVER, 7)
    )
    with pytest.raises(OSError, match="port 7 is already bound") as info:
        await aionetmap.create_datagram_endpoint(
            RecordingProtocol, port=spec, local_addr=(SERVER, 7)
        )
    assert info.value.errno == errno.EADDRINUSE
    assert not first.is_closing()
    assert list(_registry().values()) == [first.get_extra_info("netinterface")]
    first.close()
    await proto.lost
    await asyncio.sleep(0)
    assert _registry() == {}
    assert _open_fds() == fds


async def test_cancelled_creation_leaks_nothing(spec: str) -> None:
    fds = _open_fds()
    task = asyncio.create_task(
        aionetmap.create_datagram_endpoint(RecordingProtocol, port=spec, local_addr=(SERVER, 7))
    )
    await asyncio.sleep(0)  # the task now waits for connection_made
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_until(lambda: not _registry() and _open_fds() == fds)


@pytest.mark.parametrize("order", ["close-first", "create-first"])
@pytest.mark.parametrize("backlog", [False, True], ids=["idle", "backlog"])
async def test_last_endpoint_closing_while_another_is_created(
    pipe: tuple[PipePort, PipePort], order: str, backlog: bool
) -> None:
    """The implicit interface must neither close under the new endpoint nor survive
    both; what the old endpoint queued before close() still reaches the peer."""
    a, b = pipe
    peer = ManualPeer(b)
    old, old_p = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=a, local_addr=(SERVER, 7)
    )
    old.sendto(b"hello", (PEER_IP, 9))
    await peer.pump_until(lambda: bool(peer.received[9]))
    iface = old.get_extra_info("netinterface")
    sent = [b"hello"]
    if backlog:  # the peer is not reading: close() has to wait for the rings
        for i in range(600):
            sent.append(b"%04d" % i + bytes(500))
            old.sendto(sent[-1], (PEER_IP, 9))

    async def create() -> tuple[aionetmap.UdpTransport, RecordingProtocol]:
        return await aionetmap.create_datagram_endpoint(
            RecordingProtocol, port=a, local_addr=(SERVER, 8)
        )

    async def close() -> None:
        old.close()

    steps = [close(), create()] if order == "close-first" else [create(), close()]
    results = await asyncio.gather(*steps)
    new, new_p = next(r for r in results if r is not None)
    await peer.pump_until(lambda: old_p.lost.done() and peer.total() >= len(sent))
    assert peer.received[9] == sent
    shared = new.get_extra_info("netinterface")
    assert not shared.closed
    assert list(_registry().values()) == [shared]
    new.sendto(b"still served", (PEER_IP, 9))
    await peer.pump_until(lambda: peer.received[9][-1:] == [b"still served"])
    new.close()
    await new_p.lost
    await wait_until(lambda: iface.closed and shared.closed)
    assert _registry() == {}


async def test_closed_interfaces_are_released(pipe: tuple[PipePort, PipePort]) -> None:
    a, _ = pipe
    transport, proto = await aionetmap.create_datagram_endpoint(
        EchoProtocol, port=a, local_addr=(SERVER, 7)
    )
    ref = weakref.ref(transport.get_extra_info("netinterface"))
    transport.close()
    await wait_until(lambda: ref() is None or ref().closed)  # type: ignore[union-attr]
    del transport, proto
    await asyncio.sleep(0)
    gc.collect()
    assert ref() is None
    assert _registry() == {}


# === extra info, repr, leak warnings ===

UDP_KEYS = {"sockname", "peername", "mac", "interface", "netinterface", "port_info", "portspec"}
FRAME_KEYS = {"sockname", "peername", "mac", "port_info", "portspec"}


async def test_extra_info_keys_are_the_documented_ones(pipe: tuple[PipePort, PipePort]) -> None:
    a, b = pipe
    udp, udp_p = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=a, local_addr=(SERVER, 7), remote_addr=(PEER_IP, 9)
    )
    frame, frame_p = await aionetmap.create_frame_endpoint(RecordingProtocol, port=b)
    iface = udp.get_extra_info("netinterface")
    expected: dict[str, Any] = {
        "sockname": ("10.0.0.1", 7),
        "peername": (PEER_IP, 9),
        "mac": iface.host.mac,
        "interface": iface.interface,
        "netinterface": iface,
        "port_info": a.info,
        "portspec": a.info.name,
    }
    for transport, keys in ((udp, UDP_KEYS), (frame, FRAME_KEYS)):
        for key in keys:
            assert transport.get_extra_info(key, "missing") != "missing", key
        for key in ("socket", "sslcontext", "pipe", "unknown"):
            assert transport.get_extra_info(key, "missing") == "missing", key
    assert {k: udp.get_extra_info(k) for k in UDP_KEYS} == expected
    assert frame.get_extra_info("port_info") is b.info
    assert (frame.get_extra_info("sockname"), frame.get_extra_info("peername")) == (None, None)
    udp.close()
    frame.close()
    await asyncio.gather(udp_p.lost, frame_p.lost)
    # Still answered after the end (asyncio keeps extra info too).
    assert udp.get_extra_info("sockname") == ("10.0.0.1", 7)
    assert frame.get_extra_info("portspec") == b.info.name


async def test_repr_never_raises(pipe: tuple[PipePort, PipePort]) -> None:
    a, b = pipe
    sock = await aionetmap.open_udp(port=a, local_addr=(SERVER, 7))
    frame, frame_p = await aionetmap.create_frame_endpoint(RecordingProtocol, port=b)
    udp = sock.transport
    iface = udp.get_extra_info("netinterface")
    seen = [repr(x) for x in (sock, udp, frame, iface, iface.driver)]
    frame.close()
    sock.close()
    seen += [repr(x) for x in (sock, udp, frame, iface)]
    await frame_p.lost
    await sock.aclose()
    await iface.wait_closed()
    seen += [repr(x) for x in (sock, udp, frame, iface, iface.driver)]
    assert "open" in seen[1]
    assert all("closed" in text for text in seen[10:])


async def test_frame_endpoint_on_a_closed_port_fails_clearly(
    pipe: tuple[PipePort, PipePort],
) -> None:
    a, _ = pipe
    a.close()
    with pytest.raises(aionetmap.PortClosedError, match="closed") as info:
        await aionetmap.create_frame_endpoint(RecordingProtocol, port=a)
    assert info.value.errno == errno.EBADF
    del info
    gc.collect()  # a half-built transport must not warn that it was left open


async def test_udp_endpoint_on_a_closed_port_fails_clearly(
    pipe: tuple[PipePort, PipePort],
) -> None:
    a, _ = pipe
    a.close()
    with pytest.raises(aionetmap.PortClosedError, match="closed"):
        await aionetmap.create_datagram_endpoint(RecordingProtocol, port=a, local_addr=(SERVER, 7))
    gc.collect()
    assert _registry() == {}


class _MappedAddressSender(RecordingProtocol):
    """Sends its first datagram to an IPv4-mapped IPv6 4-tuple from connection_made, as a
    QUIC client written for a dual-stack socket does."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        transport.sendto(b"initial", ("::ffff:10.0.0.9", 443, 0, 0))


async def test_a_fatal_destination_closes_the_endpoint_and_leaks_nothing(spec: str) -> None:
    """asyncio's transport does not raise from sendto for an address of the wrong shape: it
    closes with connection_lost(TypeError), so a caller that never sees an exception still
    gets its cleanup, and the implicit interface and its port go away."""
    fds = _open_fds()
    with catch_loop_errors() as seen:
        transport, proto = await aionetmap.create_datagram_endpoint(
            _MappedAddressSender, port=spec, local_addr=(SERVER, 7)
        )
        for _ in range(3):  # connection_lost comes soon (call_soon), not at once
            await asyncio.sleep(0)
    assert proto.lost.done(), "the transport stayed open"
    assert isinstance(proto.lost.result(), TypeError)
    assert [context["message"] for context in seen] == ["Fatal write error on datagram transport"]
    assert transport.is_closing()
    await asyncio.sleep(0)
    assert _registry() == {}
    assert _open_fds() == fds
