/*
 * smdp_default/testutil.h - test fixture of the Default SM-DP+ logic without
 * sockets: a minted test PKI in a temporary directory, an smdp_t over it, a
 * profile inventory of synthetic packages, ES2+/ES9+ calls from JSON text
 * (run synchronously with smdp_call_run), and a device (the lpa-sim eUICC
 * plus its JSON builders) that walks the ES9+ download step by step.
 *
 * Test code only.  Functions return 0 / RSP_OK on success.  Strings returned
 * are malloc'd (free()).
 */
#ifndef SMDP_TESTUTIL_H
#define SMDP_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smdp_default/call.h"
#include "smdp_default/smdp.h"
#include "tools/lpasim/euicc.h"
#include "tools/lpasim/lpa.h"
#include "tools/lpasim/testserver.h"

#define FX_FQDN "testsmdpplus1.example.com"
#define FX_OPERATOR "op1" /* CN and operator id of the default caller */
#define FX_OTHER_OPERATOR "op2"
#define FX_PROFILES 6

typedef struct fx_opts {
    const char *operators_ini; /* operators file content, NULL for none */
    uint32_t order_ttl;        /* 0 = default */
    bool progress;             /* HandleDownloadProgressInfo */
    const char *const *smds_allowed;
    size_t n_smds_allowed;
    const char *cancel_keep;    /* smdp_config.cancel_session_keep, NULL = default */
    unsigned register_event_ms; /* smdp_config.register_event_ms (0: outbox only) */
    const char *connect_to;     /* smdp_notify_config.connect_to */
    /* A second node: shares the order store of this fixture (PostgreSQL only; nothing is imported) and,
     * with same_secrets, its master key and transaction secret. */
    const struct fx *join;
    bool same_secrets;
} fx_opts;

typedef struct fx {
    char dir[256];
    ts_pki pki;
    smdp_t *x;
    char iccid[FX_PROFILES][21]; /* op1: 0..3 type "T1", 4 type "T2"; op2: 5 type "T1" */
    uint8_t *upp[FX_PROFILES];   /* the imported packages */
    size_t upp_len[FX_PROFILES];
    long time_offset; /* added to the clock of every call (expiry tests) */
} fx;

/* Creates the fixture (o may be NULL).  0 / -1. */
int fx_init(fx *f, const fx_opts *o);
void fx_clear(fx *f);

/* A synthetic UPP with this ICCID (header, one filler element, end). */
uint8_t *fx_upp(const char *iccid, size_t *len);

/* Runs one call on a JSON body; *reply (may be NULL) gets the JSON response as
 * the server would send it ("" for 204).  Returns the call's status. */
rsp_status fx_call(fx *f, smdp_fn fn, const char *cn, const char *body, char **reply);

/* ES2+ shorthands with the default operator and a generated header. */
rsp_status fx_download_order(fx *f, const char *eid, const char *iccid, const char *type, char **reply);
rsp_status fx_confirm(fx *f, const char *iccid, bool release, const char *extra_json, char **reply);

/* The value of a JSON string member in a reply ("" if absent), into out. */
void fx_member(const char *json, const char *name, char *out, size_t cap);

/* ---- a device ---- */

typedef struct fx_dev {
    euicc *e;
    bool v3;                    /* the LPA sends v3-shaped messages (lpa_opts.v3) */
    bool cc_hex;                /* hashCc over the code's hex-decoded bytes (lpa_opts.cc_hex) */
    const uint8_t *ctx_params1; /* sent instead of the LPA's ctxParams1 when set (borrowed) */
    size_t ctx_params1_len;
    char tid_hex[33];
    uint8_t bf38[8192]; /* AuthenticateServerResponse */
    size_t bf38_len;
    uint8_t bf21[4096]; /* PrepareDownloadResponse */
    size_t bf21_len;
    uint8_t *bpp;
    size_t bpp_len;
    uint8_t pkg_sha256[32];
    uint8_t pir[4096]; /* the ProfileInstallationResult */
    size_t pir_len;
    lpa_result res;
} fx_dev;

int fx_dev_init(fx *f, fx_dev *d);
void fx_dev_clear(fx_dev *d);

/* initiateAuthentication + eUICC AuthenticateServer (matching_id NULL = absent). */
rsp_status fx_dev_initiate(fx *f, fx_dev *d, const char *matching_id);
/* authenticateClient + eUICC PrepareDownload (cc for hashCc, NULL = none). */
rsp_status fx_dev_authenticate(fx *f, fx_dev *d, const char *cc);
/* getBoundProfilePackage + eUICC LoadBoundProfilePackage. */
rsp_status fx_dev_get_bpp(fx *f, fx_dev *d);
/* handleNotification with the ProfileInstallationResult. */
rsp_status fx_dev_notify(fx *f, fx_dev *d);
/* eUICC CancelSession + cancelSession. */
rsp_status fx_dev_cancel(fx *f, fx_dev *d, int reason);
/* The whole download; returns the first failing status. */
rsp_status fx_dev_download(fx *f, fx_dev *d, const char *matching_id, const char *cc);

/* State of an order, 0 if unknown. */
smdp_state fx_state(fx *f, const char *iccid);

/* Number of outbox items of a kind (0 = any). */
int fx_outbox_count(fx *f, smdp_ob_kind kind);

#endif
