#include "smdp_default/profile.h"

#include <string.h>

#include "asn1/der.h"
#include "rsp/codec.h"

const char *smdp_profile_strerror(int err)
{
    switch (err) {
    case SMDP_PROFILE_OK:
        return "ok";
    case SMDP_PROFILE_EEMPTY:
        return "empty profile package";
    case SMDP_PROFILE_EDER:
        return "profile element is not well-formed DER";
    case SMDP_PROFILE_EELEMENT:
        return "unknown profile element tag";
    case SMDP_PROFILE_ENOHEADER:
        return "first profile element is not the ProfileHeader";
    case SMDP_PROFILE_EHEADER:
        return "ProfileHeader malformed";
    case SMDP_PROFILE_EICCID:
        return "ICCID malformed";
    case SMDP_PROFILE_ETYPE:
        return "profileType malformed";
    case SMDP_PROFILE_EDUPHEADER:
        return "more than one ProfileHeader";
    case SMDP_PROFILE_ENOEND:
        return "last profile element is not 'end'";
    case SMDP_PROFILE_EEND:
        return "'end' element before the last element";
    default:
        return "unknown error";
    }
}

bool smdp_profile_tag_known(uint32_t tag)
{
    /* [0]..[30] in one octet, context-specific and constructed */
    if (tag >= 0xA0 && tag <= 0xBE)
        return true;
    /* [31]..[33] need the long tag form */
    return tag == 0xBF1F || tag == 0xBF20 || tag == 0xBF21;
}

bool smdp_iccid_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n != 19 && n != 20)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* nibbles[0..20) -> digits; F allowed only as the 20th nibble. */
static int nibbles_to_iccid(const uint8_t nib[20], char out[SMDP_ICCID_MAX + 1])
{
    size_t n = 0;
    for (size_t i = 0; i < 20; i++) {
        if (nib[i] <= 9) {
            out[n++] = (char)('0' + nib[i]);
        } else if (nib[i] == 0xF && i == 19) {
            break;
        } else {
            return SMDP_PROFILE_EICCID;
        }
    }
    out[n] = '\0';
    return SMDP_PROFILE_OK;
}

int smdp_iccid_to_ef(const char *s, uint8_t out[SMDP_ICCID_BCD_LEN])
{
    if (!smdp_iccid_valid(s))
        return SMDP_PROFILE_EICCID;
    size_t n = strlen(s);
    for (size_t i = 0; i < SMDP_ICCID_BCD_LEN; i++) {
        unsigned lo = (unsigned)(s[2 * i] - '0');
        unsigned hi = 2 * i + 1 < n ? (unsigned)(s[2 * i + 1] - '0') : 0xF;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return SMDP_PROFILE_OK;
}

int smdp_iccid_from_ef(const uint8_t in[SMDP_ICCID_BCD_LEN], char out[SMDP_ICCID_MAX + 1])
{
    uint8_t nib[20];
    for (size_t i = 0; i < SMDP_ICCID_BCD_LEN; i++) {
        nib[2 * i] = in[i] & 0xF;
        nib[2 * i + 1] = in[i] >> 4;
    }
    return nibbles_to_iccid(nib, out);
}

/* Header iccid: plain BCD, first digit in the high nibble. */
static int header_iccid(const der_tlv *t, char out[SMDP_ICCID_MAX + 1])
{
    if (t->len != SMDP_ICCID_BCD_LEN)
        return SMDP_PROFILE_EICCID;
    uint8_t nib[20];
    for (size_t i = 0; i < SMDP_ICCID_BCD_LEN; i++) {
        nib[2 * i] = t->value[i] >> 4;
        nib[2 * i + 1] = t->value[i] & 0xF;
    }
    return nibbles_to_iccid(nib, out);
}

static int header_uint8(const der_tlv *t, unsigned *out)
{
    int64_t v;
    if (der_get_int(t, &v) != DER_OK || v < 0 || v > 255)
        return SMDP_PROFILE_EHEADER;
    *out = (unsigned)v;
    return SMDP_PROFILE_OK;
}

static int parse_header(const der_tlv *hdr, smdp_profile_info *info)
{
    der_reader r;
    der_tlv t;
    int rc;

    der_reader_of(&r, hdr);
    if (der_expect(&r, 0x80, &t) != DER_OK || header_uint8(&t, &info->major_version))
        return SMDP_PROFILE_EHEADER;
    if (der_expect(&r, 0x81, &t) != DER_OK || header_uint8(&t, &info->minor_version))
        return SMDP_PROFILE_EHEADER;
    rc = der_optional(&r, 0x82, &t);
    if (rc < 0)
        return SMDP_PROFILE_EHEADER;
    if (rc == 1) {
        if (t.len == 0 || t.len > SMDP_PROFILE_TYPE_MAX || memchr(t.value, 0, t.len) ||
            !rsp_utf8_valid((const char *)t.value, t.len))
            return SMDP_PROFILE_ETYPE;
        memcpy(info->profile_type, t.value, t.len);
        info->profile_type[t.len] = '\0';
    }
    if (der_expect(&r, 0x83, &t) != DER_OK)
        return SMDP_PROFILE_EICCID;
    if ((rc = header_iccid(&t, info->iccid)))
        return rc;
    if (der_optional(&r, 0x84, &t) < 0) /* pol */
        return SMDP_PROFILE_EHEADER;
    if (der_expect(&r, 0xA5, &t) != DER_OK)
        return SMDP_PROFILE_EHEADER;
    der_reader sr;
    der_tlv s;
    der_reader_of(&sr, &t);
    while (!der_reader_done(&sr)) {
        if (der_next(&sr, &s) != DER_OK)
            return SMDP_PROFILE_EHEADER;
        /* ServicesList members are [n] NULL: 80..9E, then 9F 1F..9F 7F */
        uint32_t n;
        if (s.tag >= 0x80 && s.tag <= 0x9E)
            n = s.tag - 0x80;
        else if (s.tag >= 0x9F1F && s.tag <= 0x9F7F)
            n = s.tag & 0x7F;
        else
            return SMDP_PROFILE_EHEADER;
        if (s.len != 0)
            return SMDP_PROFILE_EHEADER;
        if (n < 64)
            info->mandatory_services |= (uint64_t)1 << n;
    }
    if (der_expect(&r, 0xA6, &t) != DER_OK)
        return SMDP_PROFILE_EHEADER;
    /* connectivityParameters, eUICC-Mandatory-AIDs, iotOptions and later
     * extensions are not needed here; der_validate already checked them. */
    return SMDP_PROFILE_OK;
}

int smdp_profile_parse(const uint8_t *upp, size_t len, smdp_profile_info *out)
{
    smdp_profile_info tmp;
    smdp_profile_info *info = out ? out : &tmp;
    memset(info, 0, sizeof(*info));

    if (!upp || len == 0)
        return SMDP_PROFILE_EEMPTY;

    der_reader r;
    der_tlv t;
    bool seen_end = false;
    der_reader_init(&r, upp, len);
    while (!der_reader_done(&r)) {
        if (der_next(&r, &t) != DER_OK || der_validate(t.raw, t.raw_len) != DER_OK)
            return SMDP_PROFILE_EDER;
        if (!smdp_profile_tag_known(t.tag))
            return SMDP_PROFILE_EELEMENT;
        if (seen_end)
            return SMDP_PROFILE_EEND;
        if (info->elements == 0) {
            if (t.tag != SMDP_PE_TAG_HEADER)
                return SMDP_PROFILE_ENOHEADER;
            int rc = parse_header(&t, info);
            if (rc)
                return rc;
        } else if (t.tag == SMDP_PE_TAG_HEADER) {
            return SMDP_PROFILE_EDUPHEADER;
        }
        if (t.tag == SMDP_PE_TAG_END)
            seen_end = true;
        info->elements++;
    }
    if (!seen_end)
        return SMDP_PROFILE_ENOEND;
    return SMDP_PROFILE_OK;
}
