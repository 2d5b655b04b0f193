/*
 * smdp_default/actcode.h - Activation Codes (SGP.22 4.1) for orders of the
 * Default SM-DP+, and their QR code images.
 *
 *   LPA:1$<SM-DP+ address>$<AC_Token>[$<SM-DP+ OID>[$1]]
 *
 * The AC_Token is the order's matchingId.  When the order needs a
 * confirmation code, the Confirmation Code Required Flag "1" is appended
 * after the SM-DP+ OID field (left empty when no OID is given), so the LPA
 * asks the user for the code before it starts the download.
 *
 * Token rules: 1 to SMDP_AC_TOKEN_MAX characters from 0-9, A-Z and '-'
 * (SGP.22 4.1 [R]: the set a QR code encodes in its alphanumeric mode; no '$',
 * the field delimiter).  ConfirmOrder refuses other operator-given matchingIds
 * through the same check (smdp_ac_token_valid), and generated ones follow it.
 *
 * Ownership: strings are caller buffers.  Errors: -1 (with nothing written
 * beyond out) or 0.  Thread safe.
 */
#ifndef SMDP_ACTCODE_H
#define SMDP_ACTCODE_H

#include <stdbool.h>
#include <stddef.h>

#define SMDP_AC_TOKEN_MAX 128
#define SMDP_AC_MAX 512 /* room for any code this module writes */

/* True when s is a valid AC_Token (see above). */
bool smdp_ac_token_valid(const char *s);

/* True when s can be the SM-DP+ address field: a host name of letters, digits,
 * '.', '-', optionally ":port", at most 255 characters. */
bool smdp_ac_address_valid(const char *s);

/* True when s is a dotted OID (digits separated by single dots, two arcs at least). */
bool smdp_ac_oid_valid(const char *s);

/* Writes the Activation Code into out (cap bytes, NUL-terminated).  oid may be
 * NULL or "" (no OID field unless cc_required needs one as a placeholder).
 * -1 when an argument breaks the rules above or out is too small. */
int smdp_ac_format(const char *address, const char *token, const char *oid, bool cc_required, char *out,
                   size_t cap);

#endif
