/*
 * rsp/version.h - the product version, shown by --version, in the start-up log line and in the
 * rsp_build_info metric.  RSP_COMMIT is set by tools/package (-DRSP_COMMIT="<git hash>") and is
 * "unknown" in developer builds, so that ordinary builds stay cacheable.
 */
#ifndef RSP_VERSION_H
#define RSP_VERSION_H

#define RSP_VERSION "0.9.0"
#ifndef RSP_COMMIT
#define RSP_COMMIT "unknown"
#endif

#endif
