"""IPv6 and dual-stack UDP endpoints over the software pipe: two aionetmap hosts."""

from __future__ import annotations

import asyncio
import errno

import pytest

import aionetmap
from aionetmap.ports.pipe import PipePort
from aionetmap.testing.protocols import EchoProtocol, RecordingProtocol
from tests.transport.helpers import FAST_DAD, open_dual_stack_pair, wait_datagrams


@pytest.mark.parametrize("size", [1, 1452, 1500, 8000, 65000])
async def test_ipv6_echo_byte_exact(
    pipe: tuple[PipePort, PipePort], fast_path: bool, size: int
) -> None:
    """Up to and past the MTU (fragmented both ways); names are AF_INET6 4-tuples."""
    server, client = await open_dual_stack_pair(pipe, fast_path)
    try:
        st, _ = await server.create_datagram_endpoint(
            EchoProtocol, local_port=7, local_ip="2001:db8::1"
        )
        ct, rec = await client.create_datagram_endpoint(RecordingProtocol, local_ip="2001:db8::2")
        assert st.get_extra_info("sockname") == ("2001:db8::1", 7, 0, 0)
        port = ct.get_extra_info("sockname")[1]
        assert ct.get_extra_info("sockname") == ("2001:db8::2", port, 0, 0)
        data = bytes(i & 0xFF for i in range(size))
        ct.sendto(data, ("2001:db8::1", 7))
        await wait_datagrams(rec, 1)
        assert rec.datagrams == [(data, ("2001:db8::1", 7, 0, 0))]
    finally:
        client.close()
        server.close()


async def test_dual_stack_endpoint_maps_ipv4_peers(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """Bound to ``::``: IPv4 peers arrive as ``::ffff:a.b.c.d`` 4-tuples, replies to
    them leave over IPv4; IPv6 peers are served on the same port."""
    server, client = await open_dual_stack_pair(pipe, fast_path)
    try:
        st, srec = await server.create_datagram_endpoint(
            RecordingProtocol, local_port=7, local_ip="::"
        )
        assert st.get_extra_info("sockname") == ("::", 7, 0, 0)
        c4, rec4 = await client.create_datagram_endpoint(RecordingProtocol, local_port=5000)
        c6, rec6 = await client.create_datagram_endpoint(
            RecordingProtocol, local_port=5001, local_ip="::"
        )
        c4.sendto(b"four", ("10.0.0.1", 7))
        c6.sendto(b"six", ("2001:db8::1", 7))
        await wait_datagrams(srec, 2)
        assert sorted(srec.datagrams) == [
            (b"four", ("::ffff:10.0.0.2", 5000, 0, 0)),
            (b"six", ("2001:db8::2", 5001, 0, 0)),
        ]
        for data, src in srec.datagrams:
            st.sendto(data + b"!", src)
        await wait_datagrams(rec4, 1)
        await wait_datagrams(rec6, 1)
        assert rec4.datagrams == [(b"four!", ("10.0.0.1", 7))]
        assert rec6.datagrams == [(b"six!", ("2001:db8::1", 7, 0, 0))]
        # A dual-stack client reaches an IPv4 server by its mapped address.
        c6.sendto(b"mapped", ("::ffff:10.0.0.1", 7))
        await wait_datagrams(srec, 3)
        assert srec.datagrams[2] == (b"mapped", ("::ffff:10.0.0.2", 5001, 0, 0))
    finally:
        client.close()
        server.close()


async def test_ipv4_endpoint_does_not_hear_ipv6(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """The port space is shared, but an IPv4 endpoint is AF_INET: IPv6 datagrams to its
    port are counted in ``rx_dropped_family``, not delivered."""
    server, client = await open_dual_stack_pair(pipe, fast_path)
    try:
        _, srec = await server.create_datagram_endpoint(RecordingProtocol, local_port=7)
        ct, _ = await client.create_datagram_endpoint(RecordingProtocol, local_ip="::")
        with pytest.raises(OSError, match="already bound") as info:
            await server.create_datagram_endpoint(RecordingProtocol, local_port=7, local_ip="::")
        assert info.value.errno == errno.EADDRINUSE
        ct.sendto(b"six", ("2001:db8::1", 7))
        ct.sendto(b"four", ("::ffff:10.0.0.1", 7))
        await wait_datagrams(srec, 1)
        assert srec.datagrams == [(b"four", ("10.0.0.2", ct.get_extra_info("sockname")[1]))]
        assert server.stats()["rx_dropped_family"] == 1
    finally:
        client.close()
        server.close()


async def test_ping6(pipe: tuple[PipePort, PipePort], fast_path: bool) -> None:
    server, client = await open_dual_stack_pair(pipe, fast_path)
    try:
        rtt = await client.ping("2001:db8::1", timeout=2)
        assert rtt >= 0
        assert await client.ping("10.0.0.1", timeout=2) >= 0
    finally:
        client.close()
        server.close()


async def test_port_unreachable6_reaches_connected_endpoint(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    server, client = await open_dual_stack_pair(pipe, fast_path)
    try:
        ct, rec = await client.create_datagram_endpoint(
            RecordingProtocol, local_ip="2001:db8::2", remote_addr=("2001:db8::1", 9)
        )
        assert ct.get_extra_info("peername") == ("2001:db8::1", 9, 0, 0)
        ct.sendto(b"anyone?")
        async with asyncio.timeout(5):
            while not rec.errors:
                await asyncio.sleep(0.005)
        assert isinstance(rec.errors[0], ConnectionRefusedError)
    finally:
        client.close()
        server.close()


async def test_duplicate_address_raises(pipe: tuple[PipePort, PipePort], fast_path: bool) -> None:
    """DAD (RFC 4862): the second host to claim an address hears it is taken."""
    a, b = pipe
    first = await aionetmap.open_interface(
        a, address="10.0.0.1/24", ipv6=["2001:db8::7/64"], config=FAST_DAD, fast_path=fast_path
    )
    try:
        with pytest.raises(OSError, match="in use") as info:
            await aionetmap.open_interface(
                b,
                address="10.0.0.2/24",
                ipv6=["2001:db8::7/64"],
                config=FAST_DAD,
                fast_path=fast_path,
            )
        assert info.value.errno == errno.EADDRINUSE
        assert "2001:db8::7" in str(info.value)
    finally:
        first.close()


async def test_create_datagram_endpoint_with_ipv6_local_addr(
    pipe: tuple[PipePort, PipePort],
) -> None:
    """``local_addr=("2001:db8::2/64", 7)`` gives the new host that address."""
    a, b = pipe
    st, _ = await aionetmap.create_datagram_endpoint(
        EchoProtocol, port=a, local_addr=("2001:db8::1/64", 7), address="10.0.0.1/24"
    )
    sock = await aionetmap.open_udp(port=b, local_addr=("2001:db8::2/64", 0), address="10.0.0.2/24")
    try:
        assert st.get_extra_info("sockname") == ("2001:db8::1", 7, 0, 0)
        await sock.sendto(b"hello", ("2001:db8::1", 7))
        async with asyncio.timeout(5):
            data, src = await sock.recvfrom()
        assert data == b"hello"
        assert tuple(src) == ("2001:db8::1", 7, 0, 0)
    finally:
        sock.close()
        st.close()


@pytest.mark.parametrize(
    ("addr", "error", "code"),
    [
        (("2001:db8::1",), TypeError, None),
        (("2001:db8::1", 7, 0, 0, 0), TypeError, None),
        (["2001:db8::1", 7], TypeError, None),
        (("2001:db8::1", 70000), OverflowError, None),
        (("2001:db8::1", 7, 1 << 20, 0), OverflowError, None),
        (("example.com", 7), OSError, None),
        (("2001:db8::1", 0), OSError, errno.EINVAL),
        (("::1", 7), OSError, errno.ENETUNREACH),
        (("::", 7), OSError, errno.ENETUNREACH),
    ],
)
async def test_ipv6_destination_errors(
    pipe: tuple[PipePort, PipePort], addr: object, error: type[Exception], code: int | None
) -> None:
    """An IPv6 endpoint checks destinations as an AF_INET6 socket's ``sendto`` does."""
    server, client = await open_dual_stack_pair(pipe, True)
    try:
        ct, _ = await client.create_datagram_endpoint(RecordingProtocol, local_ip="::")
        assert isinstance(ct, aionetmap.UdpTransport6)
        with pytest.raises(error) as info:
            ct.check_destination(addr)
        if code is not None:
            assert isinstance(info.value, OSError)
            assert info.value.errno == code
        # Accepted forms: a 2-tuple, a 4-tuple, a zone index, an IPv4-mapped address.
        assert tuple(ct.check_destination(("2001:db8::1", 7))) == ("2001:db8::1", 7, 0, 0)
        zoned = ct.check_destination(("2001:DB8:0::1%eth0", 7, 0, 3))
        assert tuple(zoned) == ("2001:db8::1", 7, 0, 3)
        assert ct.check_destination(("::ffff:10.0.0.1", 7)) == ("10.0.0.1", 7)
    finally:
        client.close()
        server.close()
