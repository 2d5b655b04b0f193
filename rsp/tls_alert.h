/*
 * rsp/tls_alert.h - delivers the fatal alert of a refused TLS handshake (internal to rsp/http).
 *
 * libh2o 2.2.5 keeps what OpenSSL writes in its own output buffer and sends it only after SSL_accept
 * returns without error; on a failed handshake it closes the socket and drops the buffer, alert
 * included, so a refused client sees a bare close.  These functions put a filter BIO under the SSL's
 * write side that keeps a copy of the bytes of the current SSL_accept run; when that run ended with a
 * fatal alert, rsp_tls_alert_exit() writes the copy to the socket itself before h2o closes it.
 *
 * All functions are called from the SSL's info callback, on the worker thread that owns the socket.
 * The filter is owned by the SSL (freed by SSL_free); nothing else is allocated outside of it.
 */
#ifndef RSP_TLS_ALERT_H
#define RSP_TLS_ALERT_H

#include <openssl/ssl.h>

/* At the start of the handshake: inserts the filter under `ssl`'s write side, sending to `fd` (the
 * connection's socket, which outlives the SSL).  0, or -1 (out of memory: the handshake goes on without
 * it).  A second call on the same SSL does nothing. */
int rsp_tls_alert_attach(SSL *ssl, int fd);

/* A fatal alert was written during the handshake (SSL_CB_WRITE_ALERT). */
void rsp_tls_alert_fatal(SSL *ssl);

/* End of an SSL_accept run (SSL_CB_ACCEPT_EXIT): after a fatal alert, writes the run's bytes to the
 * socket without blocking; otherwise forgets them (h2o sends them). */
void rsp_tls_alert_exit(SSL *ssl);

/* Handshake done: the filter stops copying and only passes writes on. */
void rsp_tls_alert_done(SSL *ssl);

#endif
