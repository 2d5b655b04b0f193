/* rsp/proxy_testutil.c - see proxy_testutil.h. */
#include "rsp/proxy_testutil.h"

#include <string.h>

size_t rsp_proxy_test_header(uint8_t *b, uint8_t vc, uint8_t fam, const uint8_t *payload, size_t n)
{
    static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
    memcpy(b, sig, sizeof(sig));
    b[12] = vc;
    b[13] = fam;
    b[14] = (uint8_t)(n >> 8);
    b[15] = (uint8_t)n;
    if (payload != NULL)
        memcpy(b + 16, payload, n);
    else
        memset(b + 16, 0, n);
    return 16 + n;
}
