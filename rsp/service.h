/*
 * rsp/service.h - the startup both services share, so that smds/main.c and smdp_default/main.c stay thin.
 *
 * rsp_service_main() declares the common configuration keys (below) plus the service's own, parses the
 * INI file and flags (rsp/config.h), creates the state directory, opens two listeners on an HTTP server
 * (rsp/http.h) -- "device" (server-only TLS: ES11 / ES9+) and "s2s" (mutual TLS, client certificate
 * required: ES12 / ES15 / ES2+) --, lets the service register its routes, starts the workers, writes the
 * bound ports to server.port_file if set, reports ready, and serves until SIGTERM/SIGINT.  SIGHUP
 * reloads the TLS certificates and keys, then calls the service's reload hook.
 *
 * Common keys (defaults in brackets; <name> is the service name, ports come from the definition):
 *   [server] workers [0 = cores]  state_dir [state/<name>]  body_limit [64k]  drain_timeout_ms [10000]
 *            port_file [""]: after binding, write "device <port>\ns2s <port>\n" (use port 0 to let the
 *            kernel pick free ports, e.g. in tests)
 *   [tls]    cert [state/tls/server.crt]  key [state/tls/server.key]  ciphers [""]
 *   [device] address [127.0.0.1]  port  cert [""=tls.cert]  key [""=tls.key]  plain_http [false]
 *   [s2s]    address [127.0.0.1]  port  cert  key  client_ca [state/tls/ca.crt] (comma-separated PEM
 *            files)  plain_http [false]
 *   [log]    file [- = stderr]  level [info]: see rsp_service_open_log
 *   [device] proxy_protocol [false]  [s2s] proxy_protocol [false]: behind a TCP load balancer, every
 *            connection starts with a PROXY v2 header carrying the client's address (rsp/http.h)
 * plain_http is for tests only: no TLS, hence no peer identity on s2s (its routes then answer 403).
 * A service whose store can become unreachable sets a readiness check in setup, with
 * rsp_http_server_set_ready_check(rsp_service_http(svc), fn, ctx): /readyz then says not-ready while
 * fn returns 0.
 *
 * Exit status of rsp_service_main(): 0 after a graceful stop (or --help), 2 for a configuration error,
 * 1 when the service cannot start.
 */
#ifndef RSP_SERVICE_H
#define RSP_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "rsp/config.h"
#include "rsp/http.h"

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

/* Applies log.level and (re)opens log.file, with the service name in every line; for setup and reload.
 * 0, or -1 after telling stderr why (a bad level, a file that cannot be opened). */
int rsp_service_open_log(rsp_service_t *svc);

#endif
