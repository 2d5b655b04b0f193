/*
 * smds - SM-DS discovery server.  Device-facing ES11 on the "device" listener (server-only TLS), ES12
 * (from SM-DP+) and ES15 (from other SM-DS) on the mutual-TLS "s2s" listener.  Startup, configuration
 * and shutdown are shared with the SM-DP+ in rsp/service.c; `smds --help` lists the keys.  SIGHUP
 * reloads the TLS certificates, the CI certificates and their CRLs and the CERT.DSauth certificates and keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/check.h"
#include "rsp/config.h"
#include "rsp/http.h"
#include "rsp/es.h"
#include "rsp/log.h"
#include "rsp/metrics.h"
#include "rsp/crl.h"
#include "rsp/service.h"
#include "smds/server.h"
#include "smds/smds.h"

#define MAX_LIST 16

static const rsp_config_key_t keys[] = {
    {"smds", "fqdn", RSP_CFG_STR, "", 0, 0, "this SM-DS's address (FQDN), as devices are told to use it"},
    {"smds", "ci", RSP_CFG_STR, "", 0, 0, "trusted CI certificates (DER or PEM), comma-separated"},
    {"smds", "auth_cert", RSP_CFG_STR, "", 0, 0, "CERT.DSauth.ECDSA files, one per CI, comma-separated"},
    {"smds", "auth_key", RSP_CFG_STR, "", 0, 0, "their private keys, in the same order"},
    {"smds", "txn_secret", RSP_CFG_STR, "", 0, 0,
     "ES11 transaction secret file (default <state_dir>/txn.secret); share it between instances"},
    {"smds", "txn_ttl", RSP_CFG_INT, "300", 10, 86400, "seconds an ES11 transaction stays valid"},
    {"smds", "replay_cache", RSP_CFG_INT, "100000", 16, 100000000,
     "consumed transactionIds kept in memory (at least peak AuthenticateClient/s x txn_ttl)"},
    {"smds", "replay_durable", RSP_CFG_BOOL, "true", 0, 0,
     "also keep them durably (<state_dir>/replay, or the database with store.backend = postgres, shared by"
     " every node), so a replay after a restart or on another node is refused"},
    {"smds", "eum_cache", RSP_CFG_INT, "1024", 1, 1000000, "verified EUM certificates cached"},
    {"smds", "event_max_age", RSP_CFG_INT, "0", 0, 100000000, "seconds an event lives (0 = until deleted)"},
    {"smds", "events_per_eid", RSP_CFG_INT, "100", 1, 100000, "most events one EID may hold"},
    {"smds", "housekeeping_interval", RSP_CFG_INT, "60", 1, 86400,
     "seconds between purges of expired events"},
    {"smds", "db_map_size", RSP_CFG_SIZE, "64m", 1 << 20, 1ll << 40,
     "initial LMDB map size (grows on demand)"},
    {"smds", "es15_peers", RSP_CFG_STR, "", 0, 0,
     "SM-DS identities (certificate OID or DNS name) allowed to call ES15; empty = any CERT.DS.TLS"},
    {"smds", "metrics_on_device", RSP_CFG_BOOL, "false", 0, 0,
     "also serve GET /metrics on the device listener (it is always on the s2s listener)"},
    /* Event store backend (store.h): LMDB under the state directory, or a PostgreSQL database shared by
     * several nodes. */
    {"store", "backend", RSP_CFG_STR, "lmdb", 0, 0, "event store: lmdb (this host) or postgres (shared)"},
    {"store", "dsn", RSP_CFG_STR, "", 0, 0,
     "PostgreSQL connection string for store.backend = postgres (libpq keywords or URI)"},
    {"root", "address", RSP_CFG_STR, "", 0, 0,
     "Root SM-DS host:port (makes this an Alternative SM-DS that cascades over ES15)"},
    {"root", "cert", RSP_CFG_STR, "", 0, 0, "client certificate (CERT.DS.TLS, PEM) for the root"},
    {"root", "key", RSP_CFG_STR, "", 0, 0, "its private key (PEM)"},
    {"root", "ca", RSP_CFG_STR, "", 0, 0, "CA certificates (PEM) that issued the root's TLS certificate"},
    {"root", "threads", RSP_CFG_INT, "4", 1, 64, "client threads towards the root"},
    {"root", "timeout_ms", RSP_CFG_INT, "5000", 100, 600000, "timeout of one call to the root"},
    /* revocation (rsp/crl.h) */
    {"smds", "crl", RSP_CFG_STR, "", 0, 0,
     "CRL files (DER or PEM) of the CIs and of EUM/sub-CA issuers, comma-separated; reloaded on SIGHUP"},
    {"smds", "crl_policy", RSP_CFG_STR, "refuse", 0, 0,
     "a CRL not signed by its issuer or past its nextUpdate: refuse the chains it covers, or warn"},
};

static const rsp_config_mark_t marks[] = {
    {"smds.fqdn", RSP_CFG_F_REQUIRED},
    {"smds.ci", RSP_CFG_F_REQUIRED | RSP_CFG_F_FILES},
    {"smds.auth_cert", RSP_CFG_F_REQUIRED | RSP_CFG_F_FILES},
    {"smds.auth_key", RSP_CFG_F_REQUIRED | RSP_CFG_F_FILES},
    {"smds.txn_secret", RSP_CFG_F_FILES},
    {"store.dsn", RSP_CFG_F_SECRET},
    {"root.cert", RSP_CFG_F_FILES},
    {"root.key", RSP_CFG_F_FILES},
    {"root.ca", RSP_CFG_F_FILES},
};

/* The transaction secret file: smds.txn_secret, or txn.secret in the state directory. */
static void secret_path(rsp_service_t *svc, char *out, size_t cap)
{
    rsp_service_state_file(svc, "smds.txn_secret", "txn.secret", out, cap);
}

static struct app {
    smds_t *x;
    rsp_metrics *metrics;
} app;

static int store_ready(void *ctx)
{
    struct app *a = ctx;
    return a->x && smds_store_ready(a->x->store);
}

static int setup(rsp_service_t *svc)
{
    const rsp_config_t *cfg = rsp_service_config(svc);
    if (rsp_service_open_log(svc) != 0)
        return -1;
    char *ci_copy, *cert_copy, *key_copy, *peers_copy;
    const char *ci[MAX_LIST], *certs[MAX_LIST], *keys_[MAX_LIST], *peers[MAX_LIST];
    size_t nci = rsp_config_list(cfg, "smds.ci", &ci_copy, ci, MAX_LIST);
    size_t ncert = rsp_config_list(cfg, "smds.auth_cert", &cert_copy, certs, MAX_LIST);
    size_t nkey = rsp_config_list(cfg, "smds.auth_key", &key_copy, keys_, MAX_LIST);
    size_t npeers = rsp_config_list(cfg, "smds.es15_peers", &peers_copy, peers, MAX_LIST);
    char *crl_copy;
    const char *crls[MAX_LIST];
    size_t ncrl = rsp_config_list(cfg, "smds.crl", &crl_copy, crls, MAX_LIST);
    rsp_crl_policy crl_policy = RSP_CRL_REFUSE;
    char store_dir[4096], secret[4096], replay_dir[4096];
    snprintf(store_dir, sizeof(store_dir), "%s/events", rsp_service_state_dir(svc));
    secret_path(svc, secret, sizeof(secret));
    snprintf(replay_dir, sizeof(replay_dir), "%s/replay", rsp_service_state_dir(svc));

    int rc = -1;
    smds_store_backend backend;
    if (smds_store_backend_parse(rsp_config_str(cfg, "store.backend"), &backend) != 0) {
        rsp_log(RSP_LOG_ERROR, "store.backend must be lmdb or postgres");
        goto out;
    }
    if (backend == SMDS_STORE_POSTGRES && !rsp_config_str(cfg, "store.dsn")[0]) {
        rsp_log(RSP_LOG_ERROR, "store.backend = postgres needs store.dsn");
        goto out;
    }
    if (ncert != nkey) {
        rsp_log(RSP_LOG_ERROR, "smds.auth_cert and smds.auth_key must name the same number of files");
        goto out;
    }
    if (nci == 0 || ncert == 0) {
        rsp_log(RSP_LOG_ERROR, "smds.ci and smds.auth_cert are required");
        goto out;
    }
    if (rsp_crl_policy_parse(rsp_config_str(cfg, "smds.crl_policy"), &crl_policy) != 0) {
        rsp_log(RSP_LOG_ERROR, "smds.crl_policy must be refuse or warn");
        goto out;
    }
    app.metrics = rsp_metrics_new();
    if (!app.metrics)
        goto out;
    rsp_metrics_describe(app.metrics, RSP_ES_METRIC_REQUESTS, RSP_METRIC_COUNTER,
                         "ES function calls by function and GSMA result code");
    rsp_metrics_describe(app.metrics, RSP_ES_METRIC_LATENCY, RSP_METRIC_HISTOGRAM,
                         "ES function latency by function");
    rsp_service_use_metrics(svc, app.metrics);
    rsp_metrics_describe(app.metrics, "smds_root_requests_total", RSP_METRIC_COUNTER,
                         "ES15 calls to the Root SM-DS by function and outcome");
    smds_root_config root = {
        .address = rsp_config_str(cfg, "root.address"),
        .cert = rsp_config_str(cfg, "root.cert"),
        .key = rsp_config_str(cfg, "root.key"),
        .ca = rsp_config_str(cfg, "root.ca"),
        .requester = rsp_config_str(cfg, "smds.fqdn"),
        .threads = (unsigned)rsp_config_int(cfg, "root.threads"),
        .timeout_ms = (unsigned)rsp_config_int(cfg, "root.timeout_ms"),
    };
    smds_config sc = {
        .fqdn = rsp_config_str(cfg, "smds.fqdn"),
        .ci_files = ci,
        .n_ci_files = nci,
        .crl_files = crls,
        .n_crl_files = ncrl,
        .crl_policy = crl_policy,
        .auth_certs = certs,
        .auth_keys = keys_,
        .n_auth = ncert,
        .store_dir = store_dir,
        .store =
            {
                .backend = backend,
                .dsn = rsp_config_str(cfg, "store.dsn"),
                .per_eid_cap = (size_t)rsp_config_int(cfg, "smds.events_per_eid"),
                .max_age = (uint32_t)rsp_config_int(cfg, "smds.event_max_age"),
                .map_size = rsp_config_size(cfg, "smds.db_map_size"),
            },
        .housekeeping_interval = (unsigned)rsp_config_int(cfg, "smds.housekeeping_interval"),
        .txn_secret_file = secret,
        .create_secrets = rsp_config_bool(cfg, "server.create_secrets"),
        .txn_ttl = (uint32_t)rsp_config_int(cfg, "smds.txn_ttl"),
        .replay_capacity = (size_t)rsp_config_int(cfg, "smds.replay_cache"),
        .replay_dir = rsp_config_bool(cfg, "smds.replay_durable") ? replay_dir : NULL,
        .eum_cache_capacity = (size_t)rsp_config_int(cfg, "smds.eum_cache"),
        .es15_peers = peers,
        .n_es15_peers = npeers,
        .root = root.address[0] ? &root : NULL,
        .metrics = app.metrics,
        .admit = rsp_service_admit(svc),
    };
    char err[512];
    if (!(app.x = smds_new(&sc, err, sizeof(err)))) {
        rsp_log(RSP_LOG_ERROR, "%s", err);
        goto out;
    }
    if (smds_server_routes(rsp_service_http(svc), rsp_service_device(svc), rsp_service_s2s(svc), app.x,
                           rsp_config_bool(cfg, "smds.metrics_on_device")) != 0) {
        rsp_log(RSP_LOG_ERROR, "cannot register routes");
        goto out;
    }
    if (rsp_service_use_ticket_keys(svc, &app.x->keyring) != 0)
        goto out;
    /* /readyz follows the database, so a load balancer routes around a node that lost it. */
    rsp_http_server_set_ready_check(rsp_service_http(svc), store_ready, &app);
    rsp_log(RSP_LOG_INFO, "SM-DS %s: %zu CI, %zu CERT.DSauth, %s, events in %s", sc.fqdn, nci, ncert,
            sc.root ? "alternative (cascades to the root)" : "root",
            backend == SMDS_STORE_POSTGRES ? "PostgreSQL" : "LMDB");
    rc = 0;
out:
    if (rc != 0) {
        smds_free(app.x);
        app.x = NULL;
        rsp_metrics_free(app.metrics);
        app.metrics = NULL;
    }
    free(ci_copy);
    free(crl_copy);
    free(cert_copy);
    free(key_copy);
    free(peers_copy);
    return rc;
}

static void teardown(rsp_service_t *svc)
{
    (void)svc;
    smds_free(app.x);
    app.x = NULL;
    rsp_metrics_free(app.metrics);
    app.metrics = NULL;
}

static int reload(rsp_service_t *svc)
{
    (void)svc;
    char err[512];
    if (smds_reload(app.x, err, sizeof(err)) != 0) {
        rsp_log(RSP_LOG_ERROR, "reload: %s (keeping the previous certificates)", err);
        return -1;
    }
    rsp_log(RSP_LOG_INFO, "reload: CI and CERT.DSauth certificates reloaded");
    return 0;
}

static int peer_check(void *ctx, X509 *leaf, STACK_OF(X509) * chain, void **identity_out)
{
    struct app *a = ctx;
    return a->x ? smds_peer_check(a->x, leaf, chain, identity_out) : -1;
}

/* --check-config: CI certificates, CERT.DSauth with their keys and chains to the CIs, the TLS certificate's
 * chain (CERT.DS.TLS under a CI), the root client, and the transaction secret. */
static int check(rsp_service_t *svc, FILE *out)
{
    const rsp_config_t *cfg = rsp_service_config(svc);
    const char *ci = rsp_config_str(cfg, "smds.ci"), *ac = rsp_config_str(cfg, "smds.auth_cert");
    int errors = rsp_check_certs(out, "smds.ci", ci) + rsp_check_certs(out, "smds.auth_cert", ac) +
                 rsp_check_key_pairs(out, "smds.auth_cert", ac, "smds.auth_key",
                                     rsp_config_str(cfg, "smds.auth_key")) +
                 rsp_check_chains(out, "smds.auth_cert", ac, "smds.ci", ci);
    if (!rsp_config_bool(cfg, "device.plain_http")) {
        const char *dc = rsp_config_str(cfg, "device.cert");
        errors +=
            rsp_check_chains(out, "device.cert", dc[0] ? dc : rsp_config_str(cfg, "tls.cert"), "smds.ci", ci);
    }
    const char *rc = rsp_config_str(cfg, "root.cert");
    if (rsp_config_str(cfg, "root.address")[0] && rc[0])
        errors += rsp_check_certs(out, "root.cert", rc) +
                  rsp_check_key_pairs(out, "root.cert", rc, "root.key", rsp_config_str(cfg, "root.key"));
    char secret[4096];
    secret_path(svc, secret, sizeof(secret));
    if (!rsp_config_bool(cfg, "server.create_secrets"))
        errors += rsp_check_secret(out, "transaction secret", secret, "smds");
    return errors;
}

/* /readyz: the event store answers a read, and at least one CERT.DSauth is within its validity. */
static int ready(rsp_service_t *svc, char *why, size_t len)
{
    (void)svc;
    smds_event ev;
    if (smds_store_get(app.x->store, "readyz-probe", &ev) < 0) {
        snprintf(why, len, "the event store cannot be read");
        return 0;
    }
    smds_trust *t = smds_trust_get(app.x);
    int usable = 0;
    for (size_t i = 0; i < t->nauth; i++)
        usable += rsp_service_cert_current(t->auth[i].cert, "CERT.DSauth", why, len);
    smds_trust_put(t);
    return usable > 0;
}

/* `smds init` creates the transaction secret; `smds rotate-key` adds a key to it. */
static int init(rsp_service_t *svc, int rotate)
{
    char secret[4096], err[512];
    secret_path(svc, secret, sizeof(secret));
    return rsp_service_init_txn_secret(secret, rotate, err, sizeof(err));
}

int main(int argc, char **argv)
{
    static const rsp_service_def_t def = {
        .name = "smds",
        .description = "SGP.22 SM-DS discovery server (ES11, ES12, ES15)",
        .device_port = "8443",
        .s2s_port = "8444",
        .keys = keys,
        .nkeys = sizeof(keys) / sizeof(keys[0]),
        .setup = setup,
        .teardown = teardown,
        .reload = reload,
        .ctx = &app,
        .s2s_peer_check = peer_check,
        .s2s_peer_free = smds_peer_free,
        .marks = marks,
        .nmarks = sizeof(marks) / sizeof(marks[0]),
        .check = check,
        .init = init,
        .ready = ready,
    };
    return rsp_service_main(&def, argc, argv);
}
