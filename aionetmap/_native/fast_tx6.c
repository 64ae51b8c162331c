/*
 * The UDP fast path's IPv6 send side: build a batch of Ethernet/IPv6/UDP frames. See the
 * "IPv6 build" section of fast.h.
 *
 * The Python host is the reference (stack/host6.py send_udp, send6.py Sender6.packets,
 * ipv6.py build_ipv6_packet, udp6.py build_udp6_segment): every byte written here equals
 * what it frames for a datagram that fits the MTU. Which source address and which MAC a
 * destination gets is the host's decision (Host6.udp_route), numbered by the caller into
 * the destination table; nothing here chooses addresses.
 */
#include "fast.h"

#include <string.h>

enum { ETH_VLAN6 = 0x8100, ETH_IPV6_TYPE = 0x86DD, NEXT_UDP = 17 };

static inline void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* The 16-bit word sum of an address (unfolded: at most 8 * 0xFFFF). */
static inline uint64_t addr_sum(const uint8_t *a)
{
    uint64_t s = 0;
    for (int i = 0; i < 16; i += 2)
        s += (uint32_t)a[i] << 8 | a[i + 1];
    return s;
}

/* One frame at f for a payload of n bytes (the caller checked the room); eth is 14 or 18. */
static void build_frame6(const struct fast_src6 *src, uint32_t eth, uint16_t src_port,
                         const uint8_t *payload, uint32_t n, const struct fast_dst6 *dst,
                         uint8_t *f)
{
    memcpy(f, dst->mac, 6);
    memcpy(f + 6, src->mac, 6);
    if (eth != 14) {
        put16(f + 12, ETH_VLAN6);
        put16(f + 14, src->vlan_tci);
    }
    put16(f + eth - 2, ETH_IPV6_TYPE);

    uint8_t *ip = f + eth;
    uint32_t length = 8 + n; /* <= 65535: n was checked against FAST_MAX_UDP6_PAYLOAD */
    ip[0] = 0x60;            /* version 6; traffic class and flow label 0, as the host */
    ip[1] = ip[2] = ip[3] = 0;
    put16(ip + 4, length);
    ip[6] = NEXT_UDP;
    ip[7] = src->hop_limit;
    memcpy(ip + 8, dst->src, 16);
    memcpy(ip + 24, dst->ip, 16);

    uint8_t *udp = ip + 40;
    put16(udp, src_port);
    put16(udp + 2, dst->port);
    put16(udp + 4, length);
    put16(udp + 6, 0);
    memcpy(udp + 8, payload, n);
    /* RFC 8200 8.1 pseudo-header: both addresses, the upper-layer length, next header. */
    uint64_t pseudo = addr_sum(dst->src) + addr_sum(dst->ip) + length + NEXT_UDP;
    uint16_t csum = fast_inet_checksum(udp, length, pseudo);
    put16(udp + 6, csum ? csum : 0xFFFF); /* 0 is not allowed over IPv6 */
}

uint32_t fast_udp6_build_to(const struct fast_src6 *src, uint16_t src_port,
                            uint32_t max_payload, const char *payloads, size_t payloads_size,
                            const uint32_t *plens, const struct fast_dst6 *dsts, uint32_t ndsts,
                            const uint32_t *dst_index, uint32_t count, uint8_t *arena,
                            uint32_t arena_size, uint32_t *offs, uint32_t *lens)
{
    const uint8_t *pay = (const uint8_t *)payloads;
    uint32_t limit = max_payload < FAST_MAX_UDP6_PAYLOAD ? max_payload : FAST_MAX_UDP6_PAYLOAD;
    uint32_t eth = src->vlan_tci ? 14 + FAST_VLAN_TAG_LEN : 14;
    uint64_t pos = 0, taken = 0;
    uint32_t i;
    for (i = 0; i < count; i++) {
        uint32_t n = plens[i], k = dst_index[i];
        uint64_t flen = (uint64_t)FAST_UDP6_OVERHEAD - 14 + eth + n;
        if (n > limit || taken + n > payloads_size || k >= ndsts)
            break;
        if (pos + flen > arena_size)
            break;
        build_frame6(src, eth, src_port, pay + taken, n, &dsts[k], arena + pos);
        offs[i] = (uint32_t)pos;
        lens[i] = (uint32_t)flen;
        pos += flen;
        taken += n;
    }
    return i;
}
