/*
 * rsp/jsonw.h - JSON writer for GSMA RSP bodies.
 *
 * The writer appends compact JSON into a buffer that grows on the heap or in
 * an rsp_arena (rsp/arena.h), up to a maximum size.  It tracks the structure
 * and refuses anything that would make the output invalid: a member name
 * outside an object, a value without a name inside an object, an unbalanced
 * end, a second top-level value, or a string that is not well-formed UTF-8.
 * Strings are escaped (quote, backslash and control characters).  So a
 * successful rsp_jsonw_finish() always yields one valid JSON text.
 *
 * Errors are sticky: every call returns 0 or the first negative RSP_JSONW_E*
 * code met, and after an error the calls do nothing.
 *
 * Ownership: with an arena the output lives in the arena (superseded buffers
 * stay there until the arena is reset); on the heap it lives until
 * rsp_jsonw_free() or rsp_jsonw_reset().  A writer is small enough to live
 * on the stack.
 */
#ifndef RSP_JSONW_H
#define RSP_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rsp/arena.h"
#include "rsp/status.h"

#define RSP_JSONW_MAX_DEPTH 32

enum {
    RSP_JSONW_OK = 0,
    RSP_JSONW_ENOMEM = -1, /* allocation failed */
    RSP_JSONW_ELIMIT = -2, /* output would exceed the maximum size */
    RSP_JSONW_ESTATE = -3, /* call not allowed here (structure) or nesting too deep */
    RSP_JSONW_EUTF8 = -4,  /* string or name is not well-formed UTF-8 */
    RSP_JSONW_EIO = -5,    /* the stream refused the text (rsp_jsonw_print_line) */
};

typedef struct rsp_jsonw {
    /* Private: use the functions below. */
    char *buf;
    size_t len, cap, max;
    rsp_arena *arena;
    int err;
    unsigned depth;
    char stack[RSP_JSONW_MAX_DEPTH]; /* '{' or '[' per open container */
    bool first[RSP_JSONW_MAX_DEPTH]; /* nothing written yet in this container */
    bool want_value;                 /* a member name was written, its value is due */
    bool done;                       /* the top-level value is complete */
} rsp_jsonw;

/* Starts a writer.  arena NULL = heap.  max = largest output in bytes
 * (without the terminating NUL); 0 = no limit. */
void rsp_jsonw_init(rsp_jsonw *w, rsp_arena *arena, size_t max);

/* Starts over, keeping the buffer (and the arena and limit) for reuse; text
 * returned by an earlier finish is overwritten. */
void rsp_jsonw_reset(rsp_jsonw *w);

/* Frees a heap buffer (nothing for an arena); the writer must be initialised
 * again before reuse. */
void rsp_jsonw_free(rsp_jsonw *w);

/* Structure. */
int rsp_jsonw_obj_begin(rsp_jsonw *w);
int rsp_jsonw_obj_end(rsp_jsonw *w);
int rsp_jsonw_arr_begin(rsp_jsonw *w);
int rsp_jsonw_arr_end(rsp_jsonw *w);
int rsp_jsonw_key(rsp_jsonw *w, const char *name);

/* Values (in an array, after a key, or as the top-level value). */
int rsp_jsonw_str(rsp_jsonw *w, const char *s);
int rsp_jsonw_strn(rsp_jsonw *w, const char *s, size_t n); /* NUL bytes become \u0000 */
int rsp_jsonw_bool(rsp_jsonw *w, bool v);
int rsp_jsonw_int(rsp_jsonw *w, int64_t v);
int rsp_jsonw_null(rsp_jsonw *w);
int rsp_jsonw_base64(rsp_jsonw *w, const uint8_t *data, size_t n); /* standard, padded, unwrapped */
int rsp_jsonw_hex(rsp_jsonw *w, const uint8_t *data, size_t n);    /* upper case */

/* Member shorthands: key then value. */
int rsp_jsonw_kstr(rsp_jsonw *w, const char *name, const char *s);
int rsp_jsonw_kbool(rsp_jsonw *w, const char *name, bool v);
int rsp_jsonw_kint(rsp_jsonw *w, const char *name, int64_t v);
int rsp_jsonw_kbase64(rsp_jsonw *w, const char *name, const uint8_t *data, size_t n);
int rsp_jsonw_khex(rsp_jsonw *w, const char *name, const uint8_t *data, size_t n);

/* Writes the member "header":{"functionExecutionStatus":{...}} (SGP.22
 * 6.5.1.4): status "Executed-Success" for RSP_OK; otherwise "Failed" with
 * statusCodeData {subjectCode, reasonCode, message} from rsp/status.h.  A
 * status without a table row is reported as RSP_ST_INTERNAL. */
int rsp_jsonw_header(rsp_jsonw *w, rsp_status st);

/* Same, with message instead of the table's text (NULL = table text).
 * Ignored for RSP_OK. */
int rsp_jsonw_header_msg(rsp_jsonw *w, rsp_status st, const char *message);

/* Writes the member "header":{"functionRequesterIdentifier":..,
 * "functionCallIdentifier":..} of a server-to-server request (SGP.22 6.5.1.3). */
int rsp_jsonw_req_header(rsp_jsonw *w, const char *requester, const char *call_id);

/* Checks that exactly one complete value was written, NUL-terminates and
 * returns the text (owned as described above). */
int rsp_jsonw_finish(rsp_jsonw *w, const char **out, size_t *len);

/* Finishes the text, writes it and a newline to f (one JSON Lines record, as the command-line tools
 * print), then frees the writer.  Returns 0, the writer's error (nothing written), or RSP_JSONW_EIO. */
int rsp_jsonw_print_line(rsp_jsonw *w, FILE *f);

/* Short English name of an RSP_JSONW_E* code. */
const char *rsp_jsonw_strerror(int err);

#endif
