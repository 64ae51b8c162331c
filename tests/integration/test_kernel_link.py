"""Our end of the link going down or away while an endpoint serves on it: the protocol must
hear of it (and, if the endpoint stays open, receive again once the link is back)."""

from __future__ import annotations

import asyncio
import errno

import pytest

from aionetmap.testing.netns import VethLink, ip
from aionetmap.testing.protocols import RecordingProtocol
from tests.integration.kernel_peer import KernelUdp, serve

pytestmark = pytest.mark.netns

LINK_ERRORS = (errno.ENETDOWN, errno.ENODEV, errno.ENXIO)


def link_error(protocol: RecordingProtocol) -> OSError | None:
    """The link failure the protocol was told of, through either callback."""
    for name, args in protocol.events:
        if name in ("error_received", "connection_lost") and isinstance(args[0], OSError):
            return args[0]
    return None


async def told_of_link_failure(protocol: RecordingProtocol, what: str) -> OSError:
    try:
        async with asyncio.timeout(5):
            while (exc := link_error(protocol)) is None:
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(
            f"{what}: the protocol was not told within 5 s (callbacks: {protocol.names()})"
        ) from None
    assert exc.errno in LINK_ERRORS, exc
    return exc


async def test_link_down_is_reported_and_up_again_serves(veth: VethLink) -> None:
    async with serve(veth, RecordingProtocol) as served:
        protocol = served.protocol
        with KernelUdp(veth) as client:
            client.sendto(b"before", served.address)
            await protocol.wait_for(lambda p: len(p.datagrams) == 1)
            ip("link", "set", veth.our_ifname, "down", netns=veth.our_netns)
            await told_of_link_failure(protocol, "our link went down")
            if protocol.lost.done():
                return  # closing the endpoint on a link failure is a fair answer too
            ip("link", "set", veth.our_ifname, "up", netns=veth.our_netns)
            # The endpoint stayed open: once the link is back, it has to serve again.
            async with asyncio.timeout(10):
                while len(protocol.datagrams) < 2:
                    client.sendto(b"after", served.address)
                    await asyncio.sleep(0.1)
            assert protocol.datagrams[1] == (b"after", client.address)


async def test_link_removed_closes_the_endpoint(veth: VethLink) -> None:
    async with serve(veth, RecordingProtocol) as served:
        protocol = served.protocol
        with KernelUdp(veth) as client:
            client.sendto(b"before", served.address)
            await protocol.wait_for(lambda p: len(p.datagrams) == 1)
        ip("link", "del", veth.our_ifname, netns=veth.our_netns)
        await told_of_link_failure(protocol, "our interface was deleted")
        # An interface that no longer exists cannot come back: the endpoint must close.
        async with asyncio.timeout(5):
            exc = await protocol.lost
        assert isinstance(exc, OSError)
