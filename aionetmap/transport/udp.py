"""UdpTransport: one bound UDP port of a NetInterface, as asyncio's datagram transport.

The UDP transport follows ``_SelectorDatagramTransport``'s contract point by point (see
``aionetmap._aio.transport_base``), with these documented differences:

* Nothing is sent from inside ``sendto``: datagrams queue, and all those queued during one
  loop iteration are built into frames and put in the TX ring together (one native call,
  one flush). The queue is pushed early once it passes the high-water mark, so
  ``pause_writing`` still means "the ring is full", as it means "the kernel buffer is full"
  for a socket.
* Beyond asyncio, batches both ways: a protocol whose class defines
  ``datagrams_received(data, addrs)`` (see :class:`~aionetmap.BatchDatagramProtocol`)
  gets everything one read of the port brought for it in one call, and
  :meth:`UdpTransport.sendto_many` queues many datagrams in one call, under the same flow
  control and error rules as ``sendto``.
* A zero-length datagram is sent (it is valid UDP); stock asyncio on Python 3.11 silently
  discards it.
* ``pause_reading()`` works (uvloop's UDP transport lacks it) the way a kernel socket's
  receive buffer does: datagrams for a paused endpoint are held, up to the read-buffer
  limit (``read_buffer_limit=`` on the endpoint, :meth:`set_read_buffer_limit`; default 212,992
  bytes like ``net.core.rmem_default``, each datagram counting its payload plus 256
  bytes), and delivered in order after ``resume_reading()``; beyond the limit they are
  dropped and counted as ``rx_dropped_paused``. ARP and ping keep working meanwhile.
  ``stats()["rx_held"]`` says how many are held.
* A datagram that cannot be sent (too large, no ARP answer, unreachable network) reaches
  ``error_received`` and is dropped, as a kernel error on ``sendto`` would.
* ``close()`` waits for queued datagrams to find room in the ring for as long as the ring
  keeps taking them. Only if none is taken for ``CLOSE_STALL_TIMEOUT`` seconds (a peer
  that stopped reading) does it drop the rest, count them (``tx_dropped_close``), log a
  warning, and call ``connection_lost(None)``. ``abort()`` drops at once.

``sendto`` follows asyncio's error contract (``_SelectorDatagramTransport``) for every bad
destination: it raises only ``TypeError`` for data that is not bytes-like and
``ValueError`` for a connected endpoint given another address. An ``OSError`` goes to
``error_received`` and the endpoint stays open: a name that does not resolve
(``socket.gaierror``), port 0 (``EINVAL``), a broadcast address on an endpoint created
without ``allow_broadcast=True`` (``PermissionError``, ``EACCES``). What the socket module
refuses before any system call is fatal, ``connection_lost(exc)`` after the loop's
exception handler: not a 2-tuple (a 4-tuple, a 1-tuple, a string, ``None`` on an endpoint
that is not connected), a host that is not ``str``/``bytes``, a port that is not an
integer (``TypeError``) or outside 0..65535 (``OverflowError``). Deliberate differences
from a kernel socket, each an ``OSError`` to ``error_received``:

* Names are not resolved (a lookup would block the loop): ``"localhost"`` or any other
  name gives ``socket.gaierror`` (``EAI_NONAME``), as an unknown name does. IPv4 literals
  in every form ``inet_aton`` reads (``10.1``, ``0x0a.0.0.1``) are accepted.
* There is no loopback device: the own address, ``0.0.0.0`` (and ``""``) and 127.0.0.0/8
  give ``ENETUNREACH``, where the kernel would deliver them locally.
* A multicast destination is sent to its group (see :class:`UdpTransport`).

uvloop's own UDP transport departs from asyncio here (it raises ``ValueError`` for names
and tuples of the wrong length, accepts ports past 65535); aionetmap follows asyncio's
rules on every loop. A validated unicast destination is cached per interface, so a port
given as a ``float`` equal to a cached ``int`` one is taken from the cache, not refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any, cast

from aionetmap._aio import constants
from aionetmap._aio.log import logger
from aionetmap._aio.netif import InterfaceCore
from aionetmap._aio.transport_base import PortTransportBase
from aionetmap.protocol import Address, BatchDatagramProtocol
from aionetmap.stack.errors import DatagramTooLarge
from aionetmap.stack.udp import UDP_HEADER_LEN
from aionetmap.transport.multicast import MulticastOptions

__all__ = ["UdpTransport"]

_BYTES_ONLY = {bytes}
_NOTHING = object()  # no address was sent to yet


class UdpTransport(MulticastOptions, PortTransportBase, asyncio.DatagramTransport):
    """One bound UDP port on a :class:`~aionetmap.NetInterface`.

    Bound to the interface's address (``sockname`` ``(ip, port)``) it receives only
    datagrams sent to that address; bound to the wildcard (``("0.0.0.0", port)``) it also
    receives those sent to the subnet broadcast and to 255.255.255.255, as kernel sockets
    do. Either way it sends from the interface's address.

    Multicast, shaped after the socket options (all synchronous, raising as
    ``setsockopt`` would, and forgotten when the transport closes, which leaves its
    groups as closing a kernel socket does):

    * :meth:`join_group` / :meth:`leave_group`: ``IP_ADD_MEMBERSHIP`` /
      ``IP_DROP_MEMBERSHIP`` on the interface (any source). The interface sends the
      IGMP reports and answers queries. A group's datagrams reach only wildcard
      endpoints (``local_ip="0.0.0.0"``), as on Linux, so joining from an endpoint bound
      to the unicast address is refused (``EINVAL``, saying so).
    * :meth:`set_multicast_ttl`: ``IP_MULTICAST_TTL`` (1 by default).
    * :meth:`set_multicast_loop`: ``IP_MULTICAST_LOOP`` (on by default): whether what
      this endpoint sends to a group this host joined is delivered here too.

    ``sendto`` a group address works on any endpoint; replies to what a group delivered
    leave from the unicast address.
    """

    _IPV4_ONLY = True  # every destination an IPv4 pair: the C builder takes them all

    def __init__(
        self,
        iface: InterfaceCore,
        protocol: Any,
        local_port: int,
        remote: Address | None,
        *,
        waiter: asyncio.Future[None] | None = None,
        allow_broadcast: bool = False,
        wildcard: bool = False,
    ) -> None:
        loop = iface.loop
        extra = {
            # A wildcard endpoint names itself as a kernel socket bound to 0.0.0.0 does.
            "sockname": ("0.0.0.0" if wildcard else str(iface.host.address), local_port),
            "peername": remote,
            "mac": iface.host.mac,
            "interface": iface.interface,
            "netinterface": iface,
            "port_info": iface.port.info,
            "portspec": iface.port.info.name,
        }
        super().__init__(loop, protocol, extra)
        self._iface = iface
        self.local_port = local_port
        self._remote = remote
        # Queued datagrams go straight into this endpoint's queue in the interface's TX
        # scheduler; its two lists are kept at hand for sendto, which appends to them.
        scheduler = iface.scheduler
        self._queue = scheduler.queue_for(
            self, connected=remote is not None, ipv4_only=self._IPV4_ONLY
        )
        self._payloads = self._queue.payloads
        self._dsts = self._queue.dsts
        self._want_tx = scheduler.want
        self._flush_now = iface.driver.flush_now
        self._careful = remote is not None
        self._allow_broadcast = allow_broadcast
        self._wildcard = wildcard
        self._addresses = iface.address_cache
        self._max_payload = iface.max_payload
        self._unfragmented = self._queue.unfragmented  # larger payloads leave as fragments
        # The address object sendto last found in the address cache, and its entry: a
        # server answering one peer passes the very same tuple again and again.
        self._last_addr: object = _NOTHING
        self._last_dst: Address = ("", 0)
        # The payload tuple being handed to datagrams_received (None outside that call): a
        # tuple of bytes made by the interface, so sendto_many takes it back unchecked.
        self._delivered: tuple[bytes, ...] | None = None
        self._rx_datagrams = 0
        # The protocol's datagram_received while delivery needs no checks (connected,
        # reading, open, not filtering by peer), else None. A fresh bound method on every
        # state change, so a batch loop sees any change (even a swapped protocol) by
        # identity alone.
        self._receive: Any = None
        # The protocol's datagrams_received under the same conditions, for a protocol
        # that takes batches (then _receive hands it batches of one).
        self._receive_batch: Any = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._close_mark = 0  # datagrams still queued at the last close-stall check
        self.counters = {
            "tx_datagrams": 0,
            "rx_dropped_paused": 0,
            "rx_dropped_not_peer": 0,
            "tx_failed": 0,
            "tx_dropped_close": 0,
        }
        self._schedule_connection_made(waiter)

    def __repr__(self) -> str:
        state = "closed" if self._conn_lost else ("closing" if self._closing else "open")
        local = self._extra["sockname"]
        peer = f" peer={self._remote[0]}:{self._remote[1]}" if self._remote else ""
        return (
            f"<UdpTransport {local[0]}:{local[1]}{peer} on {self._extra['portspec']} {state} "
            f"bufsize={self._buffer_size}>"
        )

    # === Public API ===

    def sendto(self, data: bytes | bytearray | memoryview, addr: Any = None) -> None:
        """Queue one datagram to ``addr`` (an ``(ipv4, port)`` tuple), or to the peer of a
        connected endpoint when ``addr`` is None. Never blocks.

        Raises only what asyncio's ``sendto`` raises: ``TypeError`` for data that is not
        bytes-like, ``ValueError`` for a connected endpoint given another address. A
        destination it cannot send to goes to ``error_received`` (an ``OSError``) or, for
        an argument a socket would refuse outright, closes the endpoint (see the module
        docstring).
        """
        # This runs once per datagram: the common case (bytes, a known address, a buffer
        # below the high-water mark) takes no more than a few dict and list operations.
        if type(data) is not bytes:
            if not isinstance(data, (bytearray, memoryview)):
                kind = type(data).__name__
                raise TypeError(f"data argument must be a bytes-like object, not {kind!r}")
            data = bytes(data)  # an immutable snapshot, as asyncio buffers
        if addr is None or self._careful:  # connected, or lost: the rules take longer
            if not self._sendto_rules(addr):
                return
            addr = self._remote
        if addr is self._last_addr:  # the same tuple object again (an echo): no hashing
            dst = self._last_dst
        else:
            try:
                dst = self._addresses[addr]
            except (KeyError, TypeError):  # new, broadcast, or not hashable: validate it
                checked = self._check_destination(addr)
                if checked is None:
                    return
                dst = checked
            else:  # only a cached (validated unicast) destination is remembered
                self._last_addr, self._last_dst = addr, dst
        size = len(data)
        if size > self._unfragmented:  # fragments, or too large to send at all
            if size > self._max_payload and not self._oversized_fits(size, dst):
                return
            self._queue.oversize += 1
        payloads = self._payloads
        if not payloads:  # it was empty: ask for a TX pass this iteration
            self._want_tx(self._queue)
        payloads.append(data)
        self._dsts.append(dst)
        self._buffer_size += size + UDP_HEADER_LEN  # as CPython >= 3.12 counts a datagram
        if self._buffer_size > self._high_water:
            # The ring may well have room: push now before deciding to pause the protocol.
            self._flush_now()
            self._maybe_pause_protocol()

    def sendto_many(
        self,
        data: Iterable[bytes | bytearray | memoryview],
        addr: Any = None,
        *,
        addrs: Sequence[Any] | None = None,
    ) -> None:
        """Queue many datagrams in one call: each of ``data`` to ``addr`` (None: the peer
        of a connected endpoint), or ``data[i]`` to ``addrs[i]`` (``addrs`` as
        ``datagrams_received`` hands them over, so an echo is
        ``sendto_many(data, addrs=addrs)``). Never blocks.

        Each datagram is queued as :meth:`sendto` queues it, with its flow control (the
        buffer counts it, ``pause_writing`` at the high-water mark) and its rules for a
        destination: ``error_received`` and the next datagram for an ``OSError``; a
        fatal error (an address of the wrong shape) closes the endpoint and drops the
        rest. Raised before anything is queued: ``TypeError`` for an item that is not
        bytes-like or for both ``addr`` and ``addrs``, ``ValueError`` for ``addrs`` of
        another length than ``data`` or, on a connected endpoint, another address.
        """
        payloads: Sequence[bytes]
        if data is self._delivered and data is not None:  # an echo of the batch: all bytes
            payloads = data
        else:
            items = list(data)
            if set(map(type, items)) == _BYTES_ONLY:  # checked in C: the common case
                payloads = cast("list[bytes]", items)
            else:
                payloads = [item if type(item) is bytes else _snapshot(item) for item in items]
        if addrs is None:
            targets = None
        else:
            if addr is not None:
                raise TypeError("sendto_many() takes addr or addrs, not both")
            targets = addrs if type(addrs) is list else list(addrs)
            if len(targets) != len(payloads):
                raise ValueError(
                    f"sendto_many(): {len(payloads)} datagrams but {len(targets)} addresses"
                )
        if self._careful or (targets is None and addr is None):
            self._sendto_each(payloads, addr, targets)
            return
        if payloads and not self._queue_known(payloads, addr, targets):
            self._queue_checked(payloads, addr, targets)

    def _queue_known(self, payloads: Sequence[bytes], addr: Any, targets: list[Any] | None) -> bool:
        """sendto_many's common case in a few list-wise operations: every destination in
        the address cache, no datagram too large. False (nothing queued): take the
        careful loop. The high-water mark is checked once, after the whole batch."""
        cache = self._addresses
        count = len(payloads)
        try:
            if targets is None:
                dsts = [cache[addr]] * count
            elif targets[-1] is targets[0] and targets.count(targets[0]) == count:
                dsts = [cache[targets[0]]] * count  # one peer (an echo): one lookup
            else:
                dsts = [*map(cache.__getitem__, targets)]
        except (KeyError, TypeError):  # new, broadcast, or not hashable: validate each
            return False
        sizes = [*map(len, payloads)]
        largest = max(sizes)
        oversize = 0
        if largest > self._unfragmented:
            if largest > self._max_payload:
                return False
            oversize = sum(1 for size in sizes if size > self._unfragmented)
        queue = self._queue
        if not self._payloads:
            self._want_tx(queue)
            queue.sizes.extend(sizes)  # measured once: the builder takes them from there
        elif len(queue.sizes) == len(self._payloads):  # else sendto queued unmeasured ones
            queue.sizes.extend(sizes)  # (the lengths known stay a prefix of the queue)
        self._payloads.extend(payloads)  # the scheduler's own lists: extended in place
        self._dsts.extend(dsts)
        queue.oversize += oversize
        self._buffer_size += sum(sizes) + count * UDP_HEADER_LEN
        if self._buffer_size > self._high_water:
            self._flush_now()
            self._maybe_pause_protocol()
        return True

    def _queue_checked(
        self, payloads: Sequence[bytes], addr: Any, targets: list[Any] | None
    ) -> None:
        """sendto_many datagram by datagram, each as sendto queues it."""
        cache = self._addresses
        limit = self._max_payload
        queued = self._payloads
        dsts = self._dsts
        for i, payload in enumerate(payloads):
            target = addr if targets is None else targets[i]
            try:
                dst = cache[target]
            except (KeyError, TypeError):
                checked = self._check_destination(target)
                if checked is None:
                    if self._conn_lost:  # fatal: the rest goes nowhere
                        return
                    continue
                dst = checked
            size = len(payload)
            if size > self._unfragmented:
                if size > limit and not self._oversized_fits(size, dst):
                    continue
                self._queue.oversize += 1
            if not queued:
                self._want_tx(self._queue)
            queued.append(payload)
            dsts.append(dst)
            self._buffer_size += size + UDP_HEADER_LEN
            if self._buffer_size > self._high_water:
                self._flush_now()
                self._maybe_pause_protocol()

    def _sendto_each(self, payloads: Sequence[bytes], addr: Any, targets: list[Any] | None) -> None:
        """sendto_many for a connected endpoint, a lost one, or no address at all: one
        sendto per datagram, after checking every address (sendto's ValueError must come
        before anything is queued)."""
        remote = self._remote
        if remote is not None:
            for target in [addr] if targets is None else targets:
                if target is not None and target != remote:
                    raise ValueError(f"Invalid address: must be None or {remote}")
        for i, payload in enumerate(payloads):
            self.sendto(payload, addr if targets is None else targets[i])
            if self._conn_lost:
                return  # fatal (or lost): the rest goes nowhere, quietly

    def check_destination(self, addr: Any) -> Address:
        """``addr`` as this endpoint would send to it (``(dotted quad, int port)``), or the
        exception that ``sendto`` would hand to ``error_received`` (an ``OSError``) or to
        ``connection_lost`` (anything else). Raises instead of reporting: for callers
        that want the error themselves, such as :class:`~aionetmap.UdpSocket`."""
        return self._iface.check_address(addr, allow_broadcast=self._allow_broadcast)

    def _check_destination(self, addr: Any) -> Address | None:
        """A destination not in the cache, or None once its error went where asyncio's
        transport sends it: ``OSError`` to ``error_received``, anything else (what
        ``socket.sendto`` refuses before any system call) to ``connection_lost``."""
        try:
            return self.check_destination(addr)
        except OSError as exc:
            self.counters["tx_failed"] += 1
            self._report(exc)
        except Exception as exc:
            self._fatal_error(exc, "Fatal write error on datagram transport")
        return None

    def _sendto_rules(self, addr: Any) -> bool:
        """asyncio's sendto rules for connected and lost endpoints; False: drop it."""
        if self._remote is None:
            if addr is None:
                if self._check_open():
                    # asyncio hands None on to socket.sendto, which refuses it: fatal.
                    err = TypeError(
                        "sendto(): AF_INET address must be tuple, not NoneType "
                        "(this endpoint is not connected: sendto() needs an address)"
                    )
                    self._fatal_error(err, "Fatal write error on datagram transport")
                return False
        elif addr is not None and addr != self._remote:
            raise ValueError(f"Invalid address: must be None or {self._remote}")
        return self._check_open()

    def _oversized_fits(self, size: int, dst: Address) -> bool:
        """A payload over ``_max_payload`` (the limit for every destination): False once
        reported as ``DatagramTooLarge`` (``EMSGSIZE``, as Linux refuses it). An IPv6
        endpoint lets larger ones go to IPv6 destinations."""
        self._too_large(size, self._max_payload)
        return False

    def _too_large(self, size: int, limit: int, *, ipv6: bool = False) -> None:
        self.counters["tx_failed"] += 1
        host = self._iface.host
        self._report(DatagramTooLarge("UDP payload", size, limit, host.mtu, ipv6=ipv6))

    def stats(self) -> dict[str, int]:
        """Counters of this endpoint (the interface has its own, see ``NetInterface.stats``);
        ``rx_held`` is how many received datagrams are held for a paused protocol now."""
        return {"rx_datagrams": self._rx_datagrams, "rx_held": len(self._held), **self.counters}

    # === DatagramEndpoint: called by the interface (see aionetmap.protocol) ===

    def datagrams_sent(self, payloads: list[bytes]) -> None:
        """The scheduler took these oldest queued datagrams (sent or failed)."""
        count = len(payloads)
        self.counters["tx_datagrams"] += count
        if not self._payloads:
            self._buffer_size = 0
            if self._protocol_paused or self._closing or self._conn_lost:
                self._buffer_drained()  # else there is nothing to resume or finish
            return
        self._buffer_size -= sum(map(len, payloads)) + count * UDP_HEADER_LEN
        if not self._conn_lost:  # asyncio resumes at the low-water mark, not only when empty
            self._maybe_resume_protocol()

    def deliver_many(self, payloads: Sequence[bytes], sources: Sequence[Address]) -> None:
        """Hand a batch of received datagrams to the protocol (the interface's hot path):
        in one ``datagrams_received`` call for a protocol that takes batches."""
        total = len(payloads)
        start = 0
        while start < total:
            batch = self._receive_batch
            if batch is not None:  # the rest in one call, whatever the protocol does in it
                if start:
                    payloads, sources = payloads[start:], sources[start:]
                self._rx_datagrams += total - start
                if type(payloads) is tuple:  # of bytes, by the contract: immutable
                    self._delivered = payloads
                try:
                    batch(payloads, sources)
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    self._protocol_callback_failed(exc, "protocol.datagrams_received()")
                finally:
                    self._delivered = None
                return
            receive = self._receive
            if receive is None:  # paused, closing, connected: datagram by datagram
                for i in range(start, total):
                    self.deliver(payloads[i], sources[i])
                return
            taken = 0
            try:
                for payload, src in zip(payloads[start:], sources[start:], strict=True):
                    taken += 1  # counted before the call: a raising callback had it too
                    receive(payload, src)
                    if self._receive is not receive:  # paused, closed, swapped protocols
                        break
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._protocol_callback_failed(exc, "protocol.datagram_received()")
            self._rx_datagrams += taken
            start += taken

    def deliver(self, payload: bytes, src: Address) -> None:
        """Hand one received datagram to the protocol."""
        receive = self._receive
        if receive is not None:
            self._rx_datagrams += 1
            try:
                receive(payload, src)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._protocol_callback_failed(exc, "protocol.datagram_received()")
            return
        if not self._connected or self._closing:
            return
        if self._remote is not None and src != self._remote:
            # A connected UDP socket only hears from its peer.
            self.counters["rx_dropped_not_peer"] += 1
            return
        if not self._reading or self._held:
            # Paused: keep it within the limit. Resumed with a replay still due: behind
            # what is held, whatever the limit (the replay delivers it this iteration).
            if not self._hold(payload, src, force=self._reading):
                self.counters["rx_dropped_paused"] += 1
            return
        self._deliver_now(payload, src)

    def _deliver_now(self, payload: bytes, src: Address) -> None:
        """One datagram to the protocol, off the fast path (checks done by the caller)."""
        self._rx_datagrams += 1
        protocol = self._protocol
        try:
            if _wants_datagram_batches(protocol):
                protocol.datagrams_received([payload], [src])
            else:
                protocol.datagram_received(payload, src)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._protocol_callback_failed(exc, "protocol.datagram_received()")

    def _one_as_batch(self, payload: bytes, src: Address) -> None:
        """``_receive`` for a protocol that takes batches: a batch of one."""
        self._protocol.datagrams_received([payload], [src])

    def _state_changed(self) -> None:
        # Recompute the flags the hot paths test: deliver() (open, reading, not filtering
        # by peer) and sendto() (connected or lost: the careful path).
        plain = (
            self._connected
            and self._reading
            and not self._closing
            and self._remote is None
            and not self._held
        )
        protocol = self._protocol
        if not plain or protocol is None:
            self._receive = self._receive_batch = None
        elif _wants_datagram_batches(protocol):
            self._receive_batch = protocol.datagrams_received
            self._receive = self._one_as_batch  # a fresh bound method: a new identity
        else:
            self._receive_batch = None
            self._receive = protocol.datagram_received
        self._careful = self._remote is not None or bool(self._conn_lost)

    def send_failed(self, exc: OSError) -> None:
        """A datagram of ours was dropped on the way (ARP failure, ICMP error...)."""
        self.counters["tx_failed"] += 1
        if not self._closing or self._payloads:
            self._report(exc)

    def link_down(self, exc: OSError) -> None:
        """The port's link went down (reported once per event, not counted per datagram)."""
        self._report(exc)

    def is_connected_to(self, addr: Address) -> bool:
        return self._remote is not None and self._remote == addr

    def interface_failed(self, exc: BaseException, message: str) -> None:
        self._fatal_error(exc, message)

    # === PortTransportBase hooks ===

    def _replay_held(self) -> None:
        # One datagram at a time: the protocol may pause, close or swap itself in between.
        while self._held and self._reading and not self._closing:
            payload, src = self._take_held()
            if not self._held:
                self._state_changed()  # back on the fast path for what arrives next
            self._deliver_now(payload, src)

    def _close_when_flushed(self) -> None:
        if not self._payloads:
            self._schedule_connection_lost(None)
        elif self._close_timer is None and self._loop is not None:
            self._close_mark = len(self._payloads)
            self._close_timer = self._loop.call_later(
                constants.CLOSE_STALL_TIMEOUT, self._close_stall_check
            )

    def _close_stall_check(self) -> None:
        """Closing: give up only if not one queued datagram left since the last check."""
        self._close_timer = None
        if self._conn_lost or self._loop is None:
            return
        left = len(self._payloads)
        if left < self._close_mark:  # progress: check again one period later
            self._close_mark = left
            self._close_timer = self._loop.call_later(
                constants.CLOSE_STALL_TIMEOUT, self._close_stall_check
            )
            return
        self.counters["tx_dropped_close"] += left
        logger.warning(
            "%s: close dropped %d queued datagrams of UDP port %d: the port took none for %.1f s",
            self._extra["portspec"],
            left,
            self.local_port,
            constants.CLOSE_STALL_TIMEOUT,
        )
        self._force_close(None)

    def _drop_buffer(self) -> None:
        self._queue.clear()

    def _detach(self) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._iface.scheduler.forget(self._queue)
        self._iface.detach(self)


def _snapshot(item: Any) -> bytes:
    """A queued datagram's bytes: an immutable copy, as ``sendto`` takes it."""
    if not isinstance(item, (bytearray, memoryview)):
        kind = type(item).__name__
        raise TypeError(f"data argument must be a bytes-like object, not {kind!r}")
    return bytes(item)


def _wants_datagram_batches(protocol: Any) -> bool:
    """Whether a UDP protocol takes a batch per call: its class defines
    ``datagrams_received`` (other than BatchDatagramProtocol's per-datagram default)."""
    method = getattr(type(protocol), "datagrams_received", None)
    return method is not None and method is not BatchDatagramProtocol.datagrams_received
