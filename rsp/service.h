/*
 * rsp/service.h - the startup both services share, so that smds/main.c and smdp_default/main.c stay thin.
 *
 * rsp_service_main() declares the common configuration keys (below) plus the service's own, parses the
 * INI file and flags (rsp/config.h), creates the state directory, opens two listeners on an HTTP server
 * (rsp/http.h) -- "device" (server-only TLS: ES11 / ES9+) and "s2s" (mutual TLS, client certificate
 * required: ES12 / ES15 / ES2+) --, lets the service register its routes, starts the workers, writes the
 * bound ports to server.port_file if set, reports ready (to systemd too, see rsp/sdnotify.h), and serves
 * until SIGTERM/SIGINT (STOPPING=1, then a graceful stop).  Every line it logs is JSON (rsp/log.h).
 *
 * SIGHUP (RELOADING=1 ... READY=1): the configuration file and flags are parsed again; keys marked
 * RSP_CFG_F_RELOAD take their new values, any other changed key is logged as needing a restart and keeps
 * its running value; the log file is reopened; the TLS certificates and keys are re-read from the running
 * paths; then the service's reload hook re-reads its own files.
 *
 * Modes besides serving: `--check-config` (exit 1 with one line per problem), `--print-config` (effective
 * values, secrets masked), `--print-sample-config` (the annotated sample file, rsp_config_write_sample),
 * `init` and `rotate-key` (the service's init hook), `--version`.
 *
 * Common keys (defaults in brackets; <name> is the service name, ports come from the definition):
 *   [server] workers [0 = cores]  state_dir [/var/lib/rsp/<name>]  body_limit [64k]
 *            drain_timeout_ms [10000]  create_secrets [false]: let the service mint missing secrets at
 *            start (demo, tests)  port_file [""]: after binding, write "device <port>\ns2s <port>\n" (use
 *            port 0 to let the kernel pick free ports, e.g. in tests)
 *   [tls]    cert [/etc/rsp/<name>/tls.pem]  key [/etc/rsp/<name>/tls.key.pem]  ciphers [""]
 *   [device] address [127.0.0.1]  port  cert [""=tls.cert]  key [""=tls.key]  plain_http [false]
 *   [s2s]    address [127.0.0.1]  port  cert  key  client_ca [/etc/rsp/<name>/client-ca.pem]
 *            (comma-separated PEM files)  plain_http [false]
 *   [log]    file [- = stderr]  level [info]: see rsp_service_open_log; both applied on SIGHUP
 *   [device] proxy_protocol [false]  [s2s] proxy_protocol [false]: behind a TCP load balancer, every
 *            connection starts with a PROXY v2 header carrying the client's address (rsp/http.h)
 * plain_http is for tests only: no TLS, hence no peer identity on s2s (its routes then answer 403).
 * A service whose store can become unreachable sets a readiness check in setup, with
 * rsp_http_server_set_ready_check(rsp_service_http(svc), fn, ctx): /readyz then says not-ready while
 * fn returns 0.
 *
 * Exit status of rsp_service_main(): 0 after a graceful stop (or --help), 2 for a configuration error,
 * 1 when the service cannot start or --check-config found a problem.
 */
#ifndef RSP_SERVICE_H
#define RSP_SERVICE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rsp/config.h"
#include "rsp/http.h"
#include "rsp/txn.h"

typedef struct rsp_service rsp_service_t;

typedef struct rsp_service_def {
    const char *name;             /* "smds"; used in logs, usage and the default state dir */
    const char *description;      /* one line for --help */
    const char *device_port;      /* default port of the device-facing listener, as text ("8443") */
    const char *s2s_port;         /* default port of the mutual-TLS listener ("8444") */
    const rsp_config_key_t *keys; /* the service's own keys (static table), may be NULL */
    size_t nkeys;
    /* Registers routes (rsp_http_route on rsp_service_device()/rsp_service_s2s()) and opens stores.
     * Runs before the workers start.  Non-zero aborts startup with exit status 1.  May be NULL. */
    int (*setup)(rsp_service_t *svc);
    /* After the server stopped: closes what setup opened.  May be NULL. */
    void (*teardown)(rsp_service_t *svc);
    /* SIGHUP, after the TLS material was reloaded.  May be NULL. */
    int (*reload)(rsp_service_t *svc);
    /* Client-certificate check of the s2s listener (see rsp/http.h), called with ctx; NULL =
     * rsp_http_peer_cn_check (identity: the subject CN as a C string, freed with free()). */
    rsp_http_peer_check_fn s2s_peer_check;
    void (*s2s_peer_free)(void *identity);
    void *ctx; /* for the hooks: rsp_service_ctx() */
    /* Flags of the service's own keys (reloadable, secret, required, files); static, may be NULL. */
    const rsp_config_mark_t *marks;
    size_t nmarks;
    /* --check-config, after the common checks: the service's certificates, keys, chains and secrets,
     * reported with rsp/check.h; returns the number of errors.  May be NULL. */
    int (*check)(rsp_service_t *svc, FILE *out);
    /* `<name> init` (rotate = 0): creates the missing secrets; `<name> rotate-key` (rotate = 1): adds a
     * transaction key.  Runs with the configuration and state directory only (no listeners); prints
     * what it did on stdout and returns the exit status.  May be NULL. */
    int (*init)(rsp_service_t *svc, int rotate);
    /* Readiness, asked about once a second while serving: 1 = ready, 0 = not ready with the reason in
     * why (a store that cannot be read, an outbox backlog, no usable signing certificate).  /readyz
     * answers 503 while not ready; each change is logged.  Runs on the controlling thread; NULL =
     * always ready once started. */
    int (*ready)(rsp_service_t *svc, char *why, size_t len);
} rsp_service_def_t;

/* Runs a service; returns the process exit status. */
int rsp_service_main(const rsp_service_def_t *def, int argc, char **argv);

/* Accessors for the hooks. */
rsp_http_server_t *rsp_service_http(rsp_service_t *svc);
const rsp_config_t *rsp_service_config(rsp_service_t *svc);
int rsp_service_device(rsp_service_t *svc); /* listener index of "device" */
int rsp_service_s2s(rsp_service_t *svc);    /* listener index of "s2s" */
const char *rsp_service_state_dir(rsp_service_t *svc);
void *rsp_service_ctx(rsp_service_t *svc);
/* The overload admission of the device calls (rsp/admit.h, keys admission.*), for setup to hand to the
 * routes; owned by the service, valid until after teardown. */
struct rsp_admit;
struct rsp_admit *rsp_service_admit(rsp_service_t *svc);

/* For setup: the service's metrics registry gains rsp_build_info{version,commit} 1 and the TLS refusal
 * counters of its listeners (rsp_http_server_set_metrics).  m must outlive the server. */
void rsp_service_use_metrics(rsp_service_t *svc, struct rsp_metrics *m);

/* For setup: TLS session resumption on the device listener with ticket keys derived from the transaction
 * keyring (every node has the same), rotated every tls.ticket_rotation seconds (0 = no tickets); see
 * rsp_http_server_set_ticket_secrets.  0, or -1 after logging why. */
int rsp_service_use_ticket_keys(rsp_service_t *svc, const rsp_txn_keyring *kr);

/* For ready hooks: 1 when x is within its validity period now, else 0 with "<what> <subject> expired" or
 * "... not valid yet" in why. */
int rsp_service_cert_current(X509 *x, const char *what, char *why, size_t len);

/* The file a key names, or `name` in the state directory (server.state_dir) when the key is empty: where
 * secrets such as txn.secret live.  Truncated to cap. */
void rsp_service_state_file(rsp_service_t *svc, const char *key, const char *name, char *out, size_t cap);

/* For init hooks: creates the transaction secret file (rotate = 0; an existing one is kept) or adds a key
 * to it (rotate = 1, rsp/secrets.h), saying on stdout what it did; returns the exit status (0, or 1 after
 * telling stderr why). */
int rsp_service_init_txn_secret(const char *path, int rotate, char *err, size_t errlen);

/* Applies log.level and (re)opens log.file, with the service name in every line; for setup and reload.
 * 0, or -1 after telling stderr why (a bad level, a file that cannot be opened). */
int rsp_service_open_log(rsp_service_t *svc);

#endif
