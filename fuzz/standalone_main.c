/*
 * A driver for the harnesses where libFuzzer is not available (gcc): it calls
 * LLVMFuzzerTestOneInput on each file named on the command line (replay), or else on
 * random inputs for a number of seconds. No coverage guidance: the structured harnesses
 * read every parameter from the input, so random bytes still reach every branch, only
 * less often. Build with gcc -fsanitize=address,undefined (fuzz/Makefile: gcc-run-<name>).
 *
 *   out/gcc_fuzz_build6 [-t SECONDS] [-s SEED] [-n MAX_LEN] [FILE...]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t state;

static uint64_t next(void) /* xorshift64* */
{
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1DULL;
}

static int replay(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    uint8_t *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    uint8_t *exact = malloc(n ? n : 1); /* exact size: reads past the end are reported */
    memcpy(exact, buf, n);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = 60;
    size_t max_len = 4096;
    state = (uint64_t)time(NULL) | 1;
    int i = 1;
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "-t") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "-s") == 0)
            state = strtoull(argv[i + 1], NULL, 0) | 1;
        else if (strcmp(argv[i], "-n") == 0)
            max_len = strtoull(argv[i + 1], NULL, 0);
    }
    if (i < argc) {
        int rc = 0;
        for (; i < argc; i++)
            rc |= replay(argv[i]);
        return rc;
    }
    uint64_t seed = state;
    /* The sequence follows from the seed: -s SEED repeats a run that found something. */
    fprintf(stderr, "standalone: seed 0x%llx, %.0f s\n", (unsigned long long)seed, seconds);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long runs = 0;
    for (;;) {
        size_t n = max_len ? next() % (max_len + 1) : 0;
        uint8_t *buf = malloc(n ? n : 1);
        for (size_t k = 0; k < n; k++)
            buf[k] = (uint8_t)(next() >> 56);
        if ((runs & 0xFFFF) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds) {
                free(buf);
                break;
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
        runs++;
    }
    printf("standalone: %lu runs in %.0f s (seed 0x%llx), no finding\n", runs, seconds,
           (unsigned long long)seed);
    return 0;
}
