/* rsp/proxy.c - see proxy.h. */
#include "rsp/proxy.h"

#include <netinet/in.h>
#include <string.h>

static const uint8_t sig[RSP_PROXY_SIG_LEN] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                               0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

enum { CMD_LOCAL = 0, CMD_PROXY = 1 };
enum { FAM_UNSPEC = 0x00, FAM_TCP4 = 0x11, FAM_TCP6 = 0x21 };
#define IPV4_BLOCK 12 /* src addr, dst addr, src port, dst port */
#define IPV6_BLOCK 36

static void set_v4(struct sockaddr_storage *ss, socklen_t *len, const uint8_t *addr, const uint8_t *port)
{
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    memcpy(&a->sin_addr, addr, 4);
    memcpy(&a->sin_port, port, 2); /* both in network order on the wire already */
    *len = sizeof(*a);
}

static void set_v6(struct sockaddr_storage *ss, socklen_t *len, const uint8_t *addr, const uint8_t *port)
{
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    memcpy(&a->sin6_addr, addr, 16);
    memcpy(&a->sin6_port, port, 2);
    *len = sizeof(*a);
}

rsp_proxy_rc_t rsp_proxy_parse(const uint8_t *buf, size_t len, rsp_proxy_result_t *out)
{
    memset(out, 0, sizeof(*out));
    /* Compare what has arrived so far, so that a TLS ClientHello or a text header fails at once. */
    size_t n = len < RSP_PROXY_SIG_LEN ? len : RSP_PROXY_SIG_LEN;
    if (n != 0 && memcmp(buf, sig, n) != 0)
        return RSP_PROXY_BAD_SIG;
    if (len > RSP_PROXY_SIG_LEN && buf[12] >> 4 != 2)
        return RSP_PROXY_BAD_VERSION;
    if (len > RSP_PROXY_SIG_LEN && (buf[12] & 0x0f) > CMD_PROXY)
        return RSP_PROXY_BAD_COMMAND;
    if (len < RSP_PROXY_FIXED_LEN) {
        out->header_len = RSP_PROXY_FIXED_LEN;
        return RSP_PROXY_NEED_MORE;
    }
    int cmd = buf[12] & 0x0f, fam = buf[13];
    size_t body = (size_t)buf[14] << 8 | buf[15];
    size_t total = RSP_PROXY_FIXED_LEN + body;
    if (total > RSP_PROXY_MAX_HEADER)
        return RSP_PROXY_TOO_LONG;
    /* LOCAL and UNSPEC carry no address the server uses, whatever follows. */
    int addressed = cmd == CMD_PROXY && fam != FAM_UNSPEC;
    if (addressed && fam != FAM_TCP4 && fam != FAM_TCP6)
        return RSP_PROXY_BAD_FAMILY;
    if (addressed && body < (fam == FAM_TCP4 ? IPV4_BLOCK : IPV6_BLOCK))
        return RSP_PROXY_BAD_LENGTH;
    if (len < total) {
        out->header_len = total;
        return RSP_PROXY_NEED_MORE;
    }
    const uint8_t *a = buf + RSP_PROXY_FIXED_LEN;
    out->header_len = total;
    if (!addressed) {
        out->local = 1;
    } else if (fam == FAM_TCP4) {
        set_v4(&out->src, &out->src_len, a, a + 8);
        set_v4(&out->dst, &out->dst_len, a + 4, a + 10);
    } else {
        set_v6(&out->src, &out->src_len, a, a + 32);
        set_v6(&out->dst, &out->dst_len, a + 16, a + 34);
    }
    return RSP_PROXY_OK;
}

const char *rsp_proxy_rc_str(rsp_proxy_rc_t rc)
{
    switch (rc) {
    case RSP_PROXY_OK:
        return "ok";
    case RSP_PROXY_NEED_MORE:
        return "incomplete header";
    case RSP_PROXY_BAD_SIG:
        return "no PROXY v2 signature";
    case RSP_PROXY_BAD_VERSION:
        return "unsupported PROXY version";
    case RSP_PROXY_BAD_COMMAND:
        return "unknown PROXY command";
    case RSP_PROXY_BAD_FAMILY:
        return "address family is not TCP over IPv4/IPv6";
    case RSP_PROXY_BAD_LENGTH:
        return "address block too short";
    case RSP_PROXY_TOO_LONG:
        return "PROXY header too long";
    }
    return "?";
}
