#include "rsp/keyfile.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/ut.h"

static char path[512];

static void *racer(void *arg)
{
    char content[32];
    snprintf(content, sizeof(content), "writer %ld\n", (long)(intptr_t)arg);
    if (rsp_keyfile_create(path, content, strlen(content)) != 0)
        return (void *)1;
    return NULL;
}

static void test_one_winner(void)
{
    const char *tmp = getenv("TEST_TMPDIR");
    snprintf(path, sizeof(path), "%s/secret.key", tmp ? tmp : "/tmp");
    unlink(path);
    pthread_t t[8];
    for (long i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, racer, (void *)(intptr_t)i);
    int failures = 0;
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(t[i], &r);
        failures += r != NULL;
    }
    UT_EQ(failures, 0);
    char buf[64];
    size_t len;
    UT_EQ(rsp_keyfile_read(path, buf, sizeof(buf), &len), 0);
    UT_CHECK(strncmp(buf, "writer ", 7) == 0 && buf[len - 1] == '\n');
    struct stat st;
    UT_EQ(stat(path, &st), 0);
    UT_EQ(st.st_mode & 0777, 0600);
    /* no temporary files left behind */
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "ls '%s'.tmp.* >/dev/null 2>&1", path);
    UT_CHECK(system(cmd) != 0);
}

static void test_refuses_readable_file(void)
{
    chmod(path, 0644);
    char buf[64];
    size_t len;
    UT_EQ(rsp_keyfile_read(path, buf, sizeof(buf), &len), -1);
    UT_EQ(errno, EPERM);
    chmod(path, 0600);
    char link_path[600];
    snprintf(link_path, sizeof(link_path), "%s.link", path);
    unlink(link_path);
    UT_EQ(symlink(path, link_path), 0);
    UT_EQ(rsp_keyfile_read(link_path, buf, sizeof(buf), &len), -1);
    unlink(link_path);
    UT_EQ(rsp_keyfile_read("/nonexistent/x", buf, sizeof(buf), &len), -1);
}

int main(void)
{
    UT_RUN(test_one_winner);
    UT_RUN(test_refuses_readable_file);
    return ut_finish();
}
