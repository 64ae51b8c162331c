"""Tunables of a :class:`~aionetmap.stack.host.Host` (all times in seconds)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HostConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HostConfig:
    """Host behaviour; the defaults suit a LAN host. Validated when the host is built."""

    default_ttl: int = 64
    """TTL of every packet the host sends."""
    ip_ident_seed: int = 0
    """Where the IPv4 identification counters start: the per-destination ones, and
    (spread by port number) those of connected endpoints. Unconnected datagrams that fit
    the MTU carry 0, as Linux's do (see :class:`~aionetmap.stack.host.Host`). There is no
    randomness, unlike Linux: runs are reproducible."""
    gratuitous_arp: bool = True
    """Announce the address with a gratuitous ARP in ``start``."""
    arp_ttl: float = 60.0
    """How long a resolved neighbour is used before it is resolved again."""
    arp_request_interval: float = 1.0
    """Time between ARP requests for one address (at most one per interval)."""
    arp_retries: int = 3
    """ARP requests per resolution before it fails (after one more interval)."""
    arp_queue_limit: int = 256
    """Datagrams that may wait per unresolved address (Linux parks about as many small
    datagrams: unres_qlen_bytes = 212992 of skb truesize). Beyond it, each is dropped
    with a ``SendFailed`` (ENOBUFS) rather than silently as the kernel does."""
    arp_queue_bytes: int = 1024 * 1024
    """Bytes of IPv4 packets that may wait for ARP, all next hops together. Beyond it a
    datagram is refused with a ``SendFailed`` (ENOBUFS): with fragmentation one datagram
    may be 64 KiB, so the count above no longer bounds the memory alone (Linux bounds its
    queue in bytes too: ``unres_qlen_bytes``)."""
    arp_max_pending: int = 256
    """Addresses that may be resolved at once."""
    arp_max_entries: int = 1024
    """Resolved neighbours kept."""
    answer_echo: bool = True
    """Answer ICMP echo requests."""
    icmp_error_rate: float = 10.0
    """ICMP errors (port unreachable) per second, sustained."""
    icmp_error_burst: int = 10
    """ICMP errors that may be sent back to back."""
    reassembly: bool = True
    """Reassemble IPv4 fragments (else drop them as ``IP_FRAGMENT``)."""
    reassembly_timeout: float = 30.0
    """Time allowed from a datagram's first fragment to its last (Linux's
    ``net.ipv4.ipfrag_time``); then its fragments are dropped as ``IP_FRAGMENT_TIMEOUT``."""
    reassembly_max_bytes: int = 4 * 1024 * 1024
    """Fragment payload held in all (Linux's ``net.ipv4.ipfrag_high_thresh``, 4 MiB);
    beyond it the oldest datagrams are evicted (``IP_FRAGMENT_MEMORY``)."""
    reassembly_max_datagrams: int = 1024
    """Datagrams in reassembly at once, from all sources together; a fragment that would
    start one more is dropped (``IP_FRAGMENT_TABLE_FULL``). Linux bounds this by memory
    only; a count keeps the bookkeeping of a flood of tiny fragments bounded too."""
    reassembly_max_per_source: int = 64
    """Datagrams in reassembly per source address (``IP_FRAGMENT_SOURCE_LIMIT``), so that
    one sender cannot take the whole table (Linux has no such cap; 64 leaves a busy peer
    room for many datagrams in flight)."""
    reassembly_max_fragments: int = 64
    """Fragments per datagram (``IP_FRAGMENT_LIMIT``): 45 carry 65535 bytes at MTU 1500."""
    accept_partial_checksum: bool | None = None
    """Accept a UDP datagram whose checksum field holds exactly the pseudo-header sum a
    Linux sender writes when it leaves the checksum to offload, though the checksum does
    not verify; each is counted in ``rx_udp_csum_partial``. For ports that may carry a
    local kernel's frames without a flag saying so: netmap on an OS interface (emulated
    adapters on veth, host rings). ``None``: decided by the port
    (``PortInfo.unflagged_partial_checksums``; a bare ``Host`` takes it as off)."""
    igmp_version: int = 0
    """0: IGMPv3, falling back to v2 or v1 while such a querier is heard (RFC 3376 7.2.1);
    1, 2 or 3: always that version (Linux's ``force_igmp_version``)."""
    igmp_robustness: int = 2
    """How many times a state-change report (join, leave) is sent (RFC 3376's Robustness
    Variable: the first at once, the others at random within the interval below), until a
    v3 query brings the querier's own value (QRV)."""
    igmp_unsolicited_interval: float = 1.0
    """Upper bound of the random delay between state-change reports in v3 (RFC 3376 8.11);
    10 seconds in v1/v2 mode (RFC 2236), as on Linux."""
    igmp_random_seed: int | None = None
    """Seed of the random delays of IGMP reports; ``None``: derived from the MAC address
    (reproducible, and different between hosts so that they do not answer in step)."""
    multicast_max_memberships: int = 20
    """Groups one port may join (Linux's ``igmp_max_memberships``); beyond, ENOBUFS."""
    multicast_max_groups: int = 128
    """Distinct groups the host may join, all ports together (the native classifier
    holds 256 group MAC addresses, shared with IPv6); beyond, ENOBUFS."""

    # === IPv6 (used when the host has IPv6: ``Host(..., ipv6=[...])``) ===
    hop_limit: int = 64
    """Hop limit of the IPv6 packets the host sends (NDP and MLD use 255 and 1)."""
    ipv6_scope_id: int = 0
    """The interface index given as ``scope_id`` in the 4-tuple source of datagrams from
    link-local addresses (what the kernel's ``sin6_scope_id`` would be)."""
    ndp_reachable_time: float = 30.0
    """How long a confirmed neighbour stays REACHABLE (RFC 4861 ``REACHABLE_TIME``)."""
    ndp_retrans_timer: float = 1.0
    """Time between neighbour solicitations (``RETRANS_TIMER``), and between DAD ones."""
    ndp_delay_first_probe: float = 5.0
    """Time a used STALE neighbour waits for a confirmation before probing."""
    ndp_max_solicit: int = 3
    """Solicitations (multicast to resolve, unicast to probe) before a neighbour fails."""
    ndp_queue_limit: int = 256
    """Packets that may wait per unresolved IPv6 neighbour (``SendFailed`` beyond)."""
    ndp_max_entries: int = 1024
    """IPv6 neighbours kept."""
    dad_transmits: int = 1
    """DAD solicitations per address (``DupAddrDetectTransmits``, RFC 4862); 0 turns DAD
    off and addresses are usable at once."""
    unsolicited_na: bool = True
    """Announce each address with an unsolicited neighbour advertisement (override
    flag) once it is usable."""
    accept_ra: bool = True
    """Learn a default router and on-link prefixes from router advertisements."""
    mld_robustness: int = 2
    """MLD state-change reports are sent this many times (RFC 3810 robustness)."""
    mld_unsolicited_interval: float = 1.0
    """Seconds between those repetitions (RFC 3810 ``Unsolicited Report Interval``)."""
    reassembly6_timeout: float = 60.0
    """Time allowed to reassemble an IPv6 packet (RFC 8200 4.5); the other reassembly
    bounds are shared with IPv4's settings (each family has its own table)."""

    def __post_init__(self) -> None:
        if not 1 <= self.hop_limit <= 255:
            raise ValueError(f"hop_limit must be in 1..255, not {self.hop_limit}")
        if self.dad_transmits < 0 or self.ndp_max_solicit < 1 or self.mld_robustness < 1:
            raise ValueError("dad_transmits >= 0, ndp_max_solicit and mld_robustness >= 1")
        if min(self.ndp_retrans_timer, self.ndp_reachable_time, self.reassembly6_timeout) <= 0:
            raise ValueError("NDP timers and reassembly6_timeout must be positive")
        if not 1 <= self.default_ttl <= 255:
            raise ValueError(f"default_ttl must be in 1..255, not {self.default_ttl}")
        if not 0 <= self.ip_ident_seed <= 0xFFFF:
            raise ValueError(f"ip_ident_seed must be in 0..65535, not {self.ip_ident_seed}")
        if self.icmp_error_rate < 0 or self.icmp_error_burst < 0:
            raise ValueError("icmp_error_rate and icmp_error_burst must not be negative")
        if not (
            self.accept_partial_checksum is None or isinstance(self.accept_partial_checksum, bool)
        ):
            raise TypeError(
                "accept_partial_checksum must be True, False or None, "
                f"not {self.accept_partial_checksum!r}"
            )
        if self.igmp_version not in (0, 1, 2, 3) or not 1 <= self.igmp_robustness <= 7:
            raise ValueError("igmp_version must be 0..3 and igmp_robustness 1..7")
        if self.igmp_unsolicited_interval < 0:
            raise ValueError("igmp_unsolicited_interval must not be negative")
        limits = (
            self.multicast_max_memberships,
            self.multicast_max_groups,
            self.arp_queue_bytes,
            self.reassembly_max_bytes,
            self.reassembly_max_datagrams,
            self.reassembly_max_per_source,
            self.reassembly_max_fragments,
        )
        if self.reassembly_timeout <= 0 or min(limits) < 1:
            raise ValueError(
                "reassembly timeout, reassembly limits, multicast limits and arp_queue_bytes "
                "must be positive"
            )
