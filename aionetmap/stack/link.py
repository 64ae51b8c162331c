"""``Link``: a host's own place on its Ethernet link, checked once and kept as integers.

:class:`~aionetmap.stack.host.Host` builds one from its constructor's arguments
(:meth:`Link.create` refuses what Linux would not configure) and hands the same object to
its collaborators, which only read it: the address, subnet and broadcast to classify and
answer with, the next hop to send through, the header every sent frame starts with.
"""

from __future__ import annotations

import errno
import functools
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from aionetmap.stack.addresses import LIMITED_BROADCAST, int_to_str, is_unicast_mac, parse_mac

__all__ = ["Link", "check_port"]


@dataclass(frozen=True, slots=True)
class Link:
    """The host's MAC, IPv4 address and subnet, gateway, MTU and VLAN.

    The ``IPv4*`` fields are what ``Host`` shows; the integer ones are what the per-frame
    code compares against (``ip``, ``net``, ``mask``, ``broadcast``: the subnet broadcast,
    or 255.255.255.255 on a /31 or /32, which have none).
    """

    mac: bytes
    address: IPv4Address
    network: IPv4Network
    gateway: IPv4Address | None
    mtu: int
    vlan: int | None
    ip: int
    net: int
    mask: int
    broadcast: int
    eth_suffix: bytes
    """What follows the destination MAC in every frame: our MAC, the tag, the EtherType."""

    @classmethod
    def create(
        cls,
        mac: bytes | str,
        interface: str | IPv4Interface,
        gateway: str | IPv4Address | None,
        mtu: int,
        vlan: int | None,
    ) -> Link:
        """Check and convert ``Host``'s arguments; ``ValueError`` names the bad one."""
        own_mac = parse_mac(mac)
        if not is_unicast_mac(own_mac):
            raise ValueError(f"host MAC {own_mac.hex(':')} is not a unicast address")
        iface = IPv4Interface(interface)
        address, network = iface.ip, iface.network
        _check_own_address(address, network)
        gw = None if gateway is None else IPv4Address(gateway)
        if gw is not None:
            _check_gateway(gw, address, network)
        if not 68 <= mtu <= 0xFFFF:
            raise ValueError(f"MTU must be in 68..65535, not {mtu}")
        if vlan is not None and (
            not isinstance(vlan, int) or isinstance(vlan, bool) or not 1 <= vlan <= 4094
        ):
            raise ValueError(f"VLAN id must be in 1..4094, not {vlan!r}")
        small = network.prefixlen >= 31
        tag = b"" if vlan is None else b"\x81\x00" + vlan.to_bytes(2, "big")
        return cls(
            mac=own_mac,
            address=address,
            network=network,
            gateway=gw,
            mtu=mtu,
            vlan=vlan,
            ip=int(address),
            net=int(network.network_address),
            mask=int(network.netmask),
            broadcast=LIMITED_BROADCAST if small else int(network.broadcast_address),
            eth_suffix=own_mac + tag + b"\x08\x00",
        )

    @property
    def vlan_tci(self) -> int | None:
        """The 802.1Q TCI the host tags its frames with (priority 0), if it has a VLAN."""
        return self.vlan

    def on_subnet(self, ip: int) -> bool:
        return ip & self.mask == self.net

    def hop(self, dst_ip: int) -> int:
        """The on-link address a packet to ``dst_ip`` goes to: itself on our subnet (the
        subnet's broadcast included), for 255.255.255.255 and for a group (224.0.0.0/4,
        sent to its mapped MAC address), else the gateway; ``OSError(ENETUNREACH)``
        without one."""
        if dst_ip & self.mask == self.net or dst_ip == LIMITED_BROADCAST or dst_ip >> 28 == 0xE:
            return dst_ip
        if self.gateway is None:
            raise OSError(
                errno.ENETUNREACH,
                f"{int_to_str(dst_ip)} is not on {self.network} and {self.address} "
                "has no default gateway",
            )
        return int(self.gateway)

    def check_destination(self, ip: str | IPv4Address) -> int:
        """``ip`` as an int if the host can send to it; ``ValueError`` for what it cannot
        (not an address, unspecified, loopback, or its own). Groups are accepted."""
        value = _parse_destination(ip)
        if value == self.ip:
            raise ValueError(f"cannot send to {ip}: it is this host's own address (no loopback)")
        return value


def check_port(port: int, what: str) -> None:
    """``ValueError`` unless ``port`` is an int (not a bool) in 1..65535."""
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 0xFFFF:
        raise ValueError(f"{what} must be an integer in 1..65535, not {port!r}")


@functools.lru_cache(maxsize=1024)
def _parse_destination(ip: str | IPv4Address) -> int:
    """The address as an int, refusing what the stack cannot send to. Cached because a
    sender usually talks to the same few peers and ``IPv4Address`` parsing is slow."""
    try:
        addr = IPv4Address(ip)
    except ValueError:
        raise ValueError(f"not an IPv4 address: {ip!r}") from None
    if addr.is_unspecified or addr.is_loopback:
        raise ValueError(f"cannot send to {addr}: unspecified or loopback address")
    return int(addr)


def _check_own_address(address: IPv4Address, network: IPv4Network) -> None:
    if address.is_unspecified or address.is_multicast or address.is_loopback:
        raise ValueError(f"{address} cannot be a host address")
    if int(address) == LIMITED_BROADCAST:
        raise ValueError(f"{address} cannot be a host address")
    if network.prefixlen < 31 and address in (network.network_address, network.broadcast_address):
        raise ValueError(f"{address} is the network or broadcast address of {network}")


def _check_gateway(gateway: IPv4Address, address: IPv4Address, network: IPv4Network) -> None:
    reserved = network.prefixlen < 31 and gateway in (
        network.network_address,
        network.broadcast_address,
    )
    if gateway not in network or gateway == address or reserved:
        raise ValueError(
            f"gateway {gateway} is not a usable address on {network} besides {address}"
        )
