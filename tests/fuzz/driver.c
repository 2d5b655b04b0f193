/*
 * Stand-alone driver for fuzz targets when libFuzzer is not linked (gcc
 * builds, ASan builds).  It accepts the libFuzzer flags the tests use
 * (-runs=N, -seed=S, -seed_inputs=a,b) and seed files or directories, runs every seed, then N
 * deterministic mutations of them, so every fuzz target is also a bounded
 * regression test.  The libFuzzer build (--config=fuzz) replaces this main.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seed {
    uint8_t *data;
    size_t len;
};

static struct seed *seeds;
static size_t nseeds, capseeds;

static void add_seed(const uint8_t *d, size_t n)
{
    if (nseeds == capseeds) {
        capseeds = capseeds ? capseeds * 2 : 16;
        seeds = realloc(seeds, capseeds * sizeof(*seeds));
        if (!seeds)
            abort();
    }
    seeds[nseeds].data = malloc(n ? n : 1);
    if (!seeds[nseeds].data)
        abort();
    memcpy(seeds[nseeds].data, d, n);
    seeds[nseeds].len = n;
    nseeds++;
}

static void add_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    add_seed(buf, n);
}

static void add_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        add_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
        add_file(p);
    }
    closedir(d);
}

/* Comma-separated list of files, as libFuzzer's -seed_inputs takes. */
static void add_list(const char *list)
{
    char *copy = strdup(list);
    if (!copy)
        abort();
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        add_path(tok);
    free(copy);
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static size_t mutate(uint8_t *buf, size_t len, size_t cap)
{
    int ops = 1 + (int)(rnd() % 4);
    for (int i = 0; i < ops; i++) {
        switch (rnd() % 6) {
        case 0: /* flip a bit */
            if (len)
                buf[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
            break;
        case 1: /* set an interesting byte */
            if (len) {
                static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0x81, 0x82,
                                               0x83, 0x84, 0xff, 0x1f, 0x5f};
                buf[rnd() % len] = vals[rnd() % sizeof(vals)];
            }
            break;
        case 2: /* truncate */
            if (len)
                len = rnd() % len;
            break;
        case 3: /* insert a byte */
            if (len < cap) {
                size_t at = len ? rnd() % (len + 1) : 0;
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = (uint8_t)rnd();
                len++;
            }
            break;
        case 4: /* delete a byte */
            if (len) {
                size_t at = rnd() % len;
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
            }
            break;
        case 5: /* splice in part of another seed */
            if (nseeds && len) {
                struct seed *s = &seeds[rnd() % nseeds];
                if (s->len) {
                    size_t from = rnd() % s->len, at = rnd() % len;
                    size_t n = s->len - from;
                    if (at + n > cap)
                        n = cap - at;
                    memcpy(buf + at, s->data + from, n);
                    if (at + n > len)
                        len = at + n;
                }
            }
            break;
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    long runs = 10000;
    rng_state = 0x9e3779b97f4a7c15ull;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-runs=", 6) == 0)
            runs = atol(argv[i] + 6);
        else if (strncmp(argv[i], "-seed=", 6) == 0)
            rng_state = strtoull(argv[i] + 6, NULL, 10) | 1;
        else if (strncmp(argv[i], "-seed_inputs=", 13) == 0)
            add_list(argv[i] + 13);
        else if (argv[i][0] != '-')
            add_path(argv[i]);
    }
    if (nseeds == 0)
        add_seed((const uint8_t *)"", 0);
    for (size_t i = 0; i < nseeds; i++)
        LLVMFuzzerTestOneInput(seeds[i].data, seeds[i].len);
    enum { CAP = 1 << 16 };
    uint8_t *buf = malloc(CAP);
    if (!buf)
        abort();
    for (long r = 0; r < runs; r++) {
        struct seed *s = &seeds[rnd() % nseeds];
        size_t len = s->len < CAP ? s->len : CAP;
        memcpy(buf, s->data, len);
        len = mutate(buf, len, CAP);
        /* Copy to an exact-size allocation so ASan sees overreads. */
        uint8_t *exact = malloc(len ? len : 1);
        if (!exact)
            abort();
        memcpy(exact, buf, len);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
    }
    printf("fuzz driver: %zu seeds, %ld mutated runs, no crash\n", nseeds, runs);
    printf("1 passed, 0 failed\n");
    for (size_t i = 0; i < nseeds; i++)
        free(seeds[i].data);
    free(seeds);
    free(buf);
    return 0;
}
