#include "smds/testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "smds/store_testutil.h"
#include "tools/lpasim/lpa.h"

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
