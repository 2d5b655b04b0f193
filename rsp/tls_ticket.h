/*
 * rsp/tls_ticket.h - TLS session-ticket keys that every node of a cluster derives alike (internal to
 * rsp/http).
 *
 * The keys come from secrets all nodes already share (the transaction secret's keys) and the time: for
 * epoch e = now / rotate_s and secret k, the key name, AES-256-CBC key and HMAC-SHA256 key of the ticket
 * are HMAC-SHA256(k, "rsp tls ticket v1 <label>" || e) (label "name", "aes", "hmac").  New tickets use
 * the current secret and epoch; a ticket of the previous epoch, or under another listed secret, still
 * resumes (the overlap), an older or unknown one falls back to a full handshake.  So a ticket lives
 * between rotate_s and 2 * rotate_s, and a node resumes another node's tickets.  Every resumption gets a
 * new ticket.
 *
 * Thread safety: rsp_tls_tickets_cb may run on every worker at once; the rest runs before the workers
 * start or after they stopped.
 */
#ifndef RSP_TLS_TICKET_H
#define RSP_TLS_TICKET_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

typedef struct rsp_tls_tickets rsp_tls_tickets;

/* secrets[i] (len bytes each, 16 to 64), current the one new tickets use; rotate_s > 0.  NULL on bad
 * arguments or out of memory.  The secrets are copied (and wiped by rsp_tls_tickets_free). */
rsp_tls_tickets *rsp_tls_tickets_new(const uint8_t *const *secrets, size_t n, size_t len, size_t current,
                                     unsigned rotate_s);
void rsp_tls_tickets_free(rsp_tls_tickets *t);

/* Ticket lifetime to announce (2 * rotate_s). */
long rsp_tls_tickets_lifetime(const rsp_tls_tickets *t);

/* The SSL_CTX_set_tlsext_ticket_key_evp_cb callback body, for t (encrypting: 1 = key set; decrypting:
 * 2 = key set and renew the ticket, 0 = unknown ticket; -1 = error).  `now` is the Unix time. */
int rsp_tls_tickets_cb(rsp_tls_tickets *t, long now, unsigned char key_name[16], unsigned char *iv,
                       EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc);

#endif
