/*
 * Fuzz target for rsp/proxy: the input is the start of a connection's byte stream.  Checks: a complete
 * header lies within the input and the bound; an incomplete one asks for more than it has and no more
 * than the bound; feeding the same bytes in any shorter prefix never gives an answer that contradicts the
 * full one (a refusal stays a refusal, a success needs its header_len bytes); any abort is a bug.
 */
#include <stdlib.h>
#include <string.h>

#include "rsp/proxy.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rsp_proxy_result_t r;
    rsp_proxy_rc_t rc = rsp_proxy_parse(size ? data : NULL, size, &r);
    if (rc == RSP_PROXY_OK) {
        check(r.header_len >= RSP_PROXY_FIXED_LEN && r.header_len <= size);
        check(r.header_len <= RSP_PROXY_MAX_HEADER);
        check(r.local || r.src_len != 0);
        rsp_proxy_result_t again;
        check(rsp_proxy_parse(data, r.header_len, &again) == RSP_PROXY_OK);
        check(memcmp(&r, &again, sizeof(r)) == 0);
        if (r.header_len > RSP_PROXY_FIXED_LEN)
            check(rsp_proxy_parse(data, r.header_len - 1, &again) == RSP_PROXY_NEED_MORE);
    } else if (rc == RSP_PROXY_NEED_MORE) {
        check(r.header_len > size && r.header_len <= RSP_PROXY_MAX_HEADER);
    } else {
        /* A refusal is final: more bytes cannot make the header valid. */
        uint8_t *longer = malloc(size + 64);
        check(longer != NULL);
        if (size)
            memcpy(longer, data, size);
        memset(longer + size, 0, 64);
        rsp_proxy_result_t again;
        rsp_proxy_rc_t rc2 = rsp_proxy_parse(longer, size + 64, &again);
        free(longer);
        check(rc2 != RSP_PROXY_OK && rc2 != RSP_PROXY_NEED_MORE);
    }
    return 0;
}
