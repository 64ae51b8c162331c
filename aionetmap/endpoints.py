"""The public entry points: open an interface, create UDP and frame endpoints.

``create_datagram_endpoint`` mirrors ``loop.create_datagram_endpoint``; endpoints created
for the same port in the same loop share one :class:`NetInterface` (one host, one ARP
cache, one set of rings).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import ipaddress
import os
import weakref
from collections.abc import Callable, Sequence
from typing import TypeVar

from aionetmap.interface import NetInterface
from aionetmap.ports.base import Port, PortInfo
from aionetmap.stack import Host, HostConfig
from aionetmap.stack.ethernet import ETH_HEADER_LEN, VLAN_TAG_LEN
from aionetmap.transport import FrameTransport, UdpTransport

__all__ = ["create_datagram_endpoint", "create_frame_endpoint", "open_interface"]

_P = TypeVar("_P")
_DAD_MARGIN = 2.0  # seconds granted beyond DAD's own schedule (a busy loop, a slow port)

# Interfaces opened implicitly by create_datagram_endpoint, per loop and port spec, so that
# several endpoints on one port share one host. An interface leaves when it closes; the
# values are weak too, so that an interface (and its loop) leaked without closing can still
# be collected, and warn.
_Registry = weakref.WeakValueDictionary[str | Port, NetInterface]
_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Registry] = (
    weakref.WeakKeyDictionary()
)


def _forget(loop: asyncio.AbstractEventLoop, key: str | Port, iface: NetInterface) -> None:
    per_loop = _shared.get(loop)
    if per_loop is not None and per_loop.get(key) is iface:
        del per_loop[key]
        if not per_loop:
            del _shared[loop]


def _open(port: str | Port) -> tuple[Port, bool]:
    if isinstance(port, str):
        from aionetmap.ports import open_port

        return open_port(port), True
    return port, False


def _mac_for(mac: bytes | str | None, port: Port) -> bytes | str:
    """The host's MAC: ``mac`` as given (``Host`` checks it), else the port's, else random."""
    if mac is not None:
        return mac
    known = port.info.mac
    if known:
        return known
    # A random locally administered unicast address, as Linux gives a new veth.
    raw = bytearray(os.urandom(6))
    raw[0] = (raw[0] & 0xFC) | 0x02
    return bytes(raw)


def _config_for(config: HostConfig | None, info: PortInfo) -> HostConfig:
    """``config`` with the partial-checksum rule decided by the port where left open."""
    config = config or HostConfig()
    if config.accept_partial_checksum is None:
        wanted = info.unflagged_partial_checksums
        config = dataclasses.replace(config, accept_partial_checksum=wanted)
    return config


def _interface_address(address: str | None, local_addr: tuple[str, int] | None) -> str:
    if address is not None:
        return address
    if local_addr is not None and "/" in str(local_addr[0]) and ":" not in str(local_addr[0]):
        return str(local_addr[0])
    raise ValueError(
        "the interface needs an IPv4 address with its prefix length: pass "
        "address='10.0.0.2/24' (or local_addr=('10.0.0.2/24', port))"
    )


async def open_interface(
    port: str | Port,
    *,
    address: str,
    mac: bytes | str | None = None,
    gateway: str | None = None,
    mtu: int | None = None,
    config: HostConfig | None = None,
    fast_path: bool = True,
    vlan: int | None = None,
    ipv6: Sequence[str] | None = None,
    gateway6: str | None = None,
) -> NetInterface:
    """Open ``port`` (a portspec or an open :class:`Port`) and put an IPv4 host on it.

    ``address`` is ``"A.B.C.D/N"``; ``mac`` defaults to the interface's own address where
    the backend knows it (a random locally administered one otherwise); ``mtu`` defaults to
    the port's; ``config`` tunes the stack (ARP timers and queues, ICMP rate limits,
    reassembly; ``accept_partial_checksum`` left at ``None`` is decided by the port: on
    for netmap on an OS interface, whose frames from a local kernel may hold partial UDP
    checksums nothing flags). ``vlan`` (1..4094) puts the host on that 802.1Q VLAN, like a
    Linux VLAN sub-interface: it takes only frames tagged with that id and tags all it
    sends; without it, frames tagged with a VLAN id are dropped (``drop_eth_vlan_tagged``).
    ``fast_path=False`` handles every frame in the pure-Python stack instead of the native
    classifier and builder (same behaviour, slower: for debugging and comparison). The
    caller closes the interface (which closes a port it opened).

    ``ipv6`` lists IPv6 addresses with prefixes (``["2001:db8::2/64"]``) the host owns
    too, beside its link-local one (derived from the MAC, EUI-64, unless one is given);
    ``gateway6`` is an IPv6 default router (else one from router advertisements). With
    IPv6, ``open_interface`` returns once duplicate address detection (RFC 4862) has
    cleared every address, about ``config.ndp_retrans_timer`` (1 s) per DAD probe, and
    raises ``OSError(EADDRINUSE)`` if another station holds one.
    """
    iface = _start_interface(
        port, address, mac, gateway, mtu, config,
        close_when_unused=False, fast_path=fast_path, vlan=vlan, ipv6=ipv6, gateway6=gateway6,
    )  # fmt: skip
    await _wait_dad(iface)
    return iface


async def _wait_dad(iface: NetInterface) -> None:
    """Return once DAD has ended for the interface's IPv6 addresses; close it and raise
    if an address is a duplicate (or DAD outlasts its own schedule, some margin added)."""
    cfg = iface.host.config
    timeout = cfg.ndp_retrans_timer * (cfg.dad_transmits + 1) + _DAD_MARGIN
    try:
        await iface.wait_addresses(timeout)
    except BaseException:
        iface.close()
        raise


def _start_interface(
    port: str | Port,
    address: str,
    mac: bytes | str | None,
    gateway: str | None,
    mtu: int | None,
    config: HostConfig | None,
    *,
    close_when_unused: bool,
    fast_path: bool = True,
    vlan: int | None = None,
    ipv6: Sequence[str] | None = None,
    gateway6: str | None = None,
) -> NetInterface:
    loop = asyncio.get_running_loop()
    opened, owns = _open(port)
    iface = None
    try:
        info = opened.info
        # The MTU counts IPv4 bytes: a tag, if any, comes on top (as on a Linux VLAN device).
        header = ETH_HEADER_LEN + (0 if vlan is None else VLAN_TAG_LEN)
        link_mtu = mtu or info.mtu or min(1500, info.max_frame - header)
        config = _config_for(config, info)
        host = Host(
            _mac_for(mac, opened),
            address,
            gateway=gateway,
            mtu=link_mtu,
            config=config,
            vlan=vlan,
            ipv6=None if ipv6 is None else list(ipv6),
            gateway6=gateway6,
        )
        iface = NetInterface(
            loop,
            opened,
            host,
            owns_port=owns,
            close_when_unused=close_when_unused,
            fast_path=fast_path,
        )
        iface.start()
    except BaseException:
        if iface is not None:
            iface.close()  # stops its reader and closes the port if it owns it
        elif owns:
            opened.close()
        raise
    return iface


async def create_datagram_endpoint(
    protocol_factory: Callable[[], _P],
    *,
    port: str | Port,
    local_addr: tuple[str, int] | None = None,
    remote_addr: tuple[str, int] | None = None,
    address: str | None = None,
    mac: bytes | str | None = None,
    gateway: str | None = None,
    mtu: int | None = None,
    config: HostConfig | None = None,
    allow_broadcast: bool = False,
    read_buffer_limit: int | None = None,
    vlan: int | None = None,
    ipv6: Sequence[str] | None = None,
    gateway6: str | None = None,
) -> tuple[UdpTransport, _P]:
    """Serve a UDP protocol on a netmap (or AF_PACKET, or software-pipe) port.

    Like ``loop.create_datagram_endpoint``: returns ``(transport, protocol)`` once
    ``connection_made`` has run. ``local_addr`` is ``(ip, port)``; port 0 picks a free one.
    ``ip`` is the interface address (the default, also when ``local_addr`` is ``None``) or
    the wildcard ``"0.0.0.0"``: as with a kernel socket, only a wildcard-bound endpoint also
    receives datagrams sent to the subnet broadcast or 255.255.255.255 (its replies leave
    from the interface address), and its ``sockname`` is ``("0.0.0.0", port)``.
    ``remote_addr`` makes a connected endpoint (``sendto`` without an address; only the
    peer's datagrams are delivered). Endpoints on the same ``port`` (spec or object) in
    the same loop share one host; ``address``/``mac``/``gateway``/``mtu``/``config``/``vlan``
    (see :func:`open_interface`) apply when that host is created. ``allow_broadcast`` lets
    the endpoint send to broadcast addresses, as asyncio's keyword of that name does.
    Destinations are checked as asyncio checks them: see :class:`~aionetmap.UdpTransport`.
    ``read_buffer_limit`` is how many bytes are held for the protocol while it has paused
    reading (each datagram counts its payload plus 256 bytes; default 212,992, like Linux's
    ``rmem_default``); beyond it, datagrams are dropped and counted in
    ``stats()["rx_dropped_paused"]``.

    IPv6: ``local_addr`` may be ``(ipv6, port)``: one of the interface's IPv6 addresses,
    given with its prefix (``("2001:db8::2/64", 7)``, which also gives it to a host
    created here, as ``ipv6=[...]`` does) or without, or ``("::", port)``. The endpoint
    is then a :class:`~aionetmap.UdpTransport6`, named like an AF_INET6 socket; bound to
    ``::`` it is dual-stack, IPv4 included. The host still needs its IPv4 ``address``.
    It is returned once DAD has cleared the host's IPv6 addresses (see
    :func:`open_interface`).
    """
    loop = asyncio.get_running_loop()
    iface_address = _interface_address(address, local_addr)
    ip_only = str(ipaddress.IPv4Interface(iface_address).ip)
    local_ip: str | None = None
    is_v6 = local_addr is not None and ":" in str(local_addr[0])
    if is_v6 and local_addr is not None:
        local_ip = str(local_addr[0])
        if "/" in local_ip and ipv6 is None:
            ipv6 = [local_ip]
    elif local_addr is not None:
        wanted_ip = str(local_addr[0]).split("/")[0]
        if wanted_ip not in ("", "0.0.0.0", ip_only):
            raise ValueError(
                f"local_addr {local_addr!r} does not match the interface address {iface_address}"
            )
        local_ip = "0.0.0.0" if wanted_ip in ("", "0.0.0.0") else ip_only
    local_port = 0 if local_addr is None else int(local_addr[1])

    # Keyed by the spec text or by the Port object itself: either way, one host per port.
    per_loop = _shared.get(loop)
    if per_loop is None:
        per_loop = _shared[loop] = weakref.WeakValueDictionary()
    iface = per_loop.get(port)
    if iface is not None and iface.closed:
        iface = None
    if iface is not None and iface.interface != ipaddress.IPv4Interface(iface_address):
        raise ValueError(
            f"port {iface.port.info.name} already carries {iface.interface}, not {iface_address}"
        )
    if iface is not None and iface.host.vlan != vlan:
        raise ValueError(
            f"port {iface.port.info.name} already carries a host with vlan={iface.host.vlan}, "
            f"not vlan={vlan}"
        )
    if iface is None:
        iface = _start_interface(
            port, iface_address, mac, gateway, mtu, config,
            close_when_unused=True, vlan=vlan, ipv6=ipv6, gateway6=gateway6,
        )  # fmt: skip
        per_loop[port] = iface
        iface.add_close_callback(functools.partial(_forget, loop, port))
    try:
        await _wait_dad_shared(iface)
        transport, protocol = await iface.create_datagram_endpoint(
            protocol_factory,
            local_port=local_port,
            remote_addr=remote_addr,
            allow_broadcast=allow_broadcast,
            read_buffer_limit=read_buffer_limit,
            local_ip=local_ip,
        )
    except BaseException:
        # Nobody else uses it (and it is not finishing a send for an endpoint that left).
        if not iface.endpoints and not iface.retiring:
            iface.close()
        raise
    return transport, protocol


async def _wait_dad_shared(iface: NetInterface) -> None:
    """:func:`_wait_dad` for a shared interface: closing it on failure is left to the
    caller, which knows whether other endpoints use it."""
    cfg = iface.host.config
    await iface.wait_addresses(cfg.ndp_retrans_timer * (cfg.dad_transmits + 1) + _DAD_MARGIN)


async def create_frame_endpoint(
    protocol_factory: Callable[[], _P], *, port: str | Port
) -> tuple[FrameTransport, _P]:
    """Connect a raw-frame protocol (see :class:`aionetmap.FrameProtocol`) to a port.

    The transport owns a port it opened from a spec and closes it with itself.
    """
    loop = asyncio.get_running_loop()
    opened, owns = _open(port)
    try:
        protocol = protocol_factory()
        waiter: asyncio.Future[None] = loop.create_future()
        transport = FrameTransport(loop, opened, protocol, owns_port=owns, waiter=waiter)
    except BaseException:
        if owns:
            opened.close()
        raise
    try:
        await waiter
    except BaseException:
        transport.abort()
        raise
    return transport, protocol
