/*
 * rsp/check.h - the checks behind `--check-config`: files named by the configuration are looked at the
 * way the service will use them, and every problem is reported on one line, so an operator finds all of
 * them in one run instead of one per failed start.
 *
 * Each function writes lines "ok: ...", "warning: ..." or "error: ..." to out and returns the number of
 * errors (warnings do not count).  `key` names the configuration key in the messages; lists are the
 * comma-separated values of list keys.  Nothing is modified.
 */
#ifndef RSP_CHECK_H
#define RSP_CHECK_H

#include <stdio.h>

/* Days before notAfter from which a certificate gets a warning. */
#define RSP_CHECK_EXPIRY_WARN_DAYS 30

/* Every file of the list holds at least one X.509 certificate (PEM, or one DER certificate) that is valid
 * now; one that expires within RSP_CHECK_EXPIRY_WARN_DAYS is a warning. */
int rsp_check_certs(FILE *out, const char *key, const char *list);

/* The i-th key file (PEM private key, not readable by group or others) belongs to the i-th certificate
 * file's first certificate; both lists have the same length. */
int rsp_check_key_pairs(FILE *out, const char *cert_key, const char *certs, const char *key_key,
                        const char *keys);

/* The first certificate of each file in certs chains, through the other certificates of its file, to one
 * of the certificates in the cas files (trust anchors). */
int rsp_check_chains(FILE *out, const char *cert_key, const char *certs, const char *ca_key, const char *cas);

/* Each TLS server certificate's key suits the clients devices use: a brainpool key is a warning (OpenSSL
 * 3.0 signs with it only in TLS 1.2 with brainpool groups, which common clients do not offer; use a P-256
 * CERT.DP.TLS / CERT.DS.TLS beside brainpool CERT.DPauth / DPpb / DSauth).  Unreadable files are left to
 * rsp_check_certs. */
int rsp_check_tls_curve(FILE *out, const char *key, const char *list);

/* A secret file made by `<service> init` is present, a regular file of mode 0600 or stricter, and
 * readable.  `service` names the command in the hint. */
int rsp_check_secret(FILE *out, const char *what, const char *path, const char *service);

#endif
