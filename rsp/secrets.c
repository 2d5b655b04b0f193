/* rsp/secrets.c - see secrets.h. */
#include "rsp/secrets.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "rsp/codec.h"
#include "rsp/err.h"
#include "rsp/keyfile.h"
#include "rsp/txn.h"

int rsp_secret_txn_create(const char *path, int *created, char *err, size_t errlen)
{
    *created = access(path, F_OK) != 0;
    rsp_txn_keyring kr;
    int rc = rsp_txn_keyring_load(&kr, path, 1);
    rsp_txn_keyring_wipe(&kr);
    if (rc != RSP_TXN_OK) {
        rsp_err_set(err, errlen, "%s: %s (%s)", path, rsp_txn_strerror(rc), strerror(errno));
        return -1;
    }
    return 0;
}

/* "<id> <hex>\n" into out (at least 3 + 2 * RSP_TXN_SECRET_LEN + 1 bytes); returns the length. */
static size_t key_line(unsigned id, const uint8_t *secret, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%u ", id);
    size_t hexlen = 0;
    rsp_hex_encode(secret, RSP_TXN_SECRET_LEN, out + n, cap - (size_t)n, &hexlen);
    out[(size_t)n + hexlen] = '\n';
    return (size_t)n + hexlen + 1;
}

int rsp_secret_txn_rotate(const char *path, unsigned *new_id, char *err, size_t errlen)
{
    rsp_txn_keyring kr;
    int rc = rsp_txn_keyring_load(&kr, path, 0);
    if (rc != RSP_TXN_OK) {
        rsp_err_set(err, errlen, "%s: %s (run init first)", path, rsp_txn_strerror(rc));
        return -1;
    }
    unsigned cur = kr.current;
    if (cur + 1 >= RSP_TXN_MAX_KEYS) {
        rsp_txn_keyring_wipe(&kr);
        rsp_err_set(err, errlen,
                    "%s: key id %u is the last one; remove the file and run init while no transaction is in "
                    "flight",
                    path, cur);
        return -1;
    }
    uint8_t fresh[RSP_TXN_SECRET_LEN];
    char text[2 * (4 + 2 * RSP_TXN_SECRET_LEN + 2)];
    size_t len = 0;
    rc = -1;
    if (RAND_bytes(fresh, sizeof(fresh)) == 1) {
        len = key_line(cur, kr.secret[cur], text, sizeof(text));
        len += key_line(cur + 1, fresh, text + len, sizeof(text) - len);
        rc = rsp_keyfile_replace(path, text, len);
        if (rc != 0)
            rsp_err_set(err, errlen, "%s: %s", path, strerror(errno));
    } else {
        rsp_err_set(err, errlen, "no random bytes");
    }
    OPENSSL_cleanse(fresh, sizeof(fresh));
    OPENSSL_cleanse(text, sizeof(text));
    rsp_txn_keyring_wipe(&kr);
    if (rc == 0)
        *new_id = cur + 1;
    return rc;
}
