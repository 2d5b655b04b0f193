/* rsp/cert_fuzz.h - constants shared by the cert fuzz target and its seed
 * generator (test-only). */
#ifndef RSP_CERT_FUZZ_H
#define RSP_CERT_FUZZ_H

/* 2030-01-01T00:00:00Z: the fixed verification time, inside the validity of
 * the seed certificates. */
#define CERT_FUZZ_NOW ((time_t)1893456000)

#endif
