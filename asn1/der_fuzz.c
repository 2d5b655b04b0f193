/* Fuzz target: the DER reader must never read out of bounds, and anything it
 * accepts must re-encode (through the writer) to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "asn1/der.h"

static void reencode(der_writer *w, const uint8_t *buf, size_t len, int depth)
{
    der_reader r;
    der_reader_init(&r, buf, len);
    der_tlv t;
    while (der_next(&r, &t) == DER_OK) {
        if (der_tag_constructed(t.tag) && depth < DER_MAX_DEPTH - 1) {
            der_w_begin(w, t.tag);
            reencode(w, t.value, t.len, depth + 1);
            der_w_end(w);
        } else {
            der_w_tlv(w, t.tag, t.value, t.len);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (der_validate(data, size) != DER_OK) {
        der_tlv t;
        der_reader r;
        der_reader_init(&r, data, size);
        while (der_next(&r, &t) == DER_OK) {
            int64_t v;
            bool b;
            (void)der_get_int(&t, &v);
            (void)der_get_bool(&t, &b);
        }
        return 0;
    }
    der_writer w;
    der_w_init(&w);
    reencode(&w, data, size, 1);
    if (der_w_finish(&w) != DER_OK || w.len != size || memcmp(w.buf, data, size) != 0)
        abort();
    der_w_free(&w);
    return 0;
}
