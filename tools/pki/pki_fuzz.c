/*
 * Fuzz target for the tools/pki parsers: certificate and key loading (DER or
 * PEM), the EUM prefix reader (nameConstraints and the IIN-list extension),
 * subject text, EID helpers and the time parser.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/objects.h>

#include "tools/pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[64];
    size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    memcpy(text, data, n);
    text[n] = '\0';

    char eid[PKI_EID_LEN + 1];
    (void)pki_eid_valid(text);
    (void)pki_eid_complete(text, eid);
    (void)pki_eid_make(text, size, eid);
    time_t t;
    (void)pki_parse_time(text, 0, &t);

    X509 *x = pki_parse_cert(data, size);
    if (x) {
        char buf[128];
        (void)pki_eum_permits_eid(x, PKI_SGP26_EID);
        (void)pki_eum_permits_eid(x, text);
        (void)pki_subject_text(x, NID_organizationName, buf, sizeof(buf));
        (void)pki_subject_text(x, NID_serialNumber, buf, sizeof(buf));
        X509_free(x);
    }
    /* OpenSSL 3 spends ~1.5 ms declining a non-key: try only PEM keys and
     * SEQUENCEs of an EC private key's size. */
    bool keyish = memmem(data, size, "KEY-----", 8) || (size >= 64 && size <= 256 && data[0] == 0x30);
    EVP_PKEY *k = keyish ? pki_parse_key(data, size) : NULL;
    if (k) {
        pki_curve c;
        (void)pki_key_curve(k, &c);
        EVP_PKEY_free(k);
    }
    return 0;
}
