/*
 * A driver for the harnesses without libFuzzer (gcc has none): it calls
 * LLVMFuzzerTestOneInput on the files named on the command line (to replay a finding), or,
 * with none, on random inputs and mutations of earlier ones for a given time. There is no
 * coverage feedback: the harnesses read structured fields from their input, so random
 * bytes still reach the deep checks. Built with ASan and UBSan by `make -C fuzz standalone`.
 *
 * Usage: gcc_fuzz_<harness> [-seconds N] [-seed S] [-max_len L] [file...]
 */
#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define POOL 64

static uint64_t rng_state;
static uint8_t current[4096]; /* the input being run, written out if it fails */
static size_t current_len;

/* Save the failing input as ./crash-input (async-signal-safe calls only). */
static void save_input(void)
{
    int fd = open("crash-input", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        ssize_t w = write(fd, current, current_len);
        (void)w;
        close(fd);
    }
    static const char msg[] = "standalone: input saved to ./crash-input\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
}

static void on_signal(int sig)
{
    save_input();
    signal(sig, SIG_DFL);
    raise(sig);
}

static uint64_t rnd(void) /* xorshift64*: fast, seedable, good enough to pick bytes */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static int replay(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        return 1;
    }
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    LLVMFuzzerTestOneInput(buf, n);
    printf("%s: %zu bytes, ok\n", path, n);
    return 0;
}

/* A new input in buf (at most max_len bytes): random, or a mutated pool entry. */
static size_t next_input(uint8_t *buf, size_t max_len, uint8_t pool[POOL][4096],
                         size_t *sizes, uint64_t done)
{
    size_t n;
    if (done < POOL || rnd() % 4 == 0) {
        n = rnd() % (max_len + 1);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rnd();
        return n;
    }
    size_t from = rnd() % POOL;
    n = sizes[from];
    memcpy(buf, pool[from], n);
    for (uint64_t k = 1 + rnd() % 8; k; k--) {
        uint64_t r = rnd();
        switch (r % 5) {
        case 0: /* flip a bit */
            if (n)
                buf[r / 8 % n] ^= (uint8_t)(1u << (r >> 40) % 8);
            break;
        case 1: /* set a byte to an edge value */
            if (n)
                buf[r / 8 % n] = (uint8_t[]){0, 1, 0x7F, 0x80, 0xFF, 17, 0x86, 0xDD}[r >> 40 & 7];
            break;
        case 2: /* cut */
            n = n ? r / 8 % n : 0;
            break;
        case 3: /* grow with random bytes */
            while (n < max_len && r % 7) {
                buf[n++] = (uint8_t)rnd();
                r = rnd();
            }
            break;
        default: /* the first (mode) byte anew */
            if (n)
                buf[0] = (uint8_t)r;
        }
    }
    return n;
}

int main(int argc, char **argv)
{
    double seconds = 10;
    size_t max_len = 4096;
    rng_state = (uint64_t)time(NULL) | 1;
    int files = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "-seed") && i + 1 < argc)
            rng_state = strtoull(argv[++i], NULL, 0) | 1;
        else if (!strcmp(argv[i], "-max_len") && i + 1 < argc)
            max_len = strtoul(argv[++i], NULL, 0) % 4097;
        else if (replay(argv[i]) != 0)
            return 1;
        else
            files++;
    }
    if (files)
        return 0;
    printf("seed %llu, %.0f s, inputs up to %zu bytes\n", (unsigned long long)rng_state,
           seconds, max_len);
    __sanitizer_set_death_callback(save_input); /* ASan and UBSan reports */
    signal(SIGILL, on_signal);                  /* CHECK's trap */
    signal(SIGSEGV, on_signal);
    signal(SIGABRT, on_signal);
    static uint8_t pool[POOL][4096], buf[4096];
    static size_t sizes[POOL];
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t done = 0;
    for (;;) {
        size_t n = next_input(buf, max_len, pool, sizes, done);
        memcpy(current, buf, n);
        current_len = n;
        LLVMFuzzerTestOneInput(buf, n);
        memcpy(pool[done % POOL], buf, n);
        sizes[done % POOL] = n;
        done++;
        if (done % 1024 == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
                break;
        }
    }
    printf("%llu inputs, no finding\n", (unsigned long long)done);
    return 0;
}
