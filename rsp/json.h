/*
 * rsp/json.h - reading GSMA RSP JSON bodies through declarative field tables.
 *
 * A body is read in two steps, or in one with rsp_json_parse():
 *
 *   1. rsp_json_doc_parse() checks the whole body against RFC 8259 (strict:
 *      no trailing commas, no comments, no BOM, valid escapes, well-formed
 *      UTF-8, no raw control characters in strings, paired surrogates), then
 *      within limits of size, token count and nesting, requires a top-level
 *      object, and tokenizes it with jsmn.
 *   2. rsp_json_bind() walks one object against a table of rsp_json_field
 *      rows and stores each declared member, decoded, at base + row.off.
 *      Members not in the table are ignored (v3 devices send more).  Any
 *      object bound by a table must not contain the same key twice, whether
 *      declared or not (keys compare after unescaping).
 *
 * Outputs by kind (all memory comes from the arena given to the parse):
 *
 *   RSP_JSON_STRING  const char *     UTF-8, NUL-terminated; a decoded NUL
 *                                      (\u0000) is refused.  min/max: bytes.
 *   RSP_JSON_HEX     rsp_json_bin     hex text (either case), decoded.
 *   RSP_JSON_BASE64  rsp_json_bin     base64 text (padding required, CR LF
 *                                      space tab skipped), decoded.  min/max
 *                                      for both: decoded bytes.
 *   RSP_JSON_BOOL    bool             true / false.
 *   RSP_JSON_INT     int64_t          integer without fraction or exponent;
 *                                      when min or max is non-zero the value
 *                                      must be >= 0, >= min and (if max is
 *                                      non-zero) <= max.
 *   RSP_JSON_OBJECT  (sub-table)      rows of `sub` store at base + off + row.off.
 *   RSP_JSON_ARRAY   rsp_json_array   array of objects: `count` zeroed items of
 *                                      elem_size bytes, each bound by `sub`
 *                                      with the item as base.  min/max: count.
 *
 * max == 0 means no upper bound.  Before binding, every output of the table
 * (and of nested OBJECT tables) is reset to zero / NULL, so an absent optional
 * member reads as NULL, {NULL, 0}, false or 0.  A present binary of length 0
 * has a non-NULL data pointer.  A JSON null counts as absent.  A member of a
 * nested object is only mandatory when that object is present.
 *
 * off is added to the base address as an integer, so a table may also use
 * absolute addresses of variables (RSP_JSON_AT(&var)) when bound with base
 * NULL; tables of ARRAY items must use offsets.  Tables end with a row whose
 * name is NULL (RSP_JSON_END), hold at most RSP_JSON_MAX_FIELDS rows and must
 * not nest OBJECT rows into a cycle.  After a failed bind the outputs are
 * unspecified (some may already point into the arena).
 *
 * Errors: functions return RSP_OK or the rsp_status for the reply (rsp/status.h):
 * RSP_ST_INVALID_FIELD (1.1/2.1) for a body that is malformed, too large, too
 * deep, has too many tokens, is not an object, has a duplicate key, or a
 * member of the wrong type, encoding, length or range; RSP_ST_MANDATORY_MISSING
 * (1.1/2.2) for an absent or null mandatory member; RSP_ST_INTERNAL when the
 * arena is exhausted or a table is too large.  rsp_json_err (may be NULL) says
 * which member and why.
 *
 * jsmn is header-only: rsp/json.c is the one file that compiles its
 * implementation.  Other code that wants raw jsmn must `#define JSMN_HEADER`
 * before `#include <jsmn.h>` and depend on //rsp:json.
 */
#ifndef RSP_JSON_H
#define RSP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rsp/arena.h"
#include "rsp/status.h"

#define RSP_JSON_DEFAULT_MAX_BYTES (64 * 1024)
#define RSP_JSON_DEFAULT_MAX_TOKENS 1024
#define RSP_JSON_DEFAULT_MAX_DEPTH 16
#define RSP_JSON_MAX_DEPTH 64  /* hard ceiling for max_depth */
#define RSP_JSON_MAX_FIELDS 64 /* rows per table */
#define RSP_JSON_MAX_PATH 96   /* rsp_json_err.field, NUL included */

typedef enum rsp_json_kind {
    RSP_JSON_STRING = 1,
    RSP_JSON_HEX,
    RSP_JSON_BASE64,
    RSP_JSON_BOOL,
    RSP_JSON_INT,
    RSP_JSON_OBJECT,
    RSP_JSON_ARRAY,
} rsp_json_kind;

/* Row flags. */
#define RSP_JSON_MANDATORY 1u
#define RSP_JSON_OPTIONAL 0u

typedef struct rsp_json_bin {
    const uint8_t *data;
    size_t len;
} rsp_json_bin;

typedef struct rsp_json_array {
    void *items;
    size_t count;
} rsp_json_array;

typedef struct rsp_json_field {
    const char *name; /* member name; NULL ends the table */
    rsp_json_kind kind;
    unsigned flags;                   /* RSP_JSON_MANDATORY or 0 */
    size_t min, max;                  /* see the kinds above; max 0 = unbounded */
    size_t off;                       /* where the output goes, relative to the base */
    const struct rsp_json_field *sub; /* OBJECT and ARRAY */
    size_t elem_size;                 /* ARRAY: size of one item */
} rsp_json_field;

/* Row makers.  `type` is the struct the offsets refer to. */
#define RSP_JSON_F(name, kind, flags, min, max, type, member)                                                \
    {                                                                                                        \
        (name), (kind), (flags), (min), (max), offsetof(type, member), NULL, 0                               \
    }
#define RSP_JSON_OBJ(name, flags, type, member, sub)                                                         \
    {                                                                                                        \
        (name), RSP_JSON_OBJECT, (flags), 0, 0, offsetof(type, member), (sub), 0                             \
    }
#define RSP_JSON_ARR(name, flags, min, max, type, member, sub, item_type)                                    \
    {                                                                                                        \
        (name), RSP_JSON_ARRAY, (flags), (min), (max), offsetof(type, member), (sub), sizeof(item_type)      \
    }
#define RSP_JSON_END                                                                                         \
    {                                                                                                        \
        NULL, 0, 0, 0, 0, 0, NULL, 0                                                                         \
    }
/* Absolute address of an output, for tables bound with base NULL. */
#define RSP_JSON_AT(ptr) ((size_t)(uintptr_t)(ptr))

typedef struct rsp_json_limits {
    size_t max_bytes;   /* body size; 0 = RSP_JSON_DEFAULT_MAX_BYTES; never above INT_MAX - 1 */
    size_t max_tokens;  /* jsmn tokens (objects, arrays, keys, values); 0 = default */
    unsigned max_depth; /* open objects/arrays at once; 0 = default; capped at RSP_JSON_MAX_DEPTH */
} rsp_json_limits;

typedef struct rsp_json_err {
    rsp_status status;
    const char *reason;            /* static text, e.g. "not valid base64" */
    char field[RSP_JSON_MAX_PATH]; /* e.g. "eventEntries[1].eventId"; "" for the body as a whole */
    size_t offset;                 /* byte offset in the body, for syntax errors */
} rsp_json_err;

typedef struct rsp_json_doc rsp_json_doc;

/* Checks and tokenizes body (len bytes, need not be NUL-terminated).  On
 * success *doc lives in the arena and refers to body, which must outlive
 * every rsp_json_bind() on it (bound values are copies and do not). */
rsp_status rsp_json_doc_parse(rsp_arena *a, const char *body, size_t len, const rsp_json_limits *lim,
                              rsp_json_doc **doc, rsp_json_err *err);

/* Binds the top-level object of doc against fields; outputs at base + off.
 * May be called several times on one doc with different tables (e.g. the
 * response header first, then the body only on success). */
rsp_status rsp_json_bind(const rsp_json_doc *doc, const rsp_json_field *fields, void *base,
                         rsp_json_err *err);

/* rsp_json_doc_parse() then rsp_json_bind(). */
rsp_status rsp_json_parse(rsp_arena *a, const char *body, size_t len, const rsp_json_limits *lim,
                          const rsp_json_field *fields, void *base, rsp_json_err *err);

/* Writes "field: reason" (or just the reason) into buf for a statusCodeData
 * message; only printable ASCII is copied from the field.  Returns buf. */
const char *rsp_json_err_message(const rsp_json_err *err, char *buf, size_t cap);

/* The ES2+/ES12/ES15 request header (SGP.22 6.5.1.3), both members mandatory. */
typedef struct rsp_json_req_header {
    const char *requester; /* functionRequesterIdentifier */
    const char *call_id;   /* functionCallIdentifier */
} rsp_json_req_header;

/* Rows for the members of "header"; bind with
 * RSP_JSON_OBJ("header", RSP_JSON_MANDATORY, T, hdr, rsp_json_req_header_fields). */
extern const rsp_json_field rsp_json_req_header_fields[];

/* A response header (SGP.22 6.5.1.4): functionExecutionStatus is mandatory,
 * with a mandatory status; statusCodeData is optional, with mandatory
 * subjectCode and reasonCode when present. */
typedef struct rsp_json_resp_header {
    const char *status;     /* "Executed-Success", "Executed-WithWarning", "Failed", "Expired" */
    const char *subject;    /* statusCodeData.subjectCode, or NULL */
    const char *reason;     /* statusCodeData.reasonCode, or NULL */
    const char *subject_id; /* statusCodeData.subjectIdentifier, or NULL */
    const char *message;    /* statusCodeData.message, or NULL */
} rsp_json_resp_header;

extern const rsp_json_field rsp_json_resp_header_fields[];

/* true when the status is Executed-Success or Executed-WithWarning. */
bool rsp_json_resp_ok(const rsp_json_resp_header *h);

#endif
