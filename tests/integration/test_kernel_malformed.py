"""Malformed (and merely unusual) frames injected from the kernel's side of the link with a
raw socket: each is dropped and counted under its reason, or served if it is valid, while
the echo server keeps answering a kernel UDP client before, during and after."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Mapping

import pytest

from aionetmap.testing.netns import VethLink
from tests.integration.kernel_peer import (
    FrameInjector,
    KernelUdp,
    Served,
    kernel_snmp,
    serve,
    wait_until,
)
from tests.integration.malformed_frames import CASES, WATCHED, Case, Ctx

pytestmark = pytest.mark.netns

ROUNDS = 3
"""Each case is injected this many times, with an echo checked after every injection."""


def counted(stats: Mapping[str, int]) -> dict[str, int]:
    """The counters the table speaks about: every drop reason and :data:`WATCHED`."""
    return {k: v for k, v in stats.items() if k.startswith("drop_") or k in WATCHED}


def changes(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in after if after[k] != before[k]}


async def check_counts(
    served: Served, base: Mapping[str, int], want: Mapping[str, int], what: str
) -> None:
    """Wait (bounded) until the counters moved as ``want`` says, then insist on exactly
    that: a frame handled out of order would only be late, a wrong count stays wrong."""
    want = {k: v for k, v in want.items() if v}

    def now() -> dict[str, int]:
        return changes(counted(served.stats()), base)

    with contextlib.suppress(AssertionError):
        await wait_until(lambda: now() == want, timeout=5.0)
    assert now() == want, f"{what}: counters moved by {now()}, expected {want}"


async def probe(client: KernelUdp, served: Served, label: str) -> bytes:
    """One datagram from the kernel client to the echo server, and its echo."""
    data = f"probe {label}".encode()
    client.sendto(data, served.address)
    await client.expect(data, served.address)
    return data


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
async def test_injected_frame_is_counted_and_the_echo_keeps_serving(
    veth: VethLink, case: Case
) -> None:
    async with serve(veth) as served:
        with KernelUdp(veth) as client, FrameInjector(veth) as injector:
            ctx = Ctx.of(veth, client.address[1])
            expected = Counter([await probe(client, served, "before")])  # ARP both ways too
            base = counted(served.stats())
            for r in range(ROUNDS):
                injector.send(*case.build(ctx, case.name, r))
                expected[await probe(client, served, f"during {r}")] += 1
                if case.echo is not None:
                    echoed = case.echo(ctx, case.name, r)
                    await client.expect(echoed, served.address)
                    expected[echoed] += 1
            expected[await probe(client, served, "after")] += 1
            want = {k: v * ROUNDS for k, v in case.expect.items()}
            want["rx_udp_delivered"] = want.get("rx_udp_delivered", 0) + ROUNDS + 1  # probes
            await check_counts(served, base, want, case.name)
            await asyncio.sleep(0.02)  # room for a stray echo to arrive
            # Nothing came back but the probes and the echoes the case asks for.
            assert Counter(data for data, _ in client.received) == expected
            assert {addr for _, addr in client.received} == {served.address}
            assert client.errors == []


@pytest.mark.parametrize("fast_path", [True, False], ids=["native-fast-path", "python-stack"])
async def test_the_whole_table_at_once_while_the_echo_streams(
    veth: VethLink, fast_path: bool
) -> None:
    # Both receive paths, the C classifier and the pure-Python stack, must count alike.
    async with serve(veth, fast_path=fast_path) as served:
        with KernelUdp(veth) as client, FrameInjector(veth) as injector:
            ctx = Ctx.of(veth, client.address[1])
            expected = Counter([await probe(client, served, "before")])
            base = counted(served.stats())
            want: Counter[str] = Counter()
            for index, case in enumerate(CASES):
                # The case's index as its round: fragment identifications stay distinct.
                injector.send(*case.build(ctx, case.name, index))
                want.update(case.expect)
                if case.echo is not None:
                    expected[case.echo(ctx, case.name, index)] += 1
                data = b"stream %d" % index  # an echo request between every two cases
                client.sendto(data, served.address)
                expected[data] += 1
            want["rx_udp_delivered"] += len(CASES)
            await client.wait_received(sum(expected.values()))
            expected[await probe(client, served, "after")] += 1
            want["rx_udp_delivered"] += 1
            await check_counts(served, base, want, "the whole table")
            await asyncio.sleep(0.02)
            assert Counter(data for data, _ in client.received) == expected
        stats = served.stats()
        assert stats["drop_internal_error"] == 0
        assert stats["rx_dropped_kernel"] == 0
    # Everything we sent back (echoes, ARP and ICMP replies) passed the kernel's checks.
    snmp = await kernel_snmp(veth)
    assert snmp["Udp.InCsumErrors"] == snmp["Icmp.InCsumErrors"] == snmp["Ip.InHdrErrors"] == 0
