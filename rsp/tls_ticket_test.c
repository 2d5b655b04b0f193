/* Unit tests of rsp/tls_ticket: keys shared by secret, rotation with one period of overlap. */
#include "rsp/tls_ticket.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "tests/unit/ut.h"

#define ROT 3600

struct ticket {
    unsigned char name[16], iv[EVP_MAX_IV_LENGTH], ct[64], mac[32];
    int ctlen;
};

static EVP_MAC *hmac;

/* Seals a 32-byte "session" the way OpenSSL does with the callback's keys. */
static int seal(rsp_tls_tickets *t, long now, struct ticket *tk)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    EVP_MAC_CTX *h = EVP_MAC_CTX_new(hmac);
    int rc = rsp_tls_tickets_cb(t, now, tk->name, tk->iv, c, h, 1);
    unsigned char pt[32];
    memset(pt, 0x5a, sizeof(pt));
    int n = 0, f = 0;
    size_t ml = 0;
    if (rc == 1) {
        UT_CHECK(EVP_EncryptUpdate(c, tk->ct, &n, pt, sizeof(pt)) == 1 &&
                 EVP_EncryptFinal_ex(c, tk->ct + n, &f));
        tk->ctlen = n + f;
        UT_CHECK(EVP_MAC_init(h, NULL, 0, NULL) == 1 && EVP_MAC_update(h, tk->ct, (size_t)tk->ctlen) == 1 &&
                 EVP_MAC_final(h, tk->mac, &ml, sizeof(tk->mac)) == 1 && ml == 32);
    }
    EVP_CIPHER_CTX_free(c);
    EVP_MAC_CTX_free(h);
    return rc;
}

/* The callback's answer for tk at `now`; when it gives keys, they must open the ticket. */
static int open_ticket(rsp_tls_tickets *t, long now, struct ticket *tk)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    EVP_MAC_CTX *h = EVP_MAC_CTX_new(hmac);
    unsigned char name[16], iv[EVP_MAX_IV_LENGTH];
    memcpy(name, tk->name, 16);
    memcpy(iv, tk->iv, sizeof(iv));
    int rc = rsp_tls_tickets_cb(t, now, name, iv, c, h, 0);
    if (rc > 0) {
        unsigned char pt[64], mac[32];
        int n = 0, f = 0;
        size_t ml = 0;
        UT_CHECK(EVP_MAC_init(h, NULL, 0, NULL) == 1 && EVP_MAC_update(h, tk->ct, (size_t)tk->ctlen) == 1 &&
                 EVP_MAC_final(h, mac, &ml, sizeof(mac)) == 1);
        UT_CHECK(memcmp(mac, tk->mac, 32) == 0);
        UT_CHECK(EVP_DecryptUpdate(c, pt, &n, tk->ct, tk->ctlen) == 1 &&
                 EVP_DecryptFinal_ex(c, pt + n, &f) == 1);
        UT_EQ(n + f, 32);
        UT_CHECK(pt[0] == 0x5a && pt[31] == 0x5a);
    }
    EVP_CIPHER_CTX_free(c);
    EVP_MAC_CTX_free(h);
    return rc;
}

static void test_rotation_and_sharing(void)
{
    uint8_t k1[32], k2[32];
    memset(k1, 1, sizeof(k1));
    memset(k2, 2, sizeof(k2));
    const uint8_t *one[] = {k1}, *other[] = {k2}, *both[] = {k1, k2};
    rsp_tls_tickets *a = rsp_tls_tickets_new(one, 1, 32, 0, ROT),
                    *b = rsp_tls_tickets_new(one, 1, 32, 0, ROT),
                    *c = rsp_tls_tickets_new(other, 1, 32, 0, ROT),
                    *rotated = rsp_tls_tickets_new(both, 2, 32, 1, ROT);
    UT_CHECK(a && b && c && rotated);
    UT_EQ(rsp_tls_tickets_lifetime(a), 2 * ROT);
    long t0 = 1800000000L - 1800000000L % ROT + 10;
    struct ticket tk;
    UT_EQ(seal(a, t0, &tk), 1);
    UT_EQ(open_ticket(a, t0, &tk), 2);
    UT_EQ(open_ticket(b, t0 + 5, &tk), 2);       /* another node with the same secret */
    UT_EQ(open_ticket(c, t0, &tk), 0);           /* a different secret */
    UT_EQ(open_ticket(b, t0 + ROT, &tk), 2);     /* the next period: still opens, renewed */
    UT_EQ(open_ticket(b, t0 + 2 * ROT, &tk), 0); /* two periods on: a full handshake */
    UT_EQ(open_ticket(a, t0 - ROT, &tk), 0);     /* keys are per period */
    UT_EQ(open_ticket(rotated, t0, &tk), 2);     /* after a key rotation the old key still opens */
    struct ticket tn;
    UT_EQ(seal(rotated, t0, &tn), 1);
    UT_EQ(open_ticket(a, t0, &tn), 0); /* new tickets use the new key */
    UT_EQ(open_ticket(c, t0, &tn), 2);
    struct ticket bad = tk;
    bad.name[0] ^= 1;
    UT_EQ(open_ticket(a, t0, &bad), 0);

    UT_CHECK(rsp_tls_tickets_new(one, 1, 8, 0, ROT) == NULL);  /* short secret */
    UT_CHECK(rsp_tls_tickets_new(one, 1, 32, 1, ROT) == NULL); /* current out of range */
    UT_CHECK(rsp_tls_tickets_new(one, 1, 32, 0, 0) == NULL);
    UT_CHECK(rsp_tls_tickets_new(one, 0, 32, 0, ROT) == NULL);
    rsp_tls_tickets_free(a);
    rsp_tls_tickets_free(b);
    rsp_tls_tickets_free(c);
    rsp_tls_tickets_free(rotated);
    rsp_tls_tickets_free(NULL);
}

int main(void)
{
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    UT_RUN(test_rotation_and_sharing);
    EVP_MAC_free(hmac);
    return ut_finish();
}
