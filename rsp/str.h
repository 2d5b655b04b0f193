/*
 * rsp/str.h - copies of C strings into fixed-size fields (records, messages).
 */
#ifndef RSP_STR_H
#define RSP_STR_H

#include <stddef.h>
#include <string.h>

/* Copies src (NULL = "") into dst of cap bytes with its NUL; -1, leaving dst untouched, when it does not
 * fit (a field never holds a cut value), else 0. */
static inline int rsp_str_copy(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        return -1;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
    return 0;
}

#endif
