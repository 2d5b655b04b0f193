/* rsp/proxy_testutil.h - builds PROXY protocol v2 headers for tests.  Test tooling only. */
#ifndef RSP_PROXY_TESTUTIL_H
#define RSP_PROXY_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Writes the signature, version/command byte vc, family byte fam, the length n and n payload bytes
 * (copied from payload, zeros when it is NULL) to b, which must hold 16 + n bytes; returns 16 + n. */
size_t rsp_proxy_test_header(uint8_t *b, uint8_t vc, uint8_t fam, const uint8_t *payload, size_t n);

#endif
