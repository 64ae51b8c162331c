/* The UDP fast path of the stack: classify a whole received batch, build a whole batch of
 * UDP frames, and the Internet checksum they share.
 *
 * The Python stack (aionetmap/stack/classify.py, udp.py) is the reference: every verdict,
 * drop reason and byte written here must equal what it produces. The numeric values below
 * mirror aionetmap.stack.drops.DropReason and aionetmap.stack.classify.SlowKind; a test pins
 * them. Nothing here allocates, raises or keeps a pointer after returning.
 */
#ifndef AIONETMAP_FAST_H
#define AIONETMAP_FAST_H

#include <stddef.h>
#include <stdint.h>

/* What Python sees, between the markers: the cffi builder reads it (header_cdef). */
/* cffi: begin */

/* Per-frame verdict kinds. Zero is never written, so an unfilled slot stands out. */
enum {
    FAST_KIND_DELIVER = 1, /* valid UDP to a bound port: payload/src/dst fields are set */
    FAST_KIND_DROP = 2,    /* reasons[i] is a DropReason */
    FAST_KIND_SLOW = 3,    /* reasons[i] is a SlowKind; payload_offs[i] is the L3 header */
    FAST_KIND_DELIVER6 = 4, /* valid IPv6 UDP to a bound port (see the IPv6 receive section) */
    FAST_KIND_GROUP = 5,    /* valid IPv4 UDP to a group: as DELIVER plus groups[i]; the
                             * host's memberships decide whether it is delivered */
};

/* DropReason values that classify() returns (stack/drops.py). */
enum {
    FAST_ETH_TRUNCATED = 1,
    FAST_ETH_OVERSIZE = 2,
    FAST_ETH_OTHER_HOST = 3,
    FAST_ETH_MULTICAST = 4,
    FAST_ETH_BAD_SOURCE = 5,
    FAST_ETH_UNSUPPORTED_TYPE = 6,
    FAST_ETH_VLAN_TAGGED = 7,
    FAST_ETH_VLAN_MISMATCH = 8,
    FAST_ETH_VLAN_UNTAGGED = 9,
    FAST_IP_TRUNCATED = 20,
    FAST_IP_BAD_VERSION = 21,
    FAST_IP_BAD_IHL = 22,
    FAST_IP_BAD_TOTAL_LENGTH = 23,
    FAST_IP_BAD_CHECKSUM = 24,
    FAST_IP_BAD_SOURCE = 25,
    FAST_IP_NOT_FOR_US = 26,
    FAST_IP_L2_BROADCAST = 27,
    FAST_IP_UNSUPPORTED_PROTOCOL = 28,
    FAST_UDP_TRUNCATED = 40,
    FAST_UDP_BAD_LENGTH = 41,
    FAST_UDP_BAD_CHECKSUM = 42,
    FAST_UDP_NO_LISTENER = 43,
    /* IPv6 (60-79): reserved for the C IPv6 classifier; the Python IPv6 side returns
     * them for now. */
    FAST_IP6_TRUNCATED = 60,
    FAST_IP6_BAD_VERSION = 61,
    FAST_IP6_BAD_SOURCE = 62,
    FAST_IP6_NOT_FOR_US = 63,
    FAST_IP6_L2_MULTICAST = 64,
    FAST_IP6_BAD_EXTENSION = 65,
    FAST_IP6_UNKNOWN_HEADER = 66,
    FAST_IP6_UNKNOWN_OPTION = 67,
    FAST_IP6_ROUTING_HEADER = 68,
    FAST_IP6_NO_NEXT_HEADER = 69,
    FAST_UDP6_TRUNCATED = 70,
    FAST_UDP6_BAD_LENGTH = 71,
    FAST_UDP6_ZERO_CHECKSUM = 72,
    FAST_UDP6_BAD_CHECKSUM = 73,
    FAST_UDP6_NO_LISTENER = 74,
    FAST_IP6_BAD_PAYLOAD_LENGTH = 75,
};

/* SlowKind values (stack/classify.py). */
enum {
    FAST_SLOW_ARP = 1,
    FAST_SLOW_ICMP = 2,
    FAST_SLOW_FRAGMENT = 3,
    FAST_SLOW_UDP_UNREACHABLE = 4,
    FAST_SLOW_MULTICAST_UDP = 5, /* no longer returned: group UDP is FAST_KIND_GROUP */
    FAST_SLOW_IGMP = 6,
    FAST_SLOW_IPV6 = 7, /* IPv6 the C side does not decide: the Python IPv6 side handles it */
};

/* What a port knows about a received frame's checksum (FrameBatch.csum_flags, one byte per
 * frame; aionetmap._native.batch mirrors the values). */
enum {
    FAST_RXCSUM_UNKNOWN = 0, /* nothing: verify in software */
    FAST_RXCSUM_PARTIAL = 1, /* a local kernel sent it with the checksum left to "hardware"
                              * (AF_PACKET TP_STATUS_CSUMNOTREADY): unverifiable, untouched */
    FAST_RXCSUM_VALID = 2,   /* the kernel or NIC verified it (TP_STATUS_CSUM_VALID) */
};

/* How a delivered datagram's UDP checksum was accepted (reasons[i] of a FAST_KIND_DELIVER
 * frame; stack.classify's Deliver.checksum). */
enum {
    FAST_CSUM_VERIFIED = 0,  /* verified here, or the field is 0 (no checksum) */
    FAST_CSUM_OFFLOADED = 1, /* trusted on the port's flag, not verified here */
    FAST_CSUM_PSEUDO = 2,    /* failed verification, but the field holds exactly the folded
                              * pseudo-header sum of a partial checksum (accept_partial) */
};

#define FAST_PORT_BITMAP_BYTES 8192 /* one bit per UDP port */
#define FAST_MAX_MCAST_MACS 256     /* group MAC addresses a host may listen on */
#define FAST_MAX_UDP_PAYLOAD 65507  /* 65535 - 20 (IPv4) - 8 (UDP) */
#define FAST_UDP_OVERHEAD 42        /* Ethernet 14 + IPv4 20 + UDP 8 */
#define FAST_VLAN_TAG_LEN 4         /* an 802.1Q tag adds this much to every frame */

struct fast_ctx6; /* the IPv6 receive section below */

/* What the classifier knows about the host (ClassifyContext). */
struct fast_ctx {
    uint8_t mac[6];
    uint32_t ip;        /* host byte order, like every address in these structs */
    uint32_t broadcast; /* subnet broadcast, 255.255.255.255 for /31 and /32 */
    uint32_t mtu;
    uint16_t vlan; /* 802.1Q VLAN id 1..4094 the host is on; 0: untagged */
    uint8_t ports[FAST_PORT_BITMAP_BYTES]; /* bit (port & 7) of byte (port >> 3): bound */
    uint8_t wildcard[FAST_PORT_BITMAP_BYTES]; /* same layout: bound to 0.0.0.0 (broadcast) */
    uint8_t accept_partial; /* non-zero: the FAST_CSUM_PSEUDO rule is on (see classify.py) */
    uint32_t n_mcast;       /* entries of mcast in use (at most FAST_MAX_MCAST_MACS) */
    uint8_t mcast[FAST_MAX_MCAST_MACS][6]; /* group MACs listened on besides broadcast */
    const struct fast_ctx6 *ip6; /* the host's IPv6 side; NULL: every IPv6 frame is
                                  * FAST_SLOW_IPV6 (a host without IPv6, or not told yet) */
};

/* Caller-owned per-frame result arrays, each of `capacity` entries, plus batch totals. */
struct fast_rx {
    uint8_t *kinds;
    uint16_t *reasons;
    uint32_t *payload_offs; /* absolute arena offset: UDP payload (deliver), L3 header (slow) */
    uint32_t *payload_lens;
    uint32_t *src_ips;
    uint16_t *src_ports;
    uint16_t *dst_ports;
    uint64_t *src_keys; /* src_ip << 16 | src_port: a dict key (for IPv6 src_ip is 0) */
    uint32_t *groups;   /* FAST_KIND_GROUP: the destination group (host order); 0 otherwise */
    uint8_t *dst6;      /* FAST_KIND_DELIVER6: 1 + index in ip6->addrs of the destination;
                         * 0 for every other frame (the per-frame family marker) */
    uint8_t *src6;      /* capacity * FAST_SRC6_KEY_LEN bytes; for a FAST_KIND_DELIVER6
                         * frame i, bytes i * 18 .. i * 18 + 17 are its IPv6 source address
                         * then its UDP source port (network order): one bytes key per peer.
                         * Not written for other frames. */
    uint32_t capacity;
    uint32_t delivered; /* totals of the last fast_classify call */
    uint32_t dropped;
    uint32_t slow;
    uint32_t csum_offloaded; /* delivered frames of the last call by FAST_CSUM_OFFLOADED */
    uint32_t csum_pseudo;    /* ... and by FAST_CSUM_PSEUDO (IPv4 and IPv6 deliveries) */
    uint32_t delivered6;     /* FAST_KIND_DELIVER6 frames of the last call */
    uint32_t grouped;        /* FAST_KIND_GROUP frames of the last call */
};

/* What fast_udp_build_to writes as the source of every frame. */
struct fast_src {
    uint8_t mac[6];
    uint32_t ip;
    uint8_t ttl;
    uint16_t vlan_tci; /* 802.1Q TCI to tag every frame with; 0: untagged */
    uint8_t group_ttl; /* the TTL of datagrams to a group (224.0.0.0/4) instead of ttl:
                        * the sending port's IP_MULTICAST_TTL, set per call */
};

/* The Internet checksum (RFC 1071) of len bytes at data, with `initial` added to the sum:
 * the same value as stack.checksum.inet_checksum(data, initial). Any alignment. */
uint16_t fast_inet_checksum(const uint8_t *data, size_t len, uint64_t initial);

/* Classify frames 0..count-1 of a batch (frame i: offs[i], lens[i] in the arena; a frame
 * reaching past arena_size is cut at the arena's end, as slicing the arena would). csum is
 * NULL (nothing known) or holds a FAST_RXCSUM_* value per frame; any other value counts as
 * FAST_RXCSUM_UNKNOWN. Fills the rx arrays and totals; returns count, or -1 (nothing
 * written) if count > capacity. */
int fast_classify(const struct fast_ctx *ctx, struct fast_rx *rx, const uint8_t *arena,
                  uint32_t arena_size, const uint32_t *offs, const uint32_t *lens,
                  const uint8_t *csum, uint32_t count);

/* One destination of fast_udp_build_to (host byte order). */
struct fast_dst {
    uint8_t mac[6];
    uint16_t port;
    uint32_t ip;
};

/* Build up to `count` Ethernet/IPv4/UDP frames, packed from arena offset 0, exactly as
 * stack.udp.build_udp_frame does (DF set, TOS 0, no options, both checksums; TTL
 * src->group_ttl to a group, src->ttl otherwise, as Host.send_datagram), each with an
 * 802.1Q tag after the MAC addresses when src->vlan_tci is not 0 (4 bytes more per frame).
 * Datagram i carries plens[i] bytes taken in turn from `payloads` (payloads_size bytes in
 * all), goes to dsts[dst_index[i]] (a datagram costs its caller one table index instead of
 * a MAC, an address and a port), and has identification ident + i * ident_step
 * (mod 65536): step 0 gives every datagram the same value (0 for unconnected atomic
 * datagrams, as Linux), step 1 continues a connected socket's counter. Stops before the
 * first datagram that is invalid (payload over FAST_MAX_UDP_PAYLOAD bytes or past the bytes
 * given, an index not below ndsts) or whose frame does not fit in the rest of the arena,
 * so the caller can tell why. Returns the number of frames written to offs/lens. */
uint32_t fast_udp_build_to(const struct fast_src *src, uint16_t src_port, uint16_t ident,
                           uint16_t ident_step,
                           const char *payloads, size_t payloads_size, const uint32_t *plens,
                           const struct fast_dst *dsts, uint32_t ndsts,
                           const uint32_t *dst_index, uint32_t count, uint8_t *arena,
                           uint32_t arena_size, uint32_t *offs, uint32_t *lens);

/* ---- IPv6 build (fast_tx6.c) -------------------------------------------------------- */

#define FAST_MAX_UDP6_PAYLOAD 65527 /* 65535 - 8 (UDP): the IPv6 payload length limit */
#define FAST_UDP6_OVERHEAD 62       /* Ethernet 14 + IPv6 40 + UDP 8 */

/* What fast_udp6_build_to writes as the source of every frame. */
struct fast_src6 {
    uint8_t mac[6];
    uint8_t hop_limit; /* the host's HostConfig.hop_limit */
    uint16_t vlan_tci; /* 802.1Q TCI to tag every frame with; 0: untagged */
};

/* One destination of fast_udp6_build_to: the next hop's MAC, the port, and both addresses
 * (network byte order); src is the address the Python host picks for this destination. */
struct fast_dst6 {
    uint8_t mac[6];
    uint16_t port;
    uint8_t src[16];
    uint8_t ip[16];
};

/* Build up to `count` Ethernet/IPv6/UDP frames, packed from arena offset 0, exactly as the
 * Python host (Host6.send_udp) frames a datagram that fits the MTU: traffic class and flow
 * label 0, next header UDP, hop limit src->hop_limit, the UDP checksum over the IPv6
 * pseudo-header (a computed 0 sent as 0xFFFF, RFC 8200 8.1), an 802.1Q tag when
 * src->vlan_tci is not 0. Datagram i carries plens[i] bytes taken in turn from `payloads`
 * (payloads_size bytes in all) to dsts[dst_index[i]]. Stops before the first datagram
 * that is invalid (payload over max_payload or FAST_MAX_UDP6_PAYLOAD bytes, or past the
 * bytes given, an index not below ndsts) or whose frame does not fit in the rest of the
 * arena. Returns the number of frames written to offs/lens. */
uint32_t fast_udp6_build_to(const struct fast_src6 *src, uint16_t src_port,
                            uint32_t max_payload, const char *payloads, size_t payloads_size,
                            const uint32_t *plens, const struct fast_dst6 *dsts, uint32_t ndsts,
                            const uint32_t *dst_index, uint32_t count, uint8_t *arena,
                            uint32_t arena_size, uint32_t *offs, uint32_t *lens);

/* ---- end of IPv6 build --------------------------------------------------------------- */

/* Write into out a struct-module format ("<skip>x<size>s" per datagram) that picks the UDP
 * payload of every FAST_KIND_DELIVER frame of the last fast_classify call out of the arena,
 * in order: Python's struct.unpack_from then makes all the payload bytes objects in one C
 * call. Returns the format's length, or -1 if the payloads do not ascend in the arena or
 * out is too small (the caller slices instead). */
int fast_payload_format(const struct fast_rx *rx, uint32_t count, char *out, size_t outlen);

/* ==== IPv6 receive (fast_rx6.c) ======================================================
 * An IPv6 frame is decided in C only in the common case: next header UDP straight after
 * the fixed header, to one of the host's preferred unicast addresses. Checks, in the order
 * of stack/receive6.py (stack/classify6.py is the Python twin, verdict for verdict):
 *   fixed header truncated/version/payload length 0/beyond the frame -> its IP6_* drop;
 *   next header not UDP -> SLOW_IPV6; source multicast, ::1 or ours -> IP6_BAD_SOURCE;
 *   destination multicast -> SLOW_IPV6; not ours -> IP6_NOT_FOR_US; in a link-layer group
 *   frame -> IP6_L2_MULTICAST; UDP lengths -> UDP6_TRUNCATED/UDP6_BAD_LENGTH; checksum 0
 *   -> UDP6_ZERO_CHECKSUM; checksum as IPv4's check 22 (flags, accept_partial) else
 *   UDP6_BAD_CHECKSUM; port not in ctx->ports -> SLOW_IPV6 (port unreachable); else
 *   FAST_KIND_DELIVER6. The port space is shared with IPv4, as in the Python host; which
 *   endpoint family hears it is the interface's business (rx_dropped_family). */
#define FAST_MAX_IP6_ADDRS 16 /* preferred IPv6 addresses a host may own here */
#define FAST_SRC6_KEY_LEN 18  /* source address + source port per frame in fast_rx.src6 */

/* The host's preferred IPv6 addresses (tentative and duplicate ones are not for us). */
struct fast_ctx6 {
    uint32_t n_addrs; /* entries of addrs in use (at most FAST_MAX_IP6_ADDRS) */
    uint8_t addrs[FAST_MAX_IP6_ADDRS][16];
};

/* cffi: end */

/* Internal to the library (fast.c calls it for EtherType 0x86DD), not for Python. */
struct fast_rx6_verdict {
    uint16_t reason;   /* a DropReason, FAST_SLOW_IPV6, or (deliver) a FAST_CSUM_* value */
    uint8_t dst6;      /* deliver: 1 + index of the destination in ip6->addrs */
    uint32_t off;      /* relative to the frame: UDP payload (deliver), L3 header (slow) */
    uint32_t len;      /* deliver: UDP payload length */
    uint16_t src_port; /* deliver */
    uint16_t dst_port; /* deliver */
};

/* Classify the IPv6 packet at f[off .. size) (the Ethernet checks passed; off <= size);
 * returns the FAST_KIND_*. On FAST_KIND_DELIVER6 src6 (18 bytes, may be NULL) gets the
 * source address and port. */
uint8_t fast_rx6_classify(const struct fast_ctx *ctx, const uint8_t *f, uint32_t size,
                          uint32_t off, uint8_t rxcsum, struct fast_rx6_verdict *v,
                          uint8_t *src6);

#endif
