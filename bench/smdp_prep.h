/*
 * bench/smdp_prep.h - prepares a Default SM-DP+ state directory for the
 * download benchmark: one profile per device (copies of one package, each
 * with its own ICCID), imported and ordered for the device's EID and
 * released, as an operator would with ES2+ DownloadOrder + ConfirmOrder.
 *
 * It writes through smdp_default/orders.h (the store the server opens), in
 * process and without fsync per record (the store is synced once when it is
 * closed); the master key is created in the directory as the server expects.
 *
 * Ownership: the caller owns every buffer passed in; smdp_prep_patch_iccid
 * writes into caller memory.  Errors: 0 / -1 with a message in err.
 */
#ifndef BENCH_SMDP_PREP_H
#define BENCH_SMDP_PREP_H

#include <stddef.h>
#include <stdint.h>

/*
 * Copies upp to out (len bytes) with its ICCID replaced by iccid (same
 * number of digits): the ProfileHeader's plain BCD form and every
 * EF.ICCID-coded (nibble-swapped) occurrence elsewhere in the package.
 * Fails if upp is not a valid package or the digit counts differ.
 */
int smdp_prep_patch_iccid(const uint8_t *upp, size_t len, const char *iccid, uint8_t *out, char *err,
                          size_t errcap);

/* The ICCID of copy k of a package whose ICCID is orig: the first seven
 * digits of orig, k zero-padded, and a Luhn check digit; same length as orig.
 * -1 if k does not fit. */
int smdp_prep_iccid(const char *orig, uint64_t k, char *out, size_t cap);

/* A minimal valid package (header and end) for a 19- or 20-digit ICCID;
 * returns its length (at most 64 bytes written), or 0. */
size_t smdp_prep_synthetic(const char *iccid, uint8_t *out, size_t cap);

typedef struct smdp_prep_cfg {
    const char *state_dir; /* created; must not hold orders yet */
    const uint8_t *upp;    /* the package to copy */
    size_t upp_len;
    const char *profile_type;
    const char *owner;
    const char *const *eids; /* one order per EID */
    size_t n;
    uint8_t (*sha256)[32]; /* out (may be NULL): SHA-256 of each device's package */
} smdp_prep_cfg;

int smdp_prep(const smdp_prep_cfg *cfg, char *err, size_t errcap);

#endif
