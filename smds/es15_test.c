/*
 * The ES15 cascade in one process: a Root SM-DS served over real mutual TLS (rsp/http + smds/server),
 * an Alternative SM-DS whose ES15 client (libcurl) registers and deletes events there.
 */
#include "smds/es15.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rsp/http.h"
#include "smds/es12.h"
#include "smds/server.h"
#include "smds/testutil.h"
#include "tests/unit/ut.h"

#define EID "89049032123451234512345678901235"
#define ALT_FQDN "alt.example.com"

static char pki[1024], alt_tls[1100];
static smds_t *root, *alt;
static rsp_http_server_t *srv;
static uint16_t root_port;

static const char *dp_dns[] = {"smdp1.example.com"};
static const smds_caller dp = {RSP_PEER_DP, "2.999.10", dp_dns, 1};

static int root_peer_check(void *ctx, X509 *leaf, STACK_OF(X509) * chain, void **identity)
{
    return smds_peer_check(ctx, leaf, chain, identity);
}

static int start_root(const char *const *peers, size_t npeers)
{
    char ci[1200], tls[1200], tlskey[1200], err[512];
    snprintf(ci, sizeof(ci), "%s/nist/ci/ci.pem", pki);
    snprintf(tls, sizeof(tls), "%s/nist/smds/dstls.pem", pki);
    snprintf(tlskey, sizeof(tlskey), "%s/nist/smds/dstls.key.pem", pki);
    smds_config *cfg = tu_config(pki, tu_dir(npeers ? "es15_root_peers" : "es15_root"), true);
    cfg->es15_peers = peers;
    cfg->n_es15_peers = npeers;
    if (!(root = tu_new(cfg, "root")))
        return -1;
    rsp_http_server_config_t hc = {.workers = 2, .drain_timeout_ms = 2000};
    srv = rsp_http_server_new(&hc);
    rsp_http_listener_config_t dev = {.name = "device", .port = 0, .plain = 1};
    const char *cas[] = {ci};
    rsp_http_listener_config_t s2s = {.name = "s2s",
                                      .port = 0,
                                      .cert_file = tls,
                                      .key_file = tlskey,
                                      .client_auth = RSP_HTTP_CLIENT_CERT_REQUIRED,
                                      .client_ca_files = cas,
                                      .n_client_ca_files = 1,
                                      .peer_check = root_peer_check,
                                      .peer_free = smds_peer_free,
                                      .peer_ctx = root};
    int d = rsp_http_listener_add(srv, &dev, err, sizeof(err));
    int s = d < 0 ? -1 : rsp_http_listener_add(srv, &s2s, err, sizeof(err));
    if (s < 0 || smds_server_routes(srv, d, s, root, false) != 0 ||
        rsp_http_server_start(srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "root server: %s\n", err);
        return -1;
    }
    root_port = rsp_http_listener_port(srv, s);
    return 0;
}

static void stop_root(void)
{
    if (srv) {
        rsp_http_server_stop(srv);
        rsp_http_server_wait(srv);
        rsp_http_server_free(srv);
        srv = NULL;
    }
    smds_free(root);
    root = NULL;
}

static int start_alt(const char *name)
{
    char addr[64], ccert[1200], ckey[1200];
    smds_config *cfg = tu_config(pki, tu_dir(name), true);
    snprintf(ccert, sizeof(ccert), "%s.pem", alt_tls);
    snprintf(ckey, sizeof(ckey), "%s.key.pem", alt_tls);
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)root_port);
    smds_root_config rc = {.address = addr,
                           .cert = ccert,
                           .key = ckey,
                           .ca = cfg->ci_files[0],
                           .requester = ALT_FQDN,
                           .threads = 2,
                           .timeout_ms = 3000};
    cfg->fqdn = ALT_FQDN;
    cfg->root = &rc;
    return (alt = tu_new(cfg, "alt")) ? 0 : -1;
}

static smds_event event(const char *id, const char *addr, const char *owner)
{
    smds_event ev;
    memset(&ev, 0, sizeof(ev));
    snprintf(ev.eid, sizeof(ev.eid), EID);
    snprintf(ev.event_id, sizeof(ev.event_id), "%s", id);
    snprintf(ev.rsp_server_address, sizeof(ev.rsp_server_address), "%s", addr);
    snprintf(ev.owner, sizeof(ev.owner), "%s", owner);
    ev.via = 12;
    return ev;
}

static void test_cascade(void)
{
    smds_event ev = event("EV-CASCADE", "smdp1.example.com", dp.owner);
    UT_EQ(smds_event_register_wait(alt, &ev, true, time(NULL)), RSP_OK);
    smds_event got;
    UT_EQ(smds_store_get(alt->store, "EV-CASCADE", &got), 1);
    UT_CHECK(got.forwarded);
    UT_EQ(smds_store_get(root->store, "EV-CASCADE", &got), 1);
    /* at the root the event points to the Alternative SM-DS, owned by its certificate identity */
    UT_CHECK(strcmp(got.rsp_server_address, ALT_FQDN) == 0);
    UT_CHECK(strcmp(got.owner, "2.999.21") == 0);
    UT_EQ(got.via, 15);

    /* not forwarded: stays local */
    smds_event local = event("EV-LOCAL", "smdp1.example.com", dp.owner);
    UT_EQ(smds_event_register_wait(alt, &local, false, time(NULL)), RSP_OK);
    UT_EQ(smds_store_get(root->store, "EV-LOCAL", &got), 0);

    /* the root refuses a duplicate EventID: 8.9/4.2 and nothing is kept locally */
    smds_event mine = event("EV-DUP", "smdp1.example.com", dp.owner);
    UT_EQ(smds_event_register_wait(root, &mine, false, time(NULL)), RSP_OK);
    smds_event dup = event("EV-DUP", "smdp1.example.com", dp.owner);
    UT_EQ(smds_event_register_wait(alt, &dup, true, time(NULL)), RSP_ST_ROOT_SMDS_ERROR);
    UT_EQ(smds_store_get(alt->store, "EV-DUP", &got), 0);

    /* deleting a cascaded event deletes it at the root too */
    UT_EQ(smds_event_delete_wait(alt, EID, "EV-CASCADE", dp.owner), RSP_OK);
    UT_EQ(smds_store_get(alt->store, "EV-CASCADE", &got), 0);
    UT_EQ(smds_store_get(root->store, "EV-CASCADE", &got), 0);

    /* the root already lost it: the local deletion still completes */
    smds_event gone = event("EV-GONE", "smdp1.example.com", dp.owner);
    UT_EQ(smds_event_register_wait(alt, &gone, true, time(NULL)), RSP_OK);
    UT_EQ(smds_store_delete_sync(root->store, EID, "EV-GONE", NULL, NULL), RSP_OK);
    UT_EQ(smds_event_delete_wait(alt, EID, "EV-GONE", dp.owner), RSP_OK);

    /* another SM-DP+ cannot delete it, and the root is not asked */
    smds_event kept = event("EV-KEPT", "smdp1.example.com", dp.owner);
    UT_EQ(smds_event_register_wait(alt, &kept, true, time(NULL)), RSP_OK);
    UT_EQ(smds_event_delete_wait(alt, EID, "EV-KEPT", "2.999.12"), RSP_ST_EVENT_UNKNOWN);
    UT_EQ(smds_store_get(root->store, "EV-KEPT", &got), 1);

    /* root down: deleting keeps the local event (retry later), registering keeps nothing */
    stop_root();
    UT_EQ(smds_event_delete_wait(alt, EID, "EV-KEPT", dp.owner), RSP_ST_SMDS_UNAVAILABLE);
    UT_EQ(smds_store_get(alt->store, "EV-KEPT", &got), 1);
    smds_event late = event("EV-LATE", "smdp1.example.com", dp.owner);
    UT_EQ(smds_event_register_wait(alt, &late, true, time(NULL)), RSP_ST_SMDS_UNAVAILABLE);
    UT_EQ(smds_store_get(alt->store, "EV-LATE", &got), 0);
    smds_free(alt);
    alt = NULL;
}

static void test_peer_not_allowed(void)
{
    const char *peers[] = {"2.999.99"};
    UT_EQ(start_root(peers, 1), 0);
    UT_EQ(start_alt("es15_alt2"), 0);
    if (root && alt) {
        smds_event ev = event("EV-NOPE", "smdp1.example.com", dp.owner);
        UT_EQ(smds_event_register_wait(alt, &ev, true, time(NULL)), RSP_ST_ROOT_SMDS_ERROR);
        smds_event got;
        UT_EQ(smds_store_get(alt->store, "EV-NOPE", &got), 0);
        UT_EQ(smds_store_get(root->store, "EV-NOPE", &got), 0);
    }
    smds_free(alt);
    alt = NULL;
    stop_root();
}

static void test_bad_config(void)
{
    char err[128];
    smds_root_config c = {.address = "", .requester = ALT_FQDN};
    UT_CHECK(smds_root_new(&c, err, sizeof(err)) == NULL);
    c.address = "host/path:1";
    UT_CHECK(smds_root_new(&c, err, sizeof(err)) == NULL);
    c.address = "127.0.0.1:9";
    c.requester = NULL;
    UT_CHECK(smds_root_new(&c, err, sizeof(err)) == NULL);
    /* calls queued on a stopped client complete as unavailable */
    c.requester = ALT_FQDN;
    smds_root *r = smds_root_new(&c, err, sizeof(err));
    UT_CHECK(r != NULL);
    UT_CHECK(strcmp(smds_root_address(r), "127.0.0.1:9") == 0);
    UT_EQ(smds_root_register(r, "123", "E", NULL, NULL), -1);
    smds_root_free(r);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: es15_test <rsp-pki>\n");
        return 2;
    }
    snprintf(pki, sizeof(pki), "%s", tu_dir("es15_pki"));
    if (tu_pki(argv[1], pki))
        return 1;
    snprintf(alt_tls, sizeof(alt_tls), "%s/alt-dstls", pki);
    if (tu_sh("'%s' mint --kind dstls --issuer-cert %s/nist/ci/ci.pem --issuer-key %s/nist/ci/ci.key.pem "
              "--fqdn " ALT_FQDN " --rid 2.999.21 --out %s >/dev/null",
              argv[1], pki, pki, alt_tls))
        return 1;
    if (start_root(NULL, 0) || start_alt("es15_alt"))
        return 1;
    UT_RUN(test_cascade);
    UT_RUN(test_peer_not_allowed);
    UT_RUN(test_bad_config);
    return ut_finish();
}
