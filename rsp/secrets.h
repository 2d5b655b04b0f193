/*
 * rsp/secrets.h - creating and rotating the transaction secret on purpose (`<service> init`,
 * `<service> rotate-key`) instead of minting it silently at start.
 *
 * The file format is rsp/txn.h's: lines "<key id> <64 hex>", the highest id signs new transactions and
 * every listed id still opens the transactions it signed.  Rotation appends id current+1 and keeps only
 * the previous key beside it, so transactions started before the rotation finish after it (they live
 * txn_ttl seconds); keys older than that are dropped.  Ids run from 0 to RSP_TXN_MAX_KEYS - 1: after the
 * last one, rotation refuses, and a new secret (rsp_secret_txn_create over a removed file) is the way
 * on, at a moment when no transaction is in flight.
 *
 * Functions return 0, or -1 with a one-line message in err.
 */
#ifndef RSP_SECRETS_H
#define RSP_SECRETS_H

#include <stddef.h>

/* Creates the file with one random key (id 0) unless it exists; *created says which happened. */
int rsp_secret_txn_create(const char *path, int *created, char *err, size_t errlen);

/* Adds a new random key with the next id (which *new_id receives) and drops all but the previous one;
 * the file is replaced atomically. */
int rsp_secret_txn_rotate(const char *path, unsigned *new_id, char *err, size_t errlen);

#endif
