"""``sendto``'s error contract, case by case, against a kernel socket's transport.

Each case is sent once through a transport from ``loop.create_datagram_endpoint`` on
127.0.0.1 and once through a UdpTransport over the pipe, on the same loop in the same run.
The outcomes (raised at once, ``error_received``, ``connection_lost(exc)``, or sent) must
match, except for the cases named in ``DELIBERATE`` (what the kernel can do and aionetmap
cannot, documented in the UdpTransport docstring) and, on uvloop, ``UVLOOP_OWN_RULES``
(where uvloop's kernel transport departs from asyncio's; aionetmap follows asyncio's).
Every UdpTransport outcome is also pinned in the case table, the same on both loops.

No name lookup here reaches a DNS server: the unknown name is too long to go into a DNS
query (the resolver refuses it locally), ``localhost`` comes from /etc/hosts.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import pytest

import aionetmap
from aionetmap.ports.pipe import PipePort
from aionetmap.testing.protocols import RecordingProtocol
from tests.loops import catch_loop_errors

SERVER = "10.0.0.1/24"
CLIENT = "10.0.0.2/24"
UNKNOWN_NAME = ".".join(["a" * 60] * 5)  # over 255 bytes: never sent to a resolver


class Net(NamedTuple):
    """The addresses a case is written in, for one side of the comparison."""

    own: str
    peer: tuple[str, int]
    subnet_broadcast: str
    other_local: str  # a loopback address that is not the sender's own


class Outcome(NamedTuple):
    kind: str  # "sent", "raised", "error_received" or "connection_lost"
    exc: str | None = None  # the exception's class name
    errno: int | None = None  # for error_received: the OSError's errno
    handler: bool = False  # the loop's exception handler was called


SENT = Outcome("sent")


def _error(exc: type[OSError], code: int) -> Outcome:
    return Outcome("error_received", exc.__name__, code)


def _fatal(exc: type[Exception]) -> Outcome:
    return Outcome("connection_lost", exc.__name__, handler=True)


def _raised(exc: type[Exception]) -> Outcome:
    return Outcome("raised", exc.__name__)


@dataclass(frozen=True)
class Case:
    id: str
    addr: Callable[[Net], Any]
    expected: Outcome  # the UdpTransport's, on every loop and path
    data: Any = b"x"
    connected: bool = False
    allow_broadcast: bool = False


def _ip(net: Net) -> str:
    return net.peer[0]


def _short_form(ip: str) -> str:
    first, _, _, last = ip.split(".")
    return f"{first}.{last}"  # inet_aton reads "10.1" as 10.0.0.1


CASES = [
    Case("valid", lambda n: n.peer, SENT),
    Case("data-not-bytes", lambda n: n.peer, _raised(TypeError), data="text"),
    Case("connected-no-address", lambda n: None, SENT, connected=True),
    Case("connected-other-address", lambda n: (_ip(n), 1), _raised(ValueError), connected=True),
    Case("unconnected-no-address", lambda n: None, _fatal(TypeError)),
    Case("4-tuple", lambda n: (*n.peer, 0, 0), _fatal(TypeError)),
    Case("1-tuple", lambda n: (_ip(n),), _fatal(TypeError)),
    Case("list", lambda n: list(n.peer), _fatal(TypeError)),
    Case("string", lambda n: f"{_ip(n)}:{n.peer[1]}", _fatal(TypeError)),
    Case("host-int", lambda n: (int.from_bytes(socket.inet_aton(_ip(n))), 9), _fatal(TypeError)),
    Case("host-none", lambda n: (None, 9), _fatal(TypeError)),
    Case("host-bytes", lambda n: (_ip(n).encode(), n.peer[1]), SENT),
    Case("host-short-form", lambda n: (_short_form(_ip(n)), n.peer[1]), SENT),
    Case("port-str", lambda n: (_ip(n), "9"), _fatal(TypeError)),
    Case("port-float", lambda n: (_ip(n), 9.5), _fatal(TypeError)),
    Case("port-over-65535", lambda n: (_ip(n), 70000), _fatal(OverflowError)),
    Case("port-negative", lambda n: (_ip(n), -1), _fatal(OverflowError)),
    Case("port-0", lambda n: (_ip(n), 0), _error(OSError, errno.EINVAL)),
    Case("unknown-name", lambda n: (UNKNOWN_NAME, 9), _error(socket.gaierror, socket.EAI_NONAME)),
    Case("ipv6", lambda n: ("::1", 9), _error(socket.gaierror, socket.EAI_ADDRFAMILY)),
    Case("limited-broadcast", lambda n: ("255.255.255.255", 9), _error(PermissionError, 13)),
    Case("broadcast-keyword", lambda n: ("<broadcast>", 9), _error(PermissionError, 13)),
    Case("subnet-broadcast", lambda n: (n.subnet_broadcast, 9), _error(PermissionError, 13)),
    Case("limited-broadcast-allowed", lambda n: ("255.255.255.255", 9), SENT, allow_broadcast=True),
    Case("subnet-broadcast-allowed", lambda n: (n.subnet_broadcast, 9), SENT, allow_broadcast=True),
    # The deliberate differences (see DELIBERATE):
    Case("resolvable-name", lambda n: ("localhost", 9), _error(socket.gaierror, socket.EAI_NONAME)),
    Case("own-address", lambda n: (n.own, 9), _error(OSError, errno.ENETUNREACH)),
    Case("unspecified", lambda n: ("0.0.0.0", 9), _error(OSError, errno.ENETUNREACH)),
    Case("empty-host", lambda n: ("", 9), _error(OSError, errno.ENETUNREACH)),
    Case("loopback", lambda n: (n.other_local, 9), _error(OSError, errno.ENETUNREACH)),
    Case("multicast", lambda n: ("224.0.0.1", 9), SENT),
]

DELIBERATE = {
    # case: why aionetmap differs (the kernel sends each of these)
    "resolvable-name": "names are not resolved: a lookup from sendto would block the loop",
    "own-address": "no loopback device",
    "unspecified": "no loopback device (the kernel delivers 0.0.0.0 locally)",
    "empty-host": "no loopback device ('' is 0.0.0.0 to the socket module)",
    "loopback": "no loopback device",
}

UVLOOP_OWN_RULES = {
    # case: what uvloop's kernel transport does instead of asyncio's outcome
    "unconnected-no-address": "error_received(EDESTADDRREQ)",
    "4-tuple": "raises ValueError",
    "1-tuple": "raises ValueError",
    "list": "raises TypeError",
    "string": "raises TypeError",
    "host-int": "raises TypeError",
    "host-none": "raises TypeError",
    "host-short-form": "raises ValueError (no numeric lookup)",
    "port-str": "converts the string and sends",
    "port-float": "converts the float and sends",
    "port-over-65535": "sends (the port wraps)",
    "port-negative": "sends (the port wraps)",
    "unknown-name": "raises ValueError (no lookup)",
    "ipv6": "raises ValueError",
    "resolvable-name": "raises ValueError (no lookup)",
    "empty-host": "raises ValueError",
}


class _Recorder(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.events: list[tuple[str, BaseException | None]] = []
        self.lost = asyncio.get_running_loop().create_future()

    def error_received(self, exc: Exception) -> None:
        self.events.append(("error_received", exc))

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append(("connection_lost", exc))
        self.lost.set_result(exc)


async def _outcome(transport: Any, proto: _Recorder, data: Any, addr: Any) -> Outcome:
    """Send once and classify what happened, with the loop's handler watched."""
    with catch_loop_errors() as seen:
        try:
            transport.sendto(data, addr)
        except Exception as exc:
            return Outcome("raised", type(exc).__name__)
        # aionetmap builds frames in a TX pass later in the iteration (an error found
        # there reaches error_received before the buffer counts as drained), and a fatal
        # error calls connection_lost soon: wait for both to have had their turn.
        while transport.get_write_buffer_size() and not proto.lost.done():
            await asyncio.sleep(0)
        for _ in range(3):
            await asyncio.sleep(0)
    handler = bool(seen)
    for kind, error in proto.events:
        if kind == "connection_lost" and error is None:
            continue
        assert error is not None
        code = error.errno if kind == "error_received" and isinstance(error, OSError) else None
        return Outcome(kind, type(error).__name__, code, handler)
    return Outcome("sent", handler=handler)


@pytest.fixture
async def kernel_peer() -> AsyncIterator[tuple[str, int]]:
    """A kernel socket on 127.0.0.1 to receive what the kernel-side cases send."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    yield transport.get_extra_info("sockname")[:2]
    transport.close()


async def _kernel_outcome(case: Case, peer: tuple[str, int]) -> Outcome:
    loop = asyncio.get_running_loop()
    net = Net("127.0.0.1", peer, "127.255.255.255", "127.0.0.2")
    transport, proto = await loop.create_datagram_endpoint(
        _Recorder,
        local_addr=("127.0.0.1", 0),
        remote_addr=peer if case.connected else None,
        allow_broadcast=case.allow_broadcast,
    )
    try:
        return await _outcome(transport, proto, case.data, case.addr(net))
    finally:
        transport.close()


async def _our_outcome(case: Case, pipe: tuple[PipePort, PipePort], fast: bool) -> Outcome:
    a, b = pipe
    server = await aionetmap.open_interface(a, address=SERVER, fast_path=fast)
    client = await aionetmap.open_interface(b, address=CLIENT, fast_path=fast)
    try:
        peer = ("10.0.0.1", 7)
        await server.create_datagram_endpoint(RecordingProtocol, local_port=7)
        transport, proto = await client.create_datagram_endpoint(
            _Recorder,
            remote_addr=peer if case.connected else None,
            allow_broadcast=case.allow_broadcast,
        )
        net = Net("10.0.0.2", peer, "10.0.0.255", "127.0.0.1")
        return await _outcome(transport, proto, case.data, case.addr(net))
    finally:
        client.close()
        server.close()


def _on_uvloop() -> bool:
    return type(asyncio.get_running_loop()).__module__.startswith("uvloop")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_sendto_outcome_matches_a_kernel_socket(
    case: Case, pipe: tuple[PipePort, PipePort], fast_path: bool, kernel_peer: tuple[str, int]
) -> None:
    ours = await _our_outcome(case, pipe, fast_path)
    kernel = await _kernel_outcome(case, kernel_peer)
    assert ours == case.expected
    if case.id in DELIBERATE:
        assert kernel.kind in ("sent", "raised"), kernel  # sent (asyncio), raised (uvloop)
        assert ours != kernel
    elif _on_uvloop() and case.id in UVLOOP_OWN_RULES:
        assert ours != kernel, f"uvloop now agrees with asyncio on {case.id}: update the list"
    else:
        assert ours == kernel


def test_the_case_lists_name_only_cases_that_exist() -> None:
    ids = {case.id for case in CASES}
    assert set(DELIBERATE) <= ids
    assert set(UVLOOP_OWN_RULES) <= ids


# === The await-based UdpSocket, against a plain kernel socket ===

SOCKET_DELIBERATE = {
    **DELIBERATE,
    # Linux lets a connected socket send elsewhere; UdpSocket keeps asyncio's ValueError.
    "connected-other-address": "asyncio's rule for a connected transport",
}


def _kernel_socket_outcome(case: Case, peer: tuple[str, int]) -> Outcome:
    net = Net("127.0.0.1", peer, "127.255.255.255", "127.0.0.2")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        if case.allow_broadcast:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        if case.connected:
            sock.connect(peer)
        addr = case.addr(net)
        try:
            if addr is None:
                sock.send(case.data)
            else:
                sock.sendto(case.data, addr)
        except Exception as exc:
            return _raised_outcome(exc)
    return SENT


def _raised_outcome(exc: Exception) -> Outcome:
    code = exc.errno if isinstance(exc, OSError) else None
    return Outcome("raised", type(exc).__name__, code)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_udp_socket_raises_what_a_kernel_socket_raises(
    case: Case, pipe: tuple[PipePort, PipePort], kernel_peer: tuple[str, int]
) -> None:
    """UdpSocket.sendto raises a bad destination to its caller, as ``socket.sendto``
    does, and stays open: the next datagram goes out."""
    a, b = pipe
    server = await aionetmap.open_udp(port=a, local_addr=(SERVER, 7))
    peer = ("10.0.0.1", 7)
    sock = await aionetmap.open_udp(
        port=b,
        local_addr=(CLIENT, 4000),
        remote_addr=peer if case.connected else None,
        allow_broadcast=case.allow_broadcast,
    )
    net = Net("10.0.0.2", peer, "10.0.0.255", "127.0.0.1")
    try:
        await sock.sendto(case.data, case.addr(net))
        ours = SENT
    except Exception as exc:
        ours = _raised_outcome(exc)
    kernel = _kernel_socket_outcome(case, kernel_peer)
    expected = case.expected
    if expected.kind != "sent":  # what the transport reports, the socket raises
        code = expected.errno if expected.kind == "error_received" else None
        expected = Outcome("raised", expected.exc, code)
    if case.id == "unconnected-no-address":  # send() on a socket that is not connected
        expected = Outcome("raised", "OSError", errno.EDESTADDRREQ)
    assert ours == expected
    if case.id in SOCKET_DELIBERATE:
        assert kernel == SENT
    else:
        assert ours == kernel
    assert not sock.transport.is_closing()
    await sock.sendto(b"after", peer)
    while await asyncio.wait_for(server.recv(), 5) != b"after":  # a valid case's datagram
        pass
    await sock.aclose()
    await server.aclose()


# === Per-endpoint broadcast permission, and remote_addr ===


async def test_broadcast_permission_is_per_endpoint(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """Endpoints share one address cache; a broadcast address one of them may use must
    not become usable by another that lacks ``allow_broadcast``."""
    a, _ = pipe
    iface = await aionetmap.open_interface(a, address=SERVER, fast_path=fast_path)
    allowed_t, allowed = await iface.create_datagram_endpoint(_Recorder, allow_broadcast=True)
    plain_t, plain = await iface.create_datagram_endpoint(_Recorder)
    for dst in (("10.0.0.255", 9), ("255.255.255.255", 9)):
        assert await _outcome(allowed_t, allowed, b"x", dst) == SENT
        assert await _outcome(plain_t, plain, b"x", dst) == _error(PermissionError, 13)
        plain.events.clear()
    assert plain_t.stats()["tx_failed"] == 2
    iface.close()


REMOTE_CASES = {
    "broadcast": (("255.255.255.255", 9), False, PermissionError),
    "broadcast-allowed": (("255.255.255.255", 9), True, None),
    "unknown-name": ((UNKNOWN_NAME, 9), False, socket.gaierror),
}


@pytest.mark.parametrize("case", list(REMOTE_CASES))
async def test_remote_addr_is_refused_as_a_kernel_connect_refuses_it(
    case: str, pipe: tuple[PipePort, PipePort]
) -> None:
    """(A plain socket, not loop.create_datagram_endpoint: uvloop leaks the transport of
    an endpoint whose connect fails.)"""
    remote, allow, error = REMOTE_CASES[case]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, int(allow))
        if error is None:
            sock.connect(remote)
        else:
            with pytest.raises(error):
                sock.connect(remote)
    iface = await aionetmap.open_interface(pipe[0], address=SERVER)
    if error is None:
        transport, proto = await iface.create_datagram_endpoint(
            _Recorder, remote_addr=remote, allow_broadcast=allow
        )
        assert await _outcome(transport, proto, b"x", None) == SENT
    else:
        with pytest.raises(error):
            await iface.create_datagram_endpoint(
                _Recorder, remote_addr=remote, allow_broadcast=allow
            )
    iface.close()
