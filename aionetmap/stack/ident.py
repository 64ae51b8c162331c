"""IPv4 identification for what a host sends, by Linux's rules (``ip_select_ident``).

- A datagram from a connected endpoint takes the next value of that local port's own
  counter, fragmented or not.
- An unconnected datagram that fits the MTU is sent with DF set and identification 0 (an
  atomic datagram, RFC 6864: nothing can ever reassemble it).
- Anything else (fragmented datagrams, and the host's own ICMP replies, which like Linux's
  are sent without DF) takes the next value of a per-destination counter, kept in 2048
  buckets hashed by (destination, protocol) as the kernel does.

Counters start from ``HostConfig.ip_ident_seed`` (per port: spread by the port number)
and advance by one; unlike Linux there is no randomness, so runs are reproducible.
"""

from __future__ import annotations

__all__ = ["Identification"]

_IDENT_BUCKETS = 2048  # per-destination identification counters (Linux: IP_IDENTS_SZ)
_PORT_SPREAD = 40503  # odd 16-bit multiplier (Knuth's golden ratio) spreading port seeds


class Identification:
    """The counters of one host: per destination bucket, and per connected local port."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._dst = [seed] * _IDENT_BUCKETS
        self._ports: dict[int, int] = {}

    def select(self, dst_ip: int, protocol: int, socket_port: int | None, atomic: bool) -> int:
        """The identification of one packet to ``dst_ip``. ``socket_port``: sent by a
        connected endpoint on that port; ``atomic``: unfragmented with DF set."""
        if socket_port is not None:
            ident = self._port(socket_port)
            self._ports[socket_port] = (ident + 1) & 0xFFFF
            return ident
        if atomic:
            return 0
        bucket = hash((dst_ip, protocol)) % _IDENT_BUCKETS
        ident = self._dst[bucket]
        self._dst[bucket] = (ident + 1) & 0xFFFF
        return ident

    def reserve(self, count: int, src_port: int | None) -> tuple[int, int]:
        """``(first, step)`` for ``count`` unfragmented UDP datagrams built elsewhere:
        datagram ``i`` gets ``first + i * step``. ``src_port`` is a connected endpoint's
        port (its counter advances by ``count``), ``None`` an unconnected one (``(0, 0)``)."""
        if src_port is None:
            return 0, 0
        first = self._port(src_port)
        self._ports[src_port] = (first + count) & 0xFFFF
        return first, 1

    def forget(self, port: int) -> None:
        """Drop ``port``'s counter, as a closed socket's is."""
        self._ports.pop(port, None)

    def _port(self, port: int) -> int:
        ident = self._ports.get(port)
        if ident is None:
            ident = (self._seed + port * _PORT_SPREAD) & 0xFFFF
        return ident
