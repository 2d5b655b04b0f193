#include "smdp_default/smdp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smdp_default/testutil.h"
#include "tests/unit/ut.h"

static fx g;

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static void test_trust_and_oid(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    smdp_trust *t = smdp_trust_get(g.x);
    UT_CHECK(!strcmp(t->oid, PKI_DEFAULT_DP_RID));
    /* 2.999.10 -> 88 37 0A */
    UT_EQ(t->oid_der_len, 3);
    UT_CHECK(t->oid_der[0] == 0x88 && t->oid_der[1] == 0x37 && t->oid_der[2] == 0x0A);
    UT_EQ(t->nauth, 1);
    UT_EQ(t->npb, 1);
    UT_CHECK(smdp_cred_for_ci(t->pb, t->npb, t->auth[0].ci_ski, t->auth[0].ci_ski_len) == &t->pb[0]);
    UT_CHECK(smdp_cred_for_ci(t->pb, t->npb, (const uint8_t *)"x", 1) == NULL);
    char op[SMDP_OWNER_MAX + 1];
    /* without an operators file the CN is the operator */
    UT_EQ(smdp_operator_of(t, "anyone", op), 0);
    UT_CHECK(!strcmp(op, "anyone"));
    UT_EQ(smdp_operator_of(t, "", op), -1);
    UT_EQ(smdp_operator_of(t, NULL, op), -1);
    smdp_trust_put(t);
    fx_clear(&g);
}

static void test_operators_file_and_reload(void)
{
    static const char ops[] =
        "; operators\n[acme]\ncn = a.example, b.example\n"
        "notify_url = https://es2.acme.example/n\nnotify_ca = /x/ca.pem\n[beta]\ncn = c.example\n";
    fx_opts o = {.operators_ini = ops};
    UT_EQ(fx_init(&g, &o), 0);
    smdp_trust *t = smdp_trust_get(g.x);
    char op[SMDP_OWNER_MAX + 1];
    UT_EQ(smdp_operator_of(t, "b.example", op), 0);
    UT_CHECK(!strcmp(op, "acme"));
    UT_EQ(smdp_operator_of(t, "c.example", op), 0);
    UT_CHECK(!strcmp(op, "beta"));
    UT_EQ(smdp_operator_of(t, "d.example", op), -1);
    const smdp_operator *a = smdp_operator_find(t, "acme");
    UT_CHECK(a && !strcmp(a->notify_url, "https://es2.acme.example/n") && !strcmp(a->notify_ca, "/x/ca.pem"));
    UT_CHECK(smdp_operator_find(t, "beta") && !smdp_operator_find(t, "beta")->notify_url[0]);
    smdp_trust_put(t);

    char path[600], err[256];
    snprintf(path, sizeof(path), "%s/operators.ini", g.dir);
    /* broken files are refused and the previous set stays */
    static const char *const broken[] = {
        "[acme]\ncolour = blue\n",                          /* unknown key */
        "[acme]\nnotify_url = http://plain.example/\n",     /* not https */
        "[a]\ncn = same.example\n[b]\ncn = same.example\n", /* a CN for two operators */
        "cn = before.any.section\n",                        /* no section */
    };
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        UT_EQ(write_file(path, broken[i]), 0);
        err[0] = '\0';
        UT_EQ(smdp_reload(g.x, err, sizeof(err)), -1);
        UT_CHECK(strstr(err, "operators file") != NULL);
    }
    t = smdp_trust_get(g.x);
    UT_EQ(smdp_operator_of(t, "a.example", op), 0);
    smdp_trust_put(t);
    /* a good file replaces it; references taken before stay valid */
    smdp_trust *old = smdp_trust_get(g.x);
    UT_EQ(write_file(path, "[gamma]\ncn = a.example\n"), 0);
    UT_EQ(smdp_reload(g.x, err, sizeof(err)), 0);
    t = smdp_trust_get(g.x);
    UT_EQ(smdp_operator_of(t, "a.example", op), 0);
    UT_CHECK(!strcmp(op, "gamma"));
    UT_EQ(smdp_operator_of(old, "a.example", op), 0);
    UT_CHECK(!strcmp(op, "acme"));
    smdp_trust_put(old);
    smdp_trust_put(t);
    /* a missing file too */
    unlink(path);
    UT_EQ(smdp_reload(g.x, err, sizeof(err)), -1);
    fx_clear(&g);
}

static void test_config_errors(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    char ci[600], ac[600], ak[600], pc[600], pk[600], store[600], mk[600], sec[600];
    snprintf(ci, sizeof(ci), "%s/ci.pem", g.dir);
    snprintf(ac, sizeof(ac), "%s/dpauth.pem", g.dir);
    snprintf(ak, sizeof(ak), "%s/dpauth.key.pem", g.dir);
    snprintf(pc, sizeof(pc), "%s/dppb.pem", g.dir);
    snprintf(pk, sizeof(pk), "%s/dppb.key.pem", g.dir);
    snprintf(store, sizeof(store), "%s/other", g.dir);
    snprintf(mk, sizeof(mk), "%s/other.key", g.dir);
    snprintf(sec, sizeof(sec), "%s/other.secret", g.dir);
    const char *cis[] = {ci}, *acs[] = {ac}, *aks[] = {ak}, *pcs[] = {pc}, *pks[] = {pk};
    smdp_config base = {.fqdn = FX_FQDN,
                        .ci_files = cis,
                        .n_ci_files = 1,
                        .auth_certs = acs,
                        .auth_keys = aks,
                        .n_auth = 1,
                        .pb_certs = pcs,
                        .pb_keys = pks,
                        .n_pb = 1,
                        .store_dir = store,
                        .master_key_file = mk,
                        .txn_secret_file = sec,
                        .create_secrets = 1,
                        .orders = {.db = {.env_flags = MDB_NOSYNC}}};
    char err[256];
    smdp_config c = base;
    c.fqdn = "";
    UT_CHECK(smdp_new(&c, err, sizeof(err)) == NULL);
    c = base;
    c.pb_certs = acs; /* CERT.DPauth where CERT.DPpb belongs */
    c.pb_keys = aks;
    UT_CHECK(smdp_new(&c, err, sizeof(err)) == NULL);
    UT_CHECK(strstr(err, "CERT.DPpb") != NULL);
    c = base;
    c.n_pb = 0; /* CERT.DPauth without a CERT.DPpb under its CI */
    UT_CHECK(smdp_new(&c, err, sizeof(err)) == NULL);
    c = base;
    c.auth_keys = pks; /* a key of another certificate */
    UT_CHECK(smdp_new(&c, err, sizeof(err)) == NULL);
    UT_CHECK(strstr(err, "does not match") != NULL);
    c = base;
    c.host_id = "seventeen-octets!";
    UT_CHECK(smdp_new(&c, err, sizeof(err)) == NULL);
    c = base;
    c.operators_file = "/nonexistent/operators.ini";
    UT_CHECK(smdp_new(&c, err, sizeof(err)) == NULL);
    /* and the base works */
    smdp_t *x = smdp_new(&base, err, sizeof(err));
    UT_CHECK(x != NULL);
    smdp_free(x);
    fx_clear(&g);
}

static void test_smds_usable(void)
{
    static const char *const allowed[] = {"ds.example"};
    fx_opts o = {.smds_allowed = allowed, .n_smds_allowed = 1};
    UT_EQ(fx_init(&g, &o), 0);
    uint64_t now = (uint64_t)time(NULL);
    UT_CHECK(smdp_smds_usable(g.x, "ds.example", now));
    UT_CHECK(smdp_smds_usable(g.x, "DS.Example", now));
    UT_CHECK(!smdp_smds_usable(g.x, "other.example", now));
    UT_CHECK(!smdp_smds_usable(g.x, "", now));
    UT_CHECK(!smdp_smds_usable(g.x, NULL, now));
    fx_clear(&g);
    UT_EQ(fx_init(&g, NULL), 0);
    UT_CHECK(smdp_smds_usable(g.x, "any.example:8444", now));
    UT_CHECK(!smdp_smds_usable(g.x, "user@any.example", now));
    UT_CHECK(!smdp_smds_usable(g.x, "any.example/path", now));
    UT_CHECK(!smdp_smds_usable(g.x, "-x.example", now));
    fx_clear(&g);
}

static void test_expiry_sweep(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    UT_EQ(fx_download_order(&g, PKI_SGP26_EID, g.iccid[0], NULL, NULL), RSP_OK);
    UT_EQ(fx_confirm(&g, g.iccid[0], true, ",\"smdsAddress\":\"ds.example\"", NULL), RSP_OK);
    uint64_t now = (uint64_t)time(NULL);
    UT_EQ(smdp_expire_orders(g.x, now), 0);
    UT_EQ(smdp_expire_orders(g.x, now + 31u * 24 * 3600), 1);
    UT_EQ(smdp_expire_orders(g.x, now + 32u * 24 * 3600), 0);
    UT_EQ(fx_outbox_count(&g, SMDP_OB_REGISTER_EVENT), 1);
    UT_EQ(fx_outbox_count(&g, SMDP_OB_DELETE_EVENT), 1);
    /* the threads start and stop cleanly */
    UT_EQ(smdp_start(g.x), 0);
    fx_clear(&g);
}

int main(void)
{
    UT_RUN(test_trust_and_oid);
    UT_RUN(test_operators_file_and_reload);
    UT_RUN(test_config_errors);
    UT_RUN(test_smds_usable);
    UT_RUN(test_expiry_sweep);
    return ut_finish();
}
