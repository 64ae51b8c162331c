/*
 * The IPv6 half of the fast classifier: UDP to one of our unicast addresses, decided in
 * C; everything else IPv6 is left to the Python IPv6 side (FAST_SLOW_IPV6). See the IPv6
 * receive section of fast.h for the checks; stack/classify6.py is the Python twin and
 * stack/receive6.py the behaviour both follow.
 *
 * Only drops the Python side would count with no other effect are returned here: a
 * packet Python might answer (parameter problems on extension headers, port unreachable)
 * or hand to reassembly, NDP or MLD goes to Python whole.
 */
#include "fast.h"

#include <string.h>

enum { NH_UDP = 17, IP6_HEADER = 40 };

static inline uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }

/* 1 + the index of a in the table of preferred addresses, or 0. */
static uint8_t own_address(const struct fast_ctx6 *c6, const uint8_t *a)
{
    uint32_t n = c6->n_addrs < FAST_MAX_IP6_ADDRS ? c6->n_addrs : FAST_MAX_IP6_ADDRS;
    for (uint32_t i = 0; i < n; i++)
        if (memcmp(c6->addrs[i], a, 16) == 0)
            return (uint8_t)(i + 1);
    return 0;
}

static int is_loopback(const uint8_t *a)
{
    static const uint8_t loopback[16] = {[15] = 1};
    return memcmp(a, loopback, 16) == 0;
}

/* The pseudo-header sum (RFC 8200 8.1) of the addresses at a (source then destination,
 * 32 bytes) for a UDP segment of `length` bytes; never 0, so folding it agrees with
 * the Python sum (which reduces each address modulo 0xFFFF first). */
static uint64_t pseudo_sum6(const uint8_t *a, uint32_t length)
{
    uint64_t s = NH_UDP + (uint64_t)length;
    for (int i = 0; i < 32; i += 2)
        s += rd16(a + i);
    return s;
}

static inline uint32_t fold(uint64_t s)
{
    while (s >> 16)
        s = (s & 0xFFFFu) + (s >> 16);
    return (uint32_t)s;
}

static inline uint8_t drop6(struct fast_rx6_verdict *v, uint16_t reason)
{
    v->reason = reason;
    return FAST_KIND_DROP;
}

static inline uint8_t slow6(struct fast_rx6_verdict *v, uint32_t off)
{
    v->reason = FAST_SLOW_IPV6;
    v->off = off;
    return FAST_KIND_SLOW;
}

/* The checksum rule of IPv4's check 22 plus RFC 8200's ban on 0: how the UDP segment of
 * `length` bytes at u from the packet at ip is accepted, or FAST_CSUM_PSEUDO + 1. */
static uint16_t udp6_checksum(const struct fast_ctx *ctx, uint8_t rxcsum, const uint8_t *ip,
                              const uint8_t *u, uint32_t length)
{
    if (rxcsum == FAST_RXCSUM_PARTIAL || rxcsum == FAST_RXCSUM_VALID)
        return FAST_CSUM_OFFLOADED; /* the kernel vouched for it */
    uint64_t pseudo = pseudo_sum6(ip + 8, length);
    if (fast_inet_checksum(u, length, pseudo) == 0)
        return FAST_CSUM_VERIFIED;
    if (ctx->accept_partial && rd16(u + 6) == fold(pseudo))
        return FAST_CSUM_PSEUDO;
    return FAST_CSUM_PSEUDO + 1;
}

/* UDP in the packet at ip (payload length plen, all inside the frame) to our address. */
static uint8_t classify_udp6(const struct fast_ctx *ctx, const uint8_t *ip, uint32_t l3,
                             uint32_t plen, uint8_t rxcsum, struct fast_rx6_verdict *v,
                             uint8_t *src6)
{
    const uint8_t *u = ip + IP6_HEADER;
    if (plen < 8)
        return drop6(v, FAST_UDP6_TRUNCATED);
    uint32_t length = rd16(u + 4);
    if (length < 8)
        return drop6(v, FAST_UDP6_BAD_LENGTH);
    if (length > plen)
        return drop6(v, FAST_UDP6_TRUNCATED);
    if (!(u[6] | u[7]))
        return drop6(v, FAST_UDP6_ZERO_CHECKSUM);
    uint16_t how = udp6_checksum(ctx, rxcsum, ip, u, length);
    if (how > FAST_CSUM_PSEUDO)
        return drop6(v, FAST_UDP6_BAD_CHECKSUM);
    uint16_t dport = (uint16_t)rd16(u + 2);
    if (!(ctx->ports[dport >> 3] >> (dport & 7) & 1))
        return slow6(v, l3); /* Python counts it and answers port unreachable */
    v->reason = how;
    v->off = l3 + IP6_HEADER + 8;
    v->len = length - 8;
    v->src_port = (uint16_t)rd16(u);
    v->dst_port = dport;
    if (src6) {
        memcpy(src6, ip + 8, 16);
        memcpy(src6 + 16, u, 2);
    }
    return FAST_KIND_DELIVER6;
}

uint8_t fast_rx6_classify(const struct fast_ctx *ctx, const uint8_t *f, uint32_t size,
                          uint32_t off, uint8_t rxcsum, struct fast_rx6_verdict *v,
                          uint8_t *src6)
{
    const struct fast_ctx6 *c6 = ctx->ip6;
    if (!c6 || off > size)
        return slow6(v, off);
    uint32_t avail = size - off;
    if (avail < IP6_HEADER)
        return drop6(v, FAST_IP6_TRUNCATED);
    const uint8_t *ip = f + off;
    if (ip[0] >> 4 != 6)
        return drop6(v, FAST_IP6_BAD_VERSION);
    uint32_t plen = rd16(ip + 4);
    if (plen == 0)
        return drop6(v, FAST_IP6_BAD_PAYLOAD_LENGTH); /* a jumbogram: not taken */
    if (plen > avail - IP6_HEADER)
        return drop6(v, FAST_IP6_TRUNCATED);
    if (ip[6] != NH_UDP)
        return slow6(v, off); /* extension headers, ICMPv6 (NDP, MLD), the rest */
    const uint8_t *src = ip + 8, *dst = ip + 24;
    if (src[0] == 0xFF || is_loopback(src) || own_address(c6, src))
        return drop6(v, FAST_IP6_BAD_SOURCE);
    if (dst[0] == 0xFF)
        return slow6(v, off); /* a group: the host's IPv6 side knows its groups */
    uint8_t index = own_address(c6, dst);
    if (!index)
        return drop6(v, FAST_IP6_NOT_FOR_US);
    if (f[0] & 1)
        return drop6(v, FAST_IP6_L2_MULTICAST); /* unicast in a link-layer group frame */
    uint8_t kind = classify_udp6(ctx, ip, off, plen, rxcsum, v, src6);
    if (kind == FAST_KIND_DELIVER6)
        v->dst6 = index;
    return kind;
}
