/*
 * rsp/backup.h - backups of a service's state directory while it serves (smdsctl / smdpctl backup and
 * restore).
 *
 * A state directory holds LMDB environments (subdirectories with data.mdb) and secret files.  A backup
 * is a new directory with a compacted copy of each environment (mdb_env_copy2 with MDB_CP_COMPACT: one
 * read transaction, so the copy is consistent with a running writer and the service keeps serving),
 * the secret files (mode 0600) unless left out, and a MANIFEST naming what it holds.  Restore copies a
 * backup into a state directory whose environments do not exist yet (a fresh directory, or one whose
 * data the operator moved away): it never merges into or overwrites live data.  The service must not
 * run on the target while restoring.
 *
 * Functions return 0, or -1 with a one-line message in err; progress lines go to `out` (may be NULL).
 */
#ifndef RSP_BACKUP_H
#define RSP_BACKUP_H

#include <stddef.h>
#include <stdio.h>

typedef struct rsp_backup_spec {
    const char *service;        /* for the MANIFEST: "smds" */
    const char *const *envs;    /* LMDB subdirectories of the state directory, NULL-terminated */
    const char *const *secrets; /* secret files in the state directory, NULL-terminated */
    int with_secrets;           /* copy the secrets too (a backup without them cannot serve) */
} rsp_backup_spec;

/* Writes a backup of state_dir into out_dir, which must not exist (it is created 0700). */
int rsp_backup(const rsp_backup_spec *spec, const char *state_dir, const char *out_dir, FILE *out, char *err,
               size_t errlen);

/* Restores backup_dir into state_dir (created 0700 if missing); refuses when one of the environments or
 * secret files already exists there. */
int rsp_restore(const rsp_backup_spec *spec, const char *backup_dir, const char *state_dir, FILE *out,
                char *err, size_t errlen);

/* The backup / restore commands of smdsctl and smdpctl: cmd "backup" writes dir from state_dir,
 * "restore" reads dir into state_dir; reports on stdout and stderr; returns the exit status (0 or 1). */
int rsp_backup_command(const rsp_backup_spec *spec, const char *cmd, const char *state_dir, const char *dir);

#endif
