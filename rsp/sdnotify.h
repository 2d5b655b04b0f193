/*
 * rsp/sdnotify.h - the systemd readiness protocol (sd_notify) without libsystemd: one datagram of
 * "KEY=VALUE\n" lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an abstract name
 * written with a leading '@').  Without $NOTIFY_SOCKET (not started by systemd with Type=notify) it does
 * nothing and succeeds.
 *
 * Thread safe.  Returns 0, or -1 when the variable is set but the datagram cannot be sent.
 */
#ifndef RSP_SDNOTIFY_H
#define RSP_SDNOTIFY_H

/* Sends state, e.g. "READY=1\nSTATUS=serving". */
int rsp_sd_notify(const char *state);

/* "RELOADING=1" with MONOTONIC_USEC (what Type=notify-reload expects), then STATUS=what. */
int rsp_sd_notify_reloading(const char *what);

#endif
