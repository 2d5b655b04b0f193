#include "rsp/chain.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "rsp/cert_impl.h"
#include "rsp/crl.h"
#include "rsp/sig.h"

/* ---- role policies (DER content octets) ---- */

static const uint8_t oid_role_ci[] = {RSP_ROLE_ARC, 0x00};
static const uint8_t oid_role_ci_sub[] = {RSP_ROLE_ARC, 0x00, 0x00};
static const uint8_t oid_role_eum[] = {RSP_ROLE_ARC, 0x02};
static const uint8_t oid_role_eum_v3[] = {RSP_ROLE_ARC, 0x00, 0x00, 0x00};
static const uint8_t oid_role_eum_sub[] = {RSP_ROLE_ARC, 0x00, 0x00, 0x00, 0x00};

static const rsp_oid_rule rules_ci[] = {RSP_RULE(oid_role_ci, false)};
static const rsp_oid_rule rules_ci_sub[] = {RSP_RULE(oid_role_ci_sub, false)};
static const rsp_oid_rule rules_eum[] = {RSP_RULE(oid_role_eum, false), RSP_RULE(oid_role_eum_v3, false)};
static const rsp_oid_rule rules_eum_sub[] = {RSP_RULE(oid_role_eum_sub, false)};

/* Roles of the CA certificates between a CI and an eUICC, from the eUICC up. */
typedef enum ca_role { ROLE_EUM_SUB, ROLE_EUM, ROLE_CI_SUB, ROLE_NONE } ca_role;

static const char *role_name(ca_role r)
{
    return r == ROLE_EUM_SUB ? "EUM sub-CA" : r == ROLE_EUM ? "EUM" : r == ROLE_CI_SUB ? "CI sub-CA" : "?";
}

static bool has_role(X509 *x, ca_role r)
{
    switch (r) {
    case ROLE_EUM_SUB:
        return rsp_cert_policy_match(x, rules_eum_sub, 1) >= 0;
    case ROLE_EUM:
        return rsp_cert_policy_match(x, rules_eum, 2) >= 0;
    case ROLE_CI_SUB:
        return rsp_cert_policy_match(x, rules_ci_sub, 1) >= 0;
    default:
        return false;
    }
}

/* ---- CA certificates ---- */

/* basicConstraints CA:TRUE, and a pathLen (when present) that admits `below`
 * CA certificates under this one; keyUsage critical with keyCertSign. */
static const char *ca_constraints(X509 *x, long below)
{
    uint32_t ku = X509_get_key_usage(x);
    if (!rsp_cert_ext_critical(x, NID_key_usage) || ku == UINT32_MAX || !(ku & KU_KEY_CERT_SIGN))
        return "keyUsage is not critical with keyCertSign";
    int crit = 0;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
    const char *err = NULL;
    if (bc == NULL || !bc->ca)
        err = "basicConstraints is not CA:TRUE";
    else if (bc->pathlen != NULL && ASN1_INTEGER_get(bc->pathlen) < below)
        err = below ? "basicConstraints pathLen too small for the CAs below"
                    : "basicConstraints pathLen negative";
    BASIC_CONSTRAINTS_free(bc);
    return err;
}

const char *rsp_ci_anchor_problem(X509 *ci, time_t now)
{
    const uint8_t *ski, *aki;
    size_t n, an;
    if (ci == NULL)
        return "no certificate";
    const char *err = rsp_cert_ext_problem(ci);
    if (err != NULL)
        return err;
    if (!rsp_cert_keyid(X509_get0_subject_key_id(ci), &ski, &n) || n > RSP_SKI_MAX)
        return "no usable subjectKeyIdentifier";
    if (rsp_sig_key_curve(X509_get0_pubkey(ci)) < 0)
        return "key is not on P-256 or brainpoolP256r1";
    if (rsp_cert_keyid(X509_get0_authority_key_id(ci), &aki, &an) && !rsp_cert_same_bytes(aki, an, ski, n))
        return "not self-signed (authorityKeyIdentifier names another key): a sub-CA is not a trust anchor";
    if ((err = rsp_cert_signed_by(ci, ci)) != NULL)
        return "not self-signed: a sub-CA is not a trust anchor";
    if (rsp_cert_policy_match(ci, rules_ci, 1) < 0)
        return "no id-rspRole-ci certificate policy";
    if ((err = ca_constraints(ci, 0)) != NULL)
        return err;
    int v = rsp_cert_validity(ci, now);
    return v == RSP_CERT_VALID ? NULL : rsp_cert_validity_text(v);
}

/* ---- CI store ---- */

typedef struct ci_ent {
    X509 *x;
    uint8_t ski[RSP_SKI_MAX];
    size_t ski_len;
} ci_ent;

struct rsp_ci_store {
    ci_ent *v;
    size_t n, cap;
    rsp_crl_set *crls; /* NULL when no CRL is configured */
};

rsp_ci_store *rsp_ci_store_new(void)
{
    return calloc(1, sizeof(rsp_ci_store));
}

void rsp_ci_store_free(rsp_ci_store *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        X509_free(s->v[i].x);
    rsp_crl_set_free(s->crls);
    free(s->v);
    free(s);
}

void rsp_ci_store_set_crls(rsp_ci_store *cis, rsp_crl_set *s)
{
    if (cis == NULL) {
        rsp_crl_set_free(s);
        return;
    }
    rsp_crl_set_free(cis->crls);
    cis->crls = s;
}

int rsp_cert_ski(X509 *cert, const uint8_t **ski, size_t *len)
{
    if (cert == NULL || ski == NULL || len == NULL)
        return -1;
    return rsp_cert_keyid(X509_get0_subject_key_id(cert), ski, len) ? 0 : -1;
}

int rsp_ci_store_add(rsp_ci_store *s, X509 *ci)
{
    const uint8_t *ski;
    size_t n;
    if (s == NULL || ci == NULL)
        return -1;
    /* Computes OpenSSL's cached extension data now, so that later lookups on
     * the shared store only read. */
    X509_check_purpose(ci, -1, 0);
    const char *err = rsp_ci_anchor_problem(ci, time(NULL));
    if (err != NULL) {
        rsp_cert_why("CI certificate: %s", err);
        ERR_clear_error();
        return -1;
    }
    if (rsp_cert_ski(ci, &ski, &n) != 0)
        return -1;
    X509 *have = rsp_ci_store_find(s, ski, n);
    if (have != NULL) {
        if (X509_cmp(have, ci) == 0)
            return 0;
        rsp_cert_why("another CI certificate has the same SKI");
        return -1;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        ci_ent *v = realloc(s->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    if (X509_up_ref(ci) != 1)
        return -1;
    s->v[s->n].x = ci;
    memcpy(s->v[s->n].ski, ski, n);
    s->v[s->n].ski_len = n;
    s->n++;
    return 0;
}

int rsp_ci_store_add_file(rsp_ci_store *s, const char *path)
{
    X509 *x = rsp_load_cert(path);
    if (x == NULL) {
        rsp_cert_why("cannot read a certificate from %s", path ? path : "(null)");
        return -1;
    }
    int rc = rsp_ci_store_add(s, x);
    X509_free(x);
    return rc;
}

size_t rsp_ci_store_count(const rsp_ci_store *s)
{
    return s ? s->n : 0;
}

X509 *rsp_ci_store_get(const rsp_ci_store *s, size_t i, const uint8_t **ski, size_t *ski_len)
{
    if (s == NULL || i >= s->n)
        return NULL;
    if (ski)
        *ski = s->v[i].ski;
    if (ski_len)
        *ski_len = s->v[i].ski_len;
    return s->v[i].x;
}

X509 *rsp_ci_store_find(const rsp_ci_store *s, const uint8_t *ski, size_t ski_len)
{
    if (s == NULL || ski == NULL)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (rsp_cert_same_bytes(s->v[i].ski, s->v[i].ski_len, ski, ski_len))
            return s->v[i].x;
    return NULL;
}

/* ---- verified paths ---- */

/* CA certificates from the eUICC's issuer (ca[0]) up to the one the CI
 * issued, verified against `ci`.  Immutable once built and reference counted,
 * so a cache hit can use it without the lock. */
typedef struct path_info {
    atomic_uint refs;
    uint8_t hash[32]; /* SHA-256 over the intermediates as sent */
    X509 *ca[RSP_CHAIN_MAX_DEPTH];
    size_t n;
    X509 *ci; /* the issuing CI, up-ref'd */
    uint8_t ci_ski[RSP_SKI_MAX];
    size_t ci_ski_len;
    rsp_cert_issuer issuer; /* ca[0] as the eUICC check needs it */
    rsp_prefix_set nc[RSP_CHAIN_MAX_DEPTH], iin[RSP_CHAIN_MAX_DEPTH];
    struct path_info *prev, *next, *hnext; /* cache links, under the cache lock */
} path_info;

static void path_release(path_info *e)
{
    if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
        return;
    for (size_t i = 0; i < RSP_CHAIN_MAX_DEPTH; i++) {
        X509_free(e->ca[i]);
        free(e->nc[i].v);
        free(e->iin[i].v);
    }
    X509_free(e->ci);
    free(e);
}

/* Each level that carries EID ranges must admit the EID, in each form it carries. */
static bool eid_permitted(const path_info *e, const char *eid)
{
    for (size_t i = 0; i < e->n; i++) {
        if (e->nc[i].n && !rsp_prefix_match(&e->nc[i], eid))
            return false;
        if (e->iin[i].n && !rsp_prefix_match(&e->iin[i], eid))
            return false;
    }
    return true;
}

#define CA_BAD(fmt, ...)                                                                                     \
    do {                                                                                                     \
        rsp_cert_why("%s: " fmt, what, __VA_ARGS__);                                                         \
        return RSP_ST_EUM_CERT_INVALID;                                                                      \
    } while (0)

/* The checks of one CA certificate x of the path, issued by `issuer`, with
 * `below` CA certificates between it and the eUICC. */
static rsp_status ca_verify(path_info *e, size_t i, ca_role role, X509 *issuer, const char *what)
{
    X509 *x = e->ca[i];
    const char *err;
    if ((err = rsp_cert_ext_problem(x)) != NULL)
        CA_BAD("%s", err);
    if (!has_role(x, role))
        CA_BAD("no %s certificate policy", role == ROLE_EUM ? "id-rspRole-eum" : role_name(role));
    if ((err = ca_constraints(x, (long)i)) != NULL)
        CA_BAD("%s", err);
    const uint8_t *ski;
    size_t ski_len;
    if (!rsp_cert_keyid(X509_get0_subject_key_id(x), &ski, &ski_len))
        CA_BAD("%s", "no subjectKeyIdentifier");
    if (rsp_sig_key_curve(X509_get0_pubkey(x)) < 0)
        CA_BAD("%s", "key is not on P-256 or brainpoolP256r1");
    if ((err = rsp_cert_eid_ranges(x, &e->nc[i], &e->iin[i])) != NULL)
        CA_BAD("%s", err);
    if (role == ROLE_EUM && e->nc[i].n == 0 && e->iin[i].n == 0)
        CA_BAD("%s", "no permitted EID range (nameConstraints serialNumber or IIN list)");
    if ((err = rsp_cert_signed_by(x, issuer)) != NULL)
        CA_BAD("%s", err);
    return RSP_OK;
}

/* Dates of the CI and of every CA of the path, for a cached path too. */
static rsp_status path_dates(const path_info *e, time_t now)
{
    /* in the order of a first verification: from the eUICC's issuer up */
    for (size_t i = 0; i < e->n; i++) {
        int v = rsp_cert_validity(e->ca[i], now);
        if (v != RSP_CERT_VALID) {
            rsp_cert_why("%s: %s", i == 0 ? "EUM" : "intermediate", rsp_cert_validity_text(v));
            return v == RSP_CERT_BAD_TIME ? RSP_ST_EUM_CERT_INVALID : RSP_ST_EUM_CERT_EXPIRED;
        }
    }
    int v = rsp_cert_validity(e->ci, now);
    if (v != RSP_CERT_VALID) {
        rsp_cert_why("CI: %s", rsp_cert_validity_text(v));
        return RSP_ST_CI_PK_UNKNOWN;
    }
    return RSP_OK;
}

/* Finds the sent certificate, not used yet, whose SKI is aki and subject the issuer name of x. */
static int find_issuer(X509 *const *sent, size_t n, const bool *used, X509 *x, const uint8_t *aki,
                       size_t aki_len)
{
    for (size_t j = 0; j < n; j++) {
        const uint8_t *ski;
        size_t sl;
        if (!used[j] && rsp_cert_keyid(X509_get0_subject_key_id(sent[j]), &ski, &sl) &&
            rsp_cert_same_bytes(ski, sl, aki, aki_len) &&
            X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(sent[j])) == 0)
            return (int)j;
    }
    return -1;
}

/* Builds and checks the path from sent[0] up to a CI of the store. */
static rsp_status path_verify(const rsp_ci_store *cis, const uint8_t *ci_ski, size_t ci_ski_len,
                              X509 *const *sent, size_t nsent, time_t now, path_info *e)
{
    bool used[RSP_CHAIN_MAX_SENT] = {false};
    size_t cur = 0;
    used[0] = true;
    X509 *ci = NULL;
    const uint8_t *aki = NULL;
    size_t aki_len = 0;
    for (;;) {
        X509 *x = sent[cur];
        const char *what = e->n == 0 ? "EUM" : "intermediate";
        if (e->n == RSP_CHAIN_MAX_DEPTH) {
            rsp_cert_why("chain: more than %d CA certificates below the CI", RSP_CHAIN_MAX_DEPTH);
            return RSP_ST_EUM_CERT_INVALID;
        }
        if (X509_up_ref(x) != 1)
            return RSP_ST_INTERNAL;
        e->ca[e->n++] = x;
        int v = rsp_cert_validity(x, now);
        if (v != RSP_CERT_VALID) {
            rsp_cert_why("%s: %s", what, rsp_cert_validity_text(v));
            return v == RSP_CERT_BAD_TIME ? RSP_ST_EUM_CERT_INVALID : RSP_ST_EUM_CERT_EXPIRED;
        }
        /* The CI comes before the profile: a chain from a foreign CI is reported
         * as an unknown CI whatever else is wrong with it. */
        if (!rsp_cert_keyid(X509_get0_authority_key_id(x), &aki, &aki_len)) {
            rsp_cert_why("%s: no authorityKeyIdentifier", what);
            return RSP_ST_EUM_CERT_INVALID;
        }
        if ((ci = rsp_ci_store_find(cis, aki, aki_len)) != NULL)
            break;
        int j = find_issuer(sent, nsent, used, x, aki, aki_len);
        if (j < 0) {
            rsp_cert_why("%s: issuing CI is not in the trust store", what);
            return RSP_ST_CI_PK_UNKNOWN;
        }
        used[j] = true;
        cur = (size_t)j;
    }
    if (ci_ski != NULL && !rsp_cert_same_bytes(aki, aki_len, ci_ski, ci_ski_len)) {
        rsp_cert_why("chain: issued by a CI other than the one chosen for the session");
        return RSP_ST_CI_PK_UNKNOWN;
    }
    int v = rsp_cert_validity(ci, now);
    if (v != RSP_CERT_VALID) {
        rsp_cert_why("CI: %s", rsp_cert_validity_text(v));
        return RSP_ST_CI_PK_UNKNOWN;
    }

    /* Roles from the eUICC up: [EUM sub-CA,] EUM [, CI sub-CA]. */
    ca_role role[RSP_CHAIN_MAX_DEPTH];
    role[0] = has_role(e->ca[0], ROLE_EUM_SUB) ? ROLE_EUM_SUB : ROLE_EUM;
    for (size_t i = 1; i < e->n; i++)
        role[i] = role[i - 1] == ROLE_EUM_SUB ? ROLE_EUM : role[i - 1] == ROLE_EUM ? ROLE_CI_SUB : ROLE_NONE;
    for (size_t i = e->n; i-- > 0;) {
        if (role[i] == ROLE_NONE) {
            rsp_cert_why("chain: a CA certificate above a CI sub-CA");
            return RSP_ST_EUM_CERT_INVALID;
        }
        char what[24];
        snprintf(what, sizeof(what), "%s", role_name(role[i]));
        rsp_status st = ca_verify(e, i, role[i], i + 1 < e->n ? e->ca[i + 1] : ci, what);
        if (st != RSP_OK)
            return st;
    }
    if (X509_up_ref(ci) != 1)
        return RSP_ST_INTERNAL;
    e->ci = ci;
    memcpy(e->ci_ski, aki, aki_len);
    e->ci_ski_len = aki_len;
    e->issuer.cert = e->ca[0];
    rsp_cert_keyid(X509_get0_subject_key_id(e->ca[0]), &e->issuer.ski, &e->issuer.ski_len);
    if (X509_NAME_get0_der(X509_get_subject_name(e->ca[0]), &e->issuer.subject, &e->issuer.subject_len) !=
        1) {
        rsp_cert_why("EUM: malformed subject");
        return RSP_ST_EUM_CERT_INVALID;
    }
    return RSP_OK;
}

/* ---- EUM cache ---- */

struct rsp_eum_cache {
    pthread_mutex_t lock;
    size_t cap, n, nbuckets;
    path_info **buckets;
    path_info *head, *tail; /* most recently used first */
    atomic_uint_fast64_t hits, misses;
};

rsp_eum_cache *rsp_eum_cache_new(size_t capacity)
{
    if (capacity == 0 || capacity > (SIZE_MAX / 4) / sizeof(path_info *))
        return NULL;
    rsp_eum_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->cap = capacity;
    c->nbuckets = 16;
    while (c->nbuckets < capacity)
        c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (c->buckets == NULL || pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->buckets);
        free(c);
        return NULL;
    }
    atomic_init(&c->hits, 0);
    atomic_init(&c->misses, 0);
    return c;
}

void rsp_eum_cache_free(rsp_eum_cache *c)
{
    if (c == NULL)
        return;
    for (path_info *e = c->head, *next; e != NULL; e = next) {
        next = e->next;
        path_release(e);
    }
    pthread_mutex_destroy(&c->lock);
    free(c->buckets);
    free(c);
}

void rsp_eum_cache_stats(rsp_eum_cache *c, uint64_t *hits, uint64_t *misses)
{
    if (hits)
        *hits = c ? atomic_load(&c->hits) : 0;
    if (misses)
        *misses = c ? atomic_load(&c->misses) : 0;
}

size_t rsp_eum_cache_count(rsp_eum_cache *c)
{
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    size_t n = c->n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

static size_t bucket_of(const rsp_eum_cache *c, const uint8_t hash[32])
{
    uint64_t h;
    memcpy(&h, hash, sizeof(h));
    return (size_t)(h & (c->nbuckets - 1));
}

static void lru_unlink(rsp_eum_cache *c, path_info *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(rsp_eum_cache *c, path_info *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (c->tail == NULL)
        c->tail = e;
}

static path_info *find_locked(rsp_eum_cache *c, const uint8_t hash[32], const uint8_t *ci_ski,
                              size_t ci_ski_len)
{
    for (path_info *e = c->buckets[bucket_of(c, hash)]; e != NULL; e = e->hnext)
        if (memcmp(e->hash, hash, 32) == 0 &&
            (ci_ski == NULL || rsp_cert_same_bytes(e->ci_ski, e->ci_ski_len, ci_ski, ci_ski_len)))
            return e;
    return NULL;
}

/* Returns a referenced entry (release it) or NULL. */
static path_info *cache_get(rsp_eum_cache *c, const uint8_t hash[32], const uint8_t *ci_ski,
                            size_t ci_ski_len)
{
    pthread_mutex_lock(&c->lock);
    path_info *e = find_locked(c, hash, ci_ski, ci_ski_len);
    if (e != NULL) {
        lru_unlink(c, e);
        lru_push(c, e);
        atomic_fetch_add(&e->refs, 1);
    }
    pthread_mutex_unlock(&c->lock);
    return e;
}

/* Removes e from the bucket chain and the LRU list (lock held). */
static void cache_unlink(rsp_eum_cache *c, path_info *e)
{
    path_info **pp = &c->buckets[bucket_of(c, e->hash)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->hnext = NULL;
    lru_unlink(c, e);
    c->n--;
}

/* Inserts e (taking a reference for the cache).  An entry for the same EUM
 * and CI is replaced: it was verified against a CI certificate no longer in
 * the caller's store, or by a concurrent thread. */
static void cache_put(rsp_eum_cache *c, path_info *e)
{
    path_info *old, *victim = NULL;
    pthread_mutex_lock(&c->lock);
    old = find_locked(c, e->hash, e->ci_ski, e->ci_ski_len);
    if (old != NULL)
        cache_unlink(c, old);
    atomic_fetch_add(&e->refs, 1);
    path_info **b = &c->buckets[bucket_of(c, e->hash)];
    e->hnext = *b;
    *b = e;
    lru_push(c, e);
    if (++c->n > c->cap) {
        victim = c->tail;
        cache_unlink(c, victim);
    }
    pthread_mutex_unlock(&c->lock);
    path_release(old);
    path_release(victim);
}

/* A cached EUM is only as good as its CI: it must still be the same
 * certificate in the store the caller passes now. */
static bool cached_ci_current(const rsp_ci_store *cis, const path_info *e)
{
    X509 *ci = rsp_ci_store_find(cis, e->ci_ski, e->ci_ski_len);
    return ci != NULL && X509_cmp(ci, e->ci) == 0;
}

/* ---- server certificates (CERT.DSauth / DPauth / DPpb and TLS) ---- */

static const uint8_t oid_dp_sub[] = {RSP_ROLE_ARC, 0x00, 0x00, 0x01};
static const uint8_t oid_ds_sub[] = {RSP_ROLE_ARC, 0x00, 0x00, 0x02};

const char *rsp_server_path_problem(const rsp_ci_store *cis, X509 *leaf, X509 *const *inter, size_t n,
                                    int family, time_t now, bool *unknown_ci)
{
    static const rsp_oid_rule dp_sub[] = {RSP_RULE(oid_dp_sub, false)},
                              ds_sub[] = {RSP_RULE(oid_ds_sub, false)};
    const rsp_oid_rule *role_sub = family == RSP_PEER_DS ? ds_sub : dp_sub;
    static _Thread_local char why_buf[160];
    *unknown_ci = false;
    X509 *cur = leaf;
    bool used[8] = {false};
    /* above the leaf: [role sub-CA] [CI sub-CA] CI */
    for (size_t depth = 0;; depth++) {
        X509 *ci = rsp_cert_issuing_ci(cis, cur);
        if (ci != NULL && X509_NAME_cmp(X509_get_issuer_name(cur), X509_get_subject_name(ci)) == 0) {
            const char *err = rsp_cert_signed_by(cur, ci);
            if (err == NULL && depth > 0 && (err = ca_constraints(ci, (long)depth)) != NULL)
                return err;
            int v = rsp_cert_validity(ci, now);
            return err ? err : v == RSP_CERT_VALID ? NULL : "issuing CI is not valid now";
        }
        const uint8_t *aki;
        size_t aki_len;
        if (depth == 2 || !rsp_cert_keyid(X509_get0_authority_key_id(cur), &aki, &aki_len)) {
            *unknown_ci = true;
            return "issuing CI is not in the trust store";
        }
        int j = find_issuer(inter, n < 8 ? n : 8, used, cur, aki, aki_len);
        if (j < 0) {
            *unknown_ci = true;
            return "issuer is neither a CI in the trust store nor in the chain";
        }
        used[j] = true;
        X509 *ca = inter[j];
        bool is_role_sub = rsp_cert_policy_match(ca, role_sub, 1) >= 0;
        bool is_ci_sub = rsp_cert_policy_match(ca, rules_ci_sub, 1) >= 0;
        const char *err = NULL;
        int v = rsp_cert_validity(ca, now);
        if (v != RSP_CERT_VALID)
            err = rsp_cert_validity_text(v);
        else if ((err = rsp_cert_ext_problem(ca)) == NULL && !(is_ci_sub || (is_role_sub && depth == 0)))
            err = family == RSP_PEER_DS ? "not a CI sub-CA or SM-DS sub-CA (policy, or out of place)"
                                        : "not a CI sub-CA or SM-DP+ sub-CA (policy, or out of place)";
        if (err == NULL)
            err = ca_constraints(ca, (long)depth);
        if (err == NULL)
            err = rsp_cert_signed_by(cur, ca);
        if (err != NULL) {
            snprintf(why_buf, sizeof(why_buf), "intermediate: %s", err);
            return why_buf;
        }
        cur = ca;
    }
}

/* v2 role OIDs and their v3 counterparts (rsp/chain.h) with the family of sub-CAs above them. */
static const struct {
    const char *v2, *v3;
    int family;
} server_roles[] = {
    {RSP_OID_ROLE_DP_AUTH, RSP_OID_ROLE_DP_AUTH_V3, RSP_PEER_DP},
    {RSP_OID_ROLE_DP_PB, RSP_OID_ROLE_DP_PB_V3, RSP_PEER_DP},
    {RSP_OID_ROLE_DP_TLS, RSP_OID_ROLE_DP_TLS_V3, RSP_PEER_DP},
    {RSP_OID_ROLE_DS_AUTH, RSP_OID_ROLE_DS_AUTH_V3, RSP_PEER_DS},
    {RSP_OID_ROLE_DS_TLS, RSP_OID_ROLE_DS_TLS_V3, RSP_PEER_DS},
};

int rsp_verify_server_chain(const rsp_ci_store *cis, X509 *cert, X509 *const *inter, size_t n,
                            const char *role_oid, time_t now, EVP_PKEY **pub_out)
{
    rsp_cert_why_reset();
    if (pub_out)
        *pub_out = NULL;
    size_t r = 0;
    while (role_oid && r < sizeof(server_roles) / sizeof(server_roles[0]) &&
           strcmp(server_roles[r].v2, role_oid))
        r++;
    if (cis == NULL || cert == NULL || r == sizeof(server_roles) / sizeof(server_roles[0])) {
        rsp_cert_why("bad arguments");
        return -1;
    }
    const char *err = rsp_cert_leaf_problem(cert, now);
    ASN1_OBJECT *o2 = OBJ_txt2obj(server_roles[r].v2, 1), *o3 = OBJ_txt2obj(server_roles[r].v3, 1);
    if (err == NULL && (!o2 || !o3))
        err = "out of memory";
    if (err == NULL) {
        rsp_oid_rule rules[2] = {{OBJ_get0_data(o2), (size_t)OBJ_length(o2), false},
                                 {OBJ_get0_data(o3), (size_t)OBJ_length(o3), false}};
        if (rsp_cert_policy_match(cert, rules, 2) < 0)
            err = "no role certificate policy (v2 or v3)";
    }
    ASN1_OBJECT_free(o2);
    ASN1_OBJECT_free(o3);
    bool unknown;
    if (err == NULL)
        err = rsp_server_path_problem(cis, cert, inter, n, server_roles[r].family, now, &unknown);
    if (err == NULL && pub_out != NULL) {
        EVP_PKEY *k = X509_get0_pubkey(cert);
        if (EVP_PKEY_up_ref(k) != 1)
            err = "out of memory";
        else
            *pub_out = k;
    }
    ERR_clear_error();
    if (err == NULL)
        return 0;
    rsp_cert_why("server certificate (%s): %s", role_oid, err);
    return -1;
}

int rsp_verify_server_cert(const rsp_ci_store *cis, X509 *cert, const char *role_oid, time_t now,
                           EVP_PKEY **pub_out)
{
    return rsp_verify_server_chain(cis, cert, NULL, 0, role_oid, now, pub_out);
}

int rsp_server_cred_chain(const rsp_ci_store *cis, const char *cert_path, X509 *cert, const char *role_oid,
                          time_t now, uint8_t **others, size_t *others_len, const uint8_t **ci_ski,
                          size_t *ci_ski_len)
{
    enum { MAX_INTER = 2 };
    X509 *inter[MAX_INTER + 1] = {NULL};
    size_t n = 0;
    *others = NULL;
    *others_len = 0;
    FILE *f = fopen(cert_path, "rb");
    if (f) {
        X509 *x = PEM_read_X509(f, NULL, NULL, NULL); /* the certificate itself */
        bool pem = x != NULL;
        X509_free(x);
        while (pem && n <= MAX_INTER && (inter[n] = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
            n++;
        fclose(f);
        ERR_clear_error();
    }
    int rc = -1;
    uint8_t *der = NULL;
    if (n > MAX_INTER) {
        rsp_cert_why("%s: more than %d intermediate certificates", cert_path, MAX_INTER);
        goto out;
    }
    if (rsp_verify_server_chain(cis, cert, inter, n, role_oid, now, NULL) != 0)
        goto out;
    X509 *ci = rsp_cert_issuing_ci(cis, n ? inter[n - 1] : cert);
    if (ci == NULL || rsp_cert_ski(ci, ci_ski, ci_ski_len) != 0) {
        rsp_cert_why("%s: the intermediates are not in order (the certificate, then upward)", cert_path);
        goto out;
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)i2d_X509(inter[i], NULL);
    if (n) {
        /* SEQUENCE OF Certificate: 30 82 hi lo || each DER */
        if (len > 0xFFFF || !(der = malloc(4 + len)))
            goto out;
        der[0] = 0x30, der[1] = 0x82, der[2] = (uint8_t)(len >> 8), der[3] = (uint8_t)len;
        uint8_t *p = der + 4;
        for (size_t i = 0; i < n; i++)
            i2d_X509(inter[i], &p);
        if (len < 128) { /* minimal DER length */
            memmove(der + 2, der + 4, len);
            der[1] = (uint8_t)len;
            *others_len = 2 + len;
        } else if (len < 256) {
            memmove(der + 3, der + 4, len);
            der[1] = 0x81, der[2] = (uint8_t)len;
            *others_len = 3 + len;
        } else {
            *others_len = 4 + len;
        }
        *others = der;
        der = NULL;
    }
    rc = 0;
out:
    free(der);
    for (size_t i = 0; i < n && i <= MAX_INTER; i++)
        X509_free(inter[i]);
    ERR_clear_error();
    return rc;
}

/* ---- revocation ---- */

/* Each CA of the path against the CRLs of its issuer (the CI for the top one). */
static rsp_status path_revocation(const rsp_ci_store *cis, const path_info *e, time_t now)
{
    for (size_t i = e->n; cis->crls && i-- > 0;) {
        X509 *issuer = i + 1 < e->n ? e->ca[i + 1] : e->ci;
        int st = rsp_crl_status(cis->crls, issuer, X509_get0_serialNumber(e->ca[i]), now);
        if (st == RSP_CRL_REVOKED)
            return RSP_ST_EUM_CERT_EXPIRED;
        if (st == RSP_CRL_UNKNOWN)
            return RSP_ST_EUM_CERT_INVALID;
    }
    return RSP_OK;
}

/* The eUICC certificate against the CRLs of its issuer; it is decoded only when there are some. */
static rsp_status euicc_revocation(const rsp_ci_store *cis, const path_info *e, const uint8_t *der,
                                   size_t len, time_t now)
{
    if (!cis->crls || !rsp_crl_covers(cis->crls, e->issuer.cert))
        return RSP_OK;
    X509 *x = rsp_cert_parse_exact(der, len);
    int st = x ? rsp_crl_status(cis->crls, e->issuer.cert, X509_get0_serialNumber(x), now) : RSP_CRL_UNKNOWN;
    X509_free(x);
    if (st == RSP_CRL_GOOD)
        return RSP_OK;
    return st == RSP_CRL_REVOKED ? RSP_ST_EUICC_CERT_EXPIRED : RSP_ST_EUM_CERT_INVALID;
}

/* ---- the eUICC chain ---- */

/* SHA-256 over each sent intermediate as 4-byte length || DER, in order. */
static int chain_hash(const rsp_der *chain, size_t n, uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, rsp_sig_sha256(), NULL) == 1;
    for (size_t i = 0; i < n && ok; i++) {
        uint8_t len[4] = {(uint8_t)(chain[i].len >> 24), (uint8_t)(chain[i].len >> 16),
                          (uint8_t)(chain[i].len >> 8), (uint8_t)chain[i].len};
        ok = EVP_DigestUpdate(ctx, len, 4) == 1 && EVP_DigestUpdate(ctx, chain[i].p, chain[i].len) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(ctx, out, NULL) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* Parses the sent intermediates and verifies the path (a new, referenced entry in *res). */
static rsp_status path_new(const rsp_ci_store *cis, const uint8_t *ci_ski, size_t ci_ski_len,
                           const rsp_der *chain, size_t nchain, time_t now, path_info **res)
{
    X509 *sent[RSP_CHAIN_MAX_SENT] = {NULL};
    rsp_status st = RSP_OK;
    path_info *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        rsp_cert_why("out of memory");
        return RSP_ST_INTERNAL;
    }
    atomic_init(&e->refs, 1);
    for (size_t i = 0; i < nchain && st == RSP_OK; i++) {
        if ((sent[i] = rsp_cert_parse_exact(chain[i].p, chain[i].len)) == NULL) {
            rsp_cert_why("%s: not a single DER certificate", i == 0 ? "EUM" : "otherCertsInChain");
            st = RSP_ST_EUM_CERT_INVALID;
        }
    }
    if (st == RSP_OK)
        st = path_verify(cis, ci_ski, ci_ski_len, sent, nchain, now, e);
    for (size_t i = 0; i < nchain; i++)
        X509_free(sent[i]);
    if (st != RSP_OK) {
        path_release(e);
        e = NULL;
    }
    *res = e;
    return st;
}

rsp_status rsp_verify_euicc_path(const rsp_ci_store *cis, rsp_eum_cache *cache, const uint8_t *ci_ski,
                                 size_t ci_ski_len, const rsp_der *chain, size_t nchain,
                                 const uint8_t *euicc_der, size_t euicc_len, time_t now,
                                 rsp_euicc_identity *out)
{
    rsp_cert_why_reset();
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (cis == NULL || out == NULL || (nchain && chain == NULL)) {
        rsp_cert_why("bad arguments");
        return RSP_ST_INTERNAL;
    }
    if (nchain == 0 || chain[0].p == NULL) {
        rsp_cert_why("EUM: not a single DER certificate");
        return RSP_ST_EUM_CERT_INVALID;
    }
    if (nchain > RSP_CHAIN_MAX_SENT) {
        rsp_cert_why("chain: more than %d intermediate certificates sent", RSP_CHAIN_MAX_SENT);
        return RSP_ST_EUM_CERT_INVALID;
    }
    if (ci_ski != NULL && (ci_ski_len == 0 || ci_ski_len > RSP_SKI_MAX)) {
        rsp_cert_why("chosen CI key identifier has a bad length");
        return RSP_ST_CI_PK_UNKNOWN;
    }
    rsp_status st;
    path_info *e = NULL;
    uint8_t hash[32];
    if (cache != NULL) {
        if (chain_hash(chain, nchain, hash) != 0) {
            rsp_cert_why("SHA-256 failed");
            return RSP_ST_INTERNAL;
        }
        e = cache_get(cache, hash, ci_ski, ci_ski_len);
        if (e != NULL && !cached_ci_current(cis, e)) {
            path_release(e);
            e = NULL;
        }
        atomic_fetch_add(e ? &cache->hits : &cache->misses, 1);
        /* Time moves on: a cached path may have expired since. */
        if (e != NULL && (st = path_dates(e, now)) != RSP_OK) {
            path_release(e);
            return st;
        }
    }
    if (e == NULL) {
        st = path_new(cis, ci_ski, ci_ski_len, chain, nchain, now, &e);
        if (st != RSP_OK) {
            ERR_clear_error();
            return st;
        }
        if (cache != NULL) {
            memcpy(e->hash, hash, sizeof(hash));
            cache_put(cache, e);
        }
    }
    /* revocation: on every call, a cached path included (the CRLs move on) */
    if ((st = path_revocation(cis, e, now)) != RSP_OK) {
        path_release(e);
        ERR_clear_error();
        return st;
    }
    st = rsp_cert_euicc_verify(&e->issuer, euicc_der, euicc_len, now, out);
    if (st == RSP_OK && !eid_permitted(e, out->eid)) {
        rsp_cert_why("eUICC: EID %s outside the EUM's permitted range", out->eid);
        st = RSP_ST_EUICC_CERT_INVALID;
    }
    if (st == RSP_OK)
        st = euicc_revocation(cis, e, euicc_der, euicc_len, now);
    if (st != RSP_OK)
        rsp_euicc_identity_clear(out);
    path_release(e);
    if (st != RSP_OK)
        ERR_clear_error();
    return st;
}

rsp_status rsp_verify_euicc_chain(const rsp_ci_store *cis, rsp_eum_cache *cache, const uint8_t *ci_ski,
                                  size_t ci_ski_len, const uint8_t *eum_der, size_t eum_len,
                                  const uint8_t *euicc_der, size_t euicc_len, time_t now,
                                  rsp_euicc_identity *out)
{
    rsp_der eum = {eum_der, eum_len};
    return rsp_verify_euicc_path(cis, cache, ci_ski, ci_ski_len, &eum, 1, euicc_der, euicc_len, now, out);
}

void rsp_euicc_identity_clear(rsp_euicc_identity *id)
{
    if (id == NULL)
        return;
    EVP_PKEY_free(id->pub);
    memset(id, 0, sizeof(*id));
}
