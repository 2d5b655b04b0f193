/*
 * operator_stub - the operator's side of ES2+ HandleDownloadProgressInfo for the SM-DP+ integration
 * test: one mutual-TLS listener (client certificate required, chained to --ca; identity = its CN) on
 * port 0, the bound port written to --port-file as "es2 <port>".
 *   POST /gsma/rsp2/es2plus/handleDownloadProgressInfo -> appends "<CN> <body>" as one line to --log
 *   POST /gsma/rsp2/es2plus/handleNotification         -> the same
 *        and answers 204; the first --fail=N requests get 503 instead (to exercise retries).
 * Test tooling only.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/http.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *logf;
static int fail_left;

static int on_progress(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    const char *cn = rsp_http_peer(req);
    pthread_mutex_lock(&mu);
    bool refuse = fail_left > 0;
    if (refuse)
        fail_left--;
    fprintf(logf, "%s %s %.*s\n", refuse ? "REFUSED" : "ACCEPTED", cn ? cn : "-", (int)req->entity.len,
            req->entity.base ? req->entity.base : "");
    fflush(logf);
    pthread_mutex_unlock(&mu);
    if (refuse)
        rsp_http_send_error(req, 503);
    else
        rsp_http_send_empty(req, 204, RSP_HTTP_ES);
    return 0;
}

static const char *flag(int argc, char **argv, const char *name, const char *def)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    return def;
}

int main(int argc, char **argv)
{
    const char *port_file = flag(argc, argv, "--port-file", NULL), *log = flag(argc, argv, "--log", NULL);
    const char *cert = flag(argc, argv, "--cert", NULL), *key = flag(argc, argv, "--key", NULL);
    const char *ca = flag(argc, argv, "--ca", NULL);
    if (!port_file || !log || !cert || !key || !ca) {
        fprintf(stderr, "usage: %s --port-file=F --log=F --cert=F --key=F --ca=F [--fail=N]\n", argv[0]);
        return 2;
    }
    fail_left = atoi(flag(argc, argv, "--fail", "0"));
    if (!(logf = fopen(log, "a"))) {
        perror(log);
        return 1;
    }
    rsp_http_server_config_t cfg = {.workers = 2};
    rsp_http_server_t *srv = rsp_http_server_new(&cfg);
    if (!srv)
        return 1;
    const char *cas[] = {ca};
    rsp_http_listener_config_t lc = {.name = "es2",
                                     .cert_file = cert,
                                     .key_file = key,
                                     .client_auth = RSP_HTTP_CLIENT_CERT_REQUIRED,
                                     .client_ca_files = cas,
                                     .n_client_ca_files = 1};
    char err[512];
    int status = 1;
    int l = rsp_http_listener_add(srv, &lc, err, sizeof(err));
    if (l < 0 ||
        rsp_http_route(srv, l, "POST", "/gsma/rsp2/es2plus/handleDownloadProgressInfo", on_progress, NULL) !=
            0 ||
        rsp_http_route(srv, l, "POST", "/gsma/rsp2/es2plus/handleNotification", on_progress, NULL) != 0 ||
        rsp_http_server_start(srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "operator_stub: %s\n", err);
        goto out;
    }
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
    FILE *f = fopen(tmp, "w");
    if (f) {
        fprintf(f, "es2 %u\n", (unsigned)rsp_http_listener_port(srv, l));
        fclose(f);
        rename(tmp, port_file);
    }
    rsp_http_server_set_ready(srv, 1);
    status = rsp_http_server_run(srv, NULL, NULL) == 0 ? 0 : 1;
out:
    rsp_http_server_free(srv);
    fclose(logf);
    return status;
}
