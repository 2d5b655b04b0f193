/*
 * smdp_default/profile.h - checks an Unprotected Profile Package (UPP) and
 * reads what the SM-DP+ needs from its ProfileHeader.
 *
 * A UPP (SIMalliance/TCA eUICC Profile Package, SGP.22 §2.5.2) is a plain
 * concatenation of DER-encoded ProfileElement values.  ProfileElement is an
 * AUTOMATIC TAGS CHOICE, so each element's tag is context-specific and
 * constructed: header [0] A0, genericFileManagement [1] A1, ... end [10] AA,
 * rfu1..rfu5 [11..15] AB..AF, mf [16] B0, ... df-saip [29] BD, df-snpn [30]
 * BE, df-5gprose [31] BF1F, iot [32] BF20, opt-iot [33] BF21 (PE definitions
 * v3.3.1).  The checks here:
 *   - every element is one well-formed DER TLV, nested values included;
 *   - every tag is one of the ProfileElement alternatives above;
 *   - the first element is the ProfileHeader and no other element is one;
 *   - the last element is 'end' (AA) and no other element is one;
 *   - the header has major-version [0], minor-version [1], optional
 *     profileType [2] UTF8String (1..100), iccid [3] of 10 octets,
 *     eUICC-Mandatory-services [5] and eUICC-Mandatory-GFSTEList [6], in that
 *     order (other optional or later fields are skipped).
 *
 * The header's iccid holds the ICCID digits in plain BCD, most significant
 * digit first, padded with F (pySim Iccid.apply_val writes rpad(iccid, 20));
 * it is NOT nibble-swapped like EF.ICCID.  SGP.22 metadata (tag 5A) and
 * EF.ICCID use the swapped form: smdp_iccid_to_ef() converts.
 *
 * Nothing is allocated; functions return 0 or a negative SMDP_PROFILE_E*
 * code, and smdp_profile_strerror() names it.
 */
#ifndef SMDP_PROFILE_H
#define SMDP_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    SMDP_PROFILE_OK = 0,
    SMDP_PROFILE_EEMPTY = -1,     /* no elements at all */
    SMDP_PROFILE_EDER = -2,       /* an element is not well-formed DER (truncated, garbage, trailing) */
    SMDP_PROFILE_EELEMENT = -3,   /* a tag that is no ProfileElement alternative */
    SMDP_PROFILE_ENOHEADER = -4,  /* first element is not the ProfileHeader */
    SMDP_PROFILE_EHEADER = -5,    /* header malformed: missing or misplaced field, bad version */
    SMDP_PROFILE_EICCID = -6,     /* iccid not 10 octets of 19 or 20 BCD digits (F padding) */
    SMDP_PROFILE_ETYPE = -7,      /* profileType empty, over 100 octets, not UTF-8 or has NUL */
    SMDP_PROFILE_EDUPHEADER = -8, /* a second ProfileHeader */
    SMDP_PROFILE_ENOEND = -9,     /* last element is not 'end' */
    SMDP_PROFILE_EEND = -10,      /* an 'end' element before the last one */
};

#define SMDP_ICCID_BCD_LEN 10
#define SMDP_ICCID_MAX 20 /* digits */
#define SMDP_PROFILE_TYPE_MAX 100

#define SMDP_PE_TAG_HEADER 0xA0u
#define SMDP_PE_TAG_END 0xAAu

typedef struct smdp_profile_info {
    char iccid[SMDP_ICCID_MAX + 1];               /* 19 or 20 digits, F padding removed */
    char profile_type[SMDP_PROFILE_TYPE_MAX + 1]; /* header profileType; "" when absent */
    unsigned major_version;
    unsigned minor_version;
    uint64_t mandatory_services; /* bit n set: ServicesList field [n] present (n < 64) */
    size_t elements;             /* number of ProfileElements, header and end included */
} smdp_profile_info;

const char *smdp_profile_strerror(int err);

/* Checks upp[0..len) as described above and fills out (when not NULL). */
int smdp_profile_parse(const uint8_t *upp, size_t len, smdp_profile_info *out);

/* True if tag is one of the known ProfileElement alternatives. */
bool smdp_profile_tag_known(uint32_t tag);

/* True if s is 19 or 20 decimal digits. */
bool smdp_iccid_valid(const char *s);

/* ICCID digits -> EF.ICCID / SGP.22 Iccid (5A) coding: nibble-swapped BCD,
 * F-padded to 20 nibbles.  SMDP_PROFILE_EICCID if s is not a valid ICCID. */
int smdp_iccid_to_ef(const char *s, uint8_t out[SMDP_ICCID_BCD_LEN]);

/* The reverse: 10 swapped BCD octets -> 19/20 digits (SMDP_PROFILE_EICCID if
 * a nibble is not a digit, or F appears anywhere but the last digit). */
int smdp_iccid_from_ef(const uint8_t in[SMDP_ICCID_BCD_LEN], char out[SMDP_ICCID_MAX + 1]);

#endif
