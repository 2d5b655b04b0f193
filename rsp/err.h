/*
 * rsp/err.h - the error-message convention shared by the modules whose functions take
 * (char *err, size_t errlen): on failure they leave a one-line, NUL-terminated message there, cut to
 * errlen - 1 characters.  A caller that does not want the message passes NULL or 0.
 */
#ifndef RSP_ERR_H
#define RSP_ERR_H

#include <stddef.h>

/* Formats the message into err (printf rules); does nothing when err is NULL or errlen is 0. */
void rsp_err_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
