#include "smds/smds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/x509v3.h>

#include "rsp/auth.h"
#include "rsp/chain.h"
#include "rsp/config.h"
#include "rsp/crl.h"
#include "rsp/err.h"
#include "rsp/log.h"
#include "rsp/pg.h"
#include "rsp/replay_pg.h"

/* ---- trust snapshots ---- */

static void trust_free(smds_trust *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nauth; i++) {
        X509_free(t->auth[i].cert);
        EVP_PKEY_free(t->auth[i].key);
        OPENSSL_free(t->auth[i].der);
        free(t->auth[i].others);
    }
    rsp_ci_store_free(t->cis);
    free(t);
}

static void trust_release(rsp_ref *r)
{
    trust_free((smds_trust *)r);
}

static int load_auth(smds_trust *t, const char *cert_path, const char *key_path, char *err, size_t errlen)
{
    smds_auth *a = &t->auth[t->nauth];
    memset(a, 0, sizeof(*a));
    a->cert = rsp_load_cert(cert_path);
    a->key = rsp_load_key(key_path);
    if (!a->cert || !a->key) {
        rsp_err_set(err, errlen, "cannot read CERT.DSauth or its key: %s", a->cert ? key_path : cert_path);
        goto fail;
    }
    if (X509_check_private_key(a->cert, a->key) != 1) {
        rsp_err_set(err, errlen, "CERT.DSauth %s does not match its key", cert_path);
        goto fail;
    }
    const uint8_t *ci_ski;
    size_t ci_ski_len;
    if (rsp_server_cred_chain(t->cis, cert_path, a->cert, RSP_OID_ROLE_DS_AUTH, time(NULL), &a->others,
                              &a->others_len, &ci_ski, &ci_ski_len) != 0) {
        rsp_err_set(err, errlen, "CERT.DSauth %s is not a valid DSauth certificate of a configured CI",
                    cert_path);
        rsp_log(RSP_LOG_ERROR, "%s: %s", cert_path, rsp_cert_last_reason());
        goto fail;
    }
    for (size_t i = 0; i < t->nauth; i++) {
        if (t->auth[i].ci_ski_len == ci_ski_len && memcmp(t->auth[i].ci_ski, ci_ski, ci_ski_len) == 0) {
            rsp_err_set(err, errlen, "CERT.DSauth %s: a second certificate for the same CI", cert_path);
            goto fail;
        }
    }
    memcpy(a->ci_ski, ci_ski, ci_ski_len);
    a->ci_ski_len = ci_ski_len;
    unsigned char *der = NULL;
    int n = i2d_X509(a->cert, &der);
    if (n <= 0) {
        rsp_err_set(err, errlen, "CERT.DSauth %s: cannot encode", cert_path);
        goto fail;
    }
    a->der = der;
    a->der_len = (size_t)n;
    t->nauth++;
    return 0;
fail:
    X509_free(a->cert);
    EVP_PKEY_free(a->key);
    free(a->others);
    memset(a, 0, sizeof(*a));
    return -1;
}

static smds_trust *trust_load(const smds_t *x, char *err, size_t errlen)
{
    smds_trust *t = calloc(1, sizeof(*t));
    if (!t || !(t->cis = rsp_ci_store_new())) {
        free(t);
        rsp_err_set(err, errlen, "out of memory");
        return NULL;
    }
    rsp_ref_init(&t->ref, trust_release);
    for (size_t i = 0; i < x->n_ci_files; i++) {
        if (rsp_ci_store_add_file(t->cis, x->ci_files[i]) != 0) {
            rsp_err_set(err, errlen, "cannot load CI certificate %s: %s", x->ci_files[i],
                        rsp_cert_last_reason());
            trust_free(t);
            return NULL;
        }
    }
    if (rsp_ci_store_load_crls(t->cis, (const char *const *)x->crl_files, x->n_crl_files,
                               (rsp_crl_policy)x->crl_policy) != 0) {
        rsp_err_set(err, errlen, "cannot load the CRLs: %s", rsp_cert_last_reason());
        trust_free(t);
        return NULL;
    }
    if (x->n_auth > SMDS_MAX_AUTH) {
        rsp_err_set(err, errlen, "too many CERT.DSauth certificates");
        trust_free(t);
        return NULL;
    }
    for (size_t i = 0; i < x->n_auth; i++) {
        if (load_auth(t, x->auth_certs[i], x->auth_keys[i], err, errlen) != 0) {
            trust_free(t);
            return NULL;
        }
    }
    return t;
}

smds_trust *smds_trust_get(smds_t *x)
{
    return (smds_trust *)rsp_snapshot_get(&x->trust);
}

void smds_trust_put(smds_trust *t)
{
    if (t)
        rsp_ref_put(&t->ref);
}

int smds_reload(smds_t *x, char *err, size_t errlen)
{
    smds_trust *t = trust_load(x, err, errlen);
    if (!t)
        return -1;
    rsp_snapshot_replace(&x->trust, &t->ref);
    return 0;
}

/* ---- lifecycle ---- */

/* Nodes sharing a database must share the transaction secrets: a node that minted its own (a missing
 * txn.secret file) would fail every ES11 transaction another node began.  Each key id is checked against
 * the fingerprint the first node stored. */
static int check_shared_secrets(smds_t *x, const char *dsn, char *err, size_t errlen)
{
    for (unsigned id = 0; id < RSP_TXN_MAX_KEYS; id++) {
        if (!x->keyring.have[id])
            continue;
        char name[64], why[512];
        snprintf(name, sizeof(name), "smds.txn_secret.%u", id);
        int rc = rsp_pg_secret_check(dsn, name, x->keyring.secret[id], RSP_TXN_SECRET_LEN, why, sizeof(why));
        if (rc != 0) {
            rsp_err_set(err, errlen, "transaction secret key %u: %s%s", id, why,
                        rc > 0 ? " (copy smds.txn_secret from a running node)" : "");
            return -1;
        }
    }
    return 0;
}

smds_t *smds_new(const smds_config *cfg, char *err, size_t errlen)
{
    if (!cfg->fqdn || !cfg->fqdn[0] || strlen(cfg->fqdn) > SMDS_FQDN_MAX) {
        rsp_err_set(err, errlen, "the SM-DS FQDN is required");
        return NULL;
    }
    if (!cfg->store_dir || !cfg->txn_secret_file) {
        rsp_err_set(err, errlen, "store directory and transaction secret file are required");
        return NULL;
    }
    smds_t *x = calloc(1, sizeof(*x));
    if (!x) {
        rsp_err_set(err, errlen, "out of memory");
        return NULL;
    }
    rsp_snapshot_init(&x->trust);
    x->metrics = cfg->metrics;
    x->admit = cfg->admit;
    x->txn_ttl = cfg->txn_ttl ? cfg->txn_ttl : 300;
    x->n_ci_files = cfg->n_ci_files;
    x->n_auth = cfg->n_auth;
    x->n_es15_peers = cfg->n_es15_peers;
    x->fqdn = strdup(cfg->fqdn);
    x->ci_files = rsp_config_list_copy(cfg->ci_files, cfg->n_ci_files);
    x->crl_files = rsp_config_list_copy(cfg->crl_files, cfg->n_crl_files);
    x->n_crl_files = cfg->n_crl_files;
    x->crl_policy = cfg->crl_policy;
    x->auth_certs = rsp_config_list_copy(cfg->auth_certs, cfg->n_auth);
    x->auth_keys = rsp_config_list_copy(cfg->auth_keys, cfg->n_auth);
    x->es15_peers = rsp_config_list_copy(cfg->es15_peers, cfg->n_es15_peers);
    if (!x->fqdn || !x->ci_files || !x->auth_certs || !x->auth_keys || !x->es15_peers || !x->crl_files) {
        rsp_err_set(err, errlen, "out of memory");
        goto fail;
    }
    if (smds_reload(x, err, errlen) != 0)
        goto fail;
    int rc = rsp_txn_keyring_load(&x->keyring, cfg->txn_secret_file, cfg->create_secrets);
    if (rc != 0) {
        rsp_err_set(
            err, errlen,
            "transaction secret %s: %s (create it with `smds init`; server.create_secrets mints it at "
            "start, for demos)",
            cfg->txn_secret_file, cfg->create_secrets ? "cannot read or create" : "missing or unreadable");
        goto fail;
    }
    if (!(x->store = smds_store_open(cfg->store_dir, &cfg->store))) {
        if (cfg->store.backend == SMDS_STORE_POSTGRES)
            rsp_err_set(err, errlen, "cannot open the event store in the PostgreSQL database (store.dsn)");
        else
            rsp_err_set(err, errlen, "cannot open the event store in %s", cfg->store_dir);
        goto fail;
    }
    if (cfg->store.backend == SMDS_STORE_POSTGRES &&
        check_shared_secrets(x, cfg->store.dsn, err, errlen) != 0)
        goto fail;
    /* On a shared database the consumed ids are shared too: a replay is refused on every node. */
    rsp_replay_backend durable;
    if (cfg->replay_dir && (cfg->store.backend == SMDS_STORE_POSTGRES
                                ? rsp_replay_pg_open(&durable, smds_store_pg(x->store), "smds", err, errlen)
                                : rsp_replay_lmdb_open(&durable, cfg->replay_dir, err, errlen)) != 0)
        goto fail;
    x->replay = rsp_replay_new(cfg->replay_capacity ? cfg->replay_capacity : 100000,
                               cfg->replay_dir ? &durable : NULL);
    x->eum_cache = rsp_eum_cache_new(cfg->eum_cache_capacity ? cfg->eum_cache_capacity : 1024);
    if (!x->replay || !x->eum_cache) {
        rsp_err_set(err, errlen, "out of memory");
        goto fail;
    }
    if (smds_store_housekeeping_start(x->store, cfg->housekeeping_interval) != 0) {
        rsp_err_set(err, errlen, "cannot start housekeeping");
        goto fail;
    }
    if (cfg->root && cfg->root->address && cfg->root->address[0]) {
        if (!(x->root = smds_root_new(cfg->root, err, errlen)))
            goto fail;
    }
    return x;
fail:
    smds_free(x);
    return NULL;
}

void smds_free(smds_t *x)
{
    if (!x)
        return;
    /* The root client first: its callbacks may still write to the store. */
    smds_root_free(x->root);
    smds_store_close(x->store);
    rsp_replay_free(x->replay);
    rsp_eum_cache_free(x->eum_cache);
    rsp_txn_keyring_wipe(&x->keyring);
    rsp_snapshot_destroy(&x->trust);
    free(x->fqdn);
    rsp_config_list_free(x->ci_files, x->n_ci_files);
    rsp_config_list_free(x->crl_files, x->n_crl_files);
    rsp_config_list_free(x->auth_certs, x->n_auth);
    rsp_config_list_free(x->auth_keys, x->n_auth);
    rsp_config_list_free(x->es15_peers, x->n_es15_peers);
    free(x);
}

bool smds_is_own_address(const smds_t *x, const char *addr, size_t len)
{
    return rsp_auth_same_address(x->fqdn, (const uint8_t *)addr, len);
}

/* ---- server-to-server callers ---- */

int smds_peer_check(void *ctx, X509 *leaf, STACK_OF(X509) * chain, void **identity_out)
{
    smds_t *x = ctx;
    rsp_peer_identity *id = calloc(1, sizeof(*id));
    if (!id)
        return -1;
    smds_trust *t = smds_trust_get(x);
    int rc = rsp_verify_tls_peer(t->cis, leaf, chain, RSP_PEER_DP | RSP_PEER_DS, time(NULL), id);
    smds_trust_put(t);
    if (rc != 0 || (!id->oid[0] && id->ndns == 0)) {
        if (rc != 0)
            rsp_log(RSP_LOG_WARN, "server-to-server client refused: %s", rsp_cert_last_reason());
        else
            rsp_peer_identity_clear(id);
        free(id);
        return -1;
    }
    *identity_out = id;
    return 0;
}

void smds_peer_free(void *identity)
{
    rsp_peer_identity *id = identity;
    if (!id)
        return;
    rsp_peer_identity_clear(id);
    free(id);
}

int smds_caller_from_peer(const rsp_peer_identity *id, rsp_arena *a, smds_caller *out)
{
    memset(out, 0, sizeof(*out));
    if (!id || (!id->oid[0] && id->ndns == 0))
        return -1;
    out->role = id->role;
    const char **dns = rsp_arena_calloc(a, id->ndns + 1, sizeof(*dns));
    if (!dns)
        return -1;
    for (size_t i = 0; i < id->ndns; i++) {
        if (!(dns[i] = rsp_arena_strndup(a, id->dns[i], strlen(id->dns[i]))))
            return -1;
    }
    out->dns = dns;
    out->ndns = id->ndns;
    out->owner = id->oid[0] ? rsp_arena_strndup(a, id->oid, strlen(id->oid)) : dns[0];
    return out->owner ? 0 : -1;
}

rsp_status smds_msg_fail(smds_msg *msg, rsp_status st, const char *message, const char *detail)
{
    msg->message = message;
    msg->detail = detail;
    return st;
}

rsp_status smds_msg_bind(const rsp_json_doc *doc, const rsp_json_field *fields, void *base, smds_msg *msg)
{
    rsp_json_err err;
    rsp_status st = rsp_json_bind(doc, fields, base, &err);
    if (st != RSP_OK) {
        msg->message = rsp_json_err_message(&err, msg->buf, sizeof(msg->buf));
        msg->detail = err.reason;
    }
    return st;
}
