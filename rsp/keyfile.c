#include "rsp/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/rand.h>

/* Writes content to a new temporary file beside path (its name in tmp) and syncs it; 0 or -1. */
static int write_tmp(const char *path, const char *content, size_t len, char tmp[4096])
{
    uint32_t nonce;
    if (RAND_bytes((unsigned char *)&nonce, sizeof(nonce)) != 1) {
        errno = EIO;
        return -1;
    }
    /* Unique per caller, threads of one process included. */
    if (snprintf(tmp, 4096, "%s.tmp.%ld.%08x", path, (long)getpid(), (unsigned)nonce) >= 4096) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    bool ok = write(fd, content, len) == (ssize_t)len && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    if (!ok) {
        unlink(tmp);
        errno = saved ? saved : EIO;
        return -1;
    }
    return 0;
}

int rsp_keyfile_replace(const char *path, const char *content, size_t len)
{
    char tmp[4096];
    if (write_tmp(path, content, len, tmp) != 0)
        return -1;
    if (rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    return 0;
}

int rsp_keyfile_create(const char *path, const char *content, size_t len)
{
    char tmp[4096];
    if (write_tmp(path, content, len, tmp) != 0)
        return -1;
    int rc = -1, saved = 0;
    if (link(tmp, path) == 0 || errno == EEXIST)
        rc = 0;
    else
        saved = errno;
    unlink(tmp);
    if (rc)
        errno = saved;
    return rc;
}

int rsp_keyfile_read(const char *path, char *buf, size_t cap, size_t *len)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) != 0)
        n = -1;
    else if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0)
        errno = EPERM;
    else
        n = read(fd, buf, cap - 1);
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return -1;
    }
    buf[n] = 0;
    *len = (size_t)n;
    return 0;
}
