#include "tests/pg/pgtmp.h"

#include <dirent.h>
#include <postgresql/libpq-fe.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Finds the directory holding initdb: RSP_PG_BINDIR, else the highest Debian version directory. */
static int find_bindir(char *out, size_t cap)
{
    const char *env = getenv("RSP_PG_BINDIR");
    char path[512];
    if (env && env[0]) {
        snprintf(path, sizeof(path), "%s/initdb", env);
        if (access(path, X_OK) != 0)
            return -1;
        snprintf(out, cap, "%s", env);
        return 0;
    }
    DIR *d = opendir("/usr/lib/postgresql");
    if (!d)
        return -1;
    long best = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end || v <= best)
            continue;
        snprintf(path, sizeof(path), "/usr/lib/postgresql/%ld/bin/initdb", v);
        if (access(path, X_OK) == 0)
            best = v;
    }
    closedir(d);
    if (best < 0)
        return -1;
    snprintf(out, cap, "/usr/lib/postgresql/%ld/bin", best);
    return 0;
}

/* Runs argv (argv[0] a full path) and waits; as root, drops to "nobody" first.  Output goes to log (may
 * be NULL: inherited).  Returns the exit status, or -1. */
static int run(const char *const *argv, const char *log)
{
    uid_t uid = 0;
    gid_t gid = 0;
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("nobody");
        if (!pw) {
            fprintf(stderr, "pgtmp: running as root and there is no user \"nobody\" to run PostgreSQL\n");
            return -1;
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (log) {
            int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
        }
        /* The caller's directory may be closed to the server user. */
        if (chdir("/") != 0)
            _exit(126);
        if (uid != 0 && (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0))
            _exit(126);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Hands the directory to "nobody" when running as root (initdb refuses root). */
static int hand_over(const char *dir)
{
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam("nobody");
    if (!pw)
        return -1;
    if (chown(dir, pw->pw_uid, pw->pw_gid) != 0) {
        fprintf(stderr, "pgtmp: chown %s: %s\n", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int pgtmp_resume(pgtmp *p)
{
    char bin[512], data[300], log[300], opts[700];
    snprintf(bin, sizeof(bin), "%s/pg_ctl", p->bindir);
    snprintf(data, sizeof(data), "%s/data", p->dir);
    snprintf(log, sizeof(log), "%s/server.log", p->dir);
    /* Socket only, in our own directory; durability settings explicit (they are the defaults). */
    snprintf(opts, sizeof(opts),
             "-c listen_addresses='' -k %s -c fsync=on -c synchronous_commit=on -c max_connections=60"
             " -c shared_buffers=32MB",
             p->dir);
    const char *argv[] = {bin, "-D", data, "-l", log, "-o", opts, "-w", "-t", "60", "-s", "start", NULL};
    if (run(argv, NULL) != 0) {
        fprintf(stderr, "pgtmp: pg_ctl start failed; see %s\n", log);
        return -1;
    }
    p->running = true;
    return 0;
}

int pgtmp_halt(pgtmp *p)
{
    if (!p->running)
        return 0;
    char bin[512], data[300];
    snprintf(bin, sizeof(bin), "%s/pg_ctl", p->bindir);
    snprintf(data, sizeof(data), "%s/data", p->dir);
    const char *argv[] = {bin, "-D", data, "-m", "fast", "-w", "-t", "60", "-s", "stop", NULL};
    if (run(argv, NULL) != 0)
        return -1;
    p->running = false;
    return 0;
}

int pgtmp_start(pgtmp *p)
{
    memset(p, 0, sizeof(*p));
    if (find_bindir(p->bindir, sizeof(p->bindir)) != 0)
        return PGTMP_ABSENT;
    const char *tmp = getenv("TMPDIR");
    /* Not TEST_TMPDIR: it lives under the build user's home, which "nobody" cannot enter, and the
     * socket path must stay short. */
    if (!tmp || !tmp[0] || strlen(tmp) > 64 || geteuid() == 0)
        tmp = "/tmp";
    snprintf(p->dir, sizeof(p->dir), "%s/rsp-pg-XXXXXX", tmp);
    if (!mkdtemp(p->dir)) {
        fprintf(stderr, "pgtmp: mkdtemp %s: %s\n", p->dir, strerror(errno));
        p->dir[0] = 0;
        return -1;
    }
    if (hand_over(p->dir) != 0) {
        fprintf(stderr, "pgtmp: cannot hand %s to user nobody\n", p->dir);
        pgtmp_stop(p);
        return -1;
    }
    char bin[512], data[300], log[300];
    snprintf(bin, sizeof(bin), "%s/initdb", p->bindir);
    snprintf(data, sizeof(data), "%s/data", p->dir);
    snprintf(log, sizeof(log), "%s/initdb.log", p->dir);
    /* --no-sync only makes initdb itself skip its fsyncs; the server below runs with fsync on. */
    const char *argv[] = {bin, "-D", data, "-U", "rsp", "-A", "trust", "-E", "UTF8", "--no-sync", NULL};
    if (run(argv, log) != 0) {
        fprintf(stderr, "pgtmp: initdb failed; see %s\n", log);
        return -1;
    }
    if (pgtmp_resume(p) != 0)
        return -1;
    snprintf(p->dsn, sizeof(p->dsn), "host=%s user=rsp dbname=postgres", p->dir);
    return 0;
}

int pgtmp_attach(pgtmp *p, const char *dir)
{
    memset(p, 0, sizeof(*p));
    if (find_bindir(p->bindir, sizeof(p->bindir)) != 0)
        return PGTMP_ABSENT;
    char ver[600];
    if (strlen(dir) >= sizeof(p->dir) - 16)
        return -1;
    snprintf(ver, sizeof(ver), "%s/data/PG_VERSION", dir);
    if (access(ver, F_OK) != 0)
        return -1;
    snprintf(p->dir, sizeof(p->dir), "%s", dir);
    snprintf(p->dsn, sizeof(p->dsn), "host=%s user=rsp dbname=postgres", p->dir);
    snprintf(ver, sizeof(ver), "%s/data/postmaster.pid", dir);
    p->running = access(ver, F_OK) == 0;
    return 0;
}

/* Removes dir and everything under it (the cluster holds only plain files and directories). */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char path[1024];
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            struct stat st;
            if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(path);
            else
                unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

void pgtmp_stop(pgtmp *p)
{
    if (p->running && pgtmp_halt(p) != 0)
        fprintf(stderr, "pgtmp: pg_ctl stop failed for %s\n", p->dir);
    if (p->dir[0] && !getenv("RSP_PG_KEEP"))
        remove_tree(p->dir);
    p->dir[0] = 0;
}

int pgtmp_start_for_test(pgtmp *p, const char *what)
{
    int rc = pgtmp_start(p);
    if (rc == PGTMP_ABSENT) {
        printf("SKIP: %s: PostgreSQL binaries are not installed (tools/bootstrap installs them)\n", what);
        return PGTMP_ABSENT;
    }
    if (rc != 0) {
        fprintf(stderr, "%s: PostgreSQL is installed but a test server did not start\n", what);
        pgtmp_stop(p);
        abort();
    }
    return 0;
}

int pgtmp_reset(pgtmp *p)
{
    PGconn *c = PQconnectdb(p->dsn);
    int rc = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r =
            PQexec(c, "SET client_min_messages = warning; DROP SCHEMA public CASCADE; CREATE SCHEMA public");
        rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
        if (rc)
            fprintf(stderr, "pgtmp: reset: %s", PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "pgtmp: reset: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return rc;
}

int pgtmp_create_db(pgtmp *p, const char *name)
{
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return -1;
    PGconn *c = PQconnectdb(p->dsn);
    int rc = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        char sql[128];
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
        PGresult *r = PQexec(c, sql);
        const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        rc = PQresultStatus(r) == PGRES_COMMAND_OK || (st && !strcmp(st, "42P04")) ? 0 : -1;
        if (rc)
            fprintf(stderr, "pgtmp: %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}
