/*
 * udpgen: UDP echo load generator on a kernel UDP socket (run it inside the peer namespace
 * with `ip netns exec`). It keeps up to --window datagrams outstanding, sends and receives
 * in batches (sendmmsg/recvmmsg), checks every echo byte for byte against its sequence
 * number, and reports sent/echoed/lost/corrupt and its own CPU time over the measured
 * window (protocol: benchlib.h).
 *
 *   udpgen --dst IP --port N [--src IP] [--size BYTES] [--window N] [--batch N]
 *          [--warmup S] [--duration S] [--timeout-ms N]
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

#define MAX_BATCH 1024
#define MAX_SIZE 1472

static struct opt opts[] = {
    {"dst", NULL},        {"port", NULL},      {"src", "0.0.0.0"},  {"size", "64"},
    {"window", "256"},    {"batch", "64"},     {"warmup", "1"},     {"duration", "3"},
    {"timeout-ms", "1000"}, {"rcvbuf", "8388608"},
};
#define NOPT (sizeof opts / sizeof opts[0])

struct gen {
    int fd;
    size_t size;
    uint32_t batch;
    struct tracker t;
    uint8_t *tx, *rx; /* MAX_BATCH buffers each */
    struct mmsghdr tmsg[MAX_BATCH], rmsg[MAX_BATCH];
    struct iovec tiov[MAX_BATCH], riov[MAX_BATCH];
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
    g->tx = calloc(MAX_BATCH, MAX_SIZE);
    g->rx = calloc(MAX_BATCH, 2048);
    if (g->tx == NULL || g->rx == NULL)
        die("out of memory");
    memset(g->tmsg, 0, sizeof g->tmsg);
    memset(g->rmsg, 0, sizeof g->rmsg);
    for (int i = 0; i < MAX_BATCH; i++) {
        g->tiov[i] = (struct iovec){g->tx + (size_t)i * MAX_SIZE, g->size};
        g->tmsg[i].msg_hdr.msg_iov = &g->tiov[i];
        g->tmsg[i].msg_hdr.msg_iovlen = 1;
        g->riov[i] = (struct iovec){g->rx + (size_t)i * 2048, 2048};
        g->rmsg[i].msg_hdr.msg_iov = &g->riov[i];
        g->rmsg[i].msg_hdr.msg_iovlen = 1;
    }
}

/* Send what the window allows (at most one batch); returns datagrams sent. */
static int send_some(struct gen *g, uint64_t now)
{
    uint32_t n = tracker_room(&g->t);
    if (n > g->batch)
        n = g->batch;
    if (n == 0)
        return 0;
    for (uint32_t i = 0; i < n; i++)
        payload_fill(g->tx + (size_t)i * MAX_SIZE, g->size, g->t.next + i, g->t.magic);
    int r = sendmmsg(g->fd, g->tmsg, n, MSG_DONTWAIT);
    if (r < 0) {
        if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR || errno == ECONNREFUSED)
            return 0; /* ECONNREFUSED: an ICMP error from before the server was up */
        die("sendmmsg: %s", strerror(errno));
    }
    tracker_sent(&g->t, (uint32_t)r, now);
    return r;
}

static int recv_some(struct gen *g, uint64_t now)
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

/* One datagram at a time until the first echo: the server may still be resolving our
 * address (ARP) and would park only a few datagrams meanwhile. */
static void prime(struct gen *g, uint32_t window)
{
    uint64_t give_up = now_ns() + 10 * 1000000000ull;
    g->t.window = 1;
    while (g->t.c.echoed == 0) {
        uint64_t now = now_ns();
        if (now > give_up)
            die("no echo from the server within 10 s");
        tracker_expire(&g->t, now);
        send_some(g, now);
        struct pollfd pfd = {.fd = g->fd, .events = POLLIN};
        poll(&pfd, 1, 10);
        recv_some(g, now_ns());
    }
    g->t.window = window;
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
    uint32_t window = (uint32_t)opt_u64(opts, NOPT, "window", 1, 65536);
    g.batch = (uint32_t)opt_u64(opts, NOPT, "batch", 1, MAX_BATCH);
    double warmup = opt_seconds(opts, NOPT, "warmup");
    double duration = opt_seconds(opts, NOPT, "duration");
    uint64_t timeout = opt_u64(opts, NOPT, "timeout-ms", 1, 60000) * 1000000ull;
    int rcvbuf = (int)opt_u64(opts, NOPT, "rcvbuf", 4096, 1u << 30);

    g.fd = open_socket(src, dst, port, rcvbuf);
    setup_msgs(&g);
    tracker_init(&g.t, window, timeout, now_ns() ^ ((uint64_t)getpid() << 32));
    prime(&g, window);

    struct phases ph;
    struct counts a = {0}, b = {0};
    double cpu_a = 0, cpu_b = 0;
    uint64_t wall_a = 0, wall_b = 0;
    phases_init(&ph, warmup, duration);
    for (;;) {
        uint64_t now = now_ns();
        int step = phases_step(&ph, now);
        if (step == 1) {
            a = g.t.c, cpu_a = cpu_seconds(), wall_a = now;
            mark("start");
        } else if (step == 2) {
            b = g.t.c, cpu_b = cpu_seconds(), wall_b = now;
            mark("end");
            break;
        }
        tracker_expire(&g.t, now);
        int sent = send_some(&g, now);
        int got = recv_some(&g, now_ns());
        if (sent == 0 && got == 0) {
            struct pollfd pfd = {.fd = g.fd, .events = POLLIN};
            poll(&pfd, 1, 1);
        }
    }
    print_echo_result("udp-socket", &a, &b, cpu_a, cpu_b, wall_a, wall_b, &g.t, "");
    close(g.fd);
    return 0;
}
