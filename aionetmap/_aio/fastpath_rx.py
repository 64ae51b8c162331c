"""Receive half of the UDP fast path for IPv6 datagrams and IPv4 group datagrams.

:class:`~aionetmap._aio.fastpath.UdpFastPath` hands these frames here, after the C
classifier marked them ``KIND_DELIVER6`` or ``KIND_GROUP``. They reach endpoints in
exactly the form, and are counted exactly as, the host and the interface deliver them on
the pure-Python path:

* IPv6: the host delivers to any bound port (``Receiver6``: one port space for both
  families) and the interface then gives the datagram only to an IPv6 endpoint bound to
  ``::`` or to the datagram's destination, counting the rest in ``rx_dropped_family``
  (``InterfaceCore._deliver6``). Peers are AF_INET6 4-tuples ``(address, port, 0,
  scope_id)``, the scope id ``HostConfig.ipv6_scope_id`` for link-local sources.
* IPv4 groups: ``Host.group_verdict`` (the memberships' rule, Linux's
  ``ip_mc_sf_allow``) decides and counts; delivered ones go to the endpoint on the port
  with the ``(dotted quad, port)`` source (a dual-stack endpoint maps it itself).
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv6Address
from typing import cast

from aionetmap._native.fast_classifier import FastClassifier
from aionetmap._native.fast_common import MAX_IP6_ADDRS
from aionetmap.ports.base import FrameBatch
from aionetmap.protocol import Address, DatagramEndpoint
from aionetmap.stack import Host
from aionetmap.stack.ipv6 import is_link_local

__all__ = ["ExtraReceiver"]

_CACHE_LIMIT = 65536
_WILDCARD6 = "::"


class ExtraReceiver:
    """IPv6 and group deliveries of one fast path (see the module docstring)."""

    def __init__(
        self, host: Host, classifier: FastClassifier, source4: Callable[[int], Address]
    ) -> None:
        self._host = host
        self._cls = classifier
        self._source4 = source4
        self._version = -1  # the host's IPv6 addresses are copied to C when this differs
        self._texts: list[str] = []  # our preferred addresses as text, by dst6 - 1
        self._scope = host.config.ipv6_scope_id
        # Received IPv6 sources as the 4-tuples protocols get, by the 18-byte C key.
        self._sources6: dict[bytes, Address] = {}
        self.rx_dropped_family = 0
        """IPv6 datagrams to a port whose endpoint is IPv4, or bound to another IPv6
        address (the interface adds them to its own ``rx_dropped_family``)."""

    def refresh(self) -> None:
        """Copy the host's preferred IPv6 addresses to C if DAD changed them (per batch)."""
        host6 = self._host.ipv6
        if host6 is None or host6.addresses_version == self._version:
            return
        addresses = host6.preferred_addresses()
        if len(addresses) > MAX_IP6_ADDRS:
            # More than the C table holds: the host's IPv6 side takes every IPv6 frame.
            self._cls.set_ipv6(None)
        else:
            self._cls.set_ipv6(addresses)
        self._texts = [str(IPv6Address(a)) for a in addresses]
        self._version = host6.addresses_version

    # === IPv6 ===

    def deliver6(
        self, i: int, blob: bytes, endpoints: dict[int, DatagramEndpoint]
    ) -> None:  # fmt: skip
        """Frame ``i`` of the last classify (``KIND_DELIVER6``); ``blob`` holds the arena."""
        cls = self._cls
        endpoint = self._endpoint6(endpoints, cls.dst_ports[i], cls.dst6[i])
        if endpoint is None:
            return
        key = cls.source6(i)
        off = cls.payload_offsets[i]
        src = self._sources6.get(key) or self._source6(key)
        endpoint.deliver(blob[off : off + cls.payload_lengths[i]], src)

    def deliver_all6(
        self, batch: FrameBatch, count: int, endpoints: dict[int, DatagramEndpoint]
    ) -> None:
        """A batch of ``count`` frames all ``KIND_DELIVER6``: per endpoint, in order."""
        cls = self._cls
        blob = batch.data[: batch.used].tobytes()
        ports = cls.dst_ports[:count].tolist()
        if count > 1 and ports.count(ports[0]) == count and len(set(cls.dst6[:count])) == 1:
            endpoint = self._endpoint6(endpoints, ports[0], cls.dst6[0], count)
            if endpoint is None:
                return
            starts = cls.payload_offsets[:count].tolist()
            sizes = cls.payload_lengths[:count].tolist()
            payloads = [blob[a : a + n] for a, n in zip(starts, sizes, strict=True)]
            cache = self._sources6
            keys = [cls.source6(i) for i in range(count)]
            sources = [cache.get(k) or self._source6(k) for k in keys]
            endpoint.deliver_many(payloads, sources)
            return
        for i in range(count):
            self.deliver6(i, blob, endpoints)

    def _endpoint6(
        self, endpoints: dict[int, DatagramEndpoint], port: int, dst6: int, count: int = 1
    ) -> DatagramEndpoint | None:
        """The endpoint that hears ``count`` datagrams to our address number ``dst6`` - 1
        on ``port``, or None (counted in ``rx_dropped_family`` when one is bound there
        for the other family or another address)."""
        endpoint = endpoints.get(port)
        if endpoint is None:
            return None
        bound = getattr(endpoint, "local_ip6", None)
        if bound is None or (bound != _WILDCARD6 and bound != self._texts[dst6 - 1]):
            self.rx_dropped_family += count
            return None
        return endpoint

    def _source6(self, key: bytes) -> Address:
        if len(self._sources6) >= _CACHE_LIMIT:
            self._sources6.clear()
        addr = key[:16]
        scope = self._scope if is_link_local(addr) else 0
        # An AF_INET6 4-tuple where the protocol's type says Address, as the host's own.
        src = cast("Address", (str(IPv6Address(addr)), key[16] << 8 | key[17], 0, scope))
        self._sources6[key] = src
        return src

    # === IPv4 groups ===

    def group(
        self,
        i: int,
        blob: bytes,
        endpoints: dict[int, DatagramEndpoint],
        sources: dict[int, Address],
    ) -> None:
        """Frame ``i`` of the last classify (``KIND_GROUP``): the host's memberships decide
        (and count); ``sources`` is the fast path's IPv4 source cache."""
        cls = self._cls
        port = cls.dst_ports[i]
        if self._host.group_verdict(cls.groups[i], port) is not None:
            return
        endpoint = endpoints.get(port)
        if endpoint is not None:
            key = cls.src_keys[i]
            off = cls.payload_offsets[i]
            src = sources.get(key) or self._source4(key)
            endpoint.deliver(blob[off : off + cls.payload_lengths[i]], src)
