/*
 * Shared parts of the benchmark's C programs (load generators, readers, reflectors):
 * clocks and CPU time, the run phases and the markers the Python harness samples at,
 * the windowed sequence tracker that counts byte-exact echoes, the generators' echo loop
 * and the reflectors' batch, and Ethernet/IPv4/UDP frame building and checking (an
 * independent oracle: see "frames" below).
 *
 * Protocol with the harness (bench/_measure.py), one line each on stdout:
 *   MARK start        the measured window begins (after the warm-up)
 *   MARK end          it ends
 *   RESULT {json}     counters over the window, then the program exits
 * Errors go to stderr, prefixed with the program's name.
 */
#ifndef BENCH_BENCHLIB_H
#define BENCH_BENCHLIB_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* ---- time and CPU ---------------------------------------------------------------------- */

uint64_t now_ns(void);
/* This process's user + system CPU time, in seconds. */
double cpu_seconds(void);

/* ---- failure --------------------------------------------------------------------------- */

extern const char *bench_prog;
__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);

/* ---- arguments ------------------------------------------------------------------------- */

/* Option values as "--name value" pairs; unknown names are fatal. */
struct opt {
    const char *name;
    const char *value; /* default, replaced by the command line */
};
void parse_opts(int argc, char **argv, int first, struct opt *opts, size_t n);
const char *opt_str(const struct opt *opts, size_t n, const char *name);
uint64_t opt_u64(const struct opt *opts, size_t n, const char *name, uint64_t lo, uint64_t hi);
double opt_seconds(const struct opt *opts, size_t n, const char *name);
uint32_t parse_ipv4(const char *text);             /* network byte order */
void parse_mac(const char *text, uint8_t mac[6]);

/* ---- run phases ------------------------------------------------------------------------ */

enum { PH_WARMUP, PH_MEASURE, PH_DONE };

struct phases {
    uint64_t warm_end, end;
    int phase;
};

void phases_init(struct phases *ph, double warmup_s, double duration_s);
/* Advance with the clock: returns 1 when the measured window just started, 2 when it just
 * ended, 0 otherwise. The caller snapshots its counters, then calls mark(). */
int phases_step(struct phases *ph, uint64_t now);
void mark(const char *what);

/* ---- echo payloads and the window tracker ---------------------------------------------- */

#define PAYLOAD_MIN 16 /* sequence number + run magic */

/* Payload of datagram `seq`: seq, magic, then bytes derived from both. */
void payload_fill(uint8_t *p, size_t len, uint64_t seq, uint64_t magic);
/* 0 and *seq if p is exactly what payload_fill wrote for some seq, -1 otherwise. */
int payload_check(const uint8_t *p, size_t len, size_t want_len, uint64_t magic, uint64_t *seq);

struct counts {
    uint64_t sent, echoed, lost, corrupt, late, dup, other;
    uint64_t rtt_ns; /* sum over echoed */
    uint64_t behind; /* rate mode: send slots skipped because the window was full */
};

/* ---- round-trip time histogram --------------------------------------------------------- */

/* A log-bucket histogram in the manner of HdrHistogram: values below 2^HIST_SUB_BITS ns get
 * a bucket each, every higher power of two is split into 2^HIST_SUB_BITS equal buckets, so
 * a bucket is at most 1/32 (3 %) of its values wide. Fixed size, no allocation per sample;
 * values from 2^HIST_MAX_BITS ns (about 18 minutes) on land in the last bucket. */
#define HIST_SUB_BITS 5
#define HIST_MAX_BITS 40
#define HIST_BUCKETS (((HIST_MAX_BITS - HIST_SUB_BITS) + 1) << HIST_SUB_BITS)

struct hist {
    uint64_t n, min, max;
    uint64_t counts[HIST_BUCKETS];
};

void hist_reset(struct hist *h);
void hist_record(struct hist *h, uint64_t v);
/* Bucket of v, and the largest value that lands in bucket i. */
uint32_t hist_index(uint64_t v);
uint64_t hist_upper(uint32_t i);
/* The smallest recorded value's bucket bound below which at least q % of the values lie
 * (its upper bound, clamped to the largest value recorded); 0 if empty. */
uint64_t hist_percentile(const struct hist *h, double q);
/* Append `"latency": {...}` (percentiles in µs and the non-empty buckets as [upper_ns,
 * count] pairs) to buf; returns what snprintf does. */
int hist_json(const struct hist *h, char *buf, size_t len);

/* Sequence numbers [lo, next) are tracked in a ring of state + send time; at most `window`
 * of them are outstanding. One that stays unanswered for `timeout` is counted lost and
 * frees its window place; its echo, if it comes later, counts as late. */
struct tracker {
    uint64_t next, lo, outstanding, timeout_ns, magic;
    uint32_t window, mask;
    uint8_t *state;
    uint64_t *sent_at;
    struct counts c;
    struct hist rtt;  /* round trips since the measured window started */
    struct hist irtt; /* round trips since the last interval report (soak) */
};

void tracker_init(struct tracker *t, uint32_t window, uint64_t timeout_ns, uint64_t magic);
/* How many more may be sent now. */
uint32_t tracker_room(const struct tracker *t);
/* n datagrams with seq next .. next+n-1 were sent at `now`. */
void tracker_sent(struct tracker *t, uint32_t n, uint64_t now);
/* Check an echoed payload and count it. */
void tracker_echo(struct tracker *t, const uint8_t *p, size_t len, size_t want_len, uint64_t now);
void tracker_expire(struct tracker *t, uint64_t now);

/* Print `word` {json} (RESULT or INTERVAL) with the counters between two snapshots, the
 * round trips of `h`, plus extra JSON members (may be "" or a comma-less member list like
 * "\"a\": 1"). */
void print_echo_result(const char *word, const char *mode, const struct counts *a,
                       const struct counts *b, double cpu_a, double cpu_b, uint64_t wall_a,
                       uint64_t wall_b, const struct tracker *t, const struct hist *h,
                       const char *extra);

/* ---- the generators' echo loop (udpgen, pipepeer echo) --------------------------------- */

/* What a generator does on its transport; ctx is its own state. */
struct echo_ops {
    /* Send what the tracker's window allows (at most a batch); returns datagrams sent. */
    int (*send)(void *ctx, uint64_t now);
    /* Receive a batch and count its echoes; returns frames received. */
    int (*recv)(void *ctx, uint64_t now);
    /* Wait until there is something to receive (or to flush), at most timeout_us. */
    void (*wait)(void *ctx, int64_t timeout_us);
};

/* How a generator offers its load. */
struct echo_load {
    uint32_t window; /* most datagrams outstanding */
    double rate;     /* 0: saturate (keep the window full); else datagrams/s, paced */
    double warmup_s, duration_s;
    double report_s; /* > 0: an INTERVAL line every report_s seconds of the window (soak) */
};

/* The load options every echo generator takes: --window, --rate, --warmup, --duration,
 * --report (opts as parsed by opt_parse). */
struct echo_load echo_load_from_opts(const struct opt *opts, size_t n);

/* The loop every generator runs: prime (one datagram at a time until the first echo, as the
 * server may still be resolving our address and would park only a few; fatal after 10 s),
 * then send/receive through the warm-up and the measured window, and print RESULT under
 * `mode`. Saturating, it keeps `window` outstanding; at a fixed rate it sends on a token
 * schedule (datagram k is due at start + k / rate; due slots the window cannot take are
 * skipped and counted as `behind`, never sent late in a burst) and sleeps in between with
 * a microsecond timer (at least 20 µs: faster rates go out in bursts that short). Ends early when *stop (if given) becomes non-zero. */
void echo_run(struct tracker *t, const struct echo_load *load, const struct echo_ops *ops,
              void *ctx, const volatile sig_atomic_t *stop, const char *mode);

struct flow;

/* Write the frames of datagrams t->next .. t->next+n-1 (payload_fill's payloads, `size`
 * bytes each) from f at buf + offs[i], padded to the Ethernet minimum; set lens[i]. Each
 * takes the next *ip_id. */
void echo_frames(const struct tracker *t, const struct flow *f, size_t size, uint16_t *ip_id,
                 uint8_t *buf, const uint32_t *offs, uint32_t *lens, uint32_t n);

/* Count one received frame: an echo of ours is checked and counted (`csum_done` as for
 * udp_frame_reply), anything else counts as corrupt or other; except an ARP request for
 * f->src_ip when `arp` is not NULL: its reply is written to arp (60 bytes) and 1 returned,
 * for the caller to send. Returns 0 otherwise. */
int echo_frame_seen(struct tracker *t, const struct flow *f, size_t size, const uint8_t *frame,
                    size_t len, int csum_done, uint8_t *arp, uint64_t now);

/* ---- the reflectors' batch (pktreflect, pipepeer reflect) ------------------------------- */

/* Turn a received batch around in the arena: UDP frames for ip are reflected in place
 * (their partial checksums completed where csum, if given, says PKT_RXCSUM_PARTIAL), ARP
 * requests for ip answered from mac into the arena after the last frame (while it has room
 * up to arena_len). The frames to send go to toffs/tlens (room for n + what the arena can
 * take); returns their count and adds the frames that were neither to *other. */
uint32_t reflect_batch(uint8_t *arena, size_t arena_len, const uint32_t *offs,
                       const uint32_t *lens, const uint8_t *csum, uint32_t n,
                       const uint8_t mac[6], uint32_t ip, uint32_t *toffs, uint32_t *tlens,
                       uint64_t *other);

/* ---- frames ---------------------------------------------------------------------------- */
/* An independent oracle: this checksum, builder and parser are written apart from the
 * library's (aionetmap/_native/fast.c, stack/) on purpose and share no code with them, so
 * that a mistake in the library's frames shows up as corrupt echoes here instead of being
 * repeated on both sides. Keep them separate. */

#define ETH_HDR 14
#define IP_HDR 20
#define UDP_HDR 8
#define UDP_FRAME_HDR (ETH_HDR + IP_HDR + UDP_HDR)

struct flow {
    uint8_t src_mac[6], dst_mac[6];
    uint32_t src_ip, dst_ip;     /* network byte order */
    uint16_t src_port, dst_port; /* host byte order */
};

uint16_t inet_csum(const void *data, size_t len, uint32_t sum);
/* Write a complete Ethernet/IPv4/UDP frame (both checksums) carrying `plen` payload bytes
 * already at buf + UDP_FRAME_HDR. Returns the frame length. */
size_t udp_frame_finish(uint8_t *buf, const struct flow *f, size_t plen, uint16_t ip_id);
/* If `frame` is a valid IPv4/UDP frame from f->dst to f->src (the reply direction), return
 * its payload length and set *payload; -1 if it is not addressed so (other traffic); -2 if
 * it is, but a header or checksum is wrong (corrupt). `udp_csum_done`: the kernel said the
 * UDP checksum was verified or left to offload by a local sender (PKT_RXCSUM_*), so it is
 * not verified here. */
int udp_frame_reply(const uint8_t *frame, size_t len, const struct flow *f,
                    const uint8_t **payload, int udp_csum_done);
/* If `frame` is an ARP request for `ip`, write the reply (from mac) to out and return its
 * length; 0 otherwise. `out` needs 60 bytes. */
size_t arp_answer(const uint8_t *frame, size_t len, const uint8_t mac[6], uint32_t ip,
                  uint8_t *out);
/* Turn an IPv4/UDP frame addressed to `ip` around in place: swap MACs, addresses and ports
 * (the checksums stay valid). `complete_csum`: the UDP checksum is a partial one (a local
 * sender left it to offload, PKT_RXCSUM_PARTIAL): compute it in full, or a kernel receiver
 * would drop the echo. Returns 1 if it did, 0 if the frame is something else. */
int udp_reflect(uint8_t *frame, size_t len, uint32_t ip, int complete_csum);

#endif /* BENCH_BENCHLIB_H */
