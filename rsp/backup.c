/* rsp/backup.c - see backup.h. */
#include "rsp/backup.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "rsp/err.h"
#include "rsp/version.h"

static int path_join(char *buf, size_t cap, const char *a, const char *b)
{
    return (size_t)snprintf(buf, cap, "%s/%s", a, b) < cap ? 0 : -1;
}

/* fsyncs a file or directory by name. */
static int sync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Copies src to dst (new, mode), synced; 0 or -1 with errno. */
static int copy_file(const char *src, const char *dst, mode_t mode)
{
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        return -1;
    int outfd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (outfd < 0) {
        int e = errno;
        close(in);
        errno = e;
        return -1;
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof(buf))) > 0) {
        if (write(outfd, buf, (size_t)n) != n) {
            rc = -1;
            break;
        }
    }
    int e = errno;
    if (n < 0 || fsync(outfd) != 0)
        rc = -1, e = errno;
    close(in);
    close(outfd);
    errno = e;
    return rc;
}

/* A consistent, compacted copy of the environment in src (a directory) into the new directory dst. */
static int copy_env(const char *src, const char *dst, char *err, size_t errlen)
{
    MDB_env *env = NULL;
    int rc = mdb_env_create(&env);
    /* Read-only: only a read transaction is taken; readers register in the lock file, so the running
     * service's writer does not reuse the pages being copied. */
    if (rc == 0)
        rc = mdb_env_open(env, src, MDB_RDONLY, 0600);
    if (rc == 0 && mkdir(dst, 0700) != 0)
        rc = errno;
    if (rc == 0)
        rc = mdb_env_copy2(env, dst, MDB_CP_COMPACT);
    if (env != NULL)
        mdb_env_close(env);
    if (rc != 0) {
        rsp_err_set(err, errlen, "%s: %s", src, mdb_strerror(rc));
        return -1;
    }
    char data[4096];
    if (path_join(data, sizeof(data), dst, "data.mdb") != 0 || sync_path(data) != 0 || sync_path(dst) != 0) {
        rsp_err_set(err, errlen, "%s: cannot sync the copy", dst);
        return -1;
    }
    return 0;
}

static void say(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(FILE *out, const char *fmt, ...)
{
    if (out == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fflush(out);
}

int rsp_backup(const rsp_backup_spec *spec, const char *state_dir, const char *out_dir, FILE *out, char *err,
               size_t errlen)
{
    char src[4096], dst[4096];
    if (mkdir(out_dir, 0700) != 0) {
        rsp_err_set(err, errlen, "%s: %s (the backup directory must not exist)", out_dir, strerror(errno));
        return -1;
    }
    if (path_join(dst, sizeof(dst), out_dir, "MANIFEST") != 0) {
        rsp_err_set(err, errlen, "path too long");
        return -1;
    }
    FILE *m = fopen(dst, "w");
    if (m == NULL) {
        rsp_err_set(err, errlen, "%s: %s", dst, strerror(errno));
        return -1;
    }
    char when[32];
    time_t now = time(NULL);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fprintf(m, "service %s\nversion %s\ncreated %s\nsource %s\n", spec->service, RSP_VERSION, when,
            state_dir);
    int rc = 0;
    for (size_t i = 0; rc == 0 && spec->envs[i] != NULL; i++) {
        if (path_join(src, sizeof(src), state_dir, spec->envs[i]) != 0 ||
            path_join(dst, sizeof(dst), out_dir, spec->envs[i]) != 0 ||
            copy_env(src, dst, err, errlen) != 0) {
            rc = -1;
            break;
        }
        fprintf(m, "lmdb %s\n", spec->envs[i]);
        say(out, "copied %s to %s\n", src, dst);
    }
    for (size_t i = 0; rc == 0 && spec->with_secrets && spec->secrets[i] != NULL; i++) {
        if (path_join(src, sizeof(src), state_dir, spec->secrets[i]) != 0 ||
            path_join(dst, sizeof(dst), out_dir, spec->secrets[i]) != 0) {
            rc = -1;
            rsp_err_set(err, errlen, "path too long");
        } else if (access(src, F_OK) != 0) {
            say(out, "%s is not in the state directory: back it up where it is configured\n",
                spec->secrets[i]);
        } else if (copy_file(src, dst, 0600) != 0) {
            rsp_err_set(err, errlen, "%s: %s", src, strerror(errno));
            rc = -1;
        } else {
            fprintf(m, "secret %s\n", spec->secrets[i]);
            say(out, "copied %s to %s\n", src, dst);
        }
    }
    if (fflush(m) != 0 || fsync(fileno(m)) != 0)
        rc = -1;
    fclose(m);
    if (rc == 0 && sync_path(out_dir) != 0)
        rc = -1;
    if (rc != 0 && err[0] == '\0')
        rsp_err_set(err, errlen, "%s: cannot write the backup", out_dir);
    return rc;
}

int rsp_restore(const rsp_backup_spec *spec, const char *backup_dir, const char *state_dir, FILE *out,
                char *err, size_t errlen)
{
    char src[4096], dst[4096];
    if (path_join(src, sizeof(src), backup_dir, "MANIFEST") != 0 || access(src, R_OK) != 0) {
        rsp_err_set(err, errlen, "%s: not a backup (no MANIFEST)", backup_dir);
        return -1;
    }
    if (mkdir(state_dir, 0700) != 0 && errno != EEXIST) {
        rsp_err_set(err, errlen, "%s: %s", state_dir, strerror(errno));
        return -1;
    }
    /* All checks before the first write: a refused restore leaves the target as it was. */
    for (int pass = 0; pass < 2; pass++) {
        const char *const *names = pass == 0 ? spec->envs : spec->secrets;
        for (size_t i = 0; names[i] != NULL; i++) {
            if (path_join(dst, sizeof(dst), state_dir, names[i]) != 0) {
                rsp_err_set(err, errlen, "path too long");
                return -1;
            }
            if (access(dst, F_OK) == 0) {
                rsp_err_set(err, errlen,
                            "%s exists; restore into a fresh state directory (move it away first)", dst);
                return -1;
            }
        }
    }
    for (size_t i = 0; spec->envs[i] != NULL; i++) {
        char s[4096], d[4096];
        path_join(src, sizeof(src), backup_dir, spec->envs[i]);
        path_join(dst, sizeof(dst), state_dir, spec->envs[i]);
        if (path_join(s, sizeof(s), src, "data.mdb") != 0 || path_join(d, sizeof(d), dst, "data.mdb") != 0 ||
            access(s, R_OK) != 0) {
            rsp_err_set(err, errlen, "%s: missing from the backup", s);
            return -1;
        }
        if (mkdir(dst, 0700) != 0 || copy_file(s, d, 0600) != 0 || sync_path(dst) != 0) {
            rsp_err_set(err, errlen, "%s: %s", d, strerror(errno));
            return -1;
        }
        say(out, "restored %s to %s\n", src, dst);
    }
    for (size_t i = 0; spec->secrets[i] != NULL; i++) {
        path_join(src, sizeof(src), backup_dir, spec->secrets[i]);
        path_join(dst, sizeof(dst), state_dir, spec->secrets[i]);
        if (access(src, F_OK) != 0) {
            say(out, "the backup holds no %s: put it in place before starting\n", spec->secrets[i]);
            continue;
        }
        if (copy_file(src, dst, 0600) != 0) {
            rsp_err_set(err, errlen, "%s: %s", dst, strerror(errno));
            return -1;
        }
        say(out, "restored %s to %s\n", src, dst);
    }
    if (sync_path(state_dir) != 0) {
        rsp_err_set(err, errlen, "%s: %s", state_dir, strerror(errno));
        return -1;
    }
    return 0;
}

int rsp_backup_command(const rsp_backup_spec *spec, const char *cmd, const char *state_dir, const char *dir)
{
    char err[1024] = "";
    int backup = strcmp(cmd, "backup") == 0;
    int rc = backup ? rsp_backup(spec, state_dir, dir, stdout, err, sizeof(err))
                    : rsp_restore(spec, dir, state_dir, stdout, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "%sctl: %s: %s\n", spec->service, cmd, err);
        return 1;
    }
    return 0;
}
