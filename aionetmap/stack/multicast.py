"""IPv4 group membership of a :class:`~aionetmap.stack.host.Host`: ``Memberships``.

It keeps which bound ports joined which groups (any-source memberships: no source
filters), each port's multicast options, and the IGMP host state that follows (RFC 3376,
with RFC 2236/1112 compatibility): state-change reports when the interface joins or
leaves a group, answers to queries after a random delay, and the version of the querier.

Delivery follows Linux (``__udp4_lib_mcast_deliver`` and ``ip_mc_sf_allow``): a datagram
to a group the interface joined goes to the port it is addressed to when that port is
bound to the wildcard address and either joined the group itself or leaves
``multicast_all`` on (``IP_MULTICAST_ALL``, on by default in Linux: a wildcard socket
then gets every group any socket of the host joined). Ports bound to the unicast address
get no multicast. 224.0.0.1 is delivered only when joined explicitly; IGMP to it is
always taken, as every host is a member.

Reports: a join sends CHANGE_TO_EXCLUDE {} for the group at once and repeats it
``igmp_robustness - 1`` times (the querier's QRV once a v3 query carried one, as Linux)
at random within ``igmp_unsolicited_interval``; a leave does the same with
CHANGE_TO_INCLUDE {} (RFC 3376 5.1). While an IGMPv2 querier is heard
(the Older Version Querier Present timeout: 260 s, RFC 3376 8.12 with default values;
400 s for v1, as Linux) the host speaks v2: reports to the group, a leave to 224.0.0.2
(v1: reports only); changing to an older version cancels pending v3 reports (7.2.1).
A general query is answered by one current-state report of every group (split to fit the
MTU) after a random delay up to its Max Resp Time; a group-specific (or group-and-source
specific) query by MODE_IS_EXCLUDE {} for that group, unless an answer is due sooner
(RFC 3376 5.2). In v1/v2 mode every group has its own delay, and hearing another host's
report for it cancels ours (report suppression). 224.0.0.1 is never reported.
"""

from __future__ import annotations

import errno
import random
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from aionetmap.stack.addresses import int_to_str
from aionetmap.stack.config import HostConfig
from aionetmap.stack.drops import DropReason, StackStats
from aionetmap.stack.igmp import (
    ALL_HOSTS,
    ALL_ROUTERS,
    IGMPV3_ROUTERS,
    IgmpQuery,
    IgmpReport,
    IgmpType,
    RecordType,
    build_igmp_packet,
    build_v1_report,
    build_v2_leave,
    build_v2_report,
    build_v3_report,
    group_mac,
)
from aionetmap.stack.link import Link
from aionetmap.stack.transmit import Sender

__all__ = ["Memberships", "MulticastOptions"]

V1_QUERIER_TIMEOUT = 400.0
"""Seconds the host speaks IGMPv1 after a v1 query (Linux's IGMP_V1_ROUTER_PRESENT_TIMEOUT)."""
V2_QUERIER_TIMEOUT = 2 * 125.0 + 10.0
"""Seconds the host speaks IGMPv2 after a v2 query: Robustness * Query Interval + Query
Response Interval with RFC 3376's defaults."""
V2_UNSOLICITED_INTERVAL = 10.0
"""Upper bound of the delay between repeated v1/v2 reports (RFC 2236)."""


@dataclass(slots=True)
class MulticastOptions:
    """A port's multicast socket options, with Linux's defaults."""

    ttl: int = 1
    """TTL of datagrams to a group (``IP_MULTICAST_TTL``)."""
    loop: bool = True
    """Deliver our own datagrams to a group to our own ports (``IP_MULTICAST_LOOP``)."""
    all: bool = True
    """Receive every group the host joined, not only the port's own (``IP_MULTICAST_ALL``)."""


@dataclass(slots=True)
class _Change:
    """A group's state-change report still to be repeated."""

    record: RecordType
    left: int
    due: float


_DEFAULTS = MulticastOptions()


class Memberships:
    """Group membership and IGMP for one host.

    It reads ``link`` and ``config``, counts in ``stats`` and sends reports through
    ``sender``; ``seed`` seeds the random delays. The host calls the membership methods,
    the receiver :meth:`accepts`, :meth:`is_member`, :meth:`on_query`, :meth:`on_report`.
    """

    def __init__(
        self, link: Link, config: HostConfig, stats: StackStats, sender: Sender, seed: int
    ) -> None:
        self._link = link
        self._config = config
        self._stats = stats
        self._sender = sender
        self._rng = random.Random(seed)
        self._joined: dict[int, set[int]] = {}  # port -> its groups
        self._groups: dict[int, int] = {}  # group -> how many ports joined it
        self._options: dict[int, MulticastOptions] = {}
        self._robustness = config.igmp_robustness  # or the querier's QRV, once heard
        self._v1_until = self._v2_until = float("-inf")
        self._general_due: float | None = None  # v3: answer to a general query
        self._query_due: dict[int, float] = {}  # group -> answer to a query
        self._changes: dict[int, _Change] = {}
        self.now = 0.0
        """The latest time the host was given (for leaves without one)."""

    # === Memberships ===

    def join(self, group: int, port: int, now: float) -> bool:
        """``port`` joins ``group``; True if the interface had not joined it yet.

        ``OSError``: ``EADDRINUSE`` if the port joined it already, ``ENOBUFS`` past
        ``multicast_max_memberships`` per port or ``multicast_max_groups`` in all.
        """
        self.now = now
        groups = self._joined.setdefault(port, set())
        name = int_to_str(group)
        if group in groups:
            raise OSError(errno.EADDRINUSE, f"port {port} has already joined {name}")
        if len(groups) >= self._config.multicast_max_memberships:
            limit = self._config.multicast_max_memberships
            raise OSError(errno.ENOBUFS, f"port {port} has joined {limit} groups already")
        count = self._groups.get(group, 0)
        if not count and len(self._groups) >= self._config.multicast_max_groups:
            limit = self._config.multicast_max_groups
            raise OSError(errno.ENOBUFS, f"the host has joined {limit} groups already")
        groups.add(group)
        self._groups[group] = count + 1
        if count:
            return False
        self._state_change(group, RecordType.CHANGE_TO_EXCLUDE, now)
        return True

    def leave(self, group: int, port: int, now: float) -> bool:
        """``port`` leaves ``group``; True if that was the interface's last membership.
        ``OSError(EADDRNOTAVAIL)`` if it had not joined it (as Linux's IP_DROP_MEMBERSHIP)."""
        self.now = now
        groups = self._joined.get(port)
        if not groups or group not in groups:
            raise OSError(errno.EADDRNOTAVAIL, f"port {port} has not joined {int_to_str(group)}")
        groups.discard(group)
        if not groups:
            del self._joined[port]
        count = self._groups[group] - 1
        if count:
            self._groups[group] = count
            return False
        del self._groups[group]
        self._query_due.pop(group, None)
        self._state_change(group, RecordType.CHANGE_TO_INCLUDE, now)
        return True

    def drop_port(self, port: int, now: float) -> list[int]:
        """Forget ``port`` (it is unbound, like a closed socket): it leaves all its groups
        and its options are reset. Returns the groups the interface left with it."""
        self._options.pop(port, None)
        left = []
        for group in sorted(self._joined.get(port, ())):
            if self.leave(group, port, now):
                left.append(group)
        return left

    def groups_of(self, port: int) -> frozenset[int]:
        """The groups ``port`` joined."""
        return frozenset(self._joined.get(port, ()))

    @property
    def groups(self) -> frozenset[int]:
        """The groups the interface joined (for any port)."""
        return frozenset(self._groups)

    def is_member(self, group: int) -> bool:
        """True if the interface joined ``group``."""
        return group in self._groups

    def options(self, port: int) -> MulticastOptions:
        """``port``'s options (the defaults if it never set any; do not modify those)."""
        return self._options.get(port, _DEFAULTS)

    def set_options(self, port: int, **changes: int | bool) -> None:
        """Change some of ``port``'s options (``ttl``, ``loop``, ``all``)."""
        current = self._options.get(port) or MulticastOptions()
        for name, value in changes.items():
            setattr(current, name, value)
        self._options[port] = current

    def accepts(self, group: int, port: int, wildcard: AbstractSet[int]) -> DropReason | None:
        """Why a UDP datagram to ``group``:``port`` is not delivered, or None if it is."""
        if group not in self._groups:
            return DropReason.MCAST_NOT_JOINED
        if port not in wildcard:
            return DropReason.UDP_NO_LISTENER
        if group in self._joined.get(port, ()) or self.options(port).all:
            return None
        return DropReason.MCAST_FILTERED

    # === IGMP ===

    def version(self, now: float) -> int:
        """The IGMP version the host speaks at ``now`` (the host compatibility mode)."""
        forced = self._config.igmp_version
        if forced:
            return forced
        if now < self._v1_until:
            return 1
        return 2 if now < self._v2_until else 3

    def on_query(self, query: IgmpQuery, now: float) -> None:
        """Schedule the answer to a membership query."""
        self.now = now
        self._stats.rx_igmp_queries += 1
        before = self.version(now)
        if query.version == 1:
            self._v1_until = now + V1_QUERIER_TIMEOUT
        elif query.version == 2:
            self._v2_until = now + V2_QUERIER_TIMEOUT
        elif query.robustness:
            self._robustness = query.robustness  # RFC 3376 8.1: adopt the querier's QRV
        version = self.version(now)
        if version < before:
            # RFC 3376 7.2.1: an older querier cancels what was pending.
            self._changes.clear()
            self._query_due.clear()
            self._general_due = None
        group = query.group
        if group and (group == ALL_HOSTS or group not in self._groups):
            return
        if version == 3 and not group:
            due = now + self._delay(query.max_resp)
            if self._general_due is None or due < self._general_due:
                self._general_due = due
            return
        for member in (group,) if group else self._reportable():
            due = now + self._delay(query.max_resp)
            general = self._general_due
            if version == 3 and general is not None and general <= due:
                continue  # the general answer, sooner, covers this group (RFC 3376 5.2)
            if due < self._query_due.get(member, due + 1):
                self._query_due[member] = due

    def on_report(self, report: IgmpReport, now: float) -> None:
        """Another host's report: in v1/v2 mode it answers for the group (suppression)."""
        self.now = now
        if report.type in (IgmpType.V1_REPORT, IgmpType.V2_REPORT) and self.version(now) < 3:
            self._query_due.pop(report.group, None)

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` has work next, or None."""
        times = [change.due for change in self._changes.values()]
        times.extend(self._query_due.values())
        if self._general_due is not None:
            times.append(self._general_due)
        return min(times, default=None)

    def handle_timer(self, now: float) -> None:
        """Send the reports that are due at ``now``."""
        self.now = now
        version = self.version(now)
        changes = self._due_changes(now)
        answers = [g for g, due in self._query_due.items() if due <= now]
        for group in answers:
            del self._query_due[group]
        if self._general_due is not None and self._general_due <= now:
            self._general_due = None
            answers = self._reportable()
        if version == 3:
            self._send_v3([(kind, group) for group, kind in changes])
            self._send_v3([(RecordType.MODE_IS_EXCLUDE, group) for group in answers])
            return
        for group, kind in changes:
            if kind is RecordType.CHANGE_TO_EXCLUDE:
                self._send_old_report(group, version)
        for group in answers:
            self._send_old_report(group, version)

    # === Internals ===

    def _reportable(self) -> list[int]:
        return sorted(group for group in self._groups if group != ALL_HOSTS)

    def _delay(self, limit: float) -> float:
        return self._rng.uniform(0.0, limit) if limit > 0 else 0.0

    def _due_changes(self, now: float) -> list[tuple[int, RecordType]]:
        """Pending state-change records due at ``now`` (and when each repeats next)."""
        due = []
        for group, change in list(self._changes.items()):
            if change.due > now:
                continue
            due.append((group, change.record))
            change.left -= 1
            if change.left:
                change.due = now + self._delay(self._interval(now))
            else:
                del self._changes[group]
        return due

    def _interval(self, now: float) -> float:
        if self.version(now) == 3:
            return self._config.igmp_unsolicited_interval
        return V2_UNSOLICITED_INTERVAL

    def _state_change(self, group: int, record: RecordType, now: float) -> None:
        """The interface joined (CHANGE_TO_EXCLUDE) or left (CHANGE_TO_INCLUDE) ``group``."""
        self._changes.pop(group, None)
        if group == ALL_HOSTS:
            return
        version = self.version(now)
        joining = record is RecordType.CHANGE_TO_EXCLUDE
        if version == 3:
            self._send_v3([(record, group)])
        elif joining:
            self._send_old_report(group, version)
        else:
            if version == 2:
                self._send(ALL_ROUTERS, build_v2_leave(group))
                self._stats.tx_igmp_leaves += 1
            return  # v1 has no leave; v2 sends its leave once (RFC 2236 3)
        repeats = self._robustness - 1
        if repeats:
            due = now + self._delay(self._interval(now))
            self._changes[group] = _Change(record, repeats, due)

    def _send_old_report(self, group: int, version: int) -> None:
        message = build_v1_report(group) if version == 1 else build_v2_report(group)
        self._send(group, message)
        self._stats.tx_igmp_reports += 1

    def _send_v3(self, records: list[tuple[RecordType, int]]) -> None:
        """``records`` in as many v3 reports as it takes to fit the MTU."""
        per_report = max(1, (self._link.mtu - 24 - 8) // 8)
        for start in range(0, len(records), per_report):
            self._send(IGMPV3_ROUTERS, build_v3_report(records[start : start + per_report]))
            self._stats.tx_igmp_reports += 1

    def _send(self, dst: int, message: bytes) -> None:
        packet = build_igmp_packet(self._link.ip, dst, message)
        self._sender.emit_ip(group_mac(dst), (packet,))
