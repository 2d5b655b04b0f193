/*
 * smds/testutil.h - helpers shared by the SM-DS unit tests and the fuzz target: a test PKI minted with
 * rsp-pki, an smds_t over it, JSON request documents, and the device side of ES11 played by the
 * lpasim eUICC.  Test tooling only.
 *
 * Paths are returned in static buffers that the next call of the same helper may overwrite (copy what you
 * keep).  Functions return 0 / NULL on failure after printing why.
 */
#ifndef SMDS_TESTUTIL_H
#define SMDS_TESTUTIL_H

#include <stdbool.h>

#include "asn1/der.h"
#include "rsp/arena.h"
#include "rsp/json.h"
#include "smds/es11.h"
#include "smds/smds.h"
#include "tools/lpasim/euicc.h"

#define TU_FQDN "testsmds.example.com"

/* A fresh directory under $TEST_TMPDIR (or /tmp) named name; returns its path. */
const char *tu_dir(const char *name);

/* Runs a shell command built with printf formatting; returns its exit status. */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Mints `rsp-pki init --curve both` into dir (rsp_pki: path of the tool).  0 / -1. */
int tu_pki(const char *rsp_pki, const char *dir);

/* Mints the NIST half of the rsp-pki layout (CI and CERT.DSauth, what tu_config(dir, .., true) reads)
 * in process into dir, and an eUICC under it (*card, euicc_free).  0 / -1. */
int tu_pki_nist_inproc(const char *dir, euicc **card);

/* A genuine transaction of card on x: InitiateAuthentication (JSON parsed into a), then the eUICC's
 * AuthenticateServerResponse for it (bf38: a finished writer the caller frees, also on failure) with
 * matching_id (may be NULL), and the transactionId.  0 / -1. */
int tu_transaction(smds_t *x, euicc *card, rsp_arena *a, const char *matching_id, uint8_t tid[16],
                   der_writer *bf38);

/* The configuration of an SM-DS over the PKI in pki_dir, in static storage that the next call (and
 * tu_smds) overwrites: fqdn TU_FQDN, the CI and CERT.DSauth of both curves (of NIST only when nist_only),
 * the event store and txn.secret in state_dir.  Tests change fields before tu_new(). */
smds_config *tu_config(const char *pki_dir, const char *state_dir, bool nist_only);

/* smds_new(cfg); on failure prints why, naming what, and returns NULL. */
smds_t *tu_new(const smds_config *cfg, const char *what);

/* An SM-DS over the PKI in pki_dir (both curves), with its state in state_dir.  root may be NULL;
 * secret_file NULL = state_dir/txn.secret. */
smds_t *tu_smds(const char *pki_dir, const char *state_dir, const char *secret_file,
                const smds_root_config *root, const smds_store_config *store);

/* Parses JSON text into a document in the arena (NULL on a parse failure). */
rsp_json_doc *tu_doc(rsp_arena *a, const char *json);

/* The eUICC e answers the InitiateAuthentication result r as an LPA passes it on (an
 * AuthenticateServerRequest with ctxParams1; matching_id may be NULL); address is the server address the
 * LPA contacted.  Appends the AuthenticateServerResponse (BF38) to resp (caller-initialised) and finishes
 * it.  Returns the eUICC's outcome (EUICC_OK, EUICC_EREFUSED with the error form, ...), printing why
 * when it is not EUICC_OK. */
int tu_euicc_authenticate(euicc *e, const smds_es11_init_result *r, const char *address,
                          const char *matching_id, der_writer *resp);

#endif
