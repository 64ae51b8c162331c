"""A host's IPv6 addresses and routes: the :class:`AddressBook`.

Each owned address (RFC 4862) is *tentative* while DAD runs, *preferred* once it passed,
or *duplicate* when another node holds it (then it is never used). Only preferred
addresses receive packets and are chosen as sources. The link-local address is derived
from the MAC (modified EUI-64) unless one is given.

Routes: the on-link prefixes are those of our addresses and those a router advertised
with the L flag (until their valid lifetime ends); everything else goes to the default
router, configured (``gateway6``) or learned from router advertisements (RFC 4861 6.3.4).
Source selection (a small part of RFC 6724): link-local and link-scope multicast
destinations get the link-local source; others the preferred global address whose
prefix holds the destination, else the first preferred global, else the link-local.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Interface, IPv6Network

from aionetmap.stack.ipv6 import eui64_link_local, is_link_local, is_multicast6

__all__ = ["AddressBook", "OwnAddress", "parse_interface6"]

TENTATIVE, PREFERRED, DUPLICATE = "tentative", "preferred", "duplicate"


@dataclass(slots=True)
class OwnAddress:
    """One of our addresses and its DAD state."""

    interface: IPv6Interface
    state: str
    dad_deadline: float | None = None
    dad_left: int = 0

    @property
    def ip(self) -> bytes:
        return self.interface.ip.packed


def parse_interface6(value: str | IPv6Interface) -> IPv6Interface:
    """An address with its prefix (``"2001:db8::2/64"``); ``ValueError`` for one no host
    may own (unspecified, loopback, multicast, IPv4-mapped)."""
    iface = IPv6Interface(value)
    ip = iface.ip
    if ip.is_unspecified or ip.is_loopback or ip.is_multicast or ip.ipv4_mapped is not None:
        raise ValueError(f"{ip} cannot be a host's IPv6 address")
    return iface


class AddressBook:
    """Our IPv6 addresses, on-link prefixes and default router."""

    def __init__(
        self,
        mac: bytes,
        addresses: list[IPv6Interface],
        gateway: IPv6Address | None,
    ) -> None:
        given_ll = [a for a in addresses if is_link_local(a.ip.packed)]
        if not given_ll:
            addresses = [IPv6Interface((IPv6Address(eui64_link_local(mac)), 64)), *addresses]
        self._own: dict[bytes, OwnAddress] = {}
        for iface in addresses:
            if iface.ip.packed in self._own:
                raise ValueError(f"IPv6 address {iface.ip} given twice")
            self._own[iface.ip.packed] = OwnAddress(iface, TENTATIVE)
        self.link_local = (given_ll or addresses)[0].ip.packed
        self.static_gateway = gateway.packed if gateway is not None else None
        self.router: bytes | None = None
        self.router_deadline = 0.0
        self.prefixes: dict[IPv6Network, float] = {}  # advertised on-link ones, by expiry

    # === Our addresses ===

    def all(self) -> list[OwnAddress]:
        return list(self._own.values())

    def own_addresses(self) -> frozenset[bytes]:
        return frozenset(self._own)

    def get(self, ip: bytes) -> OwnAddress | None:
        return self._own.get(ip)

    def is_preferred(self, ip: bytes) -> bool:
        own = self._own.get(ip)
        return own is not None and own.state == PREFERRED

    def preferred(self) -> list[IPv6Interface]:
        return [a.interface for a in self._own.values() if a.state == PREFERRED]

    def source_for(self, dst: bytes) -> bytes:
        """The source address for ``dst``; ``OSError(EADDRNOTAVAIL)`` if none is usable
        (all tentative or duplicate)."""
        link_scope = is_link_local(dst) or (is_multicast6(dst) and dst[1] & 0xF <= 2)
        if link_scope:
            if self.is_preferred(self.link_local):
                return self.link_local
        else:
            globals_ = [
                a for a in self._own.values() if a.state == PREFERRED and not is_link_local(a.ip)
            ]
            target = IPv6Address(dst)
            for own in globals_:
                if target in own.interface.network:
                    return own.ip
            if globals_:
                return globals_[0].ip
            if self.is_preferred(self.link_local):
                return self.link_local
        raise OSError(errno.EADDRNOTAVAIL, f"no usable IPv6 source address for {target_text(dst)}")

    # === Routes ===

    def on_link(self, dst: bytes, now: float) -> bool:
        if is_link_local(dst) or is_multicast6(dst):
            return True
        target = IPv6Address(dst)
        for own in self._own.values():
            if own.state != DUPLICATE and target in own.interface.network:
                return True
        return any(target in net and now < end for net, end in self.prefixes.items())

    def next_hop(self, dst: bytes, now: float) -> bytes:
        """``dst`` itself when on-link, else the default router; ``OSError(ENETUNREACH)``
        without one."""
        if self.on_link(dst, now):
            return dst
        if self.static_gateway is not None:
            return self.static_gateway
        if self.router is not None and now < self.router_deadline:
            return self.router
        raise OSError(
            errno.ENETUNREACH, f"{target_text(dst)} is not on-link and there is no IPv6 router"
        )

    def learn_router(self, router: bytes, lifetime: int, now: float) -> None:
        """A router advertisement's default-router lifetime (0: it stops being one)."""
        if lifetime:
            self.router, self.router_deadline = router, now + lifetime
        elif self.router == router:
            self.router = None

    def learn_prefix(self, network: IPv6Network, valid: int, now: float) -> None:
        """An advertised on-link prefix, valid for ``valid`` seconds (0 removes it)."""
        if valid:
            self.prefixes[network] = now + valid
        else:
            self.prefixes.pop(network, None)


def target_text(addr: bytes) -> str:
    return str(IPv6Address(addr))
