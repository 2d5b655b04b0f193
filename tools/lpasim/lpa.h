/*
 * tools/lpasim/lpa.h - the LPA side of the simulator: ES9+ and ES11 over
 * HTTPS (libcurl, HTTP/2 when the server offers it) with the JSON binding,
 * driving a software eUICC (euicc.h).
 *
 * Requests carry exactly the LPA headers real devices send (User-Agent:
 * gsma-rsp-lpad, X-Admin-Protocol: gsma/rsp/v2.2.2, Content-Type:
 * application/json) and no JSON header object.  The TLS server certificate is
 * verified against opts.cafile (or the system store) with a host name check.
 * Responses must be HTTP 200 (204 for handleNotification) with a JSON content
 * type and an X-Admin-Protocol of gsma/rsp/v2.x; their functionExecutionStatus
 * decides success.  One curl handle is kept per server (scheme, host, port) so
 * connections are reused across calls.
 *
 * Results: every flow returns 0 on success and -1 on failure, and fills an
 * lpa_result saying at which stage it stopped and why (the server's
 * subjectCode/reasonCode, the eUICC's error, or a transport problem).
 *
 * Ownership: an lpa borrows its euicc (which must outlive it) and owns its
 * curl handles; lpa_free releases them.  Strings in results are copies inside
 * the result struct; event lists are heap arrays freed with lpa_events_free.
 * Not thread safe: one lpa per thread.
 */
#ifndef LPASIM_LPA_H
#define LPASIM_LPA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asn1/der.h"
#include "rsp/status.h"
#include "tools/lpasim/euicc.h"

#define LPA_USER_AGENT "gsma-rsp-lpad"
#define LPA_ADMIN_PROTOCOL "gsma/rsp/v2.2.2"
#define LPA_MAX_RESPONSE (8u * 1024 * 1024)

typedef struct lpa_opts {
    const char *cafile;     /* PEM trust anchors for TLS; NULL = system store */
    const char *connect_to; /* "HOST:PORT": connect there for every server (TLS still checks the URL host) */
    bool es11_paths;     /* ES11 under /gsma/rsp2/es11/ with smdsAddress (default: es9plus + smdpAddress) */
    long timeout_ms;     /* per request; 0 = 30 s */
    uint8_t tac[4];      /* DeviceInfo TAC; all zero = default 35290611 */
    const uint8_t *imei; /* 8 bytes or NULL */
    int verbose;         /* 1: log requests and responses to stderr */
    /* v3-shaped messages: lpaRspCapability in InitiateAuthentication and, in ctxParams1,
     * operationType {profileDownload}, matchingIdSource and the v3 DeviceInfo fields */
    bool v3;
    bool fresh_connections; /* a new TCP+TLS connection for every request, as LPAs that do not keep them */
    /* lpa_download, once the BPP is received: LPA_BPP_LOAD it; LPA_BPP_DROP it (no result, no
     * CancelSession: a device switched off); LPA_BPP_CANCEL the session with after_bpp_reason */
    int after_bpp;
    int after_bpp_reason;
    bool cc_hex; /* hash the confirmation code's hex-decoded bytes (as some test clients do), not its text */
    struct lpa_tls_session *tls_session; /* borrowed: every connection offers the latest ticket kept there
                                            and keeps the next one (a resuming client, across lpas); NULL =
                                            no session kept, each connection a full handshake */
} lpa_opts;

enum { LPA_BPP_LOAD = 0, LPA_BPP_DROP = 1, LPA_BPP_CANCEL = 2 };

/*
 * A resuming client's TLS session: the latest session ticket a server sent on a connection attached to it,
 * offered by the next connection attached to it.  libcurl's own session cache is not used: it loses
 * TLS 1.3 sessions of connections it closes without close_notify (OpenSSL then marks them not
 * resumable), which is every connection it does not keep.  One thread at a time.
 */
typedef struct lpa_tls_session lpa_tls_session;
lpa_tls_session *lpa_tls_session_new(void); /* NULL on out of memory */
void lpa_tls_session_free(lpa_tls_session *s);
/* Attaches the curl easy handle h (OpenSSL backend) to s; 0, or -1 when curl refuses. */
int lpa_tls_session_attach(lpa_tls_session *s, void *h);

/* Where and why a flow stopped. */
typedef struct lpa_result {
    bool ok;
    const char *stage;  /* GSMA function or eUICC operation, e.g. "authenticateClient" */
    int http_status;    /* 0 when no HTTP exchange completed */
    char status[32];    /* functionExecutionStatus.status, "" if none */
    char subject[16];   /* statusCodeData.subjectCode, "" if none */
    char reason[16];    /* statusCodeData.reasonCode, "" if none */
    char message[256];  /* statusCodeData.message, "" if none */
    bool euicc_refused; /* the eUICC refused (euicc holds its error) */
    int euicc_rc;       /* EUICC_* outcome of the eUICC operation that stopped the flow, 0 otherwise */
    euicc_error euicc;  /* the eUICC's error when euicc_rc != 0 */
    char detail[256];   /* transport or LPA-side reason, "" if none */
} lpa_result;

typedef struct lpa_event {
    char *event_id;
    char *rsp_server_address;
} lpa_event;

typedef struct lpa_download_info {
    char iccid[21];
    char profile_name[65];
    char service_provider_name[33];
    bool enabled;
    uint8_t package_sha256[32];
    uint8_t tid[16];
    size_t tid_len;
    int64_t notification_seq; /* the queued ProfileInstallationResult */
    bool notified;            /* sent with handleNotification already */
} lpa_download_info;

typedef struct lpa lpa;

lpa *lpa_new(euicc *e, const lpa_opts *opts);
void lpa_free(lpa *l);

/*
 * server is "HOST" or "HOST:PORT" (HTTPS, default port 443); address is the
 * RSP server address sent in the messages and expected in serverSigned1 (NULL
 * = HOST).  matching_id may be NULL (omitted from ctxParams1) or "" (sent
 * empty).
 */

/* ES11: InitiateAuthentication, AuthenticateServer, AuthenticateClient;
 * returns the event entries (*events heap array, free with lpa_events_free). */
int lpa_discover(lpa *l, const char *server, const char *address, const char *matching_id, lpa_event **events,
                 size_t *nevents, lpa_result *res);
void lpa_events_free(lpa_event *events, size_t n);

/* ES9+ profile download: InitiateAuthentication, AuthenticateServer,
 * AuthenticateClient, PrepareDownload (hashCc from cc when the SM-DP+ asks for
 * a confirmation code; without cc the LPA cancels the session with
 * endUserRejection), GetBoundProfilePackage, LoadBoundProfilePackage.  When
 * notify is set, the ProfileInstallationResult is sent at once with
 * HandleNotification.  An eUICC refusal (error response) is forwarded to the
 * server as real LPAs do, and the flow stops.  Before loading, the LPA checks
 * that the BPP's StoreMetadata (88 segments, readable without keys) is the
 * profileMetadata from AuthenticateClient; if not, it stops without loading.
 * opts.after_bpp may stop the flow before loading (then it succeeds with no
 * profile installed: info->iccid names the one delivered). */
int lpa_download(lpa *l, const char *server, const char *address, const char *matching_id, const char *cc,
                 bool notify, lpa_download_info *info, lpa_result *res);

/* Authenticates with the SM-DP+ (through AuthenticateClient), then
 * ES10b.CancelSession with reason and ES9+ CancelSession. */
int lpa_cancel(lpa *l, const char *server, const char *address, const char *matching_id, int reason,
               lpa_result *res);

/* Sends every pending notification with ES9+ HandleNotification to
 * https://<notificationAddress>/ (through opts.connect_to if set) and removes
 * those answered with 204.  *sent / *failed count them; res names the first
 * failure. */
int lpa_notify(lpa *l, size_t *sent, size_t *failed, lpa_result *res);

/* ---- pieces exposed for tests ---- */

/* Builds ctxParams1 (A0 {matchingId?, deviceInfo}; with opts->v3 also
 * operationType and matchingIdSource, and v3 fields in deviceInfo). */
int lpa_build_ctx_params1(const lpa_opts *opts, const char *matching_id, der_writer *w);

/* Builds the ES10b CancelSessionRequest (BF41 {transactionId, reason}). */
void lpa_build_cancel_request(const uint8_t *tid, size_t tid_len, int reason, der_writer *w);

/* hashCc = SHA-256(SHA-256(cc as ASCII) || transactionId). */
void lpa_hash_cc(const char *cc, const uint8_t *tid, size_t tid_len, uint8_t out[32]);
/* The same over the code's hex-decoded bytes.  0, or -1 when cc is not an even number of hex digits. */
int lpa_hash_cc_hex(const char *cc, const uint8_t *tid, size_t tid_len, uint8_t out[32]);

/* Parsed ES9+/ES11 response fields (binary values decoded, strings copied). */
typedef struct lpa_response {
    const char *status, *subject, *reason, *message; /* header.functionExecutionStatus */
    const char *transaction_id;                      /* hex text */
    struct {
        const uint8_t *data;
        size_t len;
    } server_signed1, server_signature1, ci_pkid, server_certificate, profile_metadata, smdp_signed2,
        smdp_signature2, smdp_certificate, bpp,
        other_certs;   /* v3 otherCertsInChain (SEQUENCE OF Certificate) of the server certificate, or none */
    lpa_event *events; /* eventEntries (heap, lpa_events_free) */
    size_t nevents;
    bool has_events;
} lpa_response;

/* Which members a function's response must carry. */
typedef enum lpa_fn {
    LPA_FN_INITIATE_AUTH,
    LPA_FN_AUTH_CLIENT_ES9,
    LPA_FN_AUTH_CLIENT_ES11,
    LPA_FN_GET_BPP,
    LPA_FN_CANCEL_SESSION,
} lpa_fn;

/* Parses a JSON response body.  On success (status Executed-*) every
 * mandatory member of fn is present and decoded; on a Failed status only the
 * header is read.  Values point into scratch (freed with
 * lpa_response_free).  Returns RSP_OK, or the JSON error (body malformed or a
 * member missing/invalid) with a reason in detail. */
typedef struct lpa_scratch lpa_scratch;
rsp_status lpa_parse_response(lpa_fn fn, const char *body, size_t len, lpa_response *out,
                              lpa_scratch **scratch, char *detail, size_t detail_cap);
void lpa_response_free(lpa_response *r, lpa_scratch *scratch);

/* One ES9+/ES11 exchange as the flows make it: POSTs body (heap JSON, taken
 * over and freed) to https://<server><path>, server being "HOST" or
 * "HOST:PORT", and parses the response as fn.  0 with *resp and *scratch set
 * (lpa_response_free), or -1 with res saying why (the server's codes when it
 * answered a Failed status). */
int lpa_call(lpa *l, const char *server, const char *path, char *body, lpa_fn fn, const char *stage,
             lpa_response *resp, lpa_scratch **scratch, lpa_result *res);

/* Appends a server's otherCertsInChain (the DER SEQUENCE OF Certificate it sent, or seq NULL: nothing) as
 * the [1] field of AuthenticateServerRequest / PrepareDownloadRequest (v3). */
void lpa_put_other_certs(der_writer *w, const uint8_t *seq, size_t len);

/* Appends the AuthenticateServerRequest (BF38) an LPA sends after
 * InitiateAuthentication: ia's serverSigned1, serverSignature1,
 * euiccCiPKIdToBeUsed and serverCertificate as received, then ctxParams1,
 * then the server's v3 otherCertsInChain as [1] when it sent them.
 * Returns the writer's error. */
int lpa_build_authenticate_server(const lpa_opts *opts, const lpa_response *ia, const char *matching_id,
                                  der_writer *w);

/* Request bodies, heap NUL-terminated JSON (free()). */
char *lpa_json_initiate_auth(const uint8_t challenge[16], const uint8_t *info1, size_t info1_len,
                             const char *address, bool smds_field);
/* The same, with the v3 lpaRspCapability member when v3. */
char *lpa_json_initiate_auth_v(const uint8_t challenge[16], const uint8_t *info1, size_t info1_len,
                               const char *address, bool smds_field, bool v3);
char *lpa_json_authenticate_client(const char *tid_hex, const uint8_t *resp, size_t len);
char *lpa_json_get_bpp(const char *tid_hex, const uint8_t *resp, size_t len);
char *lpa_json_cancel_session(const char *tid_hex, const uint8_t *resp, size_t len);
char *lpa_json_handle_notification(const uint8_t *notification, size_t len);

#endif
