/* AF_PACKET backend: see packet.h.
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
#include "packet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define PKT_BLOCK_MIN (1u << 16)  /* ring block size floor: 32 frames of 2 KiB */
#define PKT_MMSG_MAX 1024u        /* UIO_MAXIOV: the most sendmmsg takes in one call */
#define ETH_HLEN_ 14u
#define VLAN_HLEN_ 4u

struct pkt_port {
    int fd;
    uint8_t *ring;          /* RX ring mapping */
    size_t ring_len;
    uint32_t block_size, frame_size, frames_per_block, frame_nr;
    uint32_t rx_head;       /* next frame to look at */
    /* TX staging: tx_slots frames of tx_max bytes, used as a circular queue */
    uint8_t *tx_data;
    uint32_t *tx_lens;
    struct mmsghdr *tx_msgs;
    struct iovec *tx_iov;
    uint32_t tx_slots, tx_max, tx_head, tx_count;
    pkt_stats st;
};

/* ---- namespaces and interface facts ---------------------------------------------- */

int pkt_netns_socket(const char *nspath, int domain, int type, int protocol, int *stage)
{
    int self = -1, target = -1, fd = -1, err = 0;

    *stage = PKT_STAGE_NONE;
    if (nspath == NULL || nspath[0] == '\0') {
        *stage = PKT_STAGE_SOCKET;
        fd = socket(domain, type | SOCK_CLOEXEC, protocol);
        return fd >= 0 ? fd : -errno;
    }
    self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) {
        *stage = PKT_STAGE_SELF_NS;
        return -errno;
    }
    target = open(nspath, O_RDONLY | O_CLOEXEC);
    if (target < 0) {
        err = -errno;
        *stage = PKT_STAGE_OPEN_NS;
        close(self);
        return err;
    }
    if (setns(target, CLONE_NEWNET) < 0) {
        err = -errno;
        *stage = PKT_STAGE_SETNS;
    } else {
        fd = socket(domain, type | SOCK_CLOEXEC, protocol);
        if (fd < 0) {
            err = -errno;
            *stage = PKT_STAGE_SOCKET;
        }
        /* Always switch back: the calling thread runs Python code next. */
        if (setns(self, CLONE_NEWNET) < 0) {
            err = -errno;
            *stage = PKT_STAGE_RESTORE;
            if (fd >= 0)
                close(fd);
            fd = -1;
        }
    }
    close(target);
    close(self);
    return fd >= 0 ? fd : err;
}

static int copy_ifname(struct ifreq *ifr, const char *ifname)
{
    size_t n = strlen(ifname);

    memset(ifr, 0, sizeof(*ifr));
    if (n == 0 || n >= IFNAMSIZ)
        return -EINVAL;
    memcpy(ifr->ifr_name, ifname, n);
    return 0;
}

int pkt_ifinfo_get(int fd, const char *ifname, pkt_ifinfo *out)
{
    struct ifreq ifr;

    memset(out, 0, sizeof(*out));
    if (copy_ifname(&ifr, ifname) < 0)
        return -EINVAL;
    if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0)
        return -errno;
    out->ifindex = ifr.ifr_ifindex;
    if (ioctl(fd, SIOCGIFMTU, &ifr) < 0)
        return -errno;
    out->mtu = ifr.ifr_mtu;
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
        return -errno;
    out->hatype = ifr.ifr_hwaddr.sa_family;
    memcpy(out->mac, ifr.ifr_hwaddr.sa_data, 6);
    return 0;
}

int pkt_ethtool_set(int fd, const char *ifname, uint32_t cmd, uint32_t value)
{
    struct ethtool_value ev = {.cmd = cmd, .data = value};
    struct ifreq ifr;

    if (copy_ifname(&ifr, ifname) < 0)
        return -EINVAL;
    ifr.ifr_data = (char *)&ev;
    return ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
}

int pkt_ethtool_get(int fd, const char *ifname, uint32_t cmd, uint32_t *value)
{
    struct ethtool_value ev = {.cmd = cmd, .data = 0};
    struct ifreq ifr;

    if (copy_ifname(&ifr, ifname) < 0)
        return -EINVAL;
    ifr.ifr_data = (char *)&ev;
    if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
        return -errno;
    *value = ev.data;
    return 0;
}

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

/* ---- RX --------------------------------------------------------------------------- */

static struct tpacket2_hdr *rx_frame(const pkt_port *p, uint32_t i)
{
    size_t block = i / p->frames_per_block, slot = i % p->frames_per_block;

    return (struct tpacket2_hdr *)(p->ring + block * p->block_size + slot * p->frame_size);
}

int pkt_rx_ready(const pkt_port *p)
{
    uint32_t status = __atomic_load_n(&rx_frame(p, p->rx_head)->tp_status, __ATOMIC_ACQUIRE);

    return (status & TP_STATUS_USER) != 0;
}

static void put_be16(uint8_t *dst, uint16_t v)
{
    dst[0] = (uint8_t)(v >> 8);
    dst[1] = (uint8_t)v;
}

/* Copy one ring frame to dst. Returns its length, 0 if it was dropped (counted), or -1 if
 * it does not fit in the room left (it stays in the ring for the next call). */
static int64_t take_frame(pkt_port *p, const struct tpacket2_hdr *h, uint32_t status,
                          uint8_t *dst, uint32_t room, uint32_t arena_size)
{
    const uint8_t *raw = (const uint8_t *)h;
    const struct sockaddr_ll *sll;
    uint32_t mac = h->tp_mac, snap = h->tp_snaplen, tag, out;

    /* The header is written by the kernel, but nothing read from shared memory is used as
     * an offset before it is checked against the frame it lives in. */
    if (mac < TPACKET_ALIGN(sizeof(*h)) + sizeof(*sll) || mac > p->frame_size ||
        snap > p->frame_size - mac || snap < ETH_HLEN_) {
        p->st.rx_dropped_malformed++;
        return 0;
    }
    if ((status & TP_STATUS_COPY) || h->tp_len > snap) {
        p->st.rx_dropped_truncated++;
        return 0;
    }
    sll = (const struct sockaddr_ll *)(raw + TPACKET_ALIGN(sizeof(*h)));
    if (sll->sll_pkttype == PACKET_OUTGOING) {
        p->st.rx_dropped_outgoing++;
        return 0;
    }
    /* The device may have lifted the 802.1Q tag into metadata: put it back, so callers
     * see the frame as it was on the wire. */
    tag = (status & TP_STATUS_VLAN_VALID) ? VLAN_HLEN_ : 0;
    out = snap + tag;
    if (out > arena_size) {
        p->st.rx_dropped_oversize++;
        return 0;
    }
    if (out > room)
        return -1;
    if (tag) {
        uint16_t tpid = (status & TP_STATUS_VLAN_TPID_VALID) && h->tp_vlan_tpid
                            ? h->tp_vlan_tpid : ETH_P_8021Q;
        memcpy(dst, raw + mac, 12);
        put_be16(dst + 12, tpid);
        put_be16(dst + 14, h->tp_vlan_tci);
        memcpy(dst + 16, raw + mac + 12, snap - 12);
    } else {
        memcpy(dst, raw + mac, snap);
    }
    if (status & TP_STATUS_CSUMNOTREADY)
        p->st.rx_csum_not_ready++;
    p->st.rx_frames++;
    p->st.rx_bytes += out;
    return out;
}

int pkt_rx_burst(pkt_port *p, uint8_t *arena, uint32_t arena_size, uint32_t *offs,
                 uint32_t *lens, uint32_t max)
{
    uint32_t n = 0, pos = 0;

    while (n < max) {
        struct tpacket2_hdr *h = rx_frame(p, p->rx_head);
        uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
        int64_t len;

        if (!(status & TP_STATUS_USER))
            break;
        len = take_frame(p, h, status, arena + pos, arena_size - pos, arena_size);
        if (len < 0)
            break;
        if (len > 0) {
            offs[n] = pos;
            lens[n] = (uint32_t)len;
            pos += (uint32_t)len;
            n++;
        }
        /* Hand the frame back only after we are done reading it. */
        __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        p->rx_head = p->rx_head + 1 == p->frame_nr ? 0 : p->rx_head + 1;
    }
    return (int)n;
}

/* ---- TX --------------------------------------------------------------------------- */

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
            memset(&p->tx_msgs[j], 0, sizeof(p->tx_msgs[j]));
            p->tx_msgs[j].msg_hdr.msg_iov = &p->tx_iov[j];
            p->tx_msgs[j].msg_hdr.msg_iovlen = 1;
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
