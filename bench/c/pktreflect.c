/*
 * pktreflect: a UDP reflector in C on an AF_PACKET socket, built on the project's own
 * AF_PACKET code (aionetmap/_native/packet_*.c: the TPACKET_V2 RX ring and sendmmsg TX the
 * Python PacketPort uses). It turns every IPv4/UDP frame addressed to --ip around and
 * answers ARP for it. It is the veth benchmark's ceiling: the same port, no Python.
 *
 *   pktreflect --ifname IF --ip IP [--batch 256]
 *
 * Run it inside the namespace that holds IF (`ip netns exec`); stop it with SIGTERM.
 */
#define _GNU_SOURCE
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
#define ARENA (MAX_BATCH * 2048u + 4096u)

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig, stop = 1; }

static struct opt opts[] = {{"ifname", NULL}, {"ip", NULL}, {"batch", "256"}};
#define NOPT (sizeof opts / sizeof opts[0])

int main(int argc, char **argv)
{
    static uint8_t arena[ARENA];
    static uint32_t offs[MAX_BATCH + 4], lens[MAX_BATCH + 4], toffs[MAX_BATCH + 4],
        tlens[MAX_BATCH + 4];
    static uint8_t csum[MAX_BATCH + 4]; /* PKT_RXCSUM_* per frame */
    bench_prog = "pktreflect";
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    parse_opts(argc, argv, 1, opts, NOPT);
    const char *ifname = opt_str(opts, NOPT, "ifname");
    uint32_t ip = parse_ipv4(opt_str(opts, NOPT, "ip"));
    uint32_t batch = (uint32_t)opt_u64(opts, NOPT, "batch", 1, MAX_BATCH);
    pkt_ifinfo ifi;
    pkt_port *p = bench_open_packet(ifname, 4096, &ifi);
    const uint8_t *mac = ifi.mac;
    uint64_t reflected = 0, other = 0, waits = 0;
    struct pollfd pfd = {.fd = pkt_port_fd(p), .events = POLLIN};
    printf("READY\n");
    fflush(stdout);
    while (!stop) {
        int n = pkt_rx_burst(p, arena, ARENA - 4096, offs, lens, csum, batch);
        if (n <= 0) {
            pfd.events = pkt_tx_pending(p) ? POLLIN | POLLOUT : POLLIN;
            poll(&pfd, 1, 100);
            if (pkt_tx_pending(p))
                pkt_tx_flush(p);
            waits++;
            continue;
        }
        uint32_t k = reflect_batch(arena, ARENA, offs, lens, csum, (uint32_t)n, mac, ip, toffs,
                                   tlens, &other);
        /* Frames the staging area has no room for are dropped, as a full ring would. */
        int q = pkt_tx_queue(p, arena, ARENA, toffs, tlens, k);
        if (q > 0)
            reflected += (uint64_t)q;
        pkt_tx_flush(p);
    }
    pkt_stats *st = pkt_port_stats(p);
    printf("RESULT {\"mode\": \"pktreflect\", \"count\": %llu, \"other\": %llu, \"waits\": %llu, "
           "\"tx_dropped\": %llu}\n",
           (unsigned long long)reflected, (unsigned long long)other, (unsigned long long)waits,
           (unsigned long long)(st->tx_dropped_nobufs + st->tx_dropped_error));
    fflush(stdout);
    pkt_port_free(p);
    return 0;
}
