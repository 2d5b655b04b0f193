/* Unit tests of rsp/sdnotify: datagrams reach a path and an abstract socket; no variable, no error. */
#include "rsp/sdnotify.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/unit/ut.h"

static int bind_dgram(const char *name, int abstract)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path + (abstract ? 1 : 0), sizeof(sa.sun_path) - 1, "%s", name);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name) + (abstract ? 1 : 0));
    if (bind(fd, (struct sockaddr *)&sa, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void expect_message(int fd, const char *prefix)
{
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    UT_CHECK(n > 0);
    if (n > 0) {
        buf[n] = '\0';
        UT_CHECK(strncmp(buf, prefix, strlen(prefix)) == 0);
    }
}

static void test_path_and_abstract(void)
{
    unsetenv("NOTIFY_SOCKET");
    UT_EQ(rsp_sd_notify("READY=1"), 0);

    /* TEST_TMPDIR is often longer than a socket path may be. */
    char dir[] = "/tmp/rsp-sdnotify-XXXXXX", path[108];
    UT_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/n.sock", dir);
    int fd = bind_dgram(path, 0);
    UT_CHECK(fd >= 0);
    setenv("NOTIFY_SOCKET", path, 1);
    UT_EQ(rsp_sd_notify("READY=1\nSTATUS=serving"), 0);
    expect_message(fd, "READY=1\nSTATUS=serving");
    UT_EQ(rsp_sd_notify_reloading("reloading"), 0);
    expect_message(fd, "RELOADING=1\nMONOTONIC_USEC=");
    close(fd);
    unlink(path);

    char name[64];
    snprintf(name, sizeof(name), "rsp-sdnotify-test-%ld", (long)getpid());
    fd = bind_dgram(name, 1);
    UT_CHECK(fd >= 0);
    char env[80];
    snprintf(env, sizeof(env), "@%s", name);
    setenv("NOTIFY_SOCKET", env, 1);
    UT_EQ(rsp_sd_notify("STOPPING=1"), 0);
    expect_message(fd, "STOPPING=1");
    close(fd);

    setenv("NOTIFY_SOCKET", "relative/path", 1);
    UT_EQ(rsp_sd_notify("READY=1"), -1);
    setenv("NOTIFY_SOCKET", path, 1); /* nobody listens any more */
    UT_EQ(rsp_sd_notify("READY=1"), -1);
    unsetenv("NOTIFY_SOCKET");
    rmdir(dir);
}

int main(void)
{
    UT_RUN(test_path_and_abstract);
    return ut_finish();
}
