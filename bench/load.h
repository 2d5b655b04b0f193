/*
 * bench/load.h - the load rsp-bench puts on a server, over real HTTPS
 * (libcurl, HTTP/2 over TLS as a device's LPA or an SM-DP+ would use it).
 *
 * ES11 polls (load_es11): each poll is InitiateAuthentication then
 * AuthenticateClient for one device of a fleet, with the eUICC's answer in
 * between (full check on a thread's first poll, fast path after: see
 * fleet.h).  `fresh` gives every poll its own TLS connection with a full
 * handshake (no session resumption: a boot storm is many devices, each
 * connecting once); otherwise each thread keeps one HTTP/2 connection.
 * concurrency threads run at once; each uses only its own devices.
 *
 * ES12 registrations (load_es12): RegisterEvent for a new EventID and EID
 * each time, over `connections` mutual-TLS HTTP/2 connections with
 * `streams` requests in flight on each, for a fixed time window.  This load
 * runs on the lean HTTP/2 client of h2c.h (one thread per connection), not
 * libcurl, whose CPU per request would cap the rate on a shared machine.
 *
 * Measurement window: the server's CPU (/proc/<pid>/stat) and the clock
 * are read when every thread is ready (connected, for kept-alive loads)
 * and again when the last operation of the window completed.
 *
 * Ownership: results own their samples (load_result_free).  Configuration
 * pointers are borrowed for the call.  Errors: functions return 0 when the
 * load ran (its own errors are counted in the result) and -1 when it could
 * not run at all (message in result.first_error).
 */
#ifndef BENCH_LOAD_H
#define BENCH_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench/fleet.h"
#include "bench/stats.h"

typedef struct load_progress {
    const char *phase;
    uint64_t done, errors, target; /* target 0 when the phase is timed */
    double elapsed_s;
} load_progress;
typedef void (*load_progress_fn)(const load_progress *p, void *arg);

typedef struct load_tls_info {
    int group_nid;     /* negotiated key-agreement group (0 if unknown) */
    int sig_md_nid;    /* digest of the server's CertificateVerify */
    int sig_type_nid;  /* its key type (EVP_PKEY_EC ...) */
    char version[16];  /* "TLSv1.3" */
    long http_version; /* CURL_HTTP_VERSION_* of the first exchange */
} load_tls_info;

typedef struct load_result {
    uint64_t ok, errors;
    uint64_t refused;     /* polls answered HTTP 503 by admission (open-loop ES11 only; not errors) */
    uint64_t connections; /* TLS connections the client opened in the window */
    uint64_t resumed;     /* of which resumed a session */
    double secs;          /* window length */
    double server_cpu_s;  /* server CPU during the window (-1 if unreadable) */
    double client_cpu_s;  /* this process's CPU during the window */
    double machine_cpu_s; /* every process's CPU during the window (others = this - server - client) */
    bench_samples lat;    /* one sample per completed operation */
    load_tls_info tls;
    char first_error[256];
} load_result;

void load_result_free(load_result *r);

typedef struct load_es11_cfg {
    const char *phase;          /* name for progress lines */
    const char *base;           /* "https://HOST:PORT" */
    const char *cafile;         /* trust anchor of the server's TLS certificate */
    const char *address;        /* the SM-DS address the devices use (serverAddress) */
    bool es11_paths;            /* /gsma/rsp2/es11/ (else /gsma/rsp2/es9plus/) */
    const uint8_t *ctx_params1; /* the LPA's ctxParams1 (lpa_build_ctx_params1) */
    size_t ctx_len;
    fleet *f;           /* the devices */
    size_t concurrency; /* threads (at most f->n) */
    bool fresh;         /* boot storm: one new connection per poll */
    uint64_t polls;     /* kept-alive: polls in total; fresh: 0 = each device once */
    int nice;           /* load threads run at this nice value (the server keeps the CPU it needs on a
                           machine it shares with the load), 0 = unchanged */
    double rate;        /* kept-alive: polls offered per second in all (open loop: poll i is due at
                           i / rate, its latency counts from then; a 503 counts as refused); 0 = each
                           thread polls again as soon as its poll finished */
    int expect_events;  /* events each device must receive, -1 = do not check */
    pid_t server_pid;   /* whose CPU to read, 0 = none */
    long timeout_ms;    /* per request [30000] */
    load_progress_fn progress;
    void *progress_arg;
} load_es11_cfg;

int load_es11(const load_es11_cfg *cfg, load_result *r);

typedef struct load_es12_cfg {
    const char *phase;
    const char *base; /* "https://HOST:PORT" of the mutual-TLS listener */
    const char *cafile;
    const char *cert, *key; /* client certificate (CERT.DP.TLS) and key, PEM */
    const char *address;    /* rspServerAddress: the SM-DP+ the certificate names */
    const char *eid_prefix; /* EIDs: pki_eid_make(eid_prefix, eid_base + k) */
    uint64_t eid_base;
    const char *event_prefix;    /* EventIDs: <event_prefix><k>, unique in the store */
    size_t connections, streams; /* streams in flight per connection */
    double duration_s;           /* measurement window */
    pid_t server_pid;
    long timeout_ms;
    load_progress_fn progress;
    void *progress_arg;
} load_es12_cfg;

int load_es12(const load_es12_cfg *cfg, load_result *r);

/*
 * ES9+ downloads (load_es9): each device of the fleet downloads its profile
 * once with the lpa-sim LPA (lpa_download: InitiateAuthentication,
 * AuthenticateClient, PrepareDownload on the eUICC, GetBoundProfilePackage,
 * LoadBoundProfilePackage on the eUICC, HandleNotification), over its own
 * new TLS connection, concurrency at once.  A download counts when the
 * notification was accepted and, if sha256 is given, the installed package
 * has the expected digest.  The TLS parameters come from one /healthz probe
 * before the window.
 *
 * Connection patterns: per_call opens a new TLS connection for every call
 * (4 per download, as pySim's and lpac's clients do), else one per download
 * and one for the notification, sent to its own address.
 * With resume every connection resumes a session: before the window each
 * device makes one GET /healthz (an earlier contact) and keeps the ticket,
 * and each connection after that offers the latest ticket the device got;
 * without it no session is kept (each connection a full handshake).
 * healthz_only is the transport ceiling: each device makes one new
 * connection with GET /healthz instead of a download (same TLS, same
 * resumption choice), counted as one operation.
 */
typedef struct load_es9_cfg {
    const char *phase;
    const char *server;     /* "FQDN:PORT" as the device addresses it (TLS host check) */
    const char *connect_to; /* "127.0.0.1:PORT": where it really connects */
    const char *cafile;
    const char *address; /* the SM-DP+ address in the messages */
    fleet *f;
    size_t concurrency;
    uint8_t (*sha256)[32]; /* expected package digest per device, or NULL */
    bool per_call;         /* a new connection per call, else one per download */
    bool resume;           /* every connection resumes (see above), else all full handshakes */
    bool healthz_only;     /* one GET /healthz per device on a new connection instead of a download */
    pid_t server_pid;
    long timeout_ms;
    load_progress_fn progress;
    void *progress_arg;
} load_es9_cfg;

int load_es9(const load_es9_cfg *cfg, load_result *r);

/* GET url (TLS checked against cafile, client certificate when cert is
 * set): the HTTP status, with the body in *body (heap, NUL terminated), or
 * -1 when no response came. */
long load_get(const char *url, const char *cafile, const char *cert, const char *key, char **body);

#endif
