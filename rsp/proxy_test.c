/* Unit tests for rsp/proxy: valid headers of each kind, and every way a header can be bad. */
#include "rsp/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "rsp/proxy_testutil.h"
#include "tests/unit/ut.h"

static const uint8_t V4[12] = {203, 0, 113, 7, 192, 0, 2, 1, 0x30, 0x39, 0x20, 0xfb}; /* :12345 -> :8443 */

static void test_ipv4(void)
{
    uint8_t b[64];
    size_t n = rsp_proxy_test_header(b, 0x21, 0x11, V4, sizeof(V4));
    memcpy(b + n, "\x16\x03\x01", 3); /* the TLS record that follows stays unconsumed */
    rsp_proxy_result_t r;
    UT_EQ(rsp_proxy_parse(b, n + 3, &r), RSP_PROXY_OK);
    UT_EQ(r.header_len, 28);
    UT_EQ(r.local, 0);
    const struct sockaddr_in *s = (const struct sockaddr_in *)&r.src, *d = (const struct sockaddr_in *)&r.dst;
    UT_EQ(s->sin_family, AF_INET);
    UT_EQ(r.src_len, sizeof(struct sockaddr_in));
    UT_EQ(ntohs(s->sin_port), 12345);
    UT_EQ(ntohs(d->sin_port), 8443);
    char txt[INET_ADDRSTRLEN];
    UT_CHECK(inet_ntop(AF_INET, &s->sin_addr, txt, sizeof(txt)) && strcmp(txt, "203.0.113.7") == 0);
    UT_CHECK(inet_ntop(AF_INET, &d->sin_addr, txt, sizeof(txt)) && strcmp(txt, "192.0.2.1") == 0);
}

static void test_ipv6_with_tlvs(void)
{
    uint8_t payload[36 + 7] = {0};
    inet_pton(AF_INET6, "2001:db8::5", payload);
    inet_pton(AF_INET6, "2001:db8::1", payload + 16);
    payload[32] = 0x01, payload[33] = 0xbb;      /* src port 443 */
    payload[34] = 0x23, payload[35] = 0x03;      /* dst port 8963 */
    memcpy(payload + 36, "\x04\x00\x04tlv!", 7); /* PP2_TYPE_NOOP TLV: skipped */
    uint8_t b[128];
    size_t n = rsp_proxy_test_header(b, 0x21, 0x21, payload, sizeof(payload));
    rsp_proxy_result_t r;
    UT_EQ(rsp_proxy_parse(b, n, &r), RSP_PROXY_OK);
    UT_EQ(r.header_len, n);
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&r.src;
    UT_EQ(s->sin6_family, AF_INET6);
    UT_EQ(ntohs(s->sin6_port), 443);
    char txt[INET6_ADDRSTRLEN];
    UT_CHECK(inet_ntop(AF_INET6, &s->sin6_addr, txt, sizeof(txt)) && strcmp(txt, "2001:db8::5") == 0);
}

static void test_local_and_unspec(void)
{
    uint8_t b[64];
    rsp_proxy_result_t r;
    /* HAProxy's health checks: LOCAL, family UNSPEC, no payload. */
    size_t n = rsp_proxy_test_header(b, 0x20, 0x00, NULL, 0);
    UT_EQ(rsp_proxy_parse(b, n, &r), RSP_PROXY_OK);
    UT_EQ(r.local, 1);
    UT_EQ(r.header_len, 16);
    /* LOCAL with an address block: the block is skipped, not used. */
    n = rsp_proxy_test_header(b, 0x20, 0x11, V4, sizeof(V4));
    UT_EQ(rsp_proxy_parse(b, n, &r), RSP_PROXY_OK);
    UT_EQ(r.local, 1);
    UT_EQ(r.header_len, 28);
    /* LOCAL with any family, even one PROXY would refuse. */
    n = rsp_proxy_test_header(b, 0x20, 0x31, NULL, 4);
    UT_EQ(rsp_proxy_parse(b, n, &r), RSP_PROXY_OK);
    UT_EQ(r.local, 1);
    /* PROXY with UNSPEC: the balancer does not know the client; keep the socket's address. */
    n = rsp_proxy_test_header(b, 0x21, 0x00, NULL, 0);
    UT_EQ(rsp_proxy_parse(b, n, &r), RSP_PROXY_OK);
    UT_EQ(r.local, 1);
}

static void test_truncated(void)
{
    uint8_t b[64];
    size_t n = rsp_proxy_test_header(b, 0x21, 0x11, V4, sizeof(V4));
    rsp_proxy_result_t r;
    for (size_t len = 0; len < n; len++) {
        UT_EQ(rsp_proxy_parse(len ? b : NULL, len, &r), RSP_PROXY_NEED_MORE);
        UT_CHECK(r.header_len > len && r.header_len <= n);
    }
    UT_EQ(rsp_proxy_parse(b, n, &r), RSP_PROXY_OK);
}

static void test_bad_signature(void)
{
    uint8_t b[64];
    rsp_proxy_result_t r;
    size_t n = rsp_proxy_test_header(b, 0x21, 0x11, V4, sizeof(V4));
    for (size_t i = 0; i < 12; i++) {
        b[i] ^= 0x20;
        /* Refused as soon as the wrong byte has arrived, without waiting for the rest. */
        UT_EQ(rsp_proxy_parse(b, i + 1, &r), RSP_PROXY_BAD_SIG);
        UT_EQ(rsp_proxy_parse(b, n, &r), RSP_PROXY_BAD_SIG);
        b[i] ^= 0x20;
    }
    const char *v1 = "PROXY TCP4 203.0.113.7 192.0.2.1 12345 8443\r\n";
    UT_EQ(rsp_proxy_parse((const uint8_t *)v1, strlen(v1), &r), RSP_PROXY_BAD_SIG);
    const uint8_t hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
    UT_EQ(rsp_proxy_parse(hello, sizeof(hello), &r), RSP_PROXY_BAD_SIG);
    UT_EQ(rsp_proxy_parse((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &r), RSP_PROXY_BAD_SIG);
}

static void test_bad_version_and_command(void)
{
    uint8_t b[64];
    rsp_proxy_result_t r;
    static const uint8_t versions[] = {0x01, 0x11, 0x31, 0xf1};
    for (size_t i = 0; i < sizeof(versions); i++) {
        size_t n = rsp_proxy_test_header(b, versions[i], 0x11, V4, sizeof(V4));
        UT_EQ(rsp_proxy_parse(b, n, &r), RSP_PROXY_BAD_VERSION);
        UT_EQ(rsp_proxy_parse(b, 13, &r), RSP_PROXY_BAD_VERSION); /* known from byte 13 on */
    }
    for (uint8_t cmd = 2; cmd < 16; cmd++) {
        size_t n = rsp_proxy_test_header(b, (uint8_t)(0x20 | cmd), 0x11, V4, sizeof(V4));
        UT_EQ(rsp_proxy_parse(b, n, &r), RSP_PROXY_BAD_COMMAND);
    }
}

static void test_wrong_family(void)
{
    uint8_t b[300];
    rsp_proxy_result_t r;
    /* UNIX stream and datagram, UDP over IPv4/IPv6, unknown families and transports. */
    static const uint8_t fams[] = {0x31, 0x32, 0x12, 0x22, 0x10, 0x20, 0x13, 0x41, 0xf1, 0x01, 0x02};
    for (size_t i = 0; i < sizeof(fams); i++) {
        size_t n = rsp_proxy_test_header(b, 0x21, fams[i], NULL, 216);
        UT_EQ(rsp_proxy_parse(b, n, &r), RSP_PROXY_BAD_FAMILY);
    }
}

static void test_short_address_block(void)
{
    uint8_t b[64];
    rsp_proxy_result_t r;
    size_t n = rsp_proxy_test_header(b, 0x21, 0x11, V4, 11);
    UT_EQ(rsp_proxy_parse(b, n, &r), RSP_PROXY_BAD_LENGTH);
    UT_EQ(rsp_proxy_parse(b, 16, &r), RSP_PROXY_BAD_LENGTH); /* known from the length field */
    n = rsp_proxy_test_header(b, 0x21, 0x21, NULL, 12);      /* an IPv4-sized block for IPv6 */
    UT_EQ(rsp_proxy_parse(b, n, &r), RSP_PROXY_BAD_LENGTH);
    n = rsp_proxy_test_header(b, 0x21, 0x21, NULL, 35);
    UT_EQ(rsp_proxy_parse(b, n, &r), RSP_PROXY_BAD_LENGTH);
}

static void test_oversize(void)
{
    static uint8_t b[RSP_PROXY_MAX_HEADER + 64];
    rsp_proxy_result_t r;
    size_t n = rsp_proxy_test_header(b, 0x21, 0x11, NULL, RSP_PROXY_MAX_HEADER - 16);
    memcpy(b + 16, V4, sizeof(V4));
    UT_EQ(rsp_proxy_parse(b, n, &r), RSP_PROXY_OK); /* exactly the bound */
    UT_EQ(r.header_len, RSP_PROXY_MAX_HEADER);
    n = rsp_proxy_test_header(b, 0x21, 0x11, NULL, RSP_PROXY_MAX_HEADER - 15);
    UT_EQ(rsp_proxy_parse(b, n, &r), RSP_PROXY_TOO_LONG);
    UT_EQ(rsp_proxy_parse(b, 16, &r), RSP_PROXY_TOO_LONG); /* refused before the body arrives */
    b[14] = 0xff, b[15] = 0xff;
    UT_EQ(rsp_proxy_parse(b, 16, &r), RSP_PROXY_TOO_LONG);
    UT_CHECK(strcmp(rsp_proxy_rc_str(RSP_PROXY_TOO_LONG), "PROXY header too long") == 0);
}

int main(void)
{
    UT_RUN(test_ipv4);
    UT_RUN(test_ipv6_with_tlvs);
    UT_RUN(test_local_and_unspec);
    UT_RUN(test_truncated);
    UT_RUN(test_bad_signature);
    UT_RUN(test_bad_version_and_command);
    UT_RUN(test_wrong_family);
    UT_RUN(test_short_address_block);
    UT_RUN(test_oversize);
    return ut_finish();
}
