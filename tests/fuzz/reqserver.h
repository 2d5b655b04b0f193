/*
 * tests/fuzz/reqserver.h - a whole request for the handler fuzz targets: a service's routes on an
 * in-process rsp/http server (plain HTTP/2 by prior knowledge on 127.0.0.1, one worker) and one
 * HTTP/2 client connection (bench/h2c) to it, so that a fuzzed body goes through h2o, rsp/es (transport
 * checks, JSON parsing, the arena), the routed handler, its deferrals and the answer.
 *
 * Handlers run on the server's worker thread in the same process, so ASan/UBSan see their faults.  The
 * s2s listener is plain too: server-to-server routes see no client identity and refuse (their binding is
 * fuzzed without HTTP by the per-handler targets).
 *
 * Access lines and logs below error are off unless RSP_FUZZ_LOG is set in the environment.
 *
 * Test code only.  Functions abort() on set-up failures (a fuzz harness cannot go on without its server).
 */
#ifndef TESTS_FUZZ_REQSERVER_H
#define TESTS_FUZZ_REQSERVER_H

#include <stddef.h>

#include "rsp/http.h"

typedef struct fz_server fz_server;

/* Registers a service's routes on the device and s2s listeners; 0 / -1 (as smds_server_routes). */
typedef int (*fz_routes_fn)(rsp_http_server_t *srv, int device, int s2s, void *ctx);

/* Starts the server with routes(ctx) and connects the client.  Free with fz_server_stop. */
fz_server *fz_server_start(fz_routes_fn routes, void *ctx);

/* Stops the server (waiting for its worker) and closes the client.  NULL is a no-op. */
void fz_server_stop(fz_server *s);

/*
 * POSTs body to path with Content-Type application/json and X-Admin-Protocol gsma/rsp/v2.2.0, waits for
 * the answer (bounded: 30 s), and checks it as a device or peer would: aborts on a broken stream or
 * connection (the server crashed or reset the stream), on a 5xx, on a status outside 200, 204, 400, 403,
 * 404, 413, 415, and on a 200 whose body is not a JSON object with header.functionExecutionStatus.
 * Returns the HTTP status.
 */
int fz_server_post(fz_server *s, const char *path, const void *body, size_t len);

#endif
