/* AF_PACKET backend, part 4: TX through a staging area flushed with sendmmsg(2) (why not a
 * PACKET_TX_RING: see packet_open.c). */
#define _GNU_SOURCE
#include "packet_int.h"

#include <errno.h>
#include <linux/if_ether.h>
#include <string.h>
#include <sys/socket.h>

/* ---- TX --------------------------------------------------------------------------- */

static inline uint32_t rd_be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }

uint32_t pkt_tx_space(const pkt_port *p) { return p->tx_slots - p->tx_count; }
uint32_t pkt_tx_pending(const pkt_port *p) { return p->tx_count; }

int pkt_tx_queue(pkt_port *p, const uint8_t *arena, uint32_t arena_size, const uint32_t *offs,
                 const uint32_t *lens, uint32_t count)
{
    uint32_t i, n;

    /* Refuse the whole call before queueing anything if one frame is unusable. */
    for (i = 0; i < count; i++) {
        if (lens[i] < ETH_HLEN_ || lens[i] > p->tx_max)
            return -EMSGSIZE;
        if (offs[i] > arena_size || lens[i] > arena_size - offs[i])
            return -EFAULT;
        /* tx_max leaves room for an 802.1Q tag over the MTU; like the kernel (which would
         * fail the whole sendmmsg), take a frame that uses that room only if it is tagged. */
        if (lens[i] > p->tx_max - VLAN_HLEN_ && rd_be16(arena + offs[i] + 12) != ETH_P_8021Q)
            return -EMSGSIZE;
    }
    n = p->tx_slots - p->tx_count;
    if (n > count)
        n = count;
    for (i = 0; i < n; i++) {
        uint32_t slot = (p->tx_head + p->tx_count) % p->tx_slots;

        memcpy(p->tx_data + (size_t)slot * p->tx_max, arena + offs[i], lens[i]);
        p->tx_lens[slot] = lens[i];
        p->tx_count++;
    }
    return (int)n;
}

static void tx_advance(pkt_port *p, uint32_t n, int sent)
{
    for (uint32_t j = 0; sent && j < n; j++) {
        p->st.tx_frames++;
        p->st.tx_bytes += p->tx_lens[(p->tx_head + j) % p->tx_slots];
    }
    p->tx_head = (p->tx_head + n) % p->tx_slots;
    p->tx_count -= n;
}

int pkt_tx_flush(pkt_port *p)
{
    while (p->tx_count > 0) {
        uint32_t k = p->tx_count < PKT_MMSG_MAX ? p->tx_count : PKT_MMSG_MAX;
        int r, e;

        for (uint32_t j = 0; j < k; j++) {
            uint32_t slot = (p->tx_head + j) % p->tx_slots;

            p->tx_iov[j].iov_base = p->tx_data + (size_t)slot * p->tx_max;
            p->tx_iov[j].iov_len = p->tx_lens[slot];
        }
        r = sendmmsg(p->fd, p->tx_msgs, k, MSG_DONTWAIT);
        if (r > 0) {
            tx_advance(p, (uint32_t)r, 1);
            continue;
        }
        e = r == 0 ? EAGAIN : errno;
        if (e == EINTR)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK)
            return 0;  /* send buffer full: the fd turns writable when it drains */
        if (e == ENOBUFS) {
            /* The device queue refused this frame; like a UDP socket, it is lost. */
            p->st.tx_dropped_nobufs++;
            tx_advance(p, 1, 0);
            continue;
        }
        /* A hard error (interface down or gone...): every staged frame would fail too. */
        p->st.tx_dropped_error += p->tx_count;
        tx_advance(p, p->tx_count, 0);
        return -e;
    }
    return 0;
}
