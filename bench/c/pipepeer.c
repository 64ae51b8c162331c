/*
 * pipepeer: a C program on one end of a named software pipe, for the pipe benchmarks.
 *
 *   pipepeer blast   --pipe NAME [--end b] [--frame-size 60] [--batch 256] [--seconds 30]
 *       sends frames as fast as the pipe takes them (until the peer closes)
 *   pipepeer read    --pipe NAME [--end a] [--batch 256] [--warmup S] [--duration S]
 *       the C reader: counts frames received with anm_pipe_recv, the call the Python port
 *       makes, and reports frames/s over the measured window
 *   pipepeer echo    --pipe NAME [--end b] --mac M --ip IP --server-mac M --server-ip IP
 *                    [--port N] [--size BYTES] [--window N] [--batch N] [...]
 *       UDP echo load generator: builds Ethernet/IPv4/UDP frames (both checksums), keeps a
 *       window of datagrams outstanding, verifies every echo byte for byte, answers ARP;
 *       --rate N paces N datagrams/s instead (the window then only bounds what is in
 *       flight), --report S adds an INTERVAL line every S seconds; RTTs: benchlib.h
 *   pipepeer reflect --pipe NAME [--end a] --ip IP [--mac M] [--batch N]
 *       the C reflector: turns every UDP datagram for IP around (a ceiling for the echo
 *       benchmark), until the peer closes or SIGTERM
 *   pipepeer hist
 *       reads RTTs in nanoseconds (one per line) from stdin into the generators' histogram
 *       and prints its percentiles as RESULT (for the tests of the histogram)
 * Protocol with the harness: benchlib.h. All pipe access goes through the project's own
 * ring and pipe code (compiled in).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchlib.h"
#include "pipe_named.h"

#define MAX_BATCH 1024
#define SLOT_BYTES 2048

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig, stop = 1; }

static struct opt opts[] = {
    {"pipe", NULL},         {"end", NULL},         {"frame-size", "60"}, {"batch", "256"},
    {"seconds", "30"},      {"warmup", "1"},       {"duration", "3"},    {"mac", "02:00:00:00:00:02"},
    {"ip", NULL},           {"server-mac", NULL},  {"server-ip", NULL},  {"port", "7"},
    {"size", "64"},         {"window", "1024"},    {"timeout-ms", "1000"}, {"slots", "1024"},
    {"buf-size", "2048"},   {"spin", "0"},         {"rate", "0"},        {"report", "0"},
};
#define NOPT (sizeof opts / sizeof opts[0])

struct arena {
    uint8_t *data;
    uint32_t offs[MAX_BATCH], lens[MAX_BATCH];
};

static void arena_init(struct arena *a)
{
    a->data = calloc(MAX_BATCH, SLOT_BYTES);
    if (a->data == NULL)
        die("out of memory");
    for (unsigned i = 0; i < MAX_BATCH; i++)
        a->offs[i] = i * SLOT_BYTES;
}

static void open_end(struct named_pipe *np, const char *dflt)
{
    const char *end = opts[1].value ? opts[1].value : dflt;
    if (strcmp(end, "a") != 0 && strcmp(end, "b") != 0)
        die("--end must be a or b");
    named_pipe_open(np, opt_str(opts, NOPT, "pipe"), end[0] == 'b',
                    (uint32_t)opt_u64(opts, NOPT, "slots", 4, 65536),
                    (uint32_t)opt_u64(opts, NOPT, "buf-size", 64, 65472));
}

/* ---- blast ----------------------------------------------------------------------------- */

static int blast(void)
{
    struct named_pipe np;
    struct arena a;
    uint32_t size = (uint32_t)opt_u64(opts, NOPT, "frame-size", 60, SLOT_BYTES);
    uint32_t batch = (uint32_t)opt_u64(opts, NOPT, "batch", 1, MAX_BATCH);
    uint64_t until = now_ns() + (uint64_t)(opt_seconds(opts, NOPT, "seconds") * 1e9);
    int spin = (int)opt_u64(opts, NOPT, "spin", 0, 1);
    arena_init(&a);
    for (uint32_t i = 0; i < batch; i++) { /* broadcast, local experimental EtherType */
        uint8_t *f = a.data + a.offs[i];
        memset(f, 0xff, 6);
        memcpy(f + 6, "\x02\x00\x00\x00\x00\x01\x88\xb5", 8);
        a.lens[i] = size;
    }
    open_end(&np, "b");
    uint64_t seq = 0, waits = 0, bursts = 0;
    double cpu0 = cpu_seconds();
    uint64_t t0 = now_ns();
    while (!stop && !named_pipe_peer_closed(&np) && now_ns() < until) {
        unsigned space = anm_tx_space(&np.r);
        if (space == 0) {
            anm_pipe_txsync(&np.p, &np.r);
            space = anm_tx_space(&np.r);
        }
        if (space == 0) { /* the reader is behind: its rxsync wakes us */
            waits++;
            if (!spin) { /* sleep until woken; spinning keeps the ring fuller */
                named_pipe_wait(&np, 10);
                anm_pipe_clear(&np.p);
            }
            continue;
        }
        uint32_t n = space < batch ? space : batch;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t s = seq + i;
            memcpy(a.data + a.offs[i] + 14, &s, 8);
        }
        bursts++;
        seq += anm_tx_burst(&np.r, (const char *)a.data, (size_t)MAX_BATCH * SLOT_BYTES, a.offs,
                            a.lens, n);
        if (anm_pipe_txsync(&np.p, &np.r) < 0)
            die("pipe control area damaged");
    }
    double wall = (double)(now_ns() - t0) / 1e9;
    printf("RESULT {\"mode\": \"blast\", \"count\": %llu, \"window_s\": %.6f, \"cpu_s\": %.6f, "
           "\"waits\": %llu, \"bursts\": %llu}\n",
           (unsigned long long)seq, wall, cpu_seconds() - cpu0, (unsigned long long)waits,
           (unsigned long long)bursts);
    named_pipe_close(&np);
    return 0;
}

/* ---- read ------------------------------------------------------------------------------ */

static int readframes(void)
{
    struct named_pipe np;
    struct arena a;
    struct phases ph;
    uint32_t batch = (uint32_t)opt_u64(opts, NOPT, "batch", 1, MAX_BATCH);
    arena_init(&a);
    open_end(&np, "a");
    printf("READY\n");
    fflush(stdout);
    phases_init(&ph, opt_seconds(opts, NOPT, "warmup"), opt_seconds(opts, NOPT, "duration"));
    uint64_t count = 0, count_a = 0, count_b = 0, wall_a = 0, wall_b = 0, touch = 0;
    uint64_t calls = 0, calls_a = 0, calls_b = 0; /* calls that returned frames */
    double cpu_a = 0, cpu_b = 0;
    while (!stop) {
        uint64_t now = now_ns();
        int step = phases_step(&ph, now);
        if (step == 1) {
            count_a = count, calls_a = calls, cpu_a = cpu_seconds(), wall_a = now;
            mark("start");
        } else if (step == 2) {
            count_b = count, calls_b = calls, cpu_b = cpu_seconds(), wall_b = now;
            mark("end");
            break;
        }
        int n = anm_pipe_recv(&np.p, &np.r, a.data, (size_t)MAX_BATCH * SLOT_BYTES, a.offs,
                              a.lens, batch);
        if (n < 0)
            die("pipe control area damaged");
        calls += n > 0;
        for (int i = 0; i < n; i++) /* look at every frame, as a real reader would */
            touch += a.data[a.offs[i] + 14];
        count += (uint64_t)n;
        if (n == 0)
            named_pipe_wait(&np, 10);
    }
    double window = (double)(wall_b - wall_a) / 1e9;
    printf("RESULT {\"mode\": \"read\", \"count\": %llu, \"window_s\": %.6f, \"cpu_s\": %.6f, "
           "\"calls\": %llu, \"touch\": %llu}\n",
           (unsigned long long)(count_b - count_a), window, cpu_b - cpu_a,
           (unsigned long long)(calls_b - calls_a), (unsigned long long)touch);
    fflush(stdout);
    named_pipe_close(&np);
    return 0;
}

/* ---- echo (UDP load generator) --------------------------------------------------------- */

struct echo {
    struct named_pipe np;
    struct arena tx, rx;
    struct flow f;
    struct tracker t;
    size_t size;
    uint32_t batch;
    uint16_t ip_id;
    uint8_t arp[4][60]; /* ARP replies waiting to go out */
    uint32_t arp_n;
};

static void send_arp(struct echo *e)
{
    uint32_t lens[4] = {60, 60, 60, 60}, offs[4] = {0, 60, 120, 180};
    unsigned q = anm_tx_burst(&e->np.r, (const char *)e->arp, sizeof e->arp, offs, lens,
                              e->arp_n);
    if (q < e->arp_n)
        memmove(e->arp[0], e->arp[q], (size_t)(e->arp_n - q) * 60);
    e->arp_n -= q;
}

static int echo_send(void *ctx, uint64_t now)
{
    struct echo *e = ctx;
    if (e->arp_n)
        send_arp(e);
    uint32_t n = tracker_room(&e->t);
    unsigned space = anm_tx_space(&e->np.r);
    if (space < n && anm_pipe_txsync(&e->np.p, &e->np.r) >= 0)
        space = anm_tx_space(&e->np.r);
    n = n < e->batch ? n : e->batch;
    n = n < space ? n : space;
    if (n == 0)
        return 0;
    echo_frames(&e->t, &e->f, e->size, &e->ip_id, e->tx.data, e->tx.offs, e->tx.lens, n);
    unsigned q = anm_tx_burst(&e->np.r, (const char *)e->tx.data, (size_t)MAX_BATCH * SLOT_BYTES,
                              e->tx.offs, e->tx.lens, n);
    if (anm_pipe_txsync(&e->np.p, &e->np.r) < 0)
        die("pipe control area damaged");
    tracker_sent(&e->t, q, now);
    return (int)q;
}

static int echo_recv(void *ctx, uint64_t now)
{
    struct echo *e = ctx;
    int n = anm_pipe_recv(&e->np.p, &e->np.r, e->rx.data, (size_t)MAX_BATCH * SLOT_BYTES,
                          e->rx.offs, e->rx.lens, e->batch);
    if (n < 0)
        die("pipe control area damaged");
    for (int i = 0; i < n; i++) {
        uint8_t *arp = e->arp_n < 4 ? e->arp[e->arp_n] : NULL;
        e->arp_n += echo_frame_seen(&e->t, &e->f, e->size, e->rx.data + e->rx.offs[i],
                                    e->rx.lens[i], 0, arp, now);
    }
    return n;
}

static void echo_wait(void *ctx, int64_t timeout_us)
{
    struct echo *e = ctx;
    named_pipe_wait_us(&e->np, timeout_us);
}

static int echo(void)
{
    static struct echo e;
    parse_mac(opt_str(opts, NOPT, "mac"), e.f.src_mac);
    parse_mac(opt_str(opts, NOPT, "server-mac"), e.f.dst_mac);
    e.f.src_ip = parse_ipv4(opt_str(opts, NOPT, "ip"));
    e.f.dst_ip = parse_ipv4(opt_str(opts, NOPT, "server-ip"));
    e.f.src_port = 9000;
    e.f.dst_port = (uint16_t)opt_u64(opts, NOPT, "port", 1, 65535);
    e.size = opt_u64(opts, NOPT, "size", PAYLOAD_MIN, 1472);
    e.batch = (uint32_t)opt_u64(opts, NOPT, "batch", 1, MAX_BATCH);
    struct echo_load load = echo_load_from_opts(opts, NOPT);
    uint64_t timeout = opt_u64(opts, NOPT, "timeout-ms", 1, 60000) * 1000000ull;
    arena_init(&e.tx);
    arena_init(&e.rx);
    open_end(&e.np, "b");
    tracker_init(&e.t, load.window, timeout, now_ns() ^ ((uint64_t)getpid() << 32));
    static const struct echo_ops ops = {echo_send, echo_recv, echo_wait};
    echo_run(&e.t, &load, &ops, &e, &stop, "pipe-udp");
    named_pipe_close(&e.np);
    return 0;
}

/* ---- reflect --------------------------------------------------------------------------- */

static int reflect(void)
{
    static struct named_pipe np;
    static struct arena rx;
    static uint32_t offs[MAX_BATCH + 1], lens[MAX_BATCH + 1];
    uint8_t mac[6];
    uint32_t ip = parse_ipv4(opt_str(opts, NOPT, "ip"));
    uint32_t batch = (uint32_t)opt_u64(opts, NOPT, "batch", 1, MAX_BATCH);
    parse_mac(opt_str(opts, NOPT, "mac"), mac);
    arena_init(&rx);
    open_end(&np, "a");
    printf("READY\n");
    fflush(stdout);
    uint64_t reflected = 0, other = 0, spins = 0;
    size_t arena_len = (size_t)MAX_BATCH * SLOT_BYTES;
    while (!stop && !named_pipe_peer_closed(&np)) {
        int n = anm_pipe_recv(&np.p, &np.r, rx.data, arena_len, rx.offs, rx.lens, batch);
        if (n < 0)
            die("pipe control area damaged");
        if (n == 0) {
            named_pipe_wait(&np, 10);
            continue;
        }
        uint32_t k = reflect_batch(rx.data, arena_len, rx.offs, rx.lens, NULL, (uint32_t)n, mac,
                                   ip, offs, lens, &other);
        for (uint32_t sent = 0; sent < k && !stop;) {
            sent += anm_tx_burst(&np.r, (const char *)rx.data, arena_len, offs + sent,
                                 lens + sent, k - sent);
            if (anm_pipe_txsync(&np.p, &np.r) < 0)
                die("pipe control area damaged");
            if (sent < k)
                spins++; /* the generator's RX ring is full: it is reading, retry */
        }
        reflected += k;
    }
    printf("RESULT {\"mode\": \"reflect\", \"count\": %llu, \"other\": %llu, \"spins\": %llu}\n",
           (unsigned long long)reflected, (unsigned long long)other, (unsigned long long)spins);
    fflush(stdout);
    named_pipe_close(&np);
    return 0;
}

/* ---- hist (tests) --------------------------------------------------------------------- */

static int hist_from_stdin(void)
{
    static struct hist h;
    static char buf[HIST_BUCKETS * 32 + 256];
    unsigned long long v;
    hist_reset(&h);
    while (scanf("%llu", &v) == 1)
        hist_record(&h, v);
    if (hist_json(&h, buf, sizeof buf) < 0)
        die("histogram too large to print");
    printf("RESULT {%s}\n", buf);
    return 0;
}

int main(int argc, char **argv)
{
    bench_prog = "pipepeer";
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2)
        die("usage: pipepeer blast|read|echo|reflect --pipe NAME [options]");
    parse_opts(argc, argv, 2, opts, NOPT);
    if (strcmp(argv[1], "blast") == 0)
        return blast();
    if (strcmp(argv[1], "read") == 0)
        return readframes();
    if (strcmp(argv[1], "echo") == 0)
        return echo();
    if (strcmp(argv[1], "reflect") == 0)
        return reflect();
    if (strcmp(argv[1], "hist") == 0)
        return hist_from_stdin();
    die("unknown mode %s (blast, read, echo, reflect)", argv[1]);
}
