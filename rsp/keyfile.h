/*
 * rsp/keyfile.h - secret files in a state directory.
 *
 * Services keep long-lived secrets (transaction HMAC keys, the SM-DP+ master
 * key) in small text files of mode 0600.  Several processes may start at
 * once against one state directory; rsp_keyfile_create() makes sure exactly
 * one complete file wins (temporary file, fsync, then link(), which refuses
 * to replace), so every process reads the same secret.
 *
 * Functions return 0, or -1 with errno set.  Buffers holding secrets are
 * wiped by these functions before they return.
 */
#ifndef RSP_KEYFILE_H
#define RSP_KEYFILE_H

#include <stddef.h>

/* Creates path with content (mode 0600) unless it already exists; an
 * existing file is left alone and counts as success. */
int rsp_keyfile_create(const char *path, const char *content, size_t len);

/* Writes path with content (mode 0600), replacing an existing file in one rename() after the new
 * content is on disk, so a reader sees the old or the new file, never a part. */
int rsp_keyfile_replace(const char *path, const char *content, size_t len);

/* Reads at most cap - 1 bytes of a regular file that only its owner may
 * read (mode & 077 == 0; a symbolic link is refused) and NUL-terminates
 * them; *len gets the byte count. */
int rsp_keyfile_read(const char *path, char *buf, size_t cap, size_t *len);

#endif
