/* AF_PACKET backend, part 2: opening a port (the TPACKET_V2 RX ring and its mapping, socket
 * options, the TX staging area, binding), closing it, and its accessors.
 *
 * RX ring version. TPACKET_V3 hands frames to user space a whole block at a time and only
 * wakes the reader when a block retires, which for sparse traffic means when the block timer
 * fires (measured on these machines, DESIGN.md: every ping waited the full timeout, 10 ms at
 * a 10 ms timeout). TPACKET_V2 publishes every frame on its own and calls sk_data_ready per
 * frame, and its poll reports readable while the newest frame is still owned by user space,
 * so a single request/response never waits on a timer (about 30 us per ping on veth).
 * Batching is kept: frames pile up in the ring while the reader is busy, and one
 * pkt_rx_burst call drains up to a batch of them. The per-frame wakeups did not cost
 * throughput here: a veth sender feeding our ring managed the same rate whether the reader
 * slept in poll() or spun on pkt_rx_burst (the copy into the ring on the sender's core is
 * the limit).
 *
 * TX path. sendmmsg(2) from a small staging area, not PACKET_TX_RING: for 60-byte frames on
 * veth both ran at the same rate (about 480k frames/s each over several runs of a C
 * program; the skb allocation and the device dominate), and sendmmsg keeps writability
 * exact: EAGAIN means the socket send buffer is full and EPOLLOUT comes back when it drains.
 * With a TX ring, a kick that hits a full send buffer leaves frames in SEND_REQUEST at the
 * kernel's head; poll then never reports writable, so an event-driven sender could stall.
 */
#define _GNU_SOURCE
#include "packet_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- opening ---------------------------------------------------------------------- */

static uint32_t round_pow2(uint32_t x)
{
    uint32_t p = 1;

    while (p < x && p < (1u << 30))
        p <<= 1;
    return p;
}

static int setup_rx_ring(pkt_port *p, const pkt_ifinfo *ifi, const pkt_config *cfg, int *stage)
{
    struct tpacket_req req;
    int version = TPACKET_V2;
    uint32_t need, blocks, frames;

    *stage = PKT_STAGE_VERSION;
    if (setsockopt(p->fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) < 0)
        return -errno;
    /* Frame = header + sockaddr_ll, padded, then the frame itself with room for a tag. */
    need = TPACKET_ALIGN(TPACKET2_HDRLEN) + 16 + (uint32_t)ifi->mtu + ETH_HLEN_ + VLAN_HLEN_;
    p->frame_size = round_pow2(cfg->frame_size ? cfg->frame_size : need);
    if (p->frame_size < 256)
        p->frame_size = 256;
    p->block_size = p->frame_size > PKT_BLOCK_MIN ? p->frame_size : PKT_BLOCK_MIN;
    p->frames_per_block = p->block_size / p->frame_size;
    frames = cfg->rx_frames ? cfg->rx_frames : 1;
    blocks = (frames + p->frames_per_block - 1) / p->frames_per_block;
    p->frame_nr = blocks * p->frames_per_block;

    memset(&req, 0, sizeof(req));
    req.tp_block_size = p->block_size;
    req.tp_block_nr = blocks;
    req.tp_frame_size = p->frame_size;
    req.tp_frame_nr = p->frame_nr;
    *stage = PKT_STAGE_RX_RING;
    if (setsockopt(p->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
        return -errno;
    p->ring_len = (size_t)blocks * p->block_size;
    *stage = PKT_STAGE_MMAP;
    p->ring = mmap(NULL, p->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);
    if (p->ring == MAP_FAILED) {
        p->ring = NULL;
        return -errno;
    }
    return 0;
}

static int setup_options(pkt_port *p, const pkt_config *cfg, int *stage)
{
    int one = 1;

    *stage = PKT_STAGE_OPTIONS;
    /* Without this every frame we send would come back through our own RX ring. Kernels
     * before 4.20 lack it; pkt_rx_burst also drops PACKET_OUTGOING frames for them. */
    if (setsockopt(p->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0 &&
        errno != ENOPROTOOPT)
        return -errno;
    if (cfg->qdisc_bypass &&
        setsockopt(p->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
        return -errno;
    /* A larger send buffer only needs CAP_NET_ADMIN to exceed wmem_max; fall back quietly. */
    if (cfg->sndbuf > 0 &&
        setsockopt(p->fd, SOL_SOCKET, SO_SNDBUFFORCE, &cfg->sndbuf, sizeof(cfg->sndbuf)) < 0 &&
        setsockopt(p->fd, SOL_SOCKET, SO_SNDBUF, &cfg->sndbuf, sizeof(cfg->sndbuf)) < 0)
        return -errno;
    return 0;
}

static int setup_tx(pkt_port *p, const pkt_config *cfg, int *stage)
{
    *stage = PKT_STAGE_ALLOC;
    p->tx_slots = cfg->tx_slots ? cfg->tx_slots : 1;
    p->tx_max = cfg->tx_max;
    if (p->tx_max < ETH_HLEN_ || p->tx_slots > (1u << 20))
        return -EINVAL;
    p->tx_data = malloc((size_t)p->tx_slots * p->tx_max);
    p->tx_lens = calloc(p->tx_slots, sizeof(*p->tx_lens));
    p->tx_msgs = calloc(PKT_MMSG_MAX, sizeof(*p->tx_msgs));
    p->tx_iov = calloc(PKT_MMSG_MAX, sizeof(*p->tx_iov));
    if (!p->tx_data || !p->tx_lens || !p->tx_msgs || !p->tx_iov)
        return -ENOMEM;
    /* Message j always carries iovec j; sendmmsg writes back only msg_len. */
    for (uint32_t j = 0; j < PKT_MMSG_MAX; j++) {
        p->tx_msgs[j].msg_hdr.msg_iov = &p->tx_iov[j];
        p->tx_msgs[j].msg_hdr.msg_iovlen = 1;
    }
    return 0;
}

static int bind_port(pkt_port *p, const pkt_ifinfo *ifi, int *stage)
{
    struct sockaddr_ll sll;

    /* The socket was created with protocol 0, so it received nothing until now: binding
     * last keeps frames of other interfaces out of the ring. */
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifi->ifindex;
    *stage = PKT_STAGE_BIND;
    if (bind(p->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
        return -errno;
    return 0;
}

static void release(pkt_port *p)
{
    if (p->ring)
        munmap(p->ring, p->ring_len);
    free(p->tx_data);
    free(p->tx_lens);
    free(p->tx_msgs);
    free(p->tx_iov);
    free(p);
}

pkt_port *pkt_port_new(int fd, const pkt_ifinfo *ifi, const pkt_config *cfg, int *err, int *stage)
{
    pkt_port *p = calloc(1, sizeof(*p));
    int flags;

    *stage = PKT_STAGE_ALLOC;
    if (p == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    p->fd = fd;
    if (ifi->mtu <= 0 || ifi->mtu > (1 << 20)) {
        *err = -EINVAL;
        release(p);
        return NULL;
    }
    *err = setup_rx_ring(p, ifi, cfg, stage);
    if (*err == 0)
        *err = setup_options(p, cfg, stage);
    if (*err == 0)
        *err = setup_tx(p, cfg, stage);
    if (*err == 0)
        *err = bind_port(p, ifi, stage);
    if (*err == 0) {
        *stage = PKT_STAGE_OPTIONS;
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
            *err = -errno;
    }
    if (*err != 0) {
        release(p);  /* the caller still owns fd */
        return NULL;
    }
    *stage = PKT_STAGE_NONE;
    return p;
}

void pkt_port_free(pkt_port *p)
{
    if (p == NULL)
        return;
    close(p->fd);
    release(p);
}

int pkt_port_fd(const pkt_port *p) { return p->fd; }
uint32_t pkt_rx_frame_size(const pkt_port *p) { return p->frame_size; }
uint32_t pkt_rx_ring_frames(const pkt_port *p) { return p->frame_nr; }
pkt_stats *pkt_port_stats(pkt_port *p) { return &p->st; }

int pkt_kernel_stats(pkt_port *p)
{
    struct tpacket_stats ks;
    socklen_t len = sizeof(ks);

    /* The kernel resets these counters on every read, so accumulate them here. */
    if (getsockopt(p->fd, SOL_PACKET, PACKET_STATISTICS, &ks, &len) < 0)
        return -errno;
    p->st.rx_kernel_drops += ks.tp_drops;
    return 0;
}
