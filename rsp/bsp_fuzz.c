/*
 * Fuzz target for rsp/bsp segment opening (the eUICC side) with fixed keys.
 *
 * Byte 0 selects the mode; the rest is the data:
 *   bits 0-1  tag: 0 = the segment's own tag, 1 = 86, 2 = 87, 3 = 88
 *   bit 2     RSP_BSP_ALLOW_OVERSIZE
 *   bit 3     round trip: protect the data with rsp_bsp_wrap_split and open
 *             every segment again; otherwise the data is a run of segments
 *             opened in order on one state.
 * Whatever opens must re-protect to the same bytes from the same state (the
 * encoding is canonical), and a round trip must give the data back; either
 * failure aborts.
 */
#include "rsp/bsp.h"

#include <stdlib.h>
#include <string.h>

static const rsp_bsp_keys fuzz_keys = {
    .s_enc = {0x01, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f},
    .s_mac = {0x02, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f},
    .mcv = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f},
};

static const uint8_t tags[4] = {0, RSP_BSP_TAG_UPP, RSP_BSP_TAG_ENC, RSP_BSP_TAG_MAC};

static void open_run(uint8_t mode, const uint8_t *p, size_t n)
{
    rsp_bsp st;
    rsp_bsp_init(&st, &fuzz_keys);
    rsp_bsp_buf out, again;
    rsp_bsp_buf_init(&out);
    rsp_bsp_buf_init(&again);
    unsigned flags = (mode & 4) ? RSP_BSP_ALLOW_OVERSIZE : 0;
    while (n > 0) {
        size_t sl = 0;
        if (rsp_bsp_segment_len(p, n, &sl) != RSP_BSP_OK)
            break;
        uint8_t tag = tags[mode & 3] ? tags[mode & 3] : p[0];
        rsp_bsp before = st;
        size_t had = out.len;
        int rc = rsp_bsp_unwrap(&st, tag, p, sl, flags, &out);
        if (rc != RSP_BSP_OK) {
            if (out.len != had || memcmp(&before, &st, sizeof(st)) != 0)
                abort();
        } else {
            size_t plen = out.len - had;
            if (st.counter != before.counter + 1)
                abort();
            if (plen <= rsp_bsp_max_plain(tag)) {
                again.len = 0;
                if (rsp_bsp_wrap(&before, tag, out.data + had, plen, &again) != RSP_BSP_OK)
                    abort();
                if (again.len != sl || memcmp(again.data, p, sl) != 0 ||
                    memcmp(&before, &st, sizeof(st)) != 0)
                    abort();
            }
        }
        p += sl;
        n -= sl;
    }
    rsp_bsp_buf_free(&out);
    rsp_bsp_buf_free(&again);
}

static void round_trip(uint8_t mode, const uint8_t *p, size_t n)
{
    uint8_t tag = tags[mode & 3] ? tags[mode & 3] : RSP_BSP_TAG_UPP;
    rsp_bsp enc, dec;
    rsp_bsp_init(&enc, &fuzz_keys);
    rsp_bsp_init(&dec, &fuzz_keys);
    rsp_bsp_buf segs, out;
    rsp_bsp_buf_init(&segs);
    rsp_bsp_buf_init(&out);
    size_t nseg = 0, count = 0, off = 0;
    if (rsp_bsp_wrap_split(&enc, tag, p, n, &segs, &nseg) != RSP_BSP_OK)
        abort();
    while (off < segs.len) {
        size_t sl = 0;
        if (rsp_bsp_segment_len(segs.data + off, segs.len - off, &sl) != RSP_BSP_OK ||
            sl > RSP_BSP_MAX_SEGMENT)
            abort();
        if (rsp_bsp_unwrap(&dec, tag, segs.data + off, sl, 0, &out) != RSP_BSP_OK)
            abort();
        off += sl;
        count++;
    }
    if (count != nseg || out.len != n || (n && memcmp(out.data, p, n) != 0) ||
        memcmp(&enc, &dec, sizeof(enc)) != 0)
        abort();
    rsp_bsp_buf_free(&segs);
    rsp_bsp_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t mode = data[0];
    if (mode & 8)
        round_trip(mode, data + 1, size - 1);
    else
        open_run(mode, data + 1, size - 1);
    return 0;
}
