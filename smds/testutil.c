#include "smds/testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "smds/store_testutil.h"
#include "tools/lpasim/lpa.h"
#include "tools/lpasim/testserver.h"
#include "tools/pki/pki.h"

const char *tu_dir(const char *name)
{
    static char dir[1024];
    const char *tmp = getenv("TEST_TMPDIR");
    snprintf(dir, sizeof(dir), "%s/%s", tmp ? tmp : "/tmp", name);
    if (tu_sh("rm -rf '%s' && mkdir -p '%s'", dir, dir) != 0)
        fprintf(stderr, "cannot create %s\n", dir);
    return dir;
}

int tu_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

int tu_pki(const char *rsp_pki, const char *dir)
{
    if (tu_sh("'%s' init --out '%s' --curve both >/dev/null", rsp_pki, dir) != 0) {
        fprintf(stderr, "rsp-pki init failed\n");
        return -1;
    }
    return 0;
}

smds_config *tu_config(const char *pki_dir, const char *state_dir, bool nist_only)
{
    static char ci[2][1024], cert[2][1024], key[2][1024], events[1024], secret[1024];
    static const char *cis[2], *certs[2], *keys[2];
    static smds_config cfg;
    const char *curves[2] = {"nist", "brainpool"};
    for (int i = 0; i < 2; i++) {
        snprintf(ci[i], sizeof(ci[i]), "%s/%s/ci/ci.pem", pki_dir, curves[i]);
        snprintf(cert[i], sizeof(cert[i]), "%s/%s/smds/dsauth.pem", pki_dir, curves[i]);
        snprintf(key[i], sizeof(key[i]), "%s/%s/smds/dsauth.key.pem", pki_dir, curves[i]);
        cis[i] = ci[i];
        certs[i] = cert[i];
        keys[i] = key[i];
    }
    snprintf(events, sizeof(events), "%s/events", state_dir);
    snprintf(secret, sizeof(secret), "%s/txn.secret", state_dir);
    size_t n = nist_only ? 1 : 2;
    cfg = (smds_config){
        .fqdn = TU_FQDN,
        .ci_files = cis,
        .n_ci_files = n,
        .auth_certs = certs,
        .auth_keys = keys,
        .n_auth = n,
        .store_dir = events,
        .txn_secret_file = secret,
        .create_secrets = 1,
        .txn_ttl = 300,
    };
    tu_store_apply_dir(&cfg.store, state_dir);
    return &cfg;
}

smds_t *tu_new(const smds_config *cfg, const char *what)
{
    char err[512];
    smds_t *x = smds_new(cfg, err, sizeof(err));
    if (!x)
        fprintf(stderr, "%s: smds_new: %s\n", what, err);
    return x;
}

smds_t *tu_smds(const char *pki_dir, const char *state_dir, const char *secret_file,
                const smds_root_config *root, const smds_store_config *store)
{
    smds_config *cfg = tu_config(pki_dir, state_dir, false);
    if (secret_file)
        cfg->txn_secret_file = secret_file;
    cfg->root = root;
    if (store) {
        cfg->store = *store;
        tu_store_apply_dir(&cfg->store, state_dir);
    }
    return tu_new(cfg, "tu_smds");
}

rsp_json_doc *tu_doc(rsp_arena *a, const char *json)
{
    rsp_json_doc *doc = NULL;
    rsp_json_err err;
    if (rsp_json_doc_parse(a, json, strlen(json), NULL, &doc, &err) != RSP_OK)
        return NULL;
    return doc;
}

int tu_euicc_authenticate(euicc *e, const smds_es11_init_result *r, const char *address,
                          const char *matching_id, der_writer *resp)
{
    lpa_response ia;
    memset(&ia, 0, sizeof(ia));
    ia.server_signed1.data = r->server_signed1;
    ia.server_signed1.len = r->server_signed1_len;
    ia.server_signature1.data = r->signature;
    ia.server_signature1.len = sizeof(r->signature);
    ia.ci_pkid.data = r->ci_pkid;
    ia.ci_pkid.len = r->ci_pkid_len;
    ia.server_certificate.data = r->auth->der;
    ia.server_certificate.len = r->auth->der_len;
    ia.other_certs.data = r->auth->others;
    ia.other_certs.len = r->auth->others_len;
    der_writer req;
    der_w_init(&req);
    euicc_error err = {.detail = "cannot build the AuthenticateServerRequest"};
    lpa_build_authenticate_server(NULL, &ia, matching_id, &req);
    int rc = der_w_finish(&req) == 0 ? euicc_authenticate_server(e, req.buf, req.len, address, resp, &err)
                                     : EUICC_ESYS;
    der_w_free(&req);
    if (rc != EUICC_ESYS && der_w_finish(resp) != 0) {
        rc = EUICC_ESYS;
        snprintf(err.detail, sizeof(err.detail), "cannot finish the AuthenticateServerResponse");
    }
    if (rc != EUICC_OK)
        fprintf(stderr, "eUICC AuthenticateServer: %s: %s\n", euicc_strerror(rc), err.detail);
    return rc;
}

int tu_pki_nist_inproc(const char *dir, euicc **card)
{
    char ci_dir[1100], smds_dir[1100];
    snprintf(ci_dir, sizeof(ci_dir), "%s/nist", dir);
    mkdir(ci_dir, 0700);
    snprintf(ci_dir, sizeof(ci_dir), "%s/nist/ci", dir);
    snprintf(smds_dir, sizeof(smds_dir), "%s/nist/smds", dir);
    ts_pki pki;
    if (ts_pki_init(&pki, PKI_CURVE_NIST) != 0)
        return -1;
    *card = ts_make_euicc(&pki);
    int rc = *card && mkdir(ci_dir, 0700) == 0 && mkdir(smds_dir, 0700) == 0 &&
                     pki_write_cred(ci_dir, "ci", &pki.ci) == 0 &&
                     pki_write_cred(smds_dir, "dsauth", &pki.dsauth) == 0
                 ? 0
                 : -1;
    ts_pki_clear(&pki);
    return rc;
}

int tu_transaction(smds_t *x, euicc *card, rsp_arena *a, const char *matching_id, uint8_t tid[16],
                   der_writer *bf38)
{
    uint8_t challenge[16];
    der_writer info1;
    der_w_init(bf38);
    der_w_init(&info1);
    if (euicc_get_challenge(card, challenge) != 0 || euicc_get_info1(card, &info1) != 0 ||
        der_w_finish(&info1) != 0) {
        der_w_free(&info1);
        return -1;
    }
    char *body = lpa_json_initiate_auth(challenge, info1.buf, info1.len, TU_FQDN, false);
    der_w_free(&info1);
    rsp_json_doc *doc;
    rsp_json_err jerr;
    smds_es11_init_result r;
    smds_msg msg = {0};
    /* the document points into body */
    rsp_status st = body ? rsp_json_doc_parse(a, body, strlen(body), NULL, &doc, &jerr) : RSP_ST_INTERNAL;
    if (st == RSP_OK)
        st = smds_es11_initiate(x, a, doc, time(NULL), &r, &msg);
    free(body);
    if (st != RSP_OK)
        return -1;
    int rc = tu_euicc_authenticate(card, &r, TU_FQDN, matching_id, bf38);
    memcpy(tid, r.tid, 16);
    smds_es11_init_result_clear(&r);
    return rc;
}
