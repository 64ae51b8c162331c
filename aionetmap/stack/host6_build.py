"""Building a host's IPv6 side (:class:`.Host6` and its collaborators) from ``Host``'s
arguments, and the address checks ``Host``'s send calls use for IPv6 destinations."""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Interface
from typing import TYPE_CHECKING

from aionetmap.stack.addr6 import AddressBook, parse_interface6
from aionetmap.stack.fragments6 import Reassembler6
from aionetmap.stack.host6 import Host6
from aionetmap.stack.ipv6 import MIN_MTU, is_link_local
from aionetmap.stack.ndp_cache import NeighborCache
from aionetmap.stack.ratelimit import TokenBucket
from aionetmap.stack.receive6 import Receiver6
from aionetmap.stack.send6 import Parked6, Sender6

if TYPE_CHECKING:
    from aionetmap.stack.classify import ClassifyContext
    from aionetmap.stack.config import HostConfig
    from aionetmap.stack.drops import StackStats
    from aionetmap.stack.events import Event
    from aionetmap.stack.transmit import Sender

__all__ = ["SharedParts", "build_host6", "mapped_ipv4", "parse_destination6"]


@dataclass(frozen=True, slots=True)
class SharedParts:
    """What the IPv6 side shares with its host: the link, the counters, the event queue,
    the frame queue (IPv4's sender, which also holds the TX queue), the classify context
    and the group-MAC listening the native classifier follows."""

    mac: bytes
    mtu: int
    eth_suffix: bytes
    """What follows the destination MAC in the host's IPv4 frames (MAC, tag, EtherType)."""
    config: HostConfig
    stats: StackStats
    events: deque[Event]
    sender: Sender
    context: ClassifyContext
    listen: Callable[[bytes], None]
    unlisten: Callable[[bytes], None]


def build_host6(
    host: SharedParts, ipv6: Iterable[str | IPv6Interface], gateway6: str | IPv6Address | None
) -> Host6:
    """The IPv6 side of a host; ``ValueError`` for a bad address, a gateway that is
    not link-local or on one of the prefixes, or an MTU below 1280."""
    if isinstance(ipv6, str | IPv6Interface):
        raise TypeError("ipv6 must be a list of addresses with prefixes, not one address")
    if host.mtu < MIN_MTU:
        raise ValueError(f"IPv6 needs an MTU of at least {MIN_MTU}, not {host.mtu}")
    addresses = [parse_interface6(a) for a in ipv6]
    gateway = None if gateway6 is None else IPv6Address(gateway6)
    if gateway is not None and not (
        is_link_local(gateway.packed) or any(gateway in a.network for a in addresses)
    ):
        raise ValueError(f"IPv6 gateway {gateway} is neither link-local nor on-link")
    cfg, stats, events = host.config, host.stats, host.events
    book = AddressBook(host.mac, addresses, gateway)
    cache: NeighborCache[Parked6] = NeighborCache(
        reachable_time=cfg.ndp_reachable_time,
        retrans_timer=cfg.ndp_retrans_timer,
        delay_first_probe=cfg.ndp_delay_first_probe,
        max_multicast_solicit=cfg.ndp_max_solicit,
        max_unicast_solicit=cfg.ndp_max_solicit,
        queue_limit=cfg.ndp_queue_limit,
        max_entries=cfg.ndp_max_entries,
        max_pending=cfg.arp_max_pending,
    )
    reassembler = Reassembler6(
        stats.drop,
        timeout=cfg.reassembly6_timeout,
        max_bytes=cfg.reassembly_max_bytes,
        max_datagrams=cfg.reassembly_max_datagrams,
        max_per_source=cfg.reassembly_max_per_source,
        max_fragments=cfg.reassembly_max_fragments,
    )
    suffix = host.eth_suffix[:-2] + b"\x86\xdd"
    sender = Sender6(host.mac, suffix, host.mtu, cfg, stats, events, book, cache, host.sender)
    six = Host6(
        host.mac,
        book,
        cfg,
        stats,
        events,
        sender,
        cache,
        reassembler,
        host.listen,
        host.unlisten,
    )
    six.receiver = Receiver6(
        cfg,
        host.context,
        stats,
        events,
        book,
        six.groups.keys(),
        reassembler,
        TokenBucket(cfg.icmp_error_rate, cfg.icmp_error_burst),
        sender,
        six.on_ndp,
    )
    return six


def mapped_ipv4(ip: str) -> str | None:
    """The IPv4 address in an IPv4-mapped IPv6 one (``::ffff:a.b.c.d``), else ``None``."""
    try:
        mapped = IPv6Address(ip.split("%", 1)[0]).ipv4_mapped
    except ValueError:
        return None
    return None if mapped is None else str(mapped)


@functools.lru_cache(maxsize=1024)
def parse_destination6(ip: str) -> bytes:
    """An IPv6 destination as 16 bytes (a ``%scope`` suffix is dropped: one interface);
    ``ValueError`` if it is not an IPv6 address."""
    try:
        return IPv6Address(ip.split("%", 1)[0]).packed
    except ValueError:
        raise ValueError(f"not an IPv6 address: {ip!r}") from None
