/*
 * The one header h2o/http2_internal.h needs that Debian's libh2o-evloop-dev does not install.  The glue
 * reads a few fields of h2o_http2_conn_t (state, socket, write buffer, highest stream id) and never the
 * stream table, so this declares the table type without a layout.  The lookups in the header's inline
 * helpers trap when called: use h2o's exported functions for anything that needs the table.
 */
#ifndef RSP_H2O_KHASH_SHIM_H
#define RSP_H2O_KHASH_SHIM_H

#include <stdint.h>

typedef uint32_t khint_t;
typedef khint_t khiter_t;

#define KHASH_MAP_INIT_INT64(name, khval_t) typedef struct kh_##name##_s kh_##name##_t;
#define khash_t(name) kh_##name##_t

static inline khiter_t rsp_khash_unavailable(void)
{
    __builtin_trap();
}

#define kh_get(name, h, k) ((void)(h), (void)(k), rsp_khash_unavailable())
#define kh_end(h) ((void)(h), (khiter_t)0)
#define kh_val(h, x) ((void)(h), (void)(x), (void *)0)

#endif
