#include "bench/procs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *read_text(const char *path, size_t max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *b = malloc(max + 1);
    size_t n = b ? fread(b, 1, max, f) : 0;
    fclose(f);
    if (b)
        b[n] = 0;
    return b;
}

/* The last cap-1 bytes of a file (where a failing server says why). */
static void tail_of(const char *path, char *out, size_t cap)
{
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > (long)cap - 1 ? size - (long)cap + 1 : 0;
    fseek(f, from, SEEK_SET);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    fclose(f);
}

int bench_parse_ports(const char *text, int *device, int *s2s)
{
    *device = *s2s = 0;
    const char *p = text;
    while (p && *p) {
        char name[16];
        int port;
        if (sscanf(p, "%15s %d", name, &port) == 2) {
            if (strcmp(name, "device") == 0)
                *device = port;
            else if (strcmp(name, "s2s") == 0)
                *s2s = port;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return *device > 0 && *s2s > 0 ? 0 : -1;
}

static pid_t spawn(char *const argv[], int out_fd)
{
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        dup2(out_fd, 1);
        dup2(out_fd, 2);
        setpgid(0, 0);                    /* its own group: a terminal's ^C reaches us, and we stop it */
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* and if we die, it goes too */
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

int bench_server_start(bench_server *s, char *const argv[], const char *port_file, const char *out_file,
                       int timeout_ms, char *err, size_t errcap)
{
    memset(s, 0, sizeof(*s));
    s->pid = -1;
    unlink(port_file);
    int fd = open(out_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errcap, "%s: %s", out_file, strerror(errno));
        return -1;
    }
    s->port_file = strdup(port_file);
    s->out_file = strdup(out_file);
    s->pid = spawn(argv, fd);
    close(fd);
    if (s->pid < 0 || !s->port_file || !s->out_file) {
        snprintf(err, errcap, "cannot start %s", argv[0]);
        bench_server_stop(s, 0);
        return -1;
    }
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        char *text = read_text(port_file, 256);
        int ok = text && bench_parse_ports(text, &s->device_port, &s->s2s_port) == 0;
        free(text);
        if (ok)
            return 0;
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = -1;
            char tail[400];
            tail_of(out_file, tail, sizeof(tail));
            snprintf(err, errcap, "%s exited at start: %s", argv[0], tail);
            bench_server_stop(s, 0);
            return -1;
        }
        sleep_ms(20);
    }
    snprintf(err, errcap, "%s wrote no port file in %d ms", argv[0], timeout_ms);
    bench_server_stop(s, 0);
    return -1;
}

int bench_server_stop(bench_server *s, int timeout_ms)
{
    int rc = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int status = 0, waited = 0;
        pid_t r;
        while ((r = waitpid(s->pid, &status, WNOHANG)) == 0 && waited < timeout_ms) {
            sleep_ms(10);
            waited += 10;
        }
        if (r == 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
        }
        rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    free(s->port_file);
    free(s->out_file);
    memset(s, 0, sizeof(*s));
    s->pid = -1;
    return rc;
}

int bench_run(char *const argv[], char **out, int timeout_s)
{
    *out = NULL;
    char path[] = "/tmp/rsp-bench-run-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    unlink(path);
    pid_t pid = spawn(argv, fd);
    if (pid < 0) {
        close(fd);
        return -1;
    }
    int status = 0;
    pid_t r;
    for (int waited = 0; (r = waitpid(pid, &status, WNOHANG)) == 0; waited += 10) {
        if (waited >= timeout_s * 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        sleep_ms(10);
    }
    off_t size = lseek(fd, 0, SEEK_END);
    char *b = malloc((size_t)(size > 0 ? size : 0) + 1);
    if (b) {
        ssize_t n = size > 0 ? pread(fd, b, (size_t)size, 0) : 0;
        b[n > 0 ? n : 0] = 0;
    }
    close(fd);
    *out = b;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int bench_parse_h2load(const char *text, h2load_result *r)
{
    memset(r, 0, sizeof(*r));
    const char *f = strstr(text, "finished in ");
    const char *q = strstr(text, "requests: ");
    if (!f || !q || sscanf(f, "finished in %lfs, %lf req/s", &r->secs, &r->rps) != 2)
        return -1;
    unsigned long long total, started, done, ok, failed, errored, timeout;
    if (sscanf(q,
               "requests: %llu total, %llu started, %llu done, %llu succeeded, %llu failed, %llu errored, "
               "%llu timeout",
               &total, &started, &done, &ok, &failed, &errored, &timeout) != 7)
        return -1;
    r->total = total;
    r->succeeded = ok;
    r->failed = failed;
    r->errored = errored;
    r->timeout = timeout;
    const char *sc = strstr(text, "status codes: ");
    unsigned long long s2 = 0;
    if (sc && sscanf(sc, "status codes: %llu 2xx", &s2) == 1)
        r->status_2xx = s2;
    return 0;
}

int bench_executable(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int bench_which(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    char *copy = strdup(path && *path ? path : "/usr/bin:/bin");
    int rc = -1;
    char *save = NULL;
    for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d && rc != 0; d = strtok_r(NULL, ":", &save)) {
        if (snprintf(out, cap, "%s/%s", d, name) < (int)cap && bench_executable(out))
            rc = 0;
    }
    free(copy);
    return rc;
}
