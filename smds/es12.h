/*
 * smds/es12.h - ES12 (SM-DP+ -> SM-DS) and ES15 (SM-DS -> SM-DS)
 * RegisterEvent / DeleteEvent: request checks and the event operations.
 *
 * A request is handled in two steps so the checks run without a socket
 * (tests, fuzzing) and the write completes asynchronously:
 *
 *   1. smds_es12_parse_register() / smds_es12_parse_delete() bind the JSON
 *      document and check it against the caller's certificate identity.  No
 *      state changes.
 *   2. smds_event_register() / smds_event_delete() perform the operation and
 *      call done exactly once, after the store write is durable (group
 *      commit) and, on an Alternative SM-DS, after the Root SM-DS answered.
 *
 * Rules: the caller must hold a CERT.DP.TLS or CERT.DS.TLS (ES12) or a
 * CERT.DS.TLS of an allowed peer (ES15), else 1.1/1.2; the EID is 32 digits
 * (8.1.1/2.1); rspServerAddress must be one of the caller's certificate DNS
 * names (1.1/1.2); the event's owner is the caller's identity, and only the
 * owner can delete it (another's or an unknown event: 8.9.5/3.9); a taken
 * EventID gives 8.9.5/3.3.  With forwardingIndicator true on an Alternative
 * SM-DS the event is cascaded to the root over ES15 and not kept when that
 * fails (8.9/4.2 root refused, 8.9/5.1 root unreachable).  Deleting a
 * cascaded event deletes it at the root first; when the root cannot be
 * reached the local event stays (8.9/5.1) so the caller can retry.
 */
#ifndef SMDS_ES12_H
#define SMDS_ES12_H

#include <stdbool.h>
#include <time.h>

#include "rsp/json.h"
#include "smds/smds.h"
#include "smds/store.h"

enum { SMDS_ES12 = 12, SMDS_ES15 = 15 };

/* Fills ev (eid, event_id, rsp_server_address, owner, via) and *forward. */
rsp_status smds_es12_parse_register(smds_t *x, const rsp_json_doc *doc, const smds_caller *who, int iface,
                                    smds_event *ev, bool *forward, smds_msg *msg);

/* Fills eid and event_id. */
rsp_status smds_es12_parse_delete(smds_t *x, const rsp_json_doc *doc, const smds_caller *who, int iface,
                                  char eid[SMDS_EID_LEN + 1], char event_id[SMDS_EVENT_ID_MAX + 1],
                                  smds_msg *msg);

/* Completion: st is the outcome, detail an internal reason (may be NULL).
 * Runs on the store writer or an ES15 client thread, or on the calling
 * thread before smds_event_* returns; it must be quick. */
typedef void (*smds_event_done_cb)(void *arg, rsp_status st, const char *detail);

/* Registers a copy of ev; with forward, cascades it to the root (if any). */
void smds_event_register(smds_t *x, const smds_event *ev, bool forward, time_t now, smds_event_done_cb done,
                         void *arg);

/* Deletes eid/event_id if owner registered it; cascades to the root when the
 * event was forwarded there. */
void smds_event_delete(smds_t *x, const char *eid, const char *event_id, const char *owner,
                       smds_event_done_cb done, void *arg);

/* Convenience for tests and tools: runs the operation and waits for done. */
rsp_status smds_event_register_wait(smds_t *x, const smds_event *ev, bool forward, time_t now);
rsp_status smds_event_delete_wait(smds_t *x, const char *eid, const char *event_id, const char *owner);

#endif
