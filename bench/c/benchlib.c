/* Shared parts of the benchmark's C programs: see benchlib.h. */
#define _GNU_SOURCE
#include "benchlib.h"
#include "packet.h" /* PKT_RXCSUM_* */

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

const char *bench_prog = "bench";

/* ---- time and CPU ---------------------------------------------------------------------- */

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", bench_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* ---- arguments ------------------------------------------------------------------------- */

void parse_opts(int argc, char **argv, int first, struct opt *opts, size_t n)
{
    for (int i = first; i < argc; i += 2) {
        const char *name = argv[i];
        if (strncmp(name, "--", 2) != 0 || i + 1 >= argc)
            die("expected --name value pairs, got %s", name);
        size_t k = 0;
        while (k < n && strcmp(opts[k].name, name + 2) != 0)
            k++;
        if (k == n)
            die("unknown option %s", name);
        opts[k].value = argv[i + 1];
    }
}

const char *opt_str(const struct opt *opts, size_t n, const char *name)
{
    for (size_t k = 0; k < n; k++)
        if (strcmp(opts[k].name, name) == 0) {
            if (opts[k].value == NULL)
                die("option --%s is required", name);
            return opts[k].value;
        }
    die("internal: no option %s", name);
}

uint64_t opt_u64(const struct opt *opts, size_t n, const char *name, uint64_t lo, uint64_t hi)
{
    const char *text = opt_str(opts, n, name);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end || end == text || v < lo || v > hi)
        die("--%s %s: want an integer in %" PRIu64 "..%" PRIu64, name, text, lo, hi);
    return v;
}

double opt_seconds(const struct opt *opts, size_t n, const char *name)
{
    const char *text = opt_str(opts, n, name);
    char *end;
    double v = strtod(text, &end);
    if (*end || end == text || !(v >= 0 && v < 86400))
        die("--%s %s: want seconds (0 .. 86400)", name, text);
    return v;
}

uint32_t parse_ipv4(const char *text)
{
    struct in_addr a;
    if (inet_pton(AF_INET, text, &a) != 1)
        die("%s is not an IPv4 address", text);
    return a.s_addr;
}

void parse_mac(const char *text, uint8_t mac[6])
{
    unsigned v[6];
    char tail;
    if (sscanf(text, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) !=
        6)
        die("%s is not a MAC address (aa:bb:cc:dd:ee:ff)", text);
    for (int i = 0; i < 6; i++) {
        if (v[i] > 255)
            die("%s is not a MAC address", text);
        mac[i] = (uint8_t)v[i];
    }
}

/* ---- run phases ------------------------------------------------------------------------ */

void phases_init(struct phases *ph, double warmup_s, double duration_s)
{
    uint64_t t0 = now_ns();
    ph->warm_end = t0 + (uint64_t)(warmup_s * 1e9);
    ph->end = ph->warm_end + (uint64_t)(duration_s * 1e9);
    ph->phase = PH_WARMUP;
}

int phases_step(struct phases *ph, uint64_t now)
{
    if (ph->phase == PH_WARMUP && now >= ph->warm_end) {
        ph->phase = PH_MEASURE;
        return 1;
    }
    if (ph->phase == PH_MEASURE && now >= ph->end) {
        ph->phase = PH_DONE;
        return 2;
    }
    return 0;
}

void mark(const char *what)
{
    printf("MARK %s\n", what);
    fflush(stdout);
}

/* ---- payloads and the tracker ---------------------------------------------------------- */

static inline uint8_t pattern(uint64_t x, size_t i)
{
    return (uint8_t)((x >> ((i & 7) * 8)) + i);
}

void payload_fill(uint8_t *p, size_t len, uint64_t seq, uint64_t magic)
{
    memcpy(p, &seq, 8);
    memcpy(p + 8, &magic, 8);
    uint64_t x = seq ^ magic;
    for (size_t i = PAYLOAD_MIN; i < len; i++)
        p[i] = pattern(x, i);
}

int payload_check(const uint8_t *p, size_t len, size_t want_len, uint64_t magic, uint64_t *seq)
{
    uint64_t s, m;
    if (len != want_len || len < PAYLOAD_MIN)
        return -1;
    memcpy(&s, p, 8);
    memcpy(&m, p + 8, 8);
    if (m != magic)
        return -1;
    uint64_t x = s ^ magic;
    for (size_t i = PAYLOAD_MIN; i < len; i++)
        if (p[i] != pattern(x, i))
            return -1;
    *seq = s;
    return 0;
}

enum { ST_FREE, ST_OUT, ST_LOST, ST_DONE };
#define TRACK_RING (1u << 20)

void tracker_init(struct tracker *t, uint32_t window, uint64_t timeout_ns, uint64_t magic)
{
    memset(t, 0, sizeof *t);
    t->window = window;
    t->mask = TRACK_RING - 1;
    t->timeout_ns = timeout_ns;
    t->magic = magic;
    t->state = calloc(TRACK_RING, 1);
    t->sent_at = calloc(TRACK_RING, sizeof *t->sent_at);
    if (t->state == NULL || t->sent_at == NULL)
        die("out of memory for the sequence tracker");
}

uint32_t tracker_room(const struct tracker *t)
{
    if (t->outstanding >= t->window)
        return 0;
    uint64_t room = t->window - t->outstanding;
    uint64_t span = TRACK_RING - (t->next - t->lo); /* never overwrite tracked entries */
    return (uint32_t)(room < span ? room : span);
}

void tracker_sent(struct tracker *t, uint32_t n, uint64_t now)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = (uint32_t)(t->next + i) & t->mask;
        t->state[k] = ST_OUT;
        t->sent_at[k] = now;
    }
    t->next += n;
    t->outstanding += n;
    t->c.sent += n;
}

void tracker_echo(struct tracker *t, const uint8_t *p, size_t len, size_t want_len, uint64_t now)
{
    uint64_t seq;
    if (payload_check(p, len, want_len, t->magic, &seq) < 0 || seq >= t->next) {
        t->c.corrupt++;
        return;
    }
    if (t->next - seq > TRACK_RING) { /* too old to know: it was counted lost long ago */
        t->c.late++;
        return;
    }
    uint32_t k = (uint32_t)seq & t->mask;
    switch (t->state[k]) {
    case ST_OUT:
        t->state[k] = ST_DONE;
        t->outstanding--;
        t->c.echoed++;
        t->c.rtt_ns += now - t->sent_at[k];
        hist_record(&t->rtt, now - t->sent_at[k]);
        hist_record(&t->irtt, now - t->sent_at[k]);
        break;
    case ST_LOST:
        t->state[k] = ST_DONE;
        t->c.late++;
        break;
    default:
        t->c.dup++;
    }
}

void tracker_expire(struct tracker *t, uint64_t now)
{
    while (t->lo < t->next) {
        uint32_t k = (uint32_t)t->lo & t->mask;
        if (t->state[k] == ST_OUT) {
            if (now - t->sent_at[k] < t->timeout_ns)
                break;
            t->state[k] = ST_LOST;
            t->outstanding--;
            t->c.lost++;
        }
        t->lo++;
    }
}

void print_echo_result(const char *word, const char *mode, const struct counts *a,
                       const struct counts *b, double cpu_a, double cpu_b, uint64_t wall_a,
                       uint64_t wall_b, const struct tracker *t, const struct hist *h,
                       const char *extra)
{
    static char lat[HIST_BUCKETS * 32 + 256];
    double window = (double)(wall_b - wall_a) / 1e9;
    uint64_t echoed = b->echoed - a->echoed;
    double rtt_us = echoed ? (double)(b->rtt_ns - a->rtt_ns) / (double)echoed / 1e3 : 0.0;
    hist_json(h, lat, sizeof lat);
    printf("%s {\"mode\": \"%s\", \"window_s\": %.6f, \"cpu_s\": %.6f, \"count\": %" PRIu64
           ", \"sent\": %" PRIu64 ", \"echoed\": %" PRIu64 ", \"lost\": %" PRIu64
           ", \"corrupt\": %" PRIu64 ", \"late\": %" PRIu64 ", \"dup\": %" PRIu64
           ", \"other\": %" PRIu64 ", \"behind\": %" PRIu64 ", \"avg_rtt_us\": %.1f, "
           "\"in_flight\": %" PRIu64 ", \"total_sent\": %" PRIu64 ", \"total_echoed\": %" PRIu64
           ", \"total_lost\": %" PRIu64 ", \"total_corrupt\": %" PRIu64 ", %s%s%s}\n",
           word, mode, window, cpu_b - cpu_a, echoed, b->sent - a->sent, echoed,
           b->lost - a->lost, b->corrupt - a->corrupt, b->late - a->late, b->dup - a->dup,
           b->other - a->other, b->behind - a->behind, rtt_us, t->outstanding, t->c.sent,
           t->c.echoed, t->c.lost, t->c.corrupt, lat, extra[0] ? ", " : "", extra);
    fflush(stdout);
}

/* ---- round-trip time histogram --------------------------------------------------------- */

void hist_reset(struct hist *h) { memset(h, 0, sizeof *h); }

uint32_t hist_index(uint64_t v)
{
    if (v >> HIST_MAX_BITS)
        return HIST_BUCKETS - 1;
    /* shift: how far v must move right to leave 2^(SUB_BITS+1) > v' >= 2^SUB_BITS */
    int top = v ? 63 - __builtin_clzll(v) : 0;
    uint32_t shift = top > HIST_SUB_BITS ? (uint32_t)(top - HIST_SUB_BITS) : 0;
    return (shift << HIST_SUB_BITS) + (uint32_t)(v >> shift);
}

uint64_t hist_upper(uint32_t i)
{
    if (i < (2u << HIST_SUB_BITS))
        return i;
    uint32_t shift = (i >> HIST_SUB_BITS) - 1;
    uint64_t m = i - (shift << HIST_SUB_BITS); /* 2^SUB_BITS .. 2^(SUB_BITS+1) - 1 */
    return ((m + 1) << shift) - 1;
}

void hist_record(struct hist *h, uint64_t v)
{
    if (h->n == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->n++;
    h->counts[hist_index(v)]++;
}

uint64_t hist_percentile(const struct hist *h, double q)
{
    if (h->n == 0)
        return 0;
    /* the rank of the q-th percentile value, 1-based: ceil(q/100 * n), at least 1 */
    double r = q / 100.0 * (double)h->n;
    uint64_t rank = (uint64_t)r;
    if ((double)rank < r)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            /* the last bucket also holds everything past its nominal bound */
            uint64_t up = i == HIST_BUCKETS - 1 ? h->max : hist_upper(i);
            return up < h->max ? up : h->max;
        }
    }
    return h->max;
}

int hist_json(const struct hist *h, char *buf, size_t len)
{
    size_t k = 0;
    int w = snprintf(buf, len,
                     "\"latency\": {\"n\": %" PRIu64 ", \"min_us\": %.3f, \"p50_us\": %.3f, "
                     "\"p90_us\": %.3f, \"p99_us\": %.3f, \"p999_us\": %.3f, \"max_us\": %.3f, "
                     "\"buckets\": [",
                     h->n, (double)h->min / 1e3, (double)hist_percentile(h, 50) / 1e3,
                     (double)hist_percentile(h, 90) / 1e3, (double)hist_percentile(h, 99) / 1e3,
                     (double)hist_percentile(h, 99.9) / 1e3, (double)h->max / 1e3);
    if (w < 0 || (size_t)w >= len)
        return w;
    k = (size_t)w;
    const char *sep = "";
    for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
        if (!h->counts[i])
            continue;
        w = snprintf(buf + k, len - k, "%s[%" PRIu64 ", %" PRIu64 "]", sep, hist_upper(i),
                     h->counts[i]);
        if (w < 0 || (size_t)w >= len - k)
            return -1;
        k += (size_t)w;
        sep = ", ";
    }
    w = snprintf(buf + k, len - k, "]}");
    return w < 0 ? w : (int)(k + (size_t)w);
}

/* ---- frames ---------------------------------------------------------------------------- */

static inline void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

uint16_t inet_csum(const void *data, size_t len, uint32_t sum)
{
    const uint8_t *p = data;
    uint64_t s = sum;
    for (; len >= 2; p += 2, len -= 2)
        s += (uint32_t)(p[0] << 8 | p[1]);
    if (len)
        s += (uint32_t)p[0] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static uint32_t pseudo_sum(uint32_t src, uint32_t dst, uint16_t udp_len)
{
    const uint8_t *a = (const uint8_t *)&src, *b = (const uint8_t *)&dst;
    return (uint32_t)get16(a) + get16(a + 2) + get16(b) + get16(b + 2) + 17u + udp_len;
}

size_t udp_frame_finish(uint8_t *buf, const struct flow *f, size_t plen, uint16_t ip_id)
{
    uint8_t *ip = buf + ETH_HDR, *udp = ip + IP_HDR;
    uint16_t udp_len = (uint16_t)(UDP_HDR + plen);
    memcpy(buf, f->dst_mac, 6);
    memcpy(buf + 6, f->src_mac, 6);
    put16(buf + 12, 0x0800);
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, (uint16_t)(IP_HDR + udp_len));
    put16(ip + 4, ip_id);
    put16(ip + 6, 0x4000); /* DF */
    ip[8] = 64;
    ip[9] = 17;
    put16(ip + 10, 0);
    memcpy(ip + 12, &f->src_ip, 4);
    memcpy(ip + 16, &f->dst_ip, 4);
    put16(ip + 10, inet_csum(ip, IP_HDR, 0));
    put16(udp, f->src_port);
    put16(udp + 2, f->dst_port);
    put16(udp + 4, udp_len);
    put16(udp + 6, 0);
    uint16_t c = inet_csum(udp, udp_len, pseudo_sum(f->src_ip, f->dst_ip, udp_len));
    put16(udp + 6, c ? c : 0xffff);
    return UDP_FRAME_HDR + plen;
}

int udp_frame_reply(const uint8_t *frame, size_t len, const struct flow *f,
                    const uint8_t **payload, int udp_csum_done)
{
    if (len < UDP_FRAME_HDR || get16(frame + 12) != 0x0800)
        return -1;
    const uint8_t *ip = frame + ETH_HDR;
    if ((ip[0] >> 4) != 4 || ip[9] != 17 || memcmp(ip + 12, &f->dst_ip, 4) != 0 ||
        memcmp(ip + 16, &f->src_ip, 4) != 0)
        return -1;
    size_t ihl = (size_t)(ip[0] & 15) * 4, total = get16(ip + 2);
    if (ihl < IP_HDR || total < ihl + UDP_HDR || ETH_HDR + total > len)
        return -2;
    if (memcmp(frame, f->src_mac, 6) != 0 || inet_csum(ip, ihl, 0) != 0 ||
        (get16(ip + 6) & 0x3fff) != 0)
        return -2;
    const uint8_t *udp = ip + ihl;
    size_t udp_len = get16(udp + 4);
    if (get16(udp) != f->dst_port || get16(udp + 2) != f->src_port)
        return -1;
    if (udp_len != total - ihl)
        return -2;
    if (!udp_csum_done && get16(udp + 6) != 0 &&
        inet_csum(udp, udp_len, pseudo_sum(f->dst_ip, f->src_ip, (uint16_t)udp_len)) != 0)
        return -2;
    *payload = udp + UDP_HDR;
    return (int)(udp_len - UDP_HDR);
}

size_t arp_answer(const uint8_t *frame, size_t len, const uint8_t mac[6], uint32_t ip,
                  uint8_t *out)
{
    if (len < ETH_HDR + 28 || get16(frame + 12) != 0x0806)
        return 0;
    const uint8_t *a = frame + ETH_HDR;
    if (get16(a) != 1 || get16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4 || get16(a + 6) != 1 ||
        memcmp(a + 24, &ip, 4) != 0)
        return 0;
    memset(out, 0, 60);
    memcpy(out, a + 8, 6); /* to the sender's hardware address */
    memcpy(out + 6, mac, 6);
    put16(out + 12, 0x0806);
    uint8_t *r = out + ETH_HDR;
    put16(r, 1);
    put16(r + 2, 0x0800);
    r[4] = 6;
    r[5] = 4;
    put16(r + 6, 2);
    memcpy(r + 8, mac, 6);
    memcpy(r + 14, &ip, 4);
    memcpy(r + 18, a + 8, 6);
    memcpy(r + 24, a + 14, 4);
    return 60;
}

int udp_reflect(uint8_t *frame, size_t len, uint32_t ip, int complete_csum)
{
    if (len < UDP_FRAME_HDR || get16(frame + 12) != 0x0800)
        return 0;
    uint8_t *iph = frame + ETH_HDR;
    size_t ihl = (size_t)(iph[0] & 15) * 4;
    if ((iph[0] >> 4) != 4 || iph[9] != 17 || ihl < IP_HDR || ETH_HDR + ihl + UDP_HDR > len ||
        memcmp(iph + 16, &ip, 4) != 0)
        return 0;
    uint8_t tmp[6];
    memcpy(tmp, frame, 6);
    memcpy(frame, frame + 6, 6);
    memcpy(frame + 6, tmp, 6);
    memcpy(tmp, iph + 12, 4);
    memcpy(iph + 12, iph + 16, 4);
    memcpy(iph + 16, tmp, 4);
    uint8_t *udp = iph + ihl;
    memcpy(tmp, udp, 2);
    memcpy(udp, udp + 2, 2);
    memcpy(udp + 2, tmp, 2);
    if (complete_csum) { /* a partial checksum the sender left to offload: finish it */
        size_t udp_len = get16(udp + 4);
        if (udp_len < UDP_HDR || ETH_HDR + ihl + udp_len > len)
            return 0;
        uint32_t src, dst;
        memcpy(&src, iph + 12, 4);
        memcpy(&dst, iph + 16, 4);
        put16(udp + 6, 0);
        uint16_t c = inet_csum(udp, udp_len, pseudo_sum(src, dst, (uint16_t)udp_len));
        put16(udp + 6, c ? c : 0xffff);
    }
    return 1;
}

/* ---- the generators' echo loop --------------------------------------------------------- */

static int stopped(const volatile sig_atomic_t *stop) { return stop != NULL && *stop; }

static void echo_prime(struct tracker *t, uint32_t window, const struct echo_ops *ops, void *ctx,
                       const volatile sig_atomic_t *stop)
{
    uint64_t give_up = now_ns() + 10 * 1000000000ull;
    t->window = 1;
    while (t->c.echoed == 0 && !stopped(stop)) {
        uint64_t now = now_ns();
        if (now > give_up)
            die("no echo from the server within 10 s");
        tracker_expire(t, now);
        ops->send(ctx, now);
        ops->wait(ctx, 10000);
        ops->recv(ctx, now_ns());
    }
    t->window = window;
}

#define PACE_MIN_US 20

/* The token schedule of the fixed-rate mode: datagram k is due at t0 + k / rate. */
struct pacer {
    uint64_t t0, due; /* due: slots handed out (sent or skipped) so far */
    double ns_per;
};

static void pacer_init(struct pacer *p, double rate, uint64_t now)
{
    p->t0 = now;
    p->due = 0;
    p->ns_per = 1e9 / rate;
}

/* Slots due by `now` and not yet handed out. */
static uint64_t pacer_due(const struct pacer *p, uint64_t now)
{
    uint64_t by_now = (uint64_t)((double)(now - p->t0) / p->ns_per) + 1;
    return by_now > p->due ? by_now - p->due : 0;
}

/* Nanoseconds until the next slot is due (0: one is due now). */
static uint64_t pacer_gap(const struct pacer *p, uint64_t now)
{
    uint64_t at = p->t0 + (uint64_t)((double)p->due * p->ns_per);
    return at > now ? at - now : 0;
}

/* Send what is due: the window's room first; slots it cannot take are skipped (a paced
 * generator that fell behind must not catch up in a burst). */
static int paced_send(struct tracker *t, struct pacer *p, const struct echo_ops *ops, void *ctx,
                      uint64_t now)
{
    uint64_t due = pacer_due(p, now);
    if (due == 0)
        return 0;
    uint32_t room = tracker_room(t);
    uint64_t want = due < room ? due : room;
    uint32_t keep = t->window;
    int sent = 0;
    if (want) {
        /* ops->send fills what the window allows: narrow it to what is due */
        t->window = (uint32_t)(t->outstanding + want);
        sent = ops->send(ctx, now);
        t->window = keep;
    }
    p->due += (uint64_t)sent;
    if (due > (uint64_t)sent && tracker_room(t) == 0) {
        t->c.behind += due - (uint64_t)sent;
        p->due += due - (uint64_t)sent;
    }
    return sent;
}

static void report_interval(struct tracker *t, struct counts *last, double *cpu_last,
                            uint64_t *wall_last, uint64_t now, const char *mode)
{
    double cpu = cpu_seconds();
    print_echo_result("INTERVAL", mode, last, &t->c, *cpu_last, cpu, *wall_last, now, t,
                      &t->irtt, "");
    *last = t->c, *cpu_last = cpu, *wall_last = now;
    hist_reset(&t->irtt);
}

struct echo_load echo_load_from_opts(const struct opt *opts, size_t n)
{
    struct echo_load load = {
        .window = (uint32_t)opt_u64(opts, n, "window", 1, 65536),
        .rate = (double)opt_u64(opts, n, "rate", 0, 100000000),
        .warmup_s = opt_seconds(opts, n, "warmup"),
        .duration_s = opt_seconds(opts, n, "duration"),
        .report_s = opt_seconds(opts, n, "report"),
    };
    return load;
}

void echo_run(struct tracker *t, const struct echo_load *load, const struct echo_ops *ops,
              void *ctx, const volatile sig_atomic_t *stop, const char *mode)
{
    struct phases ph;
    struct pacer pace;
    struct counts a = {0}, b = {0}, ia = {0};
    double cpu_a = 0, cpu_b = 0, icpu = 0;
    uint64_t wall_a = 0, wall_b = 0, iwall = 0, next_report = UINT64_MAX;
    uint64_t report_ns = (uint64_t)(load->report_s * 1e9);
    if (load->rate > 0) /* the default 50 µs timer slack would blur a 10 µs pacing gap */
        prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    echo_prime(t, load->window, ops, ctx, stop);
    phases_init(&ph, load->warmup_s, load->duration_s);
    pacer_init(&pace, load->rate > 0 ? load->rate : 1, now_ns());
    while (!stopped(stop)) {
        uint64_t now = now_ns();
        int step = phases_step(&ph, now);
        if (step == 1) {
            a = t->c, cpu_a = cpu_seconds(), wall_a = now;
            hist_reset(&t->rtt);
            ia = a, icpu = cpu_a, iwall = now;
            hist_reset(&t->irtt);
            if (report_ns)
                next_report = now + report_ns;
            mark("start");
        } else if (step == 2) {
            b = t->c, cpu_b = cpu_seconds(), wall_b = now;
            if (report_ns && now > iwall) /* the last interval, however short */
                report_interval(t, &ia, &icpu, &iwall, now, mode);
            mark("end");
            break;
        }
        if (now >= next_report) {
            report_interval(t, &ia, &icpu, &iwall, now, mode);
            next_report += report_ns;
        }
        tracker_expire(t, now);
        int sent = load->rate > 0 ? paced_send(t, &pace, ops, ctx, now) : ops->send(ctx, now);
        int got = ops->recv(ctx, now_ns());
        if (sent || got)
            continue;
        if (load->rate > 0) {
            /* Sleep until the next slot, but at least PACE_MIN_US: at high rates the slots
             * go out in small bursts instead of one wake-up (and system call) each. An
             * echo arriving ends the sleep, so its timestamp stays exact. */
            uint64_t gap = pacer_gap(&pace, now_ns()) / 1000;
            ops->wait(ctx, (int64_t)(gap > PACE_MIN_US ? gap : PACE_MIN_US));
        } else {
            ops->wait(ctx, 1000);
        }
    }
    print_echo_result("RESULT", mode, &a, &b, cpu_a, cpu_b, wall_a, wall_b, t, &t->rtt, "");
}

void echo_frames(const struct tracker *t, const struct flow *f, size_t size, uint16_t *ip_id,
                 uint8_t *buf, const uint32_t *offs, uint32_t *lens, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *frame = buf + offs[i];
        payload_fill(frame + UDP_FRAME_HDR, size, t->next + i, t->magic);
        size_t len = udp_frame_finish(frame, f, size, (*ip_id)++);
        if (len < 60) { /* Ethernet minimum: zero padding after the IP packet */
            memset(frame + len, 0, 60 - len);
            len = 60;
        }
        lens[i] = (uint32_t)len;
    }
}

int echo_frame_seen(struct tracker *t, const struct flow *f, size_t size, const uint8_t *frame,
                    size_t len, int csum_done, uint8_t *arp, uint64_t now)
{
    const uint8_t *payload = NULL;
    if (arp != NULL && arp_answer(frame, len, f->src_mac, f->src_ip, arp))
        return 1;
    int plen = udp_frame_reply(frame, len, f, &payload, csum_done);
    if (plen >= 0)
        tracker_echo(t, payload, (size_t)plen, size, now);
    else if (plen == -2)
        t->c.corrupt++;
    else
        t->c.other++;
    return 0;
}

/* ---- the reflectors' batch ------------------------------------------------------------- */

uint32_t reflect_batch(uint8_t *arena, size_t arena_len, const uint32_t *offs,
                       const uint32_t *lens, const uint8_t *csum, uint32_t n,
                       const uint8_t mac[6], uint32_t ip, uint32_t *toffs, uint32_t *tlens,
                       uint64_t *other)
{
    if (n == 0)
        return 0;
    uint32_t k = 0;
    size_t tail = (size_t)offs[n - 1] + lens[n - 1]; /* free arena after the frames */
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *frame = arena + offs[i];
        int partial = csum != NULL && csum[i] == PKT_RXCSUM_PARTIAL;
        if (udp_reflect(frame, lens[i], ip, partial)) {
            toffs[k] = offs[i], tlens[k++] = lens[i];
        } else if (tail + 60 <= arena_len && arp_answer(frame, lens[i], mac, ip, arena + tail)) {
            toffs[k] = (uint32_t)tail, tlens[k++] = 60;
            tail += 60;
        } else {
            (*other)++;
        }
    }
    return k;
}
