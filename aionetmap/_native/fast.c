/*
 * The UDP fast path: batch classify, batch build, Internet checksum. See fast.h.
 *
 * classify_frame() follows the numbered checks of stack/classify.py one by one, in the
 * same order, so that the first failing check gives the same reason. Every read is
 * preceded by the length check the Python makes (or by one that implies it); the frame
 * length comes from the batch and is clamped to the arena first.
 */
#include "fast.h"
#include "batchfmt.h"

#include <string.h>

enum { ETH_IPV4 = 0x0800, ETH_ARP = 0x0806, ETH_VLAN = 0x8100, ETH_IPV6 = 0x86DD };
enum { PROTO_ICMP = 1, PROTO_IGMP = 2, PROTO_UDP = 17 };
#define LIMITED_BROADCAST 0xFFFFFFFFu

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

/* ---- checksum ------------------------------------------------------------------------ */

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v); /* one unaligned load; any start alignment is fine */
    return v;
}

/* Ones' complement addition at 64 bits: the carry out wraps round to bit 0. Since
 * 2^64 = 1 (mod 0xFFFF) this keeps the sum congruent to the 16-bit one, and the result is
 * zero only when both inputs are, which is the zero rule stack/checksum.py relies on. */
static inline uint64_t add1c(uint64_t s, uint64_t w)
{
    s += w;
    return s + (s < w);
}

/* Fold to 16 bits with end-around carries; non-zero stays non-zero. */
static inline uint32_t fold16(uint64_t s)
{
    s = (s >> 32) + (s & 0xFFFFFFFFu);
    s = (s >> 32) + (s & 0xFFFFFFFFu);
    s = (s >> 16) + (s & 0xFFFFu);
    s = (s >> 16) + (s & 0xFFFFu);
    return (uint32_t)s;
}

/* The sum of the data read as native-order 16-bit words (folded). On a little-endian
 * machine that is the byte-swapped network-order sum (RFC 1071, byte order independence);
 * an odd last byte lands in the low half of its word, which the swap turns into the
 * zero-padded network-order word the RFC asks for. */
static inline uint32_t sum_native(const uint8_t *p, size_t n)
{
    uint64_t a = 0, b = 0; /* two chains so consecutive adds do not wait on each other */
    while (n >= 32) {
        a = add1c(a, load64(p));
        b = add1c(b, load64(p + 8));
        a = add1c(a, load64(p + 16));
        b = add1c(b, load64(p + 24));
        p += 32;
        n -= 32;
    }
    while (n >= 8) {
        a = add1c(a, load64(p));
        p += 8;
        n -= 8;
    }
    /* The tail: its words still start at even offsets, and the weights 2^16 and 2^32 the
     * wider loads give them are 1 modulo 0xFFFF. No variable-length memcpy (a libc call). */
    if (n & 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        a = add1c(a, w);
        p += 4;
    }
    if (n & 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        b = add1c(b, w);
        p += 2;
    }
    if (n & 1) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        a = add1c(a, *p); /* the first byte of a word is its low half */
#else
        a = add1c(a, (uint64_t)*p << 8);
#endif
    }
    return fold16(add1c(a, b));
}

/* Internal, so it can be inlined: the exported name goes through the PLT. */
static inline uint16_t checksum(const uint8_t *data, size_t len, uint64_t initial)
{
    uint32_t s = sum_native(data, len);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    s = (s >> 8 | s << 8) & 0xFFFFu;
#endif
    return (uint16_t)(~fold16(add1c(s, initial)) & 0xFFFFu);
}

uint16_t fast_inet_checksum(const uint8_t *data, size_t len, uint64_t initial)
{
    return checksum(data, len, initial);
}

static inline uint64_t pseudo_sum(uint32_t src, uint32_t dst, uint32_t length)
{
    return (uint64_t)(src >> 16) + (src & 0xFFFFu) + (dst >> 16) + (dst & 0xFFFFu) +
           PROTO_UDP + length;
}

/* ---- classify ------------------------------------------------------------------------ */

struct verdict {
    uint8_t kind;
    uint8_t rxcsum;  /* input: the port's FAST_RXCSUM_* flag for the frame */
    uint16_t reason; /* a DropReason, a SlowKind, or (deliver) a FAST_CSUM_* value */
    uint32_t off; /* relative to the frame */
    uint32_t len;
    uint32_t src_ip;
    uint16_t src_port;
    uint16_t dst_port;
    uint32_t group;  /* FAST_KIND_GROUP: the destination group */
    uint8_t dst6;    /* FAST_KIND_DELIVER6: 1 + index of the destination address */
    uint8_t *src6;   /* input: where a FAST_KIND_DELIVER6 frame's source key goes */
};

static inline uint8_t drop(struct verdict *v, uint16_t reason)
{
    v->reason = reason;
    return v->kind = FAST_KIND_DROP;
}

static inline uint8_t slow(struct verdict *v, uint16_t kind, uint32_t l3)
{
    v->reason = kind;
    v->off = l3;
    return v->kind = FAST_KIND_SLOW;
}

static inline int port_bound(const uint8_t *bitmap, uint16_t port)
{
    return bitmap[port >> 3] >> (port & 7) & 1;
}

static inline int is_broadcast_mac(const uint8_t *m)
{
    return (m[0] & m[1] & m[2] & m[3] & m[4] & m[5]) == 0xFF;
}

/* A group address the host listens on (a short list, scanned only for group frames). */
static int listened_mac(const struct fast_ctx *ctx, const uint8_t *m)
{
    uint32_t n = ctx->n_mcast < FAST_MAX_MCAST_MACS ? ctx->n_mcast : FAST_MAX_MCAST_MACS;
    for (uint32_t i = 0; i < n; i++)
        if (memcmp(ctx->mcast[i], m, 6) == 0)
            return 1;
    return 0;
}

/* Check 22 on a UDP segment of `length` bytes at u whose checksum field is not 0: how it
 * is accepted (a FAST_CSUM_* value), or FAST_CSUM_PSEUDO + 1 for a bad checksum. */
static inline uint16_t udp_checksum_ok(const struct fast_ctx *ctx, uint8_t rxcsum,
                                       const uint8_t *u, uint32_t length, uint32_t src,
                                       uint32_t dst)
{
    /* The kernel vouched for it (verified, or a local sender left it to offload and the
     * bytes never left the machine): Linux does not verify such packets again either. */
    if (rxcsum == FAST_RXCSUM_PARTIAL || rxcsum == FAST_RXCSUM_VALID)
        return FAST_CSUM_OFFLOADED;
    uint64_t pseudo = pseudo_sum(src, dst, length);
    if (checksum(u, length, pseudo) == 0)
        return FAST_CSUM_VERIFIED;
    /* A partial checksum holds the folded pseudo-header sum, not complemented. */
    if (ctx->accept_partial && rd16(u + 6) == fold16(pseudo))
        return FAST_CSUM_PSEUDO;
    return FAST_CSUM_PSEUDO + 1;
}

/* Checks 19-26 on the UDP segment at f[off + hlen .. off + total). */
static uint8_t classify_udp(const struct fast_ctx *ctx, const uint8_t *f, uint32_t off,
                            uint32_t hlen, uint32_t total, uint32_t src, uint32_t dst,
                            int ip_broadcast, int multicast, struct verdict *v)
{
    uint32_t start = off + hlen, seg = total - hlen;
    if (seg < 8)
        return drop(v, FAST_UDP_TRUNCATED);
    const uint8_t *u = f + start;
    uint32_t length = rd16(u + 4);
    if (length < 8)
        return drop(v, FAST_UDP_BAD_LENGTH);
    if (length > seg)
        return drop(v, FAST_UDP_TRUNCATED);
    uint16_t how = FAST_CSUM_VERIFIED;
    if (u[6] | u[7]) {
        how = udp_checksum_ok(ctx, v->rxcsum, u, length, src, dst);
        if (how > FAST_CSUM_PSEUDO)
            return drop(v, FAST_UDP_BAD_CHECKSUM);
    }
    uint16_t dport = rd16(u + 2);
    /* Check 23: group membership lives in Python (Linux's ip_mc_sf_allow, in
     * stack/multicast.py), so a group datagram is handed over whole, with its group, for
     * the host's table to decide. Check 24: broadcast goes only to ports bound to the
     * wildcard address, as on Linux. */
    if (multicast || port_bound(ip_broadcast ? ctx->wildcard : ctx->ports, dport)) {
        v->reason = how;
        v->off = start + 8;
        v->len = length - 8;
        v->src_ip = src;
        v->src_port = rd16(u);
        v->dst_port = dport;
        v->group = multicast ? dst : 0;
        return v->kind = multicast ? FAST_KIND_GROUP : FAST_KIND_DELIVER;
    }
    if (ip_broadcast)
        return drop(v, FAST_UDP_NO_LISTENER);
    return slow(v, FAST_SLOW_UDP_UNREACHABLE, off);
}

/* Check 14. A 0/8 source is taken to a group when the protocol is IGMP or the group is in
 * 224.0.0.0/24 (IGMP-snooping switches query from 0.0.0.0), as Linux takes it. */
static inline int martian_source(const struct fast_ctx *ctx, uint32_t src, uint32_t dst,
                                 uint8_t protocol)
{
    uint32_t first = src >> 24;
    if (first == 0 && !(dst >> 28 == 0xE && (protocol == PROTO_IGMP || dst >> 8 == 0xE00000u)))
        return 1;
    return first == 127 || src >> 28 == 0xE || src == LIMITED_BROADCAST ||
           src == ctx->broadcast || src == ctx->ip;
}

/* Checks 7-26 on the IPv4 packet at f[off .. size). */
static uint8_t classify_ipv4(const struct fast_ctx *ctx, const uint8_t *f, uint32_t size,
                             uint32_t off, int l2_broadcast, struct verdict *v)
{
    uint32_t avail = size - off;
    if (avail < 20)
        return drop(v, FAST_IP_TRUNCATED);
    const uint8_t *ip = f + off;
    if (ip[0] >> 4 != 4)
        return drop(v, FAST_IP_BAD_VERSION);
    uint32_t hlen = (ip[0] & 0xFu) * 4;
    if (hlen < 20)
        return drop(v, FAST_IP_BAD_IHL);
    if (hlen > avail)
        return drop(v, FAST_IP_TRUNCATED);
    uint32_t total = rd16(ip + 2);
    if (total < hlen)
        return drop(v, FAST_IP_BAD_TOTAL_LENGTH);
    if (total > avail)
        return drop(v, FAST_IP_TRUNCATED);
    if (checksum(ip, hlen, 0) != 0)
        return drop(v, FAST_IP_BAD_CHECKSUM);
    uint32_t src = rd32(ip + 12);
    uint32_t dst = rd32(ip + 16);
    if (martian_source(ctx, src, dst, ip[9]))
        return drop(v, FAST_IP_BAD_SOURCE);
    int multicast = dst >> 28 == 0xE;
    int ip_broadcast = dst != ctx->ip; /* broadcast or multicast from here on */
    if (ip_broadcast && dst != ctx->broadcast && dst != LIMITED_BROADCAST && !multicast)
        return drop(v, FAST_IP_NOT_FOR_US);
    if (l2_broadcast && !ip_broadcast)
        return drop(v, FAST_IP_L2_BROADCAST);
    if (rd16(ip + 6) & 0x3FFF)
        return slow(v, FAST_SLOW_FRAGMENT, off);
    if (ip[9] == PROTO_UDP)
        return classify_udp(ctx, f, off, hlen, total, src, dst, ip_broadcast, multicast, v);
    if (ip[9] == PROTO_ICMP)
        return slow(v, FAST_SLOW_ICMP, off);
    if (ip[9] == PROTO_IGMP)
        return slow(v, FAST_SLOW_IGMP, off);
    return drop(v, FAST_IP_UNSUPPORTED_PROTOCOL);
}

/* The IPv6 packet at f[off .. size): fast_rx6.c decides, the result goes into v. */
static uint8_t classify_ipv6(const struct fast_ctx *ctx, const uint8_t *f, uint32_t size,
                             uint32_t off, struct verdict *v)
{
    struct fast_rx6_verdict r = {0};
    uint8_t kind = fast_rx6_classify(ctx, f, size, off, v->rxcsum, &r, v->src6);
    v->reason = r.reason;
    v->off = r.off;
    v->len = r.len;
    v->src_port = r.src_port;
    v->dst_port = r.dst_port;
    v->dst6 = r.dst6;
    return v->kind = kind;
}

/* Checks 1-6 on one frame of `size` bytes (all of which may be read). */
static uint8_t classify_frame(const struct fast_ctx *ctx, const uint8_t *f, uint32_t size,
                              struct verdict *v)
{
    if (size < 14)
        return drop(v, FAST_ETH_TRUNCATED);
    if ((uint64_t)size > (uint64_t)ctx->mtu + 18)
        return drop(v, FAST_ETH_OVERSIZE);
    int l2_broadcast = 0;
    if (memcmp(f, ctx->mac, 6) != 0) {
        if (is_broadcast_mac(f) || (f[0] & 1 && listened_mac(ctx, f)))
            l2_broadcast = 1; /* a group address: never for unicast IPv4 (check 16) */
        else if (f[0] & 1)
            return drop(v, FAST_ETH_MULTICAST);
        else
            return drop(v, FAST_ETH_OTHER_HOST);
    }
    if (f[6] & 1)
        return drop(v, FAST_ETH_BAD_SOURCE);
    uint32_t ethertype = rd16(f + 12);
    uint32_t off = 14, vid = 0;
    if (ethertype == ETH_VLAN) {
        if (size < 18)
            return drop(v, FAST_ETH_TRUNCATED);
        vid = rd16(f + 14) & 0xFFFu; /* 0: a priority tag, which leaves the frame untagged */
        ethertype = rd16(f + 16);
        off = 18;
    }
    if (vid != ctx->vlan) {
        if (!ctx->vlan)
            return drop(v, FAST_ETH_VLAN_TAGGED);
        return drop(v, vid ? FAST_ETH_VLAN_MISMATCH : FAST_ETH_VLAN_UNTAGGED);
    }
    if (ethertype == ETH_ARP)
        return slow(v, FAST_SLOW_ARP, off);
    if (ethertype == ETH_IPV6)
        return ctx->ip6 ? classify_ipv6(ctx, f, size, off, v) : slow(v, FAST_SLOW_IPV6, off);
    if (ethertype != ETH_IPV4)
        return drop(v, FAST_ETH_UNSUPPORTED_TYPE);
    return classify_ipv4(ctx, f, size, off, l2_broadcast, v);
}

int fast_classify(const struct fast_ctx *ctx, struct fast_rx *rx, const uint8_t *arena,
                  uint32_t arena_size, const uint32_t *offs, const uint32_t *lens,
                  const uint8_t *csum, uint32_t count)
{
    if (count > rx->capacity)
        return -1;
    uint32_t delivered = 0, dropped = 0, offloaded = 0, pseudo = 0, delivered6 = 0, grouped = 0;
    for (uint32_t i = 0; i < count; i++) {
        /* The arena is ours but offs/lens were written by a port: clamp, as a slice would. */
        uint32_t start = offs[i] < arena_size ? offs[i] : arena_size;
        uint32_t size = lens[i] < arena_size - start ? lens[i] : arena_size - start;
        struct verdict v = {0};
        v.rxcsum = csum ? csum[i] : FAST_RXCSUM_UNKNOWN;
        v.src6 = rx->src6 ? rx->src6 + (size_t)i * FAST_SRC6_KEY_LEN : NULL;
        uint8_t kind = classify_frame(ctx, arena + start, size, &v);
        rx->kinds[i] = kind;
        rx->reasons[i] = v.reason;
        /* Offsets are within the frame, so within the arena: no overflow. */
        rx->payload_offs[i] = kind == FAST_KIND_DROP ? 0 : start + v.off;
        rx->payload_lens[i] = v.len;
        rx->src_ips[i] = v.src_ip;
        rx->src_ports[i] = v.src_port;
        rx->dst_ports[i] = v.dst_port;
        rx->src_keys[i] = (uint64_t)v.src_ip << 16 | v.src_port;
        rx->groups[i] = v.group;
        rx->dst6[i] = v.dst6;
        delivered += kind == FAST_KIND_DELIVER;
        delivered6 += kind == FAST_KIND_DELIVER6;
        grouped += kind == FAST_KIND_GROUP;
        dropped += kind == FAST_KIND_DROP;
        /* The host counts how the checksum passed for unicast/broadcast and IPv6
         * deliveries, not for group datagrams (Receiver._on_multicast_udp). */
        int counted = kind == FAST_KIND_DELIVER || kind == FAST_KIND_DELIVER6;
        offloaded += counted && v.reason == FAST_CSUM_OFFLOADED;
        pseudo += counted && v.reason == FAST_CSUM_PSEUDO;
    }
    rx->csum_offloaded = offloaded;
    rx->csum_pseudo = pseudo;
    rx->delivered = delivered;
    rx->delivered6 = delivered6;
    rx->grouped = grouped;
    rx->dropped = dropped;
    rx->slow = count - delivered - delivered6 - grouped - dropped;
    return (int)count;
}

/* ---- build --------------------------------------------------------------------------- */

/* Bytes of Ethernet header (MACs, the tag if any, EtherType) every frame from src has. */
static inline uint32_t eth_len(const struct fast_src *src)
{
    return src->vlan_tci ? 14 + FAST_VLAN_TAG_LEN : 14;
}

/* The Ethernet header of a frame from src to dst_mac; returns where the IPv4 header goes. */
static uint8_t *put_eth(const struct fast_src *src, const uint8_t *dst_mac, uint8_t *f)
{
    memcpy(f, dst_mac, 6);
    memcpy(f + 6, src->mac, 6);
    if (src->vlan_tci) {
        put16(f + 12, ETH_VLAN);
        put16(f + 14, src->vlan_tci);
        f += FAST_VLAN_TAG_LEN;
    }
    put16(f + 12, ETH_IPV4);
    return f + 14;
}

/* One frame at f for a payload of n bytes (the caller checked the room). */
static void build_frame(const struct fast_src *src, uint16_t src_port, uint16_t ident,
                        const uint8_t *payload, uint32_t n, const struct fast_dst *dst,
                        uint8_t *f)
{
    uint8_t *ip = put_eth(src, dst->mac, f);
    ip[0] = 0x45; /* version 4, no options */
    ip[1] = 0;    /* TOS */
    put16(ip + 2, 28 + n);
    put16(ip + 4, ident);
    put16(ip + 6, 0x4000); /* DF: only datagrams that fit the MTU are built here */
    ip[8] = dst->ip >> 28 == 0xE ? src->group_ttl : src->ttl; /* the host's rule */
    ip[9] = PROTO_UDP;
    put16(ip + 10, 0);
    put32(ip + 12, src->ip);
    put32(ip + 16, dst->ip);
    put16(ip + 10, checksum(ip, 20, 0));

    uint8_t *udp = ip + 20;
    put16(udp, src_port);
    put16(udp + 2, dst->port);
    put16(udp + 4, 8 + n);
    put16(udp + 6, 0);
    memcpy(udp + 8, payload, n);
    uint16_t csum = checksum(udp, 8 + n, pseudo_sum(src->ip, dst->ip, 8 + n));
    put16(udp + 6, csum ? csum : 0xFFFF); /* 0 on the wire would mean "not computed" */
}

uint32_t fast_udp_build_to(const struct fast_src *src, uint16_t src_port, uint16_t ident,
                           uint16_t ident_step,
                           const char *payloads, size_t payloads_size, const uint32_t *plens,
                           const struct fast_dst *dsts, uint32_t ndsts,
                           const uint32_t *dst_index, uint32_t count, uint8_t *arena,
                           uint32_t arena_size, uint32_t *offs, uint32_t *lens)
{
    const uint8_t *pay = (const uint8_t *)payloads;
    uint64_t pos = 0, taken = 0;
    uint32_t i;
    for (i = 0; i < count; i++) {
        uint32_t n = plens[i], k = dst_index[i];
        uint64_t flen = (uint64_t)FAST_UDP_OVERHEAD - 14 + eth_len(src) + n;
        if (n > FAST_MAX_UDP_PAYLOAD || taken + n > payloads_size || k >= ndsts)
            break;
        if (pos + flen > arena_size)
            break;
        build_frame(src, src_port, (uint16_t)(ident + i * (uint32_t)ident_step), pay + taken, n,
                    &dsts[k], arena + pos);
        offs[i] = (uint32_t)pos;
        lens[i] = (uint32_t)flen;
        pos += flen;
        taken += n;
    }
    return i;
}

int fast_payload_format(const struct fast_rx *rx, uint32_t count, char *out, size_t outlen)
{
    uint32_t cursor = 0;
    size_t used = 0;
    if (count > rx->capacity)
        return -1;
    for (uint32_t i = 0; i < count; i++) {
        if (rx->kinds[i] != FAST_KIND_DELIVER)
            continue;
        uint32_t start = rx->payload_offs[i], size = rx->payload_lens[i];
        if (start < cursor || size > UINT32_MAX - start)
            return -1;
        if (outlen - used < ANM_FORMAT_PER_FRAME)
            return -1;
        used += anm_format_field(out + used, start - cursor, size);
        cursor = start + size;
    }
    return used > INT32_MAX ? -1 : (int)used;
}
