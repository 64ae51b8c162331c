/*
 * udpgen: UDP echo load generator (run it inside the peer namespace with `ip netns exec`).
 * It keeps up to --window datagrams outstanding, sends and receives in batches, checks every
 * echo byte for byte against its sequence number, and reports sent/echoed/lost/corrupt and
 * its own CPU time over the measured window (protocol: benchlib.h).
 *
 *   udpgen --dst IP --port N [--src IP] [--size BYTES] [--window N] [--batch N]
 *          [--warmup S] [--duration S] [--timeout-ms N] [--rate N] [--report S]
 *          [--mode socket | --mode packet --ifname IF --dst-mac MAC [--src-mac MAC]]
 *
 * --rate N: paced, N datagrams/s (the window only bounds what is in flight) instead of
 * keeping the window full; --report S: an INTERVAL line every S seconds (soak). Every
 * round trip goes into a histogram whose percentiles RESULT carries (benchlib.h).
 * --mode socket (default): a connected kernel UDP socket, sendmmsg/recvmmsg.
 * --mode packet: Ethernet frames built here (both checksums) on an AF_PACKET socket through
 * the project's own packet_*.c (TPACKET_V2 RX ring, sendmmsg TX), so the generator's side pays
 * no UDP socket or routing cost. --src must then be an address configured nowhere (this
 * program answers ARP for it), and --src-mac may be a hardware address that is not the
 * interface's: the echoes then reach the peer kernel as frames for another host, which it
 * drops before IP, the cheapest way for veth to dispose of them on the server's core.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "benchlib.h"
#include "packet.h"
#include "pktopen.h"

#define MAX_BATCH 1024
#define MAX_SIZE 1472

static struct opt opts[] = {
    {"dst", NULL},        {"port", NULL},      {"src", "0.0.0.0"},  {"size", "64"},
    {"window", "256"},    {"batch", "64"},     {"warmup", "1"},     {"duration", "3"},
    {"timeout-ms", "1000"}, {"rcvbuf", "8388608"}, {"mode", "socket"}, {"ifname", NULL},
    {"rate", "0"},           {"report", "0"},     {"dst-mac", NULL},   {"src-mac", NULL},
};
#define NOPT (sizeof opts / sizeof opts[0])

struct gen {
    int fd; /* what to poll */
    size_t size;
    uint32_t batch;
    struct tracker t;
    uint8_t *tx, *rx; /* MAX_BATCH buffers of 2048 bytes each */
    /* socket mode */
    struct mmsghdr tmsg[MAX_BATCH], rmsg[MAX_BATCH];
    struct iovec tiov[MAX_BATCH], riov[MAX_BATCH];
    /* packet mode */
    pkt_port *port;
    struct flow f;
    uint16_t ip_id;
    uint32_t offs[MAX_BATCH], lens[MAX_BATCH], roffs[MAX_BATCH], rlens[MAX_BATCH];
    uint8_t rcsum[MAX_BATCH]; /* PKT_RXCSUM_* per received frame */
    uint8_t arp[60];
    uint32_t arp_pending;
};

static int open_socket(uint32_t src, uint32_t dst, uint16_t port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    /* The generator must not be where datagrams drop: give it room (FORCE: we are root). */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = src};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("bind: %s", strerror(errno));
    struct sockaddr_in d = {.sin_family = AF_INET, .sin_addr.s_addr = dst,
                            .sin_port = htons(port)};
    if (connect(fd, (struct sockaddr *)&d, sizeof d) < 0) /* only the server's replies */
        die("connect: %s", strerror(errno));
    return fd;
}

static void setup_msgs(struct gen *g)
{
    g->tx = calloc(MAX_BATCH, 2048);
    g->rx = calloc(MAX_BATCH, 2048);
    if (g->tx == NULL || g->rx == NULL)
        die("out of memory");
    memset(g->tmsg, 0, sizeof g->tmsg);
    memset(g->rmsg, 0, sizeof g->rmsg);
    for (int i = 0; i < MAX_BATCH; i++) {
        g->tiov[i] = (struct iovec){g->tx + (size_t)i * 2048, g->size};
        g->tmsg[i].msg_hdr.msg_iov = &g->tiov[i];
        g->tmsg[i].msg_hdr.msg_iovlen = 1;
        g->riov[i] = (struct iovec){g->rx + (size_t)i * 2048, 2048};
        g->rmsg[i].msg_hdr.msg_iov = &g->riov[i];
        g->rmsg[i].msg_hdr.msg_iovlen = 1;
    }
}

/* Send what the window allows (at most one batch); returns datagrams sent. */
static int socket_send(struct gen *g, uint64_t now)
{
    uint32_t n = tracker_room(&g->t);
    if (n > g->batch)
        n = g->batch;
    if (n == 0)
        return 0;
    for (uint32_t i = 0; i < n; i++)
        payload_fill(g->tx + (size_t)i * 2048, g->size, g->t.next + i, g->t.magic);
    int r = sendmmsg(g->fd, g->tmsg, n, MSG_DONTWAIT);
    if (r < 0) {
        if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR || errno == ECONNREFUSED)
            return 0; /* ECONNREFUSED: an ICMP error from before the server was up */
        die("sendmmsg: %s", strerror(errno));
    }
    tracker_sent(&g->t, (uint32_t)r, now);
    return r;
}

static int socket_recv(struct gen *g, uint64_t now)
{
    int r = recvmmsg(g->fd, g->rmsg, g->batch, MSG_DONTWAIT, NULL);
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR || errno == ECONNREFUSED)
            return 0;
        die("recvmmsg: %s", strerror(errno));
    }
    for (int i = 0; i < r; i++) {
        size_t len = g->rmsg[i].msg_len;
        tracker_echo(&g->t, g->rx + (size_t)i * 2048, len, g->size, now);
    }
    return r;
}

/* ---- packet mode ----------------------------------------------------------------------- */

static void open_packet(struct gen *g, const char *ifname, const char *dst_mac,
                        const char *src_mac)
{
    pkt_ifinfo ifi;
    g->port = bench_open_packet(ifname, 8192, &ifi);
    g->fd = pkt_port_fd(g->port);
    memcpy(g->f.src_mac, ifi.mac, 6);
    if (src_mac != NULL)
        parse_mac(src_mac, g->f.src_mac);
    parse_mac(dst_mac, g->f.dst_mac);
    for (uint32_t i = 0; i < MAX_BATCH; i++)
        g->offs[i] = i * 2048;
}

static int packet_send(struct gen *g, uint64_t now)
{
    if (g->arp_pending) {
        uint32_t off = 0, len = 60;
        if (pkt_tx_queue(g->port, g->arp, 60, &off, &len, 1) == 1)
            g->arp_pending = 0;
    }
    uint32_t n = tracker_room(&g->t), space = pkt_tx_space(g->port);
    n = n < g->batch ? n : g->batch;
    n = n < space ? n : space;
    echo_frames(&g->t, &g->f, g->size, &g->ip_id, g->tx, g->offs, g->lens, n);
    int q = n ? pkt_tx_queue(g->port, g->tx, MAX_BATCH * 2048, g->offs, g->lens, n) : 0;
    if (q < 0)
        die("queueing frames: %s", strerror(-q));
    int rc = pkt_tx_flush(g->port); /* what the socket refuses now stays staged */
    if (rc < 0)
        die("sending frames: %s", strerror(-rc));
    tracker_sent(&g->t, (uint32_t)q, now);
    return q;
}

static int packet_recv(struct gen *g, uint64_t now)
{
    int n = pkt_rx_burst(g->port, g->rx, MAX_BATCH * 2048, g->roffs, g->rlens, g->rcsum,
                         g->batch);
    for (int i = 0; i < n; i++) {
        /* Kernel servers at default offloads send partial checksums (flagged). */
        int done = g->rcsum[i] != PKT_RXCSUM_UNKNOWN;
        if (echo_frame_seen(&g->t, &g->f, g->size, g->rx + g->roffs[i], g->rlens[i], done,
                            g->arp_pending ? NULL : g->arp, now))
            g->arp_pending = 1;
    }
    return n > 0 ? n : 0;
}

static int send_some(void *ctx, uint64_t now)
{
    struct gen *g = ctx;
    return g->port ? packet_send(g, now) : socket_send(g, now);
}

static int recv_some(void *ctx, uint64_t now)
{
    struct gen *g = ctx;
    return g->port ? packet_recv(g, now) : socket_recv(g, now);
}

static void wait_ready(void *ctx, int64_t timeout_us)
{
    struct gen *g = ctx;
    short events = POLLIN;
    if (g->port && pkt_tx_pending(g->port))
        events |= POLLOUT;
    struct pollfd pfd = {.fd = g->fd, .events = events};
    struct timespec ts = {.tv_sec = timeout_us / 1000000, .tv_nsec = (timeout_us % 1000000) * 1000};
    ppoll(&pfd, 1, &ts, NULL);
}

int main(int argc, char **argv)
{
    struct gen g;
    bench_prog = "udpgen";
    signal(SIGPIPE, SIG_IGN);
    parse_opts(argc, argv, 1, opts, NOPT);
    memset(&g, 0, sizeof g);
    uint32_t dst = parse_ipv4(opt_str(opts, NOPT, "dst"));
    uint32_t src = parse_ipv4(opt_str(opts, NOPT, "src"));
    uint16_t port = (uint16_t)opt_u64(opts, NOPT, "port", 1, 65535);
    g.size = opt_u64(opts, NOPT, "size", PAYLOAD_MIN, MAX_SIZE);
    struct echo_load load = echo_load_from_opts(opts, NOPT);
    g.batch = (uint32_t)opt_u64(opts, NOPT, "batch", 1, MAX_BATCH);
    uint64_t timeout = opt_u64(opts, NOPT, "timeout-ms", 1, 60000) * 1000000ull;
    int rcvbuf = (int)opt_u64(opts, NOPT, "rcvbuf", 4096, 1u << 30);

    setup_msgs(&g);
    const char *mode = opt_str(opts, NOPT, "mode");
    if (strcmp(mode, "packet") == 0) {
        open_packet(&g, opt_str(opts, NOPT, "ifname"), opt_str(opts, NOPT, "dst-mac"),
                    opts[NOPT - 1].value);
        g.f.src_ip = src, g.f.dst_ip = dst, g.f.src_port = 9000, g.f.dst_port = port;
    } else if (strcmp(mode, "socket") == 0) {
        g.fd = open_socket(src, dst, port, rcvbuf);
    } else {
        die("--mode %s: want socket or packet", mode);
    }
    tracker_init(&g.t, load.window, timeout, now_ns() ^ ((uint64_t)getpid() << 32));
    static const struct echo_ops ops = {send_some, recv_some, wait_ready};
    echo_run(&g.t, &load, &ops, &g, NULL, g.port ? "udp-packet" : "udp-socket");
    if (g.port)
        pkt_port_free(g.port);
    else
        close(g.fd);
    return 0;
}
