/*
 * rsp/proxy.h - PROXY protocol version 2 header parser (the binary header HAProxy sends with
 * `send-proxy-v2`), for listeners that sit behind a TCP load balancer.
 *
 * libh2o 2.2.5's expect_proxy_line understands only the text form (version 1), so the HTTP glue reads
 * the version 2 header itself, before TLS, and hands h2o the rest of the stream with the client address
 * set as the socket's peer name (see rsp/http.h, proxy_protocol).
 *
 * Header layout: 12-byte signature "\r\n\r\n\0\r\nQUIT\n", one byte version (high nibble, must be 2) and
 * command (low nibble: 0 LOCAL, 1 PROXY), one byte address family (high nibble: 0 UNSPEC, 1 INET,
 * 2 INET6, 3 UNIX) and transport (low nibble: 0 UNSPEC, 1 STREAM, 2 DGRAM), a 16-bit big-endian length
 * of what follows (addresses, then TLVs, which are skipped).
 *
 * Accepted: PROXY over TCP/IPv4 or TCP/IPv6 (the source address is the client's); LOCAL with any family
 * (the load balancer's own connection, e.g. a health check) and PROXY with family UNSPEC (the balancer
 * does not know the client), where the socket's own address stays, as the protocol specifies.
 * Refused: a wrong signature or version, another command, PROXY with UNIX, DGRAM or an unknown family
 * (these listeners serve TCP clients only), an address block shorter than its family needs, and a header
 * longer than RSP_PROXY_MAX_HEADER bytes in total (the protocol allows 64 KiB; a load balancer that sends
 * addresses and a few TLVs needs far less, so a bigger one is refused rather than buffered).
 *
 * Pure function, no allocation, any thread.
 */
#ifndef RSP_PROXY_H
#define RSP_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define RSP_PROXY_SIG_LEN 12
#define RSP_PROXY_FIXED_LEN 16    /* signature, version/command, family, length */
#define RSP_PROXY_MAX_HEADER 1024 /* whole header, TLVs included */

typedef enum rsp_proxy_rc {
    RSP_PROXY_OK = 0,      /* complete and valid: see the result */
    RSP_PROXY_NEED_MORE,   /* a valid prefix: read more (the result says how many bytes are wanted) */
    RSP_PROXY_BAD_SIG,     /* not a version 2 signature (includes version 1 text headers) */
    RSP_PROXY_BAD_VERSION, /* version nibble is not 2 */
    RSP_PROXY_BAD_COMMAND, /* command is neither LOCAL nor PROXY */
    RSP_PROXY_BAD_FAMILY,  /* PROXY with a family/transport other than TCP over IPv4 or IPv6 */
    RSP_PROXY_BAD_LENGTH,  /* address block shorter than its family needs */
    RSP_PROXY_TOO_LONG,    /* header longer than RSP_PROXY_MAX_HEADER */
} rsp_proxy_rc_t;

typedef struct rsp_proxy_result {
    size_t header_len; /* OK: bytes to consume; NEED_MORE: total bytes needed so far (>= len + 1) */
    int local;         /* OK: no client address (LOCAL, or UNSPEC); the addresses below are unset */
    struct sockaddr_storage src, dst; /* OK and !local: client and the address it connected to */
    socklen_t src_len, dst_len;
} rsp_proxy_result_t;

/* Parses the start of a connection's byte stream (buf may be NULL when len is 0).  Returns the code and
 * fills *out (always written).  Bytes past header_len belong to the next protocol (TLS or HTTP). */
rsp_proxy_rc_t rsp_proxy_parse(const uint8_t *buf, size_t len, rsp_proxy_result_t *out);

/* A short constant description of a code, for logs. */
const char *rsp_proxy_rc_str(rsp_proxy_rc_t rc);

#endif
