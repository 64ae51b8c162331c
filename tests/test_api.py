# ruff: noqa: E501  (the pinned signatures are written out whole, one per line)
"""The public API, pinned: ``aionetmap.__all__`` and the signatures of its entry points and
of the public methods of its classes. A change here must be deliberate: update this file
(and the README) in the same commit.

Methods that only the layers below call (the ``PortOwner`` and ``DatagramEndpoint``
contracts of :mod:`aionetmap.protocol`) are pinned too, since they are visible on public
classes; CONTRACT_METHODS names them.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import aionetmap
from aionetmap import protocol

ALL = [
    "BatchDatagramProtocol",
    "FrameBatch",
    "FrameProtocol",
    "FrameTransport",
    "NetInterface",
    "Port",
    "PortClosedError",
    "PortInfo",
    "UdpSocket",
    "UdpTransport",
    "UdpTransport6",
    "__version__",
    "create_datagram_endpoint",
    "create_frame_endpoint",
    "open_interface",
    "open_port",
    "open_udp",
    "route_datagram_endpoints",
]

FUNCTIONS = [
    "create_datagram_endpoint",
    "create_frame_endpoint",
    "open_interface",
    "open_udp",
    "open_port",
    "route_datagram_endpoints",
]
CLASSES = [
    "NetInterface",
    "UdpTransport",
    "FrameTransport",
    "UdpSocket",
    "FrameProtocol",
    "BatchDatagramProtocol",
    "Port",
]

SIGNATURES = {
    "create_datagram_endpoint": "(protocol_factory: 'Callable[[], _P]', *, port: 'str | Port', local_addr: 'tuple[str, int] | None' = None, remote_addr: 'tuple[str, int] | None' = None, address: 'str | None' = None, mac: 'bytes | str | None' = None, gateway: 'str | None' = None, mtu: 'int | None' = None, config: 'HostConfig | None' = None, allow_broadcast: 'bool' = False, read_buffer_limit: 'int | None' = None, vlan: 'int | None' = None, ipv6: 'Sequence[str] | None' = None, gateway6: 'str | None' = None) -> 'tuple[UdpTransport, _P]'",
    "create_frame_endpoint": "(protocol_factory: 'Callable[[], _P]', *, port: 'str | Port') -> 'tuple[FrameTransport, _P]'",
    "open_interface": "(port: 'str | Port', *, address: 'str', mac: 'bytes | str | None' = None, gateway: 'str | None' = None, mtu: 'int | None' = None, config: 'HostConfig | None' = None, fast_path: 'bool' = True, vlan: 'int | None' = None, ipv6: 'Sequence[str] | None' = None, gateway6: 'str | None' = None) -> 'NetInterface'",
    "route_datagram_endpoints": "(iface: 'NetInterface') -> 'Iterator[NetInterface]'",
    "open_udp": "(*, port: 'str | Port', local_addr: 'Address | None' = None, remote_addr: 'Address | None' = None, address: 'str | None' = None, max_queue: 'int' = 4096, allow_broadcast: 'bool' = False, read_buffer_limit: 'int | None' = None, **interface_options: 'Any') -> 'UdpSocket'",
    "open_port": "(spec: 'str | PortSpec', **overrides: 'Any') -> 'Port'",
    "NetInterface.add_close_callback": "(self, callback: 'Callable[[Self], None]') -> 'None'",
    "NetInterface.attach": "(self, endpoint: 'DatagramEndpoint') -> 'None'",
    "NetInterface.batch_received": "(self, batch: 'FrameBatch') -> 'None'",
    "NetInterface.check_address": "(self, addr: 'Any', *, allow_broadcast: 'bool' = False) -> 'Address'",
    "NetInterface.check_address6": "(self, addr: 'Any', *, allow_broadcast: 'bool' = False) -> 'Address'",
    "NetInterface.close": "(self) -> 'None'",
    "NetInterface.create_datagram_endpoint": "(self, protocol_factory: 'Any', *, local_port: 'int' = 0, remote_addr: 'Address | None' = None, allow_broadcast: 'bool' = False, read_buffer_limit: 'int | None' = None, local_ip: 'str | None' = None) -> 'tuple[UdpTransport, Any]'",
    "NetInterface.detach": "(self, endpoint: 'DatagramEndpoint') -> 'None'",
    "NetInterface.endpoints": "<property>",
    "NetInterface.fill_tx": "(self) -> 'bool'",
    "NetInterface.link_down": "(self, exc: 'OSError') -> 'None'",
    "NetInterface.ping": "(self, dst: 'str', *, timeout: 'float' = 1.0, payload: 'bytes' = b'aionetmap') -> 'float'",
    "NetInterface.port_failed": "(self, exc: 'BaseException', message: 'str') -> 'None'",
    "NetInterface.retiring": "<property>",
    "NetInterface.start": "(self) -> 'None'",
    "NetInterface.stats": "(self) -> 'dict[str, int]'",
    "NetInterface.tx_backlog": "(self) -> 'int'",
    "NetInterface.tx_drained": "(self, left: 'int') -> 'None'",
    "NetInterface.wait_closed": "(self) -> 'None'",
    "NetInterface.join_group": "(self, port: 'int', group: 'str') -> 'None'",
    "NetInterface.leave_group": "(self, port: 'int', group: 'str') -> 'None'",
    "NetInterface.wait_addresses": "(self, timeout: 'float') -> 'None'",
    "UdpTransport.abort": "(self) -> 'None'",
    "UdpTransport.check_destination": "(self, addr: 'Any') -> 'Address'",
    "UdpTransport.close": "(self) -> 'None'",
    "UdpTransport.datagrams_sent": "(self, payloads: 'list[bytes]') -> 'None'",
    "UdpTransport.deliver": "(self, payload: 'bytes', src: 'Address') -> 'None'",
    "UdpTransport.deliver_many": "(self, payloads: 'Sequence[bytes]', sources: 'Sequence[Address]') -> 'None'",
    "UdpTransport.get_extra_info": "(self, name: 'str', default: 'Any' = None) -> 'Any'",
    "UdpTransport.get_protocol": "(self) -> 'Any'",
    "UdpTransport.get_read_buffer_limit": "(self) -> 'int'",
    "UdpTransport.get_read_buffer_size": "(self) -> 'int'",
    "UdpTransport.get_write_buffer_limits": "(self) -> 'tuple[int, int]'",
    "UdpTransport.get_write_buffer_size": "(self) -> 'int'",
    "UdpTransport.interface_failed": "(self, exc: 'BaseException', message: 'str') -> 'None'",
    "UdpTransport.is_closing": "(self) -> 'bool'",
    "UdpTransport.is_connected_to": "(self, addr: 'Address') -> 'bool'",
    "UdpTransport.is_reading": "(self) -> 'bool'",
    "UdpTransport.link_down": "(self, exc: 'OSError') -> 'None'",
    "UdpTransport.pause_reading": "(self) -> 'None'",
    "UdpTransport.resume_reading": "(self) -> 'None'",
    "UdpTransport.send_failed": "(self, exc: 'OSError') -> 'None'",
    "UdpTransport.sendto": "(self, data: 'bytes | bytearray | memoryview', addr: 'Any' = None) -> 'None'",
    "UdpTransport.set_protocol": "(self, protocol: 'Any') -> 'None'",
    "UdpTransport.set_read_buffer_limit": "(self, limit: 'int') -> 'None'",
    "UdpTransport.set_write_buffer_limits": "(self, high: 'int | None' = None, low: 'int | None' = None) -> 'None'",
    "UdpTransport.stats": "(self) -> 'dict[str, int]'",
    "FrameTransport.abort": "(self) -> 'None'",
    "FrameTransport.batch_received": "(self, batch: 'FrameBatch') -> 'None'",
    "FrameTransport.close": "(self) -> 'None'",
    "FrameTransport.fill_tx": "(self) -> 'bool'",
    "FrameTransport.get_extra_info": "(self, name: 'str', default: 'Any' = None) -> 'Any'",
    "FrameTransport.get_protocol": "(self) -> 'Any'",
    "FrameTransport.get_read_buffer_limit": "(self) -> 'int'",
    "FrameTransport.get_read_buffer_size": "(self) -> 'int'",
    "FrameTransport.get_write_buffer_limits": "(self) -> 'tuple[int, int]'",
    "FrameTransport.get_write_buffer_size": "(self) -> 'int'",
    "FrameTransport.is_closing": "(self) -> 'bool'",
    "FrameTransport.is_reading": "(self) -> 'bool'",
    "FrameTransport.link_down": "(self, exc: 'OSError') -> 'None'",
    "FrameTransport.pause_reading": "(self) -> 'None'",
    "FrameTransport.port_failed": "(self, exc: 'BaseException', message: 'str') -> 'None'",
    "FrameTransport.resume_reading": "(self) -> 'None'",
    "FrameTransport.send": "(self, frame: 'Frame') -> 'None'",
    "FrameTransport.send_many": "(self, frames: 'Iterable[Frame]') -> 'None'",
    "FrameTransport.sendto": "(self, data: 'Frame', addr: 'Any' = None) -> 'None'",
    "FrameTransport.set_protocol": "(self, protocol: 'Any') -> 'None'",
    "FrameTransport.set_read_buffer_limit": "(self, limit: 'int') -> 'None'",
    "FrameTransport.set_write_buffer_limits": "(self, high: 'int | None' = None, low: 'int | None' = None) -> 'None'",
    "FrameTransport.stats": "(self) -> 'dict[str, int]'",
    "FrameTransport.tx_backlog": "(self) -> 'int'",
    "FrameTransport.tx_drained": "(self, left: 'int') -> 'None'",
    "UdpSocket.aclose": "(self) -> 'None'",
    "UdpSocket.close": "(self) -> 'None'",
    "UdpSocket.dropped": "<property>",
    "UdpSocket.peername": "<property>",
    "UdpSocket.recv": "(self) -> 'bytes'",
    "UdpSocket.recvfrom": "(self) -> 'tuple[bytes, Address]'",
    "UdpSocket.send": "(self, data: 'bytes | bytearray | memoryview') -> 'None'",
    "UdpSocket.sendto": "(self, data: 'bytes | bytearray | memoryview', addr: 'Address | None' = None) -> 'None'",
    "UdpSocket.sockname": "<property>",
    "UdpSocket.transport": "<property>",
    "FrameProtocol.connection_lost": "(self, exc)",
    "FrameProtocol.connection_made": "(self, transport)",
    "FrameProtocol.error_received": "(self, exc: 'OSError') -> 'None'",
    "FrameProtocol.frame_received": "(self, frame: 'bytes') -> 'None'",
    "FrameProtocol.frames_received": "(self, frames: 'Sequence[bytes]') -> 'None'",
    "FrameProtocol.pause_writing": "(self)",
    "FrameProtocol.resume_writing": "(self)",
    "Port.close": "(self) -> 'None'",
    "Port.closed": "<property>",
    "BatchDatagramProtocol.connection_lost": "(self, exc)",
    "BatchDatagramProtocol.connection_made": "(self, transport)",
    "BatchDatagramProtocol.datagram_received": "(self, data, addr)",
    "BatchDatagramProtocol.datagrams_received": "(self, data: 'Sequence[bytes]', addrs: 'Sequence[Address]') -> 'None'",
    "BatchDatagramProtocol.error_received": "(self, exc)",
    "BatchDatagramProtocol.pause_writing": "(self)",
    "BatchDatagramProtocol.resume_writing": "(self)",
    "UdpTransport.sendto_many": "(self, data: 'Iterable[bytes | bytearray | memoryview]', addr: 'Any' = None, *, addrs: 'Sequence[Any] | None' = None) -> 'None'",
    "UdpTransport.groups": "<property>",
    "UdpTransport.join_group": "(self, group: 'str') -> 'None'",
    "UdpTransport.leave_group": "(self, group: 'str') -> 'None'",
    "UdpTransport.set_multicast_loop": "(self, loop: 'bool') -> 'None'",
    "UdpTransport.set_multicast_ttl": "(self, ttl: 'int') -> 'None'",
    "UdpSocket.recvfrom_many": "(self, max_count: 'int' = 64) -> 'list[tuple[bytes, Address]]'",
    "UdpSocket.sendto_many": "(self, data: 'Iterable[bytes | bytearray | memoryview]', addr: 'Address | None' = None, *, addrs: 'Sequence[Address] | None' = None) -> 'None'",
    "UdpSocket.groups": "<property>",
    "UdpSocket.join_group": "(self, group: 'str') -> 'None'",
    "UdpSocket.leave_group": "(self, group: 'str') -> 'None'",
    "UdpSocket.set_multicast_loop": "(self, loop: 'bool') -> 'None'",
    "UdpSocket.set_multicast_ttl": "(self, ttl: 'int') -> 'None'",
    "Port.fileno": "(self) -> 'int'",
    "Port.flush": "(self) -> 'None'",
    "Port.info": "<property>",
    "Port.poll_error": "(self) -> 'OSError | None'",
    "Port.recv": "(self, batch: 'FrameBatch', max_frames: 'int | None' = None) -> 'int'",
    "Port.send": "(self, frames: 'Sequence[bytes | bytearray | memoryview]') -> 'int'",
    "Port.send_batch": "(self, batch: 'FrameBatch', start: 'int' = 0) -> 'int'",
    "Port.stats": "(self) -> 'Mapping[str, int]'",
    "Port.tx_in_flight": "(self) -> 'int'",
    "Port.tx_pending": "(self) -> 'int'",
    "Port.tx_space": "(self) -> 'int'",
    "Port.tx_wakeup": "<property>",
}

CONTRACT_METHODS: dict[Any, tuple[str, ...]] = {
    protocol.PortOwner: (
        "batch_received",
        "fill_tx",
        "tx_backlog",
        "tx_drained",
        "port_failed",
        "link_down",
    ),
    protocol.DatagramEndpoint: (
        "deliver",
        "deliver_many",
        "send_failed",
        "is_connected_to",
        "datagrams_sent",
        "link_down",
        "interface_failed",
        "abort",
    ),
}


def _signature(owner: Any, name: str) -> str:
    if isinstance(inspect.getattr_static(owner, name), property):
        return "<property>"
    return str(inspect.signature(getattr(owner, name)))


def test_all_is_pinned() -> None:
    assert aionetmap.__all__ == ALL
    for name in ALL:
        assert hasattr(aionetmap, name), name


@pytest.mark.parametrize("name", FUNCTIONS)
def test_entry_point_signatures(name: str) -> None:
    assert _signature(aionetmap, name) == SIGNATURES[name]


@pytest.mark.parametrize("name", CLASSES)
def test_public_methods_and_their_signatures(name: str) -> None:
    cls = getattr(aionetmap, name)
    public = sorted(attr for attr in dir(cls) if not attr.startswith("_"))
    pinned = sorted(key.split(".", 1)[1] for key in SIGNATURES if key.startswith(f"{name}."))
    assert public == pinned
    for attr in public:
        assert _signature(cls, attr) == SIGNATURES[f"{name}.{attr}"], attr


@pytest.mark.parametrize(
    ("cls", "contract"),
    [
        ("NetInterface", protocol.PortOwner),
        ("FrameTransport", protocol.PortOwner),
        ("UdpTransport", protocol.DatagramEndpoint),
    ],
)
def test_classes_keep_their_contracts(cls: str, contract: Any) -> None:
    # The contract's methods exist with the contract's signatures, so the layers below can
    # call them; a change to one is a change to the contract, made in aionetmap.protocol.
    owner = getattr(aionetmap, cls)
    for method in CONTRACT_METHODS[contract]:
        assert _signature(owner, method) == _signature(contract, method), (cls, method)
