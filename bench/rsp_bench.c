/*
 * rsp-bench - load generator for the SM-DS and the Default SM-DP+, with the
 * ceilings it is judged against measured in the same run.
 *
 *   rsp-bench MODE[,MODE...] [options]      MODE: es11-boot-storm es11-keepalive
 *                                           es12-register es9-download scale all
 *
 * It mints a test PKI (rsp-pki) and a fleet of simulated devices (lpa-sim
 * eUICCs), preloads the event store, starts the server itself (or attaches
 * to one: --attach-pid), drives real HTTPS load, reads the server's CPU time
 * from /proc, measures the crypto floor in process, and writes one JSON
 * result file and one PNG plot per run.  `rsp-bench --help` lists options.
 */
#include <errno.h>
#include <dirent.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "bench/fleet.h"
#include "bench/floor.h"
#include "bench/load.h"
#include "bench/preload.h"
#include "bench/procs.h"
#include "bench/report.h"
#include "bench/smdp_prep.h"
#include "bench/stats.h"
#include "smds/store.h"
#include "tests/pg/pgtmp.h"
#include "tools/lpasim/lpa.h"
#include "tools/pki/pki.h"

#define SMDS_FQDN PKI_DEFAULT_DS_FQDN
#define SMDP_FQDN PKI_DEFAULT_DP_FQDN
#define SMDP_OWNER PKI_DEFAULT_DP_RID /* how ES12 records the SM-DP+ (its certificate's OID) */
#define EID_PREFIX PKI_SGP26_EID_PREFIX
#define ES12_EID_BASE 5000000000000ull /* ES12 registrations: EIDs far from the devices' */
#define MAX_SCALE 8
#define MAX_PANELS 48

enum {
    M_BOOT = 1 << 0,
    M_KEEPALIVE = 1 << 1,
    M_ES12 = 1 << 2,
    M_ES9 = 1 << 3,
    M_SCALE = 1 << 4,
    M_ALL = (1 << 5) - 1,
    M_OVERLOAD = 1 << 5, /* not in "all": it restarts the SM-DS and runs for about a minute */
};

static const struct {
    const char *name;
    unsigned bit;
} mode_names[] = {
    {"es11-boot-storm", M_BOOT}, {"es11-keepalive", M_KEEPALIVE},
    {"es12-register", M_ES12},   {"es9-download", M_ES9},
    {"scale", M_SCALE},          {"all", M_ALL},
    {"overload", M_OVERLOAD},
};

typedef struct opts {
    unsigned modes;
    char mode_label[64];
    bool quick, keep, plot, curve[2];
    const char *smds, *smdp, *rsp_pki, *workdir, *out, *log_level, *profile;
    const char *server_flags[8]; /* --server-flag: added to every server started */
    size_t nserver_flags;
    size_t downloads;
    bool conn_per_call, conn_per_download; /* --connections: ES9+ connection patterns to run */
    bool resume_off, resume_on;            /* --resumption: without and with session resumption */
    size_t devices, concurrency;
    uint64_t polls;
    double es12_secs, h2load_warmup;
    size_t es12_streams, es12_conns;
    uint64_t scale_events[MAX_SCALE];
    size_t nscale, scale_devices, scale_concurrency;
    uint64_t scale_polls;
    int scale_rounds;
    unsigned workers;
    bool store_pg; /* --store postgres: the SM-DS keeps its events in a throw-away PostgreSQL */
    floor_cfg floor;
    double quiet_wait;
    /* attach to a running SM-DS */
    pid_t attach_pid;
    const char *attach_device, *attach_s2s, *attach_pki;
} opts;

typedef struct curve_set {
    pki_curve curve;
    pki_cred eum;
    X509 *ci;
    EVP_PKEY *auth_key;
    fleet f;
} curve_set;

typedef struct target {
    char name[160];
    double value, limit;
    bool at_most; /* value <= limit, else value >= limit */
} target;

typedef struct panel {
    char title[96];
    bench_series s;
} panel;

typedef struct ctx {
    opts o;
    char work[512], pki[1024];
    char smds[PATH_MAX], smdp[PATH_MAX], rsp_pki[PATH_MAX], h2load[PATH_MAX], gnuplot[PATH_MAX];
    curve_set cs[2];
    EVP_PKEY *tls_key;
    uint8_t ctx1[64];
    size_t ctx1_len;
    jw w;
    target targets[32];
    size_t ntargets;
    panel panels[MAX_PANELS];
    size_t npanels;
    char summary[64][240];
    size_t nsummary;
    int failures; /* phases that did not run or had errors */
    pgtmp pg;     /* with --store postgres */
} ctx;

static bool progress_tty;
static pgtmp *bench_pg; /* stopped at exit, also when a phase dies */

static void stop_bench_pg(void)
{
    if (bench_pg)
        pgtmp_stop(bench_pg);
    bench_pg = NULL;
}

/* ---- small helpers ---- */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("rsp-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* An option naming one of two choices or both ("a", "b", "a,b"): which it names, or the run ends. */
static void one_or_both(const char *arg, const char *opt, const char *a, const char *b, bool *has_a,
                        bool *has_b)
{
    *has_a = strstr(arg, a) != NULL;
    *has_b = strstr(arg, b) != NULL;
    if (!*has_a && !*has_b)
        die("%s: %s, %s or both", opt, a, b);
}

/* snprintf for paths and names that must not be cut short. */
static void path_fmt(char *out, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void path_fmt(char *out, size_t cap, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(out, cap, f, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap)
        die("name too long: %.80s...", out);
}

static void summary(ctx *c, const char *fmt, ...)
{
    if (c->nsummary >= sizeof(c->summary) / sizeof(c->summary[0]))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->summary[c->nsummary++], sizeof(c->summary[0]), fmt, ap);
    va_end(ap);
}

static void add_target(ctx *c, const char *name, double value, double limit, bool at_most)
{
    if (c->ntargets >= sizeof(c->targets) / sizeof(c->targets[0]))
        return;
    target *t = &c->targets[c->ntargets++];
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->value = value;
    t->limit = limit;
    t->at_most = at_most;
}

static void add_panel(ctx *c, const char *title, const bench_samples *s)
{
    if (c->npanels >= MAX_PANELS)
        return;
    panel *p = &c->panels[c->npanels];
    snprintf(p->title, sizeof(p->title), "%s", title);
    if (bench_series_make(s, 0, &p->s) == 0)
        c->npanels++;
}

static void on_progress(const load_progress *p, void *arg)
{
    (void)arg;
    static double last_line;
    double rate = p->elapsed_s > 0 ? (double)p->done / p->elapsed_s : 0;
    char line[200];
    if (p->target)
        snprintf(line, sizeof(line), "%-32s %8llu/%-8llu %8.0f/s  errors %llu  %6.1f s", p->phase,
                 (unsigned long long)p->done, (unsigned long long)p->target, rate,
                 (unsigned long long)p->errors, p->elapsed_s);
    else
        snprintf(line, sizeof(line), "%-32s %8llu done     %8.0f/s  errors %llu  %6.1f s", p->phase,
                 (unsigned long long)p->done, rate, (unsigned long long)p->errors, p->elapsed_s);
    if (progress_tty) {
        fprintf(stderr, "\r%s   ", line);
    } else if (p->elapsed_s - last_line >= 2 || p->elapsed_s < last_line) {
        fprintf(stderr, "%s\n", line);
        last_line = p->elapsed_s;
    }
}

static void progress_end(void)
{
    if (progress_tty)
        fputc('\n', stderr);
}

static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static double file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_size : -1;
}

/* The tool at rel (workspace-relative, e.g. "smds/smds") next to this
 * binary: its runfiles (bazel run / test), or the sibling bazel-bin tree. */
static int find_tool(const char *rel, char *out, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = 0;
    const char *rd = getenv("RUNFILES_DIR");
    if (rd && snprintf(out, cap, "%s/rsp_servers/%s", rd, rel) < (int)cap && bench_executable(out))
        return 0;
    if (snprintf(out, cap, "%s.runfiles/rsp_servers/%s", exe, rel) < (int)cap && bench_executable(out))
        return 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
        *slash = 0;
        if (snprintf(out, cap, "%s/../%s", exe, rel) < (int)cap && bench_executable(out))
            return 0;
    }
    return -1;
}

static void tool_path(const char *given, const char *rel, char *out, size_t cap)
{
    if (given) {
        snprintf(out, cap, "%s", given);
        if (!bench_executable(out))
            die("%s is not an executable", given);
    } else if (find_tool(rel, out, cap) != 0) {
        out[0] = 0;
    }
}

/* ---- the PKI and the devices ---- */

static const char *curve_dir(pki_curve c)
{
    return c == PKI_CURVE_NIST ? "nist" : "brainpool";
}

static void pki_path(const ctx *c, char *out, size_t cap, const char *fmt, ...)
{
    char rel[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof(rel), fmt, ap);
    va_end(ap);
    path_fmt(out, cap, "%s/%s", c->pki, rel);
}

static void load_pki(ctx *c)
{
    if (!c->o.attach_pki) {
        if (!c->rsp_pki[0])
            die("rsp-pki not found; give --rsp-pki PATH");
        char *argv[] = {c->rsp_pki, "init", "--out", c->pki, "--curve", "both", NULL}, *out = NULL;
        int rc = bench_run(argv, &out, 120);
        if (rc != 0)
            die("rsp-pki init failed (%d): %s", rc, out ? out : "");
        free(out);
    }
    char p[1200], k[1200];
    for (int i = 0; i < 2; i++) {
        curve_set *s = &c->cs[i];
        s->curve = (pki_curve)i;
        const char *d = curve_dir(s->curve);
        pki_path(c, p, sizeof(p), "%s/eum/eum.pem", d);
        pki_path(c, k, sizeof(k), "%s/eum/eum.key.pem", d);
        s->eum.cert = pki_load_cert(p);
        s->eum.key = pki_load_key(k);
        pki_path(c, p, sizeof(p), "%s/ci/ci.pem", d);
        s->ci = pki_load_cert(p);
        pki_path(c, k, sizeof(k), "%s/smds/dsauth.key.pem", d);
        s->auth_key = pki_load_key(k);
        if (!s->eum.cert || !s->eum.key || !s->ci || !s->auth_key)
            die("incomplete test PKI under %s/%s", c->pki, d);
    }
    pki_path(c, k, sizeof(k), "nist/smds/dstls.key.pem");
    if (!(c->tls_key = pki_load_key(k)))
        die("cannot read %s", k);
    lpa_opts lo;
    memset(&lo, 0, sizeof(lo));
    der_writer w;
    der_w_init(&w);
    if (lpa_build_ctx_params1(&lo, NULL, &w) != 0 || der_w_finish(&w) != 0 || w.len > sizeof(c->ctx1))
        die("cannot build ctxParams1");
    memcpy(c->ctx1, w.buf, w.len);
    c->ctx1_len = w.len;
    der_w_free(&w);
}

static void free_pki(ctx *c)
{
    for (int i = 0; i < 2; i++) {
        fleet_free(&c->cs[i].f);
        pki_cred_clear(&c->cs[i].eum);
        X509_free(c->cs[i].ci);
        EVP_PKEY_free(c->cs[i].auth_key);
    }
    EVP_PKEY_free(c->tls_key);
}

/* Mints n devices of a curve with EID numbers first + i * stride. */
static void mint_fleet(ctx *c, curve_set *s, fleet *f, size_t n, uint64_t first, uint64_t stride)
{
    uint64_t *nums = malloc(n * sizeof(*nums));
    if (!nums)
        die("out of memory");
    for (size_t i = 0; i < n; i++)
        nums[i] = first + i * stride;
    X509 *cis[2] = {c->cs[0].ci, c->cs[1].ci};
    char err[300];
    double t0 = (double)bench_now_us();
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (fleet_mint(f, &s->eum, cis, 2, EID_PREFIX, nums, n, (unsigned)(cores > 0 ? cores : 1), err,
                   sizeof(err)) != 0)
        die("minting devices: %s", err);
    free(nums);
    note("minted %zu %s eUICCs in %.1f s", n, curve_dir(s->curve), ((double)bench_now_us() - t0) / 1e6);
}

/* ---- servers ---- */

typedef struct server {
    bench_server proc;
    pid_t pid;
    char device[128], s2s[128];
} server;

/* Starts one of our servers: common flags, then the service's own. */
static void launch(ctx *c, const char *bin, const char *state, const char *tag, const char *svc_flags[],
                   size_t nsvc, server *s)
{
    char *argv[32];
    int n = 0;
#define ARG(...)                                                                                             \
    do {                                                                                                     \
        if (asprintf(&argv[n++], __VA_ARGS__) < 0)                                                           \
            die("out of memory");                                                                            \
    } while (0)
    ARG("%s", bin);
    ARG("--server.workers=%u", c->o.workers);
    ARG("--server.state_dir=%s", state);
    ARG("--server.create_secrets");
    ARG("--%s.metrics_on_device", bin == c->smds ? "smds" : "smdp"); /* scraped by the bench */
    ARG("--server.port_file=%s/%s.ports", c->work, tag);
    ARG("--device.port=0");
    ARG("--s2s.port=0");
    ARG("--log.file=%s/%s.log", c->work, tag);
    ARG("--log.level=%s", c->o.log_level);
    for (size_t i = 0; i < nsvc && n < 31; i++)
        ARG("%s", svc_flags[i]);
    for (size_t i = 0; i < c->o.nserver_flags && n < 31; i++)
        ARG("%s", c->o.server_flags[i]);
#undef ARG
    argv[n] = NULL;
    char ports[1100], out[1100], err[600];
    path_fmt(ports, sizeof(ports), "%s/%s.ports", c->work, tag);
    path_fmt(out, sizeof(out), "%s/%s.out", c->work, tag);
    int rc = bench_server_start(&s->proc, argv, ports, out, 30000, err, sizeof(err));
    for (int i = 0; i < n; i++)
        free(argv[i]);
    if (rc != 0)
        die("starting %s: %s", bin, err);
    s->pid = s->proc.pid;
    snprintf(s->device, sizeof(s->device), "https://127.0.0.1:%d", s->proc.device_port);
    snprintf(s->s2s, sizeof(s->s2s), "https://127.0.0.1:%d", s->proc.s2s_port);
}

/* Service flags built with asprintf, freed with free_flags. */
static void flag(char **f, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void flag(char **f, size_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&f[(*n)++], fmt, ap) < 0)
        die("out of memory");
    va_end(ap);
}

static void free_flags(char **f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(f[i]);
}

static void start_smds(ctx *c, const char *state, const char *tag, server *s)
{
    memset(s, 0, sizeof(*s));
    if (c->o.attach_pid) {
        s->pid = c->o.attach_pid;
        snprintf(s->device, sizeof(s->device), "%s", c->o.attach_device);
        snprintf(s->s2s, sizeof(s->s2s), "%s", c->o.attach_s2s ? c->o.attach_s2s : "");
        return;
    }
    if (!c->smds[0])
        die("smds not found; give --smds PATH");
    char *f[16];
    size_t n = 0;
    const char *p = c->pki;
    flag(f, &n, "--tls.cert=%s/nist/smds/dstls.pem", p);
    flag(f, &n, "--tls.key=%s/nist/smds/dstls.key.pem", p);
    flag(f, &n, "--s2s.client_ca=%s/nist/ci/ci.pem,%s/brainpool/ci/ci.pem", p, p);
    flag(f, &n, "--smds.fqdn=%s", SMDS_FQDN);
    flag(f, &n, "--smds.ci=%s/nist/ci/ci.pem,%s/brainpool/ci/ci.pem", p, p);
    flag(f, &n, "--smds.auth_cert=%s/nist/smds/dsauth.pem,%s/brainpool/smds/dsauth.pem", p, p);
    flag(f, &n, "--smds.auth_key=%s/nist/smds/dsauth.key.pem,%s/brainpool/smds/dsauth.key.pem", p, p);
    if (c->o.store_pg) {
        flag(f, &n, "--store.backend=postgres");
        flag(f, &n, "--store.dsn=%s", c->pg.dsn);
    }
    launch(c, c->smds, state, tag, (const char **)f, n, s);
    free_flags(f, n);
}

static void start_smdp(ctx *c, const char *state, const char *tag, server *s)
{
    memset(s, 0, sizeof(*s));
    char *f[16];
    size_t n = 0;
    const char *p = c->pki;
    flag(f, &n, "--tls.cert=%s/nist/smdp/dptls.pem", p);
    flag(f, &n, "--tls.key=%s/nist/smdp/dptls.key.pem", p);
    flag(f, &n, "--s2s.client_ca=%s/nist/operator/ca.pem", p);
    flag(f, &n, "--smdp.fqdn=%s", SMDP_FQDN);
    flag(f, &n, "--smdp.ci=%s/nist/ci/ci.pem,%s/brainpool/ci/ci.pem", p, p);
    flag(f, &n, "--smdp.auth_cert=%s/nist/smdp/dpauth.pem,%s/brainpool/smdp/dpauth.pem", p, p);
    flag(f, &n, "--smdp.auth_key=%s/nist/smdp/dpauth.key.pem,%s/brainpool/smdp/dpauth.key.pem", p, p);
    flag(f, &n, "--smdp.pb_cert=%s/nist/smdp/dppb.pem,%s/brainpool/smdp/dppb.pem", p, p);
    flag(f, &n, "--smdp.pb_key=%s/nist/smdp/dppb.key.pem,%s/brainpool/smdp/dppb.key.pem", p, p);
    launch(c, c->smdp, state, tag, (const char **)f, n, s);
    free_flags(f, n);
}

static void stop_server(ctx *c, server *s)
{
    if (c->o.attach_pid || s->pid <= 0)
        return;
    int rc = bench_server_stop(&s->proc, 15000);
    if (rc != 0)
        note("warning: the server exited with status %d", rc);
    s->pid = 0;
}

static void preload(const char *state, uint64_t n, uint64_t stride, const uint64_t *check, size_t ncheck,
                    double *secs, double *bytes)
{
    char dir[1100], err[300];
    snprintf(dir, sizeof(dir), "%s/events", state);
    mkdir(state, 0700);
    preload_cfg pc = {
        .dir = dir,
        .n = n,
        .stride = stride,
        .eid_prefix = EID_PREFIX,
        .event_prefix = "BENCH-",
        .address = SMDP_FQDN,
        .owner = SMDP_OWNER,
        .now = time(NULL),
    };
    uint64_t t0 = bench_now_us();
    if (preload_events(&pc, err, sizeof(err)) != 0)
        die("%s", err);
    *secs = (double)(bench_now_us() - t0) / 1e6;
    if (preload_check(&pc, check, ncheck, err, sizeof(err)) != 0)
        die("preloaded store: %s", err);
    snprintf(dir, sizeof(dir), "%s/events/data.mdb", state);
    *bytes = file_size(dir);
    note("preloaded %llu events in %.1f s (%.0f/s, %.0f MB)", (unsigned long long)n, *secs, (double)n / *secs,
         *bytes / 1e6);
}

/* The PostgreSQL store gets the same events (EIDs, EventIDs, owner) through the store interface, with many
 * registrations in flight so that group commit batches them. */
struct pg_preload {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t in_flight;
    uint64_t failed;
};

static void pg_preloaded(void *arg, rsp_status st)
{
    struct pg_preload *p = arg;
    pthread_mutex_lock(&p->mu);
    p->in_flight--;
    if (st != RSP_OK)
        p->failed++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void preload_pg(ctx *c, uint64_t n, double *secs)
{
    smds_store_config sc = {.backend = SMDS_STORE_POSTGRES, .dsn = c->pg.dsn};
    smds_store *st = smds_store_open("", &sc);
    if (!st)
        die("cannot open the PostgreSQL event store");
    preload_cfg pc = {.eid_prefix = EID_PREFIX, .event_prefix = "BENCH-"};
    enum { WINDOW = 2048 };
    smds_event *evs = calloc(n, sizeof(*evs)); /* each stays in place until its registration completed */
    struct pg_preload p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    if (!evs)
        die("out of memory");
    uint64_t t0 = bench_now_us();
    time_t now = time(NULL);
    for (uint64_t k = 0; k < n; k++) {
        pthread_mutex_lock(&p.mu);
        while (p.in_flight >= WINDOW)
            pthread_cond_wait(&p.cv, &p.mu);
        p.in_flight++;
        pthread_mutex_unlock(&p.mu);
        smds_event *ev = &evs[k];
        memset(ev, 0, sizeof(*ev));
        if (pki_eid_make(EID_PREFIX, k, ev->eid) != 0)
            die("EID %llu", (unsigned long long)k);
        preload_event_id(&pc, k, ev->event_id, sizeof(ev->event_id));
        snprintf(ev->rsp_server_address, sizeof(ev->rsp_server_address), "%s", SMDP_FQDN);
        snprintf(ev->owner, sizeof(ev->owner), "%s", SMDP_OWNER);
        ev->via = 12;
        while (smds_store_register(st, ev, now, pg_preloaded, &p) != 0)
            usleep(1000); /* the pool's queue is full: wait for it to drain */
    }
    pthread_mutex_lock(&p.mu);
    while (p.in_flight)
        pthread_cond_wait(&p.cv, &p.mu);
    pthread_mutex_unlock(&p.mu);
    *secs = (double)(bench_now_us() - t0) / 1e6;
    uint64_t have = smds_store_count(st);
    smds_store_close(st);
    free(evs);
    if (p.failed || have != n)
        die("PostgreSQL preload: %llu failed, %llu stored of %llu", (unsigned long long)p.failed,
            (unsigned long long)have, (unsigned long long)n);
    note("preloaded %llu events into PostgreSQL in %.1f s (%.0f/s)", (unsigned long long)n, *secs,
         (double)n / *secs);
}

/* On a shared machine other processes come and go: before a measurement,
 * wait (up to --quiet-wait seconds) for one second in which everything
 * else together used under a quarter of a core.  Returns the seconds
 * waited; the other load during each window is in the JSON anyway. */
static double wait_quiet(ctx *c)
{
    double waited = 0, limit = c->o.quiet_wait;
    while (waited < limit) {
        double b0 = bench_machine_busy();
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
        waited += 1;
        double b1 = bench_machine_busy();
        if (b0 < 0 || b1 < 0 || b1 - b0 < 0.25)
            break;
    }
    if (waited >= limit && limit > 0)
        note("the machine stayed busy for %.0f s; measuring anyway", waited);
    return waited;
}

/* ---- JSON pieces ---- */

static void json_latency(jw *w, const bench_pcts *p)
{
    jw_obj(w, "latency_ms");
    jw_num(w, "p50", p->p50 / 1000);
    jw_num(w, "p90", p->p90 / 1000);
    jw_num(w, "p99", p->p99 / 1000);
    jw_num(w, "max", p->max / 1000);
    jw_num(w, "mean", p->mean / 1000);
    jw_end(w);
}

static void json_series(jw *w, const bench_samples *s)
{
    bench_series sr;
    jw_arr_compact(w, "series");
    if (bench_series_make(s, 0, &sr) == 0) {
        for (size_t i = 0; i < sr.n; i++) {
            jw_arr(w, NULL);
            jw_num(w, NULL, sr.b[i].t_s);
            jw_num(w, NULL, sr.b[i].rate);
            jw_num(w, NULL, sr.b[i].p50_us / 1000.0);
            jw_num(w, NULL, sr.b[i].p99_us / 1000.0);
            jw_end(w);
        }
        bench_series_free(&sr);
    }
    jw_end(w);
}

static void json_tls(jw *w, const load_tls_info *t)
{
    jw_obj(w, "tls");
    jw_str(w, "version", t->version[0] ? t->version : NULL);
    jw_str(w, "group", floor_group_name(t->group_nid));
    jw_str(w, "signature_digest", t->sig_md_nid ? OBJ_nid2sn(t->sig_md_nid) : NULL);
    jw_str(w, "signature_key", t->sig_type_nid ? OBJ_nid2sn(t->sig_type_nid) : NULL);
    jw_str(w, "http", t->http_version == CURL_HTTP_VERSION_2_0 ? "2" : t->http_version ? "1.1" : NULL);
    jw_end(w);
}

/* CPU time in the window: the server's, ours, and everyone else's (other
 * load on the machine makes rates and latencies lower, not CPU per op). */
static double per_op_us(double cpu_s, uint64_t n)
{
    return cpu_s >= 0 && n > 0 ? cpu_s * 1e6 / (double)n : NAN;
}

static double run_rate(const load_result *r)
{
    return r->secs > 0 ? (double)r->ok / r->secs : 0;
}

static void json_cpu(jw *w, const load_result *r, const char *per_name)
{
    jw_num(w, "server_cpu_s", r->server_cpu_s);
    jw_num(w, per_name, per_op_us(r->server_cpu_s, r->ok));
    jw_num(w, "client_cpu_s", r->client_cpu_s);
    jw_num(w, "client_cpu_us_per_op", r->ok ? r->client_cpu_s * 1e6 / (double)r->ok : NAN);
    double others = r->machine_cpu_s - r->client_cpu_s - (r->server_cpu_s > 0 ? r->server_cpu_s : 0);
    jw_num(w, "other_processes_cpu_s", r->machine_cpu_s >= 0 ? (others > 0 ? others : 0) : NAN);
}

/* What every load phase reports, in this order: "<count_key>", errors, the first one, the duration (when
 * with_duration), the wait for a quiet machine, "<count_key>_per_s", latency and CPU ("<per_key>"). */
static void json_run(jw *w, const load_result *r, const bench_pcts *pc, double quiet, bool with_duration,
                     const char *count_key, const char *per_key)
{
    char rate_key[64];
    snprintf(rate_key, sizeof(rate_key), "%s_per_s", count_key);
    jw_int(w, count_key, (long long)r->ok);
    jw_int(w, "errors", (long long)r->errors);
    jw_str(w, "first_error", r->first_error[0] ? r->first_error : NULL);
    if (with_duration)
        jw_num(w, "duration_s", r->secs);
    jw_num(w, "waited_for_quiet_s", quiet);
    jw_num(w, rate_key, run_rate(r));
    json_latency(w, pc);
    json_cpu(w, r, per_key);
}

/* A phase whose load failed, erred or completed nothing fails the run (exit status 1). */
static void check_run(ctx *c, const char *phase, int rc, const load_result *r)
{
    if (rc != 0 || r->errors || r->ok == 0) {
        c->failures++;
        note("%s: %llu errors; first: %s", phase, (unsigned long long)r->errors, r->first_error);
    }
}

/* ---- ES11 ---- */

static size_t signed1_len(void)
{
    /* 30 { 80 tid(16) 81 challenge(16) 83 address 84 challenge(16) } */
    return 2 + 18 + 18 + 2 + strlen(SMDS_FQDN) + 18;
}

static uint64_t metric(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            return strtoull(p + n + 1, NULL, 10);
    return 0;
}

/* A counter of the server's /metrics (0 when it cannot be read). */
static uint64_t server_metric(ctx *c, const server *srv, const char *name)
{
    char url[300], ca[1100], *body = NULL;
    snprintf(url, sizeof(url), "%s/metrics", srv->device);
    pki_path(c, ca, sizeof(ca), "nist/ci/ci.pem");
    uint64_t v = load_get(url, ca, NULL, NULL, &body) == 200 ? metric(body, name) : 0;
    free(body);
    return v;
}

/* CPU seconds of the PostgreSQL server under --store postgres: the postmaster and its children (the
 * backends serving smds, the WAL writer, the checkpointer ...); NAN on lmdb. */
static double pg_server_cpu(ctx *c)
{
    if (!c->o.store_pg)
        return NAN;
    char path[600], buf[2048];
    snprintf(path, sizeof(path), "%s/data/postmaster.pid", c->pg.dir);
    FILE *f = fopen(path, "r");
    long pm = 0;
    if (!f || fscanf(f, "%ld", &pm) != 1 || pm <= 0) {
        if (f)
            fclose(f);
        return NAN;
    }
    fclose(f);
    double sum = bench_proc_cpu((pid_t)pm);
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        if (!(f = fopen(path, "r")))
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        const char *rp = strrchr(buf, ')');
        long ppid = 0;
        if (rp && sscanf(rp + 1, " %*c %ld", &ppid) == 1 && ppid == pm)
            sum += bench_parse_stat(buf, sysconf(_SC_CLK_TCK));
    }
    if (d)
        closedir(d);
    return sum;
}

/* The database's share of a phase: its CPU and the round trips smds made (postgres only). */
typedef struct db_mark {
    double cpu_s;
    uint64_t round_trips;
} db_mark;

static db_mark db_mark_now(ctx *c, const server *srv)
{
    db_mark m = {pg_server_cpu(c), 0};
    if (c->o.store_pg)
        m.round_trips = server_metric(c, srv, "smds_pg_round_trips_total");
    return m;
}

/* Writes the database figures of a phase of ok operations; returns the database CPU per operation. */
static double json_db(ctx *c, const db_mark *a, const db_mark *b, uint64_t ok)
{
    jw *w = &c->w;
    double cpu_us = c->o.store_pg ? per_op_us(b->cpu_s - a->cpu_s, ok) : NAN;
    jw_obj(w, "database");
    jw_num(w, "cpu_s", c->o.store_pg ? b->cpu_s - a->cpu_s : NAN);
    jw_num(w, "cpu_us_per_op", cpu_us);
    jw_num(w, "round_trips_per_op",
           c->o.store_pg && ok ? (double)(b->round_trips - a->round_trips) / (double)ok : NAN);
    jw_end(w);
    return cpu_us;
}

static double rt_per_op(const db_mark *a, const db_mark *b, uint64_t ok)
{
    return ok ? (double)(b->round_trips - a->round_trips) / (double)ok : NAN;
}

/* The ES11 load of cs's devices on srv (phase and ca borrowed), kept alive, events not checked. */
static load_es11_cfg es11_load(ctx *c, server *srv, curve_set *cs, const char *phase, const char *ca,
                               size_t C, uint64_t polls)
{
    return (load_es11_cfg){
        .phase = phase,
        .base = srv->device,
        .cafile = ca,
        .address = SMDS_FQDN,
        .es11_paths = true,
        .ctx_params1 = c->ctx1,
        .ctx_len = c->ctx1_len,
        .f = &cs->f,
        .concurrency = C,
        .polls = polls,
        .expect_events = -1,
        .server_pid = srv->pid,
        .progress = on_progress,
    };
}

static void es11_phase(ctx *c, server *srv, curve_set *cs, bool fresh, int expect_events)
{
    const char *mode = fresh ? "es11-boot-storm" : "es11-keepalive";
    char phase[96];
    snprintf(phase, sizeof(phase), "%s %s", mode, curve_dir(cs->curve));
    char ca[1100];
    pki_path(c, ca, sizeof(ca), "nist/ci/ci.pem");
    size_t C = c->o.concurrency < cs->f.n ? c->o.concurrency : cs->f.n;
    load_es11_cfg lc = es11_load(c, srv, cs, phase, ca, C, fresh ? 0 : c->o.polls);
    lc.fresh = fresh;
    lc.expect_events = expect_events;
    double quiet = wait_quiet(c);
    db_mark db0 = db_mark_now(c, srv);
    load_result r;
    int rc = load_es11(&lc, &r);
    progress_end();
    db_mark db1 = db_mark_now(c, srv);

    /* The floor, right after, with the server idle. */
    fleet_dev *d0 = &cs->f.dev[0];
    const char *group = floor_group_name(r.tls.group_nid);
    const EVP_MD *md = r.tls.sig_md_nid ? EVP_get_digestbynid(r.tls.sig_md_nid) : NULL;
    floor_es11_in fin = {
        .tls_key = c->tls_key,
        .tls_md = md,
        .group = group ? group : "X25519",
        .auth_key = cs->auth_key,
        .euicc_cert = euicc_certificate(d0->e),
        .eum_pub = X509_get0_pubkey(cs->eum.cert),
        .euicc_key = euicc_key(d0->e),
        .signed1_len = signed1_len(),
        .euicc_signed1_len = 4 + 18 + 2 + strlen(SMDS_FQDN) + 18 + d0->info2_len + c->ctx1_len,
    };
    floor_es11 fl;
    wait_quiet(c);
    bool have_floor = floor_es11_measure(&c->o.floor, &fin, &fl) == 0;
    double parse_us = NAN, handshake_us = NAN;
    if (floor_cert_parse(&c->o.floor, d0->cert_der, d0->cert_len, &parse_us) != 0)
        parse_us = NAN;
    char tls_cert[1100], tls_key[1100];
    pki_path(c, tls_cert, sizeof(tls_cert), "nist/smds/dstls.pem");
    pki_path(c, tls_key, sizeof(tls_key), "nist/smds/dstls.key.pem");
    if (fresh && !c->o.attach_pid && floor_tls_handshake(&c->o.floor, tls_cert, tls_key, &handshake_us) != 0)
        handshake_us = NAN;
    bench_pcts pc;
    bench_percentiles(&r.lat, &pc);
    double rate = run_rate(&r);
    double per = per_op_us(r.server_cpu_s, r.ok);
    double floor_us = have_floor ? (fresh ? fl.fresh_us : fl.app_us) : NAN;
    double ratio = per / floor_us;

    jw *w = &c->w;
    jw_obj(w, NULL);
    jw_str(w, "mode", mode);
    jw_str(w, "curve", curve_dir(cs->curve));
    jw_int(w, "devices", (long long)cs->f.n);
    jw_int(w, "concurrency", (long long)C);
    jw_bool(w, "fresh_tls_connection_per_poll", fresh);
    json_run(w, &r, &pc, quiet, true, "polls", "server_cpu_us_per_poll");
    jw_int(w, "tls_connections", (long long)r.connections);
    jw_int(w, "tls_resumed", (long long)r.resumed);
    double db_us = json_db(c, &db0, &db1, r.ok);
    json_tls(w, &r.tls);
    jw_obj(w, "floor_us");
    if (have_floor) {
        if (fresh) {
            jw_num(w, "tls_signature", fl.tls_sign_us);
            jw_num(w, "key_agreement", fl.key_agreement_us);
        }
        jw_num(w, "server_signature1", fl.sign1_us);
        jw_num(w, "verify_euicc_certificate", fl.verify_cert_us);
        jw_num(w, "verify_euicc_signature1", fl.verify_sig_us);
        jw_num(w, "total", floor_us);
    }
    jw_end(w);
    jw_obj(w, "above_floor_us");
    jw_num(w, "parse_euicc_certificate", parse_us);
    if (fresh)
        jw_num(w, "openssl_tls13_server_handshake_alone", handshake_us);
    jw_end(w);
    jw_num(w, "ratio", ratio);
    jw_num(w, "target_ratio_max", 1.25);
    json_series(w, &r.lat);
    jw_end(w);

    check_run(c, phase, rc, &r);
    summary(c,
            "%-26s %8.0f polls/s  p50 %6.2f  p90 %6.2f  p99 %6.2f ms  errors %llu  server %6.0f us/poll  "
            "floor %6.0f us  ratio %.2f  db %4.0f us/poll %.2f round trips/poll",
            phase, rate, pc.p50 / 1000, pc.p90 / 1000, pc.p99 / 1000, (unsigned long long)r.errors, per,
            floor_us, ratio, db_us, rt_per_op(&db0, &db1, r.ok));
    char tname[160];
    snprintf(tname, sizeof(tname), "%s ratio (server CPU / crypto floor)", phase);
    add_target(c, tname, ratio, 1.25, true);
    add_panel(c, phase, &r.lat);
    load_result_free(&r);
}

/* ---- overload ---- */

/*
 * Overload admission (rsp/admit.h): the capacity is measured first, closed loop with admission off
 * (--admission.busy_percent=0); then an SM-DS with the default admission is offered 1x, 2x and 3x that
 * rate open loop (poll i due at i / rate, latency counted from then) for the same time each.  Goodput
 * is completed polls a second; refused ones got 503 at InitiateAuthentication or AuthenticateClient.
 */
static void overload_step(ctx *c, server *srv, curve_set *cs, double factor, double capacity, double secs,
                          double *goodput)
{
    char phase[96], ca[1100];
    snprintf(phase, sizeof(phase), "overload %.0fx %s", factor, curve_dir(cs->curve));
    pki_path(c, ca, sizeof(ca), "nist/ci/ci.pem");
    size_t C = cs->f.n < 128 ? cs->f.n : 128; /* open loop: threads enough for the rate x latency */
    double rate = factor * capacity;
    load_es11_cfg lc = es11_load(c, srv, cs, phase, ca, C, (uint64_t)(rate * secs) + 1);
    lc.rate = rate;
    lc.nice = 10;
    lc.expect_events = 1;
    double quiet = wait_quiet(c);
    load_result r;
    int rc = load_es11(&lc, &r);
    progress_end();
    bench_pcts pc;
    bench_percentiles(&r.lat, &pc);
    *goodput = run_rate(&r);
    double offered = r.secs > 0 ? (double)lc.polls / r.secs : 0;
    double refused = r.secs > 0 ? (double)r.refused / r.secs : 0;
    jw *w = &c->w;
    jw_obj(w, NULL);
    jw_str(w, "mode", "overload");
    jw_str(w, "curve", curve_dir(cs->curve));
    jw_num(w, "factor", factor);
    jw_num(w, "capacity_polls_per_s", capacity);
    jw_num(w, "offered_polls_per_s", offered);
    jw_int(w, "threads", (long long)C);
    jw_int(w, "refused", (long long)r.refused);
    jw_num(w, "refused_per_s", refused);
    jw_num(w, "goodput_share_of_capacity", capacity > 0 ? *goodput / capacity : NAN);
    json_run(w, &r, &pc, quiet, true, "polls", "server_cpu_us_per_poll");
    json_series(w, &r.lat);
    jw_end(w);
    check_run(c, phase, rc, &r);
    summary(c, "%-26s offered %6.0f/s  goodput %6.0f/s (%3.0f%%)  refused %6.0f/s  p50 %6.2f  p99 %7.2f ms",
            phase, offered, *goodput, capacity > 0 ? 100 * *goodput / capacity : 0, refused, pc.p50 / 1000,
            pc.p99 / 1000);
    add_panel(c, phase, &r.lat);
    load_result_free(&r);
}

static void overload_phase(ctx *c, const char *state, curve_set *cs)
{
    double secs = c->o.quick ? 2 : 10;
    if (c->o.nserver_flags >= sizeof(c->o.server_flags) / sizeof(c->o.server_flags[0]))
        die("overload: too many --server-flag");
    /* capacity: closed loop, admission off */
    c->o.server_flags[c->o.nserver_flags++] = "--admission.busy_percent=0";
    server srv;
    start_smds(c, state, "smds-capacity", &srv);
    c->o.nserver_flags--;
    char ca[1100];
    pki_path(c, ca, sizeof(ca), "nist/ci/ci.pem");
    size_t C = c->o.concurrency < cs->f.n ? c->o.concurrency : cs->f.n;
    load_es11_cfg lc = es11_load(c, &srv, cs, "overload capacity", ca, C, c->o.polls);
    lc.nice = 10;
    lc.expect_events = 1;
    wait_quiet(c);
    load_result r;
    int rc = load_es11(&lc, &r);
    progress_end();
    double capacity = run_rate(&r);
    check_run(c, "overload capacity", rc, &r);
    bench_pcts pc;
    bench_percentiles(&r.lat, &pc);
    summary(c, "%-26s %6.0f polls/s closed loop, %zu in flight, admission off  p99 %7.2f ms",
            "overload capacity", capacity, C, pc.p99 / 1000);
    load_result_free(&r);
    stop_server(c, &srv);
    if (capacity <= 0)
        return;
    start_smds(c, state, "smds-overload", &srv);
    double g[3];
    for (int k = 0; k < 3; k++)
        overload_step(c, &srv, cs, k + 1, capacity, secs, &g[k]);
    stop_server(c, &srv);
    add_target(c, "overload: goodput at 3x / capacity", g[2] / capacity, 0.9, false);
}

/* ---- ES12 ---- */

static uint64_t commits(ctx *c, const server *srv)
{
    return server_metric(c, srv, c->o.store_pg ? "smds_pg_commits_total" : "smds_db_commits_total");
}

static void es12_phase(ctx *c, server *srv)
{
    size_t K = c->o.es12_conns, M = c->o.es12_streams;
    jw *w = &c->w;
    /* The bare server first: h2load on /healthz, same connections and streams. */
    h2load_result h = {0};
    double h_cpu = NAN;
    bool have_h2load = false;
    if (c->h2load[0]) {
        char cs[32], ms[32], ds[32], warm[32], url[300];
        snprintf(cs, sizeof(cs), "%zu", K);
        snprintf(ms, sizeof(ms), "%zu", M);
        snprintf(ds, sizeof(ds), "%.0fms", c->o.es12_secs * 1000);
        snprintf(warm, sizeof(warm), "--warm-up-time=%.0fms", c->o.h2load_warmup * 1000);
        snprintf(url, sizeof(url), "%s/healthz", srv->device);
        char *argv[] = {c->h2load, "-c", cs, "-m", ms, "-D", ds, warm, url, NULL}, *out = NULL;
        wait_quiet(c);
        note("h2load -c %s -m %s -D %s %s %s", cs, ms, ds, warm, url);
        double cpu0 = bench_proc_cpu(srv->pid);
        int rc = bench_run(argv, &out, (int)(c->o.es12_secs + c->o.h2load_warmup) + 60);
        double cpu1 = bench_proc_cpu(srv->pid);
        if (rc == 0 && out && bench_parse_h2load(out, &h) == 0 && h.succeeded > 0) {
            have_h2load = true;
            h_cpu = cpu1 - cpu0;
        } else {
            note("h2load failed (%d): %s", rc, out ? out : "");
        }
        free(out);
    } else {
        note("h2load not found (Debian nghttp2-client): no bare-server rate");
    }

    char ca[1100], cert[1100], key[1100], prefix[64];
    pki_path(c, ca, sizeof(ca), "nist/ci/ci.pem");
    pki_path(c, cert, sizeof(cert), "nist/smdp/dptls.pem");
    pki_path(c, key, sizeof(key), "nist/smdp/dptls.key.pem");
    snprintf(prefix, sizeof(prefix), "R%lld-", (long long)time(NULL));
    load_es12_cfg lc = {
        .phase = "es12-register",
        .base = srv->s2s,
        .cafile = ca,
        .cert = cert,
        .key = key,
        .address = SMDP_FQDN,
        .eid_prefix = EID_PREFIX,
        .eid_base = ES12_EID_BASE,
        .event_prefix = prefix,
        .connections = K,
        .streams = M,
        .duration_s = c->o.es12_secs,
        .server_pid = srv->pid,
        .progress = on_progress,
    };
    uint64_t commits0 = commits(c, srv);
    double quiet = wait_quiet(c);
    db_mark db0 = db_mark_now(c, srv);
    load_result r;
    int rc = load_es12(&lc, &r);
    progress_end();
    db_mark db1 = db_mark_now(c, srv);
    uint64_t ncommits = commits(c, srv) - commits0;
    bench_pcts pc;
    bench_percentiles(&r.lat, &pc);
    double rate = run_rate(&r);
    double ratio = have_h2load ? rate / h.rps : NAN;

    jw_obj(w, NULL);
    jw_str(w, "mode", "es12-register");
    jw_int(w, "connections", (long long)K);
    jw_int(w, "streams_per_connection", (long long)M);
    jw_bool(w, "mutual_tls", true);
    jw_bool(w, "durable", true);
    json_run(w, &r, &pc, quiet, true, "registrations", "server_cpu_us_per_registration");
    jw_int(w, "db_commits", (long long)ncommits);
    jw_num(w, "registrations_per_commit", ncommits ? (double)r.ok / (double)ncommits : NAN);
    double db_us = json_db(c, &db0, &db1, r.ok);
    json_tls(w, &r.tls);
    jw_obj(w, "h2load_healthz");
    if (have_h2load) {
        jw_num(w, "requests_per_s", h.rps);
        jw_int(w, "succeeded", (long long)h.succeeded);
        jw_int(w, "failed", (long long)(h.failed + h.errored + h.timeout));
        jw_num(w, "duration_s", h.secs);
        jw_num(w, "server_cpu_s", h_cpu);
        jw_num(w, "server_cpu_us_per_request", per_op_us(h_cpu, h.total));
    }
    jw_end(w);
    jw_num(w, "ratio", ratio);
    jw_num(w, "target_ratio_min", 0.40);
    /* The same comparison without the client: server CPU per /healthz over server CPU per registration. */
    jw_num(w, "server_cpu_ratio",
           have_h2load ? per_op_us(h_cpu, h.total) / per_op_us(r.server_cpu_s, r.ok) : NAN);
    json_series(w, &r.lat);
    jw_end(w);

    check_run(c, "es12-register", rc, &r);
    summary(c,
            "%-26s %8.0f reg/s    p50 %6.2f  p90 %6.2f  p99 %6.2f ms  errors %llu  h2load /healthz %.0f/s  "
            "ratio %.2f  (%.1f per commit)  server %4.0f us/reg  db %4.0f us/reg %.2f round trips/reg",
            "es12-register", rate, pc.p50 / 1000, pc.p90 / 1000, pc.p99 / 1000, (unsigned long long)r.errors,
            have_h2load ? h.rps : NAN, ratio, ncommits ? (double)r.ok / (double)ncommits : NAN,
            per_op_us(r.server_cpu_s, r.ok), db_us, rt_per_op(&db0, &db1, r.ok));
    add_target(c, "es12-register durable rate / h2load /healthz rate", ratio, 0.40, false);
    add_panel(c, "es12-register (durable, mutual TLS, HTTP/2)", &r.lat);
    load_result_free(&r);
}

/* ---- ES9+ ---- */

static void es9_unavailable(ctx *c, const char *reason)
{
    note("es9-download: %s", reason);
    jw *w = &c->w;
    jw_obj(w, NULL);
    jw_str(w, "mode", "es9-download");
    jw_bool(w, "available", false);
    jw_str(w, "reason", reason);
    jw_end(w);
    summary(c, "%-26s %s", "es9-download", reason);
}

/* The package every device gets a copy of: --profile, else TS.48 from the
 * shared test material, else a minimal synthetic one. */
static uint8_t *es9_package(ctx *c, size_t *len, char *what, size_t cap)
{
    char path[PATH_MAX];
    const char *shared = getenv("RSP_SHARED_DIR");
    if (c->o.profile)
        snprintf(path, sizeof(path), "%s", c->o.profile);
    else if (shared && *shared)
        snprintf(path, sizeof(path), "%s/profiles/ts48/TS48V2-SAIP2-1-BERTLV-UNIQUE.der", shared);
    else
        path[0] = 0;
    if (path[0]) {
        FILE *f = fopen(path, "rb");
        if (f) {
            uint8_t *b = malloc(1 << 20);
            size_t n = b ? fread(b, 1, 1 << 20, f) : 0;
            fclose(f);
            if (n > 0 && n < (1 << 20)) {
                const char *slash = strrchr(path, '/');
                snprintf(what, cap, "%.200s", slash ? slash + 1 : path);
                *len = n;
                return b;
            }
            free(b);
        }
        if (c->o.profile)
            die("cannot read the profile package %s", path);
    }
    uint8_t *b = malloc(64);
    *len = b ? smdp_prep_synthetic("8999000000000000001", b, 64) : 0;
    if (!*len)
        die("out of memory");
    snprintf(what, cap, "synthetic (header and end only)");
    return b;
}

/* An ES9+ connection pattern (--connections x --resumption), in the order they run. */
typedef struct es9_pattern {
    bool per_call, resume;
    char name[40]; /* "per-download", "per-call resumed" ... */
} es9_pattern;

static size_t es9_patterns(const opts *o, es9_pattern p[4])
{
    size_t n = 0;
    for (int call = 0; call < 2; call++)
        for (int res = 0; res < 2; res++) {
            if (!(call ? o->conn_per_call : o->conn_per_download) || !(res ? o->resume_on : o->resume_off))
                continue;
            p[n].per_call = call;
            p[n].resume = res;
            snprintf(p[n].name, sizeof(p[n].name), "%s%s", call ? "per-call" : "per-download",
                     res ? " resumed" : "");
            n++;
        }
    return n;
}

#define DEVICE_RESUMED "rsp_tls_resumed_total{listener=\"device\"}"

/* The transport ceiling: a new TLS connection (full or resumed) and GET /healthz, once per device, C at a
 * time, on the SM-DP+ that serves the downloads; server CPU per connection (NAN when it did not run). */
static double es9_ceiling(ctx *c, const server *srv, load_es9_cfg lc, bool resume)
{
    char phase[96];
    snprintf(phase, sizeof(phase), "transport ceiling%s", resume ? " resumed" : "");
    lc.phase = phase;
    lc.resume = resume;
    lc.healthz_only = true;
    lc.sha256 = NULL;
    double quiet = wait_quiet(c);
    uint64_t res0 = server_metric(c, srv, DEVICE_RESUMED);
    load_result r;
    int rc = load_es9(&lc, &r);
    progress_end();
    uint64_t resumed = server_metric(c, srv, DEVICE_RESUMED) - res0;
    bench_pcts pc;
    bench_percentiles(&r.lat, &pc);
    double per = per_op_us(r.server_cpu_s, r.ok);
    jw *w = &c->w;
    jw_obj(w, NULL);
    jw_str(w, "mode", "es9-transport-ceiling");
    jw_str(w, "connection", "a new TLS connection (HTTP/2) and GET /healthz");
    jw_bool(w, "resumption", resume);
    json_run(w, &r, &pc, quiet, true, "connections", "server_cpu_us_per_connection");
    jw_int(w, "tls_resumed", (long long)r.resumed);
    jw_int(w, "server_resumed", (long long)resumed);
    json_tls(w, &r.tls);
    jw_end(w);
    check_run(c, phase, rc, &r);
    summary(c, "%-26s %8.1f conn/s   p50 %6.1f  p90 %6.1f  p99 %6.1f ms  errors %llu  server %6.0f us/conn",
            phase, run_rate(&r), pc.p50 / 1000, pc.p90 / 1000, pc.p99 / 1000, (unsigned long long)r.errors,
            per);
    load_result_free(&r);
    return rc == 0 && r.errors == 0 ? per : NAN;
}

static void es9_phase(ctx *c)
{
    opts *o = &c->o;
    if (o->attach_pid) {
        es9_unavailable(c, "not available: needs its own SM-DP+ (not with --attach-pid)");
        return;
    }
    if (!c->smdp[0]) {
        es9_unavailable(c, "not available: SM-DP+ ES9+ not built (smdp-default not found)");
        return;
    }
    char what[256];
    size_t upp_len;
    uint8_t *upp = es9_package(c, &upp_len, what, sizeof(what));
    size_t D = o->downloads;
    es9_pattern pats[4];
    size_t P = es9_patterns(o, pats);
    fleet fl[2];
    memset(fl, 0, sizeof(fl));
    const char **eids = calloc(2 * D * P, sizeof(*eids));
    uint8_t(*sha)[32] = calloc(2 * D * P, 32);
    if (!eids || !sha)
        die("out of memory");
    size_t n = 0;
    for (int i = 0; i < 2; i++) {
        if (!o->curve[i])
            continue;
        /* EIDs apart from the SM-DS devices'; the devices start with no profile. */
        mint_fleet(c, &c->cs[i], &fl[i], D * P, 7000000000ull + (uint64_t)i * D * P, 1);
        for (size_t k = 0; k < D * P; k++)
            eids[n++] = fl[i].dev[k].eid;
    }
    char state[1100], err[400];
    path_fmt(state, sizeof(state), "%s/state-smdp", c->work);
    smdp_prep_cfg pc = {.state_dir = state,
                        .upp = upp,
                        .upp_len = upp_len,
                        .profile_type = "Bench",
                        .owner = "bench-operator",
                        .eids = eids,
                        .n = n,
                        .sha256 = sha};
    uint64_t t0 = bench_now_us();
    if (smdp_prep(&pc, err, sizeof(err)) != 0)
        die("preparing the SM-DP+: %s", err);
    note("imported and ordered %zu profiles (%s, %zu bytes) in %.1f s", n, what, upp_len,
         (double)(bench_now_us() - t0) / 1e6);
    server srv;
    start_smdp(c, state, "smdp", &srv);
    note("smdp-default pid %ld, device %s", (long)srv.pid, srv.device);
    char ca[1100], tls_key[1100], server_name[300], connect_to[300];
    pki_path(c, ca, sizeof(ca), "nist/ci/ci.pem");
    pki_path(c, tls_key, sizeof(tls_key), "nist/smdp/dptls.key.pem");
    snprintf(server_name, sizeof(server_name), "%s:%d", SMDP_FQDN, srv.proc.device_port);
    snprintf(connect_to, sizeof(connect_to), "127.0.0.1:%d", srv.proc.device_port);
    EVP_PKEY *tk = pki_load_key(tls_key);
    if (!tk)
        die("cannot read %s", tls_key);

    size_t off = 0;
    jw *w = &c->w;
    load_es9_cfg base = {
        .server = server_name,
        .connect_to = connect_to,
        .cafile = ca,
        .address = SMDP_FQDN,
        .concurrency = o->concurrency,
        .server_pid = srv.pid,
        .progress = on_progress,
    };
    /* The transport ceiling, when more than one pattern is compared: per connection, full and resumed. */
    double ceiling[2] = {NAN, NAN};
    if (P > 1) {
        fleet view = fl[o->curve[0] ? 0 : 1]; /* the devices only count the connections: all of them */
        base.f = &view;
        for (int res = 0; res < 2; res++)
            if (res ? o->resume_on : o->resume_off)
                ceiling[res] = es9_ceiling(c, &srv, base, res);
    }
    for (int i = 0; i < 2; i++) {
        if (!o->curve[i])
            continue;
        curve_set *cs = &c->cs[i];
        char kp[1100];
        pki_path(c, kp, sizeof(kp), "%s/smdp/dpauth.key.pem", curve_dir(cs->curve));
        EVP_PKEY *ak = pki_load_key(kp);
        pki_path(c, kp, sizeof(kp), "%s/smdp/dppb.key.pem", curve_dir(cs->curve));
        EVP_PKEY *pk = pki_load_key(kp);
        for (size_t pi = 0; pi < P; pi++) {
            const es9_pattern *pat = &pats[pi];
            char phase[96];
            fleet view = fl[i];
            view.dev += pi * D;
            view.n = D;
            if (P > 1)
                snprintf(phase, sizeof(phase), "es9 %s %s", curve_dir(cs->curve), pat->name);
            else
                snprintf(phase, sizeof(phase), "es9-download %s", curve_dir(cs->curve));
            load_es9_cfg lc = base;
            lc.phase = phase;
            lc.f = &view;
            lc.sha256 = sha + off + pi * D;
            lc.per_call = pat->per_call;
            lc.resume = pat->resume;
            double quiet = wait_quiet(c);
            uint64_t res0 = server_metric(c, &srv, DEVICE_RESUMED);
            load_result r;
            int rc = load_es9(&lc, &r);
            progress_end();
            uint64_t resumed = server_metric(c, &srv, DEVICE_RESUMED) - res0;

            const char *group = floor_group_name(r.tls.group_nid);
            fleet_dev *d0 = &view.dev[0];
            floor_es9_in fin = {
                .tls_key = tk,
                .tls_md = r.tls.sig_md_nid ? EVP_get_digestbynid(r.tls.sig_md_nid) : NULL,
                .group = group ? group : "X25519",
                .auth_key = ak,
                .pb_key = pk,
                .ecka = cs->curve == PKI_CURVE_NIST ? "P-256" : "brainpoolP256r1",
                .euicc_cert = euicc_certificate(d0->e),
                .eum_pub = X509_get0_pubkey(cs->eum.cert),
                .euicc_key = euicc_key(d0->e),
            };
            floor_es9 f9;
            wait_quiet(c);
            bool have_floor = ak && pk && floor_es9_measure(&o->floor, &fin, &f9) == 0;
            bench_pcts pc;
            bench_percentiles(&r.lat, &pc);
            double rate = run_rate(&r);
            double per = per_op_us(r.server_cpu_s, r.ok);
            double floor_us = have_floor ? f9.total_us : NAN;
            double ratio = per / floor_us;
            double conns = pat->per_call ? 4 : 2; /* per-download: the download's and the notification's */
            double transport = conns * ceiling[pat->resume];

            jw_obj(w, NULL);
            jw_str(w, "mode", "es9-download");
            jw_bool(w, "available", true);
            jw_str(w, "curve", curve_dir(cs->curve));
            jw_str(w, "connections", pat->per_call ? "per-call" : "per-download");
            jw_bool(w, "resumption", pat->resume);
            jw_str(w, "profile", what);
            jw_int(w, "profile_bytes", (long long)upp_len);
            jw_int(w, "devices", (long long)D);
            jw_int(w, "concurrency", (long long)(o->concurrency < D ? o->concurrency : D));
            jw_str(w, "download",
                   pat->per_call ? "initiateAuthentication, authenticateClient, getBoundProfilePackage, "
                                   "handleNotification; a new TLS connection for each call"
                                 : "initiateAuthentication, authenticateClient, getBoundProfilePackage, "
                                   "handleNotification; one new TLS connection for the download, one for the "
                                   "notification");
            json_run(w, &r, &pc, quiet, true, "downloads", "server_cpu_us_per_download");
            jw_int(w, "tls_connections", (long long)r.connections);
            jw_int(w, "server_resumed", (long long)resumed);
            json_tls(w, &r.tls);
            jw_obj(w, "floor_us");
            if (have_floor) {
                jw_num(w, "tls_signature", f9.tls_sign_us);
                jw_num(w, "key_agreement", f9.key_agreement_us);
                jw_num(w, "server_signature1", f9.auth_sign_us);
                jw_num(w, "smdp_signature2", f9.pb_sign_us);
                jw_num(w, "initialise_secure_channel_signature", f9.pb_sign_us);
                jw_num(w, "verify_euicc_certificate", f9.verify_cert_us);
                jw_num(w, "verify_each_euicc_signature_x3", f9.verify_sig_us);
                jw_num(w, "ecka_one_time_key_and_shared_secret", f9.ecka_us);
                jw_num(w, "total", f9.total_us);
            }
            jw_end(w);
            jw_num(w, "ratio", ratio);
            /* connections per download x the ceiling's CPU per connection, and what is left */
            jw_num(w, "transport_ceiling_us_per_download", transport);
            jw_num(w, "above_transport_us_per_download", per - transport);
            jw_num(w, "target_ratio_max", 1.3);
            jw_num(w, "target_server_cpu_us_max", pat->per_call ? 1000 : 700);
            json_series(w, &r.lat);
            jw_end(w);

            check_run(c, phase, rc, &r);
            summary(
                c,
                "%-26s %8.1f dl/s     p50 %6.1f  p90 %6.1f  p99 %6.1f ms  errors %llu  server %6.0f us/dl  "
                "floor %6.0f us  ratio %.2f  transport %6.0f us",
                phase, rate, pc.p50 / 1000, pc.p90 / 1000, pc.p99 / 1000, (unsigned long long)r.errors, per,
                floor_us, ratio, transport);
            char tname[160];
            snprintf(tname, sizeof(tname), "%s server CPU per download (us)", phase);
            add_target(c, tname, per, pat->per_call ? 1000 : 700, true);
            snprintf(tname, sizeof(tname), "%s ratio (server CPU / crypto floor)", phase);
            add_target(c, tname, ratio, 1.3, true);
            add_panel(c, phase, &r.lat);
            load_result_free(&r);
        }
        off += D * P;
        EVP_PKEY_free(ak);
        EVP_PKEY_free(pk);
    }
    stop_server(c, &srv);
    EVP_PKEY_free(tk);
    for (int i = 0; i < 2; i++)
        fleet_free(&fl[i]);
    free(eids);
    free(sha);
    free(upp);
}

/* ---- scale ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The store alone: smds_store_list for every device's EID, in this
 * process, with no server and no network (5 passes, the first warms up). */
static void store_lookups(jw *w, const char *state, const fleet *f)
{
    char dir[1100];
    path_fmt(dir, sizeof(dir), "%s/events", state);
    smds_store *st = smds_store_open(dir, NULL);
    if (!st)
        die("cannot open %s", dir);
    bench_samples lat = {0};
    time_t now = time(NULL);
    for (int pass = 0; pass < 5; pass++)
        for (size_t i = 0; i < f->n; i++) {
            smds_event_list l;
            uint64_t t0 = bench_now_us();
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            int rc = smds_store_list(st, f->dev[i].eid, now, &l);
            clock_gettime(CLOCK_MONOTONIC, &b);
            if (rc != 0 || l.n != 1)
                die("store lookup of %s failed", f->dev[i].eid);
            smds_event_list_free(&l);
            /* nanoseconds, kept in the µs field: lookups take a few µs */
            if (pass > 0)
                bench_samples_add(&lat, t0,
                                  (uint64_t)((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec)));
        }
    smds_store_close(st);
    bench_pcts pc;
    bench_percentiles(&lat, &pc);
    jw_obj(w, "store_list_us");
    jw_num(w, "p50", pc.p50 / 1000);
    jw_num(w, "p99", pc.p99 / 1000);
    jw_num(w, "mean", pc.mean / 1000);
    jw_end(w);
    bench_samples_free(&lat);
}

static void scale_phase(ctx *c)
{
    opts *o = &c->o;
    if (o->attach_pid)
        die("scale needs its own stores: not with --attach-pid");
    uint64_t nmax = 0, nmin = UINT64_MAX;
    for (size_t i = 0; i < o->nscale; i++) {
        nmax = o->scale_events[i] > nmax ? o->scale_events[i] : nmax;
        nmin = o->scale_events[i] < nmin ? o->scale_events[i] : nmin;
    }
    size_t S = o->scale_devices;
    if (S == 0 || S > nmin)
        die("scale: --scale-devices must be between 1 and the smallest event count");
    /* Store N holds EID numbers i * (nmax / N); the devices sit at multiples
     * of nmax / S, spread over the whole key range of every store. */
    uint64_t dstride = nmax / S;
    for (size_t i = 0; i < o->nscale; i++) {
        uint64_t st = nmax / o->scale_events[i];
        if (nmax % o->scale_events[i] != 0 || dstride % st != 0)
            die("scale: each event count must divide the largest, and so must the device count");
    }
    curve_set *cs = &c->cs[PKI_CURVE_NIST];
    fleet f;
    mint_fleet(c, cs, &f, S, 0, dstride);
    uint64_t *check = malloc(S * sizeof(*check));
    if (!check)
        die("out of memory");
    for (size_t i = 0; i < S; i++)
        check[i] = i * dstride;

    jw *w = &c->w;
    jw_obj(w, NULL);
    jw_str(w, "mode", "scale");
    jw_str(w, "load", "es11-keepalive nist");
    jw_int(w, "devices", (long long)S);
    jw_int(w, "concurrency", (long long)o->scale_concurrency);
    jw_int(w, "polls_per_run", (long long)o->scale_polls);
    jw_int(w, "rounds", o->scale_rounds);
    jw_arr(w, "preload");
    char states[MAX_SCALE][1100];
    for (size_t i = 0; i < o->nscale; i++) {
        uint64_t n = o->scale_events[i];
        snprintf(states[i], sizeof(states[i]), "%s/scale-%llu", c->work, (unsigned long long)n);
        double secs, bytes;
        preload(states[i], n, nmax / n, check, S, &secs, &bytes);
        jw_obj(w, NULL);
        jw_int(w, "events", (long long)n);
        jw_num(w, "seconds", secs);
        jw_num(w, "events_per_s", (double)n / secs);
        jw_num(w, "store_mb", bytes / 1e6);
        store_lookups(w, states[i], &f);
        jw_end(w);
    }
    jw_end(w);

    double p99[MAX_SCALE][16];
    int rounds = o->scale_rounds > 16 ? 16 : o->scale_rounds;
    jw_arr(w, "runs");
    char ca[1100];
    pki_path(c, ca, sizeof(ca), "nist/ci/ci.pem");
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < o->nscale; i++) {
            uint64_t n = o->scale_events[i];
            char tag[64], phase[96];
            snprintf(tag, sizeof(tag), "smds-scale-%llu", (unsigned long long)n);
            snprintf(phase, sizeof(phase), "scale %llu events, round %d", (unsigned long long)n, r + 1);
            server srv;
            start_smds(c, states[i], tag, &srv);
            load_es11_cfg lc = {
                .phase = phase,
                .base = srv.device,
                .cafile = ca,
                .address = SMDS_FQDN,
                .es11_paths = true,
                .ctx_params1 = c->ctx1,
                .ctx_len = c->ctx1_len,
                .f = &f,
                .concurrency = o->scale_concurrency < S ? o->scale_concurrency : S,
                .fresh = false,
                .polls = o->scale_polls,
                .expect_events = 1,
                .server_pid = srv.pid,
                .progress = on_progress,
            };
            double quiet = wait_quiet(c);
            load_result lr;
            int rc = load_es11(&lc, &lr);
            progress_end();
            stop_server(c, &srv);
            bench_pcts pc;
            bench_percentiles(&lr.lat, &pc);
            p99[i][r] = pc.p99;
            jw_obj(w, NULL);
            jw_int(w, "events", (long long)n);
            jw_int(w, "round", r + 1);
            json_run(w, &lr, &pc, quiet, false, "polls", "server_cpu_us_per_poll");
            jw_end(w);
            check_run(c, phase, rc, &lr);
            if (r == rounds - 1) /* one panel per store in the plot; every round is in the JSON */
                add_panel(c, phase, &lr.lat);
            load_result_free(&lr);
        }
    }
    jw_end(w);

    double med[MAX_SCALE], at_min = NAN, at_max = NAN;
    jw_arr(w, "p99_ms");
    for (size_t i = 0; i < o->nscale; i++) {
        qsort(p99[i], (size_t)rounds, sizeof(double), cmp_double);
        med[i] = rounds % 2 ? p99[i][rounds / 2] : (p99[i][rounds / 2 - 1] + p99[i][rounds / 2]) / 2;
        jw_obj(w, NULL);
        jw_int(w, "events", (long long)o->scale_events[i]);
        jw_num(w, "median_p99", med[i] / 1000);
        jw_end(w);
        if (o->scale_events[i] == nmin)
            at_min = med[i];
        if (o->scale_events[i] == nmax)
            at_max = med[i];
        summary(c, "scale %-9llu events      p99 %6.2f ms (median of %d rounds)",
                (unsigned long long)o->scale_events[i], med[i] / 1000, rounds);
    }
    jw_end(w);
    double ratio = at_max / at_min;
    jw_num(w, "ratio", ratio);
    jw_num(w, "target_ratio_max", 1.2);
    jw_end(w);
    char tname[160];
    snprintf(tname, sizeof(tname), "ES11 p99 at %llu events / at %llu", (unsigned long long)nmax,
             (unsigned long long)nmin);
    add_target(c, tname, ratio, 1.2, true);
    summary(c, "%-26s ratio %.2f", "scale p99 max/min", ratio);
    free(check);
    fleet_free(&f);
}

/* ---- options ---- */

static void usage(FILE *f)
{
    fputs("usage: rsp-bench MODE[,MODE...] [options]\n"
          "modes: es11-boot-storm es11-keepalive es12-register es9-download scale all overload\n"
          "  (overload, not in all: ES11 capacity closed loop with admission off, then 1x, 2x, 3x of it\n"
          "  offered open loop for 10 s each [--quick 2 s] to an SM-DS with the default admission)\n"
          "  --quick                 small and short (under a minute): what CI runs\n"
          "  --out FILE              JSON result (default bench/results/<mode>-<UTC time>.json)\n"
          "  --no-plot               no PNG (default: <out>.png, drawn with gnuplot)\n"
          "  --smds PATH --smdp PATH --rsp-pki PATH   binaries (default: next to rsp-bench)\n"
          "  --workdir DIR           PKI, stores and logs (default: a new directory in $TMPDIR, removed)\n"
          "  --keep                  keep the work directory\n"
          "  --workers N             server worker threads (default: the server's, one per core)\n"
          "  --log-level L           server log level [info]\n"
          "  --server-flag F         extra flag for every server started (repeatable, e.g.\n"
          "                          --server-flag=--smds.replay_durable=false)\n"
          "  --curves nist,brainpool ES11 device curves [both]\n"
          "  --devices N             ES11 devices per curve; the boot storm polls each once [10000]\n"
          "  --concurrency C         ES11 polls in flight [32]\n"
          "  --polls N               ES11 kept-alive polls per curve [20000]\n"
          "  --es12-seconds S        ES12 and h2load measurement window [10]\n"
          "  --downloads N           ES9+ devices per curve, each downloading once [1000]\n"
          "  --connections LIST      ES9+ connection patterns: per-call (a new TLS connection for every\n"
          "                          call), per-download (one per download), or both [per-download]\n"
          "  --resumption LIST       ES9+: off (full handshakes), on (every connection resumes a ticket of\n"
          "                          an earlier contact), or off,on [off]; with either list of more than\n"
          "                          one pattern, the transport ceiling (new connection + GET /healthz)\n"
          "                          is measured too\n"
          "  --profile FILE          profile package for ES9+ (default: TS.48 V2 from $RSP_SHARED_DIR,\n"
          "                          else a minimal synthetic one); every device gets a copy with its own "
          "ICCID\n"
          "  --es12-connections K    [2]   --es12-streams M   streams per connection [64]\n"
          "  --scale-events N,N,...  stored events for the scale test [1000,10000000]\n"
          "  --scale-devices N       [1000]  --scale-polls N [10000]  --scale-concurrency C [4]\n"
          "  --scale-rounds R        runs per store, alternating; the median p99 counts [5]\n"
          "  --quiet-wait S          before each measurement, wait up to S seconds for a second in which\n"
          "                          other processes use under a quarter of a core [30; --quick 0]\n"
          "  --floor-seconds S       CPU seconds per crypto-floor round [0.15] (7 rounds, the best kept)\n"
          "  --store lmdb|postgres   the SM-DS event store [lmdb]; postgres starts a throw-away server\n"
          "                          (es11-boot-storm, es11-keepalive, es12-register only)\n"
          "  --attach-pid PID --device URL [--s2s URL] --pki DIR\n"
          "                          load a running SM-DS instead (its PKI must be an rsp-pki tree)\n",
          f);
}

static unsigned parse_modes(const char *s, char *label, size_t cap)
{
    unsigned m = 0;
    char *copy = strdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        unsigned bit = 0;
        for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
            if (strcmp(t, mode_names[i].name) == 0)
                bit = mode_names[i].bit;
        if (!bit)
            die("unknown mode %s (see --help)", t);
        m |= bit;
    }
    free(copy);
    const char *name = "all";
    int bits = __builtin_popcount(m);
    for (size_t i = 0; bits == 1 && i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
        if (mode_names[i].bit == m)
            name = mode_names[i].name;
    snprintf(label, cap, "%s", name);
    return m;
}

static uint64_t num(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        die("%s: not a number: %s", what, s);
    return v;
}

static double real(const char *s, const char *what)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0))
        die("%s: not a positive number: %s", what, s);
    return v;
}

static void parse(int argc, char **argv, opts *o)
{
    enum {
        O_QUICK = 256,
        O_OUT,
        O_NOPLOT,
        O_SMDS,
        O_SMDP,
        O_PKI,
        O_WORK,
        O_KEEP,
        O_WORKERS,
        O_LOG,
        O_SERVER_FLAG,
        O_CURVES,
        O_DEVICES,
        O_CONC,
        O_POLLS,
        O_E12S,
        O_E12C,
        O_E12M,
        O_SEV,
        O_SDEV,
        O_SPOLLS,
        O_SCONC,
        O_SROUNDS,
        O_FLOOR,
        O_APID,
        O_ADEV,
        O_AS2S,
        O_APKI,
        O_HELP,
        O_DL,
        O_PROFILE,
        O_QUIET,
        O_STORE,
        O_CONNS,
        O_RESUME,
    };
    static const struct option lo[] = {
        {"quick", no_argument, 0, O_QUICK},
        {"out", required_argument, 0, O_OUT},
        {"no-plot", no_argument, 0, O_NOPLOT},
        {"smds", required_argument, 0, O_SMDS},
        {"smdp", required_argument, 0, O_SMDP},
        {"rsp-pki", required_argument, 0, O_PKI},
        {"workdir", required_argument, 0, O_WORK},
        {"keep", no_argument, 0, O_KEEP},
        {"workers", required_argument, 0, O_WORKERS},
        {"log-level", required_argument, 0, O_LOG},
        {"server-flag", required_argument, 0, O_SERVER_FLAG},
        {"curves", required_argument, 0, O_CURVES},
        {"devices", required_argument, 0, O_DEVICES},
        {"concurrency", required_argument, 0, O_CONC},
        {"polls", required_argument, 0, O_POLLS},
        {"es12-seconds", required_argument, 0, O_E12S},
        {"es12-connections", required_argument, 0, O_E12C},
        {"es12-streams", required_argument, 0, O_E12M},
        {"scale-events", required_argument, 0, O_SEV},
        {"scale-devices", required_argument, 0, O_SDEV},
        {"scale-polls", required_argument, 0, O_SPOLLS},
        {"scale-concurrency", required_argument, 0, O_SCONC},
        {"scale-rounds", required_argument, 0, O_SROUNDS},
        {"floor-seconds", required_argument, 0, O_FLOOR},
        {"attach-pid", required_argument, 0, O_APID},
        {"device", required_argument, 0, O_ADEV},
        {"s2s", required_argument, 0, O_AS2S},
        {"pki", required_argument, 0, O_APKI},
        {"downloads", required_argument, 0, O_DL},
        {"profile", required_argument, 0, O_PROFILE},
        {"quiet-wait", required_argument, 0, O_QUIET},
        {"store", required_argument, 0, O_STORE},
        {"connections", required_argument, 0, O_CONNS},
        {"resumption", required_argument, 0, O_RESUME},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    /* First pass: --quick changes the defaults the other options override. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--quick") == 0)
            o->quick = true;
    o->plot = true;
    o->curve[0] = o->curve[1] = true;
    o->log_level = "info";
    o->devices = o->quick ? 60 : 10000;
    o->concurrency = o->quick ? 4 : 32;
    o->polls = o->quick ? 120 : 20000;
    o->downloads = o->quick ? 12 : 1000;
    o->conn_per_download = o->resume_off = true;
    o->es12_secs = o->quick ? 1.5 : 10;
    o->h2load_warmup = o->quick ? 0.2 : 1;
    o->es12_conns = 2;
    o->es12_streams = o->quick ? 8 : 64;
    o->nscale = 2;
    o->scale_events[0] = 1000;
    o->scale_events[1] = o->quick ? 20000 : 10000000;
    o->scale_devices = o->quick ? 50 : 1000;
    o->scale_polls = o->quick ? 100 : 10000;
    o->scale_concurrency = 4;
    o->scale_rounds = o->quick ? 1 : 5;
    o->floor.secs = o->quick ? 0.02 : 0.15;
    o->floor.rounds = o->quick ? 2 : 7;
    o->quiet_wait = o->quick ? 0 : 30;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case O_QUICK:
            break;
        case O_OUT:
            o->out = optarg;
            break;
        case O_NOPLOT:
            o->plot = false;
            break;
        case O_SMDS:
            o->smds = optarg;
            break;
        case O_SMDP:
            o->smdp = optarg;
            break;
        case O_PKI:
            o->rsp_pki = optarg;
            break;
        case O_WORK:
            o->workdir = optarg;
            break;
        case O_KEEP:
            o->keep = true;
            break;
        case O_WORKERS:
            o->workers = (unsigned)num(optarg, "--workers");
            break;
        case O_CONNS:
            one_or_both(optarg, "--connections", "per-call", "per-download", &o->conn_per_call,
                        &o->conn_per_download);
            break;
        case O_RESUME:
            one_or_both(optarg, "--resumption", "off", "on", &o->resume_off, &o->resume_on);
            break;
        case O_STORE:
            if (strcmp(optarg, "postgres") && strcmp(optarg, "lmdb"))
                die("--store: lmdb or postgres");
            o->store_pg = strcmp(optarg, "postgres") == 0;
            break;
        case O_LOG:
            o->log_level = optarg;
            break;
        case O_SERVER_FLAG:
            if (o->nserver_flags == sizeof(o->server_flags) / sizeof(o->server_flags[0]))
                die("--server-flag: at most 8");
            o->server_flags[o->nserver_flags++] = optarg;
            break;
        case O_CURVES:
            o->curve[0] = strstr(optarg, "nist") != NULL;
            o->curve[1] = strstr(optarg, "brainpool") != NULL;
            if (!o->curve[0] && !o->curve[1])
                die("--curves: nist, brainpool or both");
            break;
        case O_DEVICES:
            o->devices = (size_t)num(optarg, "--devices");
            break;
        case O_CONC:
            o->concurrency = (size_t)num(optarg, "--concurrency");
            break;
        case O_POLLS:
            o->polls = num(optarg, "--polls");
            break;
        case O_E12S:
            o->es12_secs = real(optarg, "--es12-seconds");
            break;
        case O_E12C:
            o->es12_conns = (size_t)num(optarg, "--es12-connections");
            break;
        case O_E12M:
            o->es12_streams = (size_t)num(optarg, "--es12-streams");
            break;
        case O_SEV: {
            o->nscale = 0;
            char *copy = strdup(optarg), *save = NULL;
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (o->nscale == MAX_SCALE)
                    die("--scale-events: at most %d counts", MAX_SCALE);
                o->scale_events[o->nscale++] = num(t, "--scale-events");
            }
            free(copy);
            break;
        }
        case O_SDEV:
            o->scale_devices = (size_t)num(optarg, "--scale-devices");
            break;
        case O_SPOLLS:
            o->scale_polls = num(optarg, "--scale-polls");
            break;
        case O_SCONC:
            o->scale_concurrency = (size_t)num(optarg, "--scale-concurrency");
            break;
        case O_SROUNDS:
            o->scale_rounds = (int)num(optarg, "--scale-rounds");
            break;
        case O_FLOOR:
            o->floor.secs = real(optarg, "--floor-seconds");
            break;
        case O_APID:
            o->attach_pid = (pid_t)num(optarg, "--attach-pid");
            break;
        case O_ADEV:
            o->attach_device = optarg;
            break;
        case O_AS2S:
            o->attach_s2s = optarg;
            break;
        case O_APKI:
            o->attach_pki = optarg;
            break;
        case O_DL:
            o->downloads = (size_t)num(optarg, "--downloads");
            break;
        case O_PROFILE:
            o->profile = optarg;
            break;
        case O_QUIET:
            o->quiet_wait = (double)num(optarg, "--quiet-wait");
            break;
        case O_HELP:
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        exit(2);
    }
    o->modes = parse_modes(argv[optind], o->mode_label, sizeof(o->mode_label));
    if (o->devices == 0 || o->concurrency == 0 || o->polls == 0 || o->downloads == 0 || o->es12_conns == 0 ||
        o->es12_streams == 0 || o->scale_polls == 0 || o->scale_concurrency == 0 || o->scale_rounds < 1 ||
        o->nscale == 0)
        die("counts must be positive");
    for (size_t i = 0; i < o->nscale; i++)
        if (o->scale_events[i] == 0)
            die("--scale-events: counts must be positive");
    if (o->attach_pid && (!o->attach_device || !o->attach_pki))
        die("--attach-pid needs --device URL and --pki DIR");
    if (o->attach_pid && (o->modes & M_ES12) && !o->attach_s2s)
        die("es12-register on an attached server needs --s2s URL");
}

/* ---- output ---- */

static void machine(jw *w)
{
    char model[256] = "unknown", line[512];
    long mem_kb = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(model, sizeof(model), "%s", colon + 2);
            model[strcspn(model, "\n")] = 0;
            break;
        }
    }
    if (f)
        fclose(f);
    f = fopen("/proc/meminfo", "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "MemTotal: %ld kB", &mem_kb) == 1)
            break;
    if (f)
        fclose(f);
    struct utsname u;
    uname(&u);
    double load1 = -1;
    f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf", &load1) != 1)
        load1 = -1;
    if (f)
        fclose(f);
    jw_obj(w, "machine");
    jw_int(w, "nproc", sysconf(_SC_NPROCESSORS_ONLN));
    jw_num(w, "load_average_1min_at_start", load1);
    jw_str(w, "cpu_model", model);
    jw_num(w, "memory_gib", (double)mem_kb / (1024.0 * 1024.0));
    jw_str(w, "kernel", u.release);
    jw_str(w, "openssl", OpenSSL_version(OPENSSL_VERSION));
    jw_str(w, "libcurl", curl_version());
    jw_end(w);
}

static void default_out(const opts *o, char *out, size_t cap, const char *stamp)
{
    const char *ws = getenv("BUILD_WORKSPACE_DIRECTORY");
    char dir[PATH_MAX];
    struct stat st;
    if (ws && *ws)
        snprintf(dir, sizeof(dir), "%s/bench/results", ws);
    else if (stat("bench", &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(dir, sizeof(dir), "bench/results");
    else
        snprintf(dir, sizeof(dir), ".");
    mkdir(dir, 0755);
    path_fmt(out, cap, "%s/%s-%s.json", dir, o->mode_label, stamp);
}

static void draw(ctx *c, const char *json_path)
{
    if (!c->o.plot || c->npanels == 0)
        return;
    if (!c->gnuplot[0]) {
        note("gnuplot not found (Debian gnuplot-nox): no plot");
        return;
    }
    char png[PATH_MAX], dat[PATH_MAX], gp[PATH_MAX];
    snprintf(png, sizeof(png), "%.*s.png", (int)(strlen(json_path) - 5), json_path);
    snprintf(dat, sizeof(dat), "%s/plot.dat", c->work);
    snprintf(gp, sizeof(gp), "%s/plot.gp", c->work);
    plot_panel p[MAX_PANELS];
    for (size_t i = 0; i < c->npanels; i++)
        p[i] = (plot_panel){c->panels[i].title, &c->panels[i].s};
    char title[200];
    snprintf(title, sizeof(title), "rsp-bench %s%s: completed per second and latency", c->o.mode_label,
             c->o.quick ? " (quick)" : "");
    char *out = NULL;
    char *argv[] = {c->gnuplot, gp, NULL};
    if (plot_write(png, dat, gp, title, p, c->npanels) != 0 || bench_run(argv, &out, 120) != 0)
        note("gnuplot failed: %s", out ? out : strerror(errno));
    else
        note("plot: %s", png);
    free(out);
}

int main(int argc, char **argv)
{
    static ctx c;
    parse(argc, argv, &c.o);
    opts *o = &c.o;
    progress_tty = isatty(2);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        die("curl_global_init failed");

    tool_path(o->smds, "smds/smds", c.smds, sizeof(c.smds));
    tool_path(o->smdp, "smdp_default/smdp-default", c.smdp, sizeof(c.smdp));
    tool_path(o->rsp_pki, "tools/rsp-pki/rsp-pki", c.rsp_pki, sizeof(c.rsp_pki));
    if (bench_which("h2load", c.h2load, sizeof(c.h2load)) != 0)
        c.h2load[0] = 0;
    if (bench_which("gnuplot", c.gnuplot, sizeof(c.gnuplot)) != 0)
        c.gnuplot[0] = 0;

    if (o->workdir) {
        snprintf(c.work, sizeof(c.work), "%s", o->workdir);
        if (mkdir(c.work, 0700) != 0 && errno != EEXIST)
            die("%s: %s", c.work, strerror(errno));
    } else {
        const char *t = getenv("TEST_TMPDIR");
        if (!t)
            t = getenv("TMPDIR");
        snprintf(c.work, sizeof(c.work), "%s/rsp-bench-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(c.work))
            die("mkdtemp: %s", strerror(errno));
    }
    if (o->attach_pki)
        snprintf(c.pki, sizeof(c.pki), "%s", o->attach_pki);
    else
        snprintf(c.pki, sizeof(c.pki), "%s/pki", c.work);

    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32], iso[32], out_path[PATH_MAX];
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (o->out)
        snprintf(out_path, sizeof(out_path), "%s", o->out);
    else
        default_out(o, out_path, sizeof(out_path), stamp);
    if (strlen(out_path) < 6 || strcmp(out_path + strlen(out_path) - 5, ".json") != 0)
        die("--out must end in .json");

    char *json_text = NULL;
    size_t json_len = 0;
    FILE *mem = open_memstream(&json_text, &json_len);
    jw *w = &c.w;
    jw_init(w, mem);
    jw_obj(w, NULL);
    jw_str(w, "tool", "rsp-bench");
    jw_str(w, "timestamp", iso);
    jw_str(w, "mode", o->mode_label);
    jw_bool(w, "quick", o->quick);
    {
        char cmd[2048] = "rsp-bench";
        for (int i = 1; i < argc; i++)
            snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " %s", argv[i]);
        jw_str(w, "command", cmd);
    }
    machine(w);
    jw_str(w, "series_columns", "bucket start s, completed per s, p50 ms, p99 ms");
    jw_obj(w, "server");
    {
        /* Workspace-relative when it comes from our runfiles: no machine paths in results. */
        const char *rel = strstr(c.smds, "/rsp_servers/");
        jw_str(w, "smds", o->attach_pid ? "attached" : rel ? rel + strlen("/rsp_servers/") : c.smds);
    }
    jw_int(w, "workers", o->workers);
    jw_str(w, "log_level", o->log_level);
    jw_str(w, "store", o->store_pg ? "postgres" : "lmdb");
    jw_end(w);

    if (o->store_pg) {
        if (o->modes & (M_ES9 | M_SCALE) || o->attach_pid)
            die("--store postgres: es11-boot-storm, es11-keepalive and es12-register only, not attached");
        if (pgtmp_start(&c.pg) != 0)
            die("cannot start PostgreSQL (tools/bootstrap installs it)");
        bench_pg = &c.pg;
        atexit(stop_bench_pg);
        note("PostgreSQL: %s", c.pg.dsn);
    }
    load_pki(&c);
    jw_arr(w, "phases");

    if (o->modes & (M_BOOT | M_KEEPALIVE | M_ES12 | M_OVERLOAD)) {
        size_t D = o->devices;
        bool need_devices = o->modes & (M_BOOT | M_KEEPALIVE | M_OVERLOAD);
        if (need_devices)
            for (int i = 0; i < 2; i++)
                if (o->curve[i])
                    mint_fleet(&c, &c.cs[i], &c.cs[i].f, D, (uint64_t)i * D, 1);
        char state[1100];
        snprintf(state, sizeof(state), "%s/state-main", c.work);
        if (!o->attach_pid && need_devices) {
            uint64_t check[2] = {0, 2 * D - 1};
            double secs, bytes;
            if (o->store_pg)
                preload_pg(&c, 2 * D, &secs);
            else
                preload(state, 2 * D, 1, check, 2, &secs, &bytes); /* one event per device, both curves */
        }
        server srv;
        start_smds(&c, state, "smds-main", &srv);
        note("smds pid %ld, device %s, s2s %s", (long)srv.pid, srv.device, srv.s2s);
        int expect = o->attach_pid ? -1 : 1;
        for (int i = 0; i < 2; i++)
            if (o->curve[i] && (o->modes & M_BOOT))
                es11_phase(&c, &srv, &c.cs[i], true, expect);
        for (int i = 0; i < 2; i++)
            if (o->curve[i] && (o->modes & M_KEEPALIVE))
                es11_phase(&c, &srv, &c.cs[i], false, expect);
        if (o->modes & M_ES12)
            es12_phase(&c, &srv);
        stop_server(&c, &srv);
        if ((o->modes & M_OVERLOAD) && !o->attach_pid)
            overload_phase(&c, state, &c.cs[o->curve[0] ? 0 : 1]);
    }
    stop_bench_pg();
    if (o->modes & M_ES9)
        es9_phase(&c);
    if (o->modes & M_SCALE)
        scale_phase(&c);
    jw_end(w);

    jw_arr(w, "targets");
    for (size_t i = 0; i < c.ntargets; i++) {
        target *t = &c.targets[i];
        jw_obj(w, NULL);
        jw_str(w, "name", t->name);
        jw_num(w, "value", t->value);
        jw_str(w, "comparison", t->at_most ? "<=" : ">=");
        jw_num(w, "limit", t->limit);
        jw_bool(w, "met", t->at_most ? t->value <= t->limit : t->value >= t->limit);
        jw_end(w);
    }
    jw_end(w);
    jw_int(w, "failed_phases", c.failures);
    int jerr = jw_finish(w);
    fclose(mem);
    FILE *f = jerr ? NULL : fopen(out_path, "w");
    if (!f || fwrite(json_text, 1, json_len, f) != json_len || fclose(f) != 0)
        die("cannot write %s", out_path);
    free(json_text);

    printf("\nrsp-bench %s%s on %ld CPUs\n", o->mode_label, o->quick ? " (quick)" : "",
           sysconf(_SC_NPROCESSORS_ONLN));
    for (size_t i = 0; i < c.nsummary; i++)
        printf("  %s\n", c.summary[i]);
    if (c.ntargets)
        printf("targets:\n");
    for (size_t i = 0; i < c.ntargets; i++) {
        target *t = &c.targets[i];
        bool met = t->at_most ? t->value <= t->limit : t->value >= t->limit;
        printf("  %-62s %6.2f %s %.2f  %s\n", t->name, t->value, t->at_most ? "<=" : ">=", t->limit,
               met ? "met" : "MISSED");
    }
    printf("result: %s\n", out_path);
    draw(&c, out_path);

    for (size_t i = 0; i < c.npanels; i++)
        bench_series_free(&c.panels[i].s);
    free_pki(&c);
    if (!o->keep && !o->workdir)
        rm_tree(c.work);
    else
        note("work directory kept: %s", c.work);
    curl_global_cleanup();
    return c.failures ? 1 : 0;
}
