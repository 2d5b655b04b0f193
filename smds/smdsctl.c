/*
 * smdsctl - operator tool for the SM-DS event store.  It opens the same store as a running smds: the
 * LMDB environment (LMDB allows a second process; writes are serialised by LMDB's own lock), or the
 * PostgreSQL database with --store.backend=postgres --store.dsn=DSN (the service's own keys).
 *
 *   smdsctl --state DIR list --eid EID     events of one EID, oldest first (JSON lines)
 *   smdsctl --state DIR count [--eid EID]  number of events (of one EID: unexpired only)
 *   smdsctl --state DIR purge-expired      deletes events past their expiry, prints how many
 *   smdsctl --state DIR export             every event as JSON lines
 *   smdsctl --store.backend=postgres --store.dsn=DSN migrate
 *                                          creates or upgrades the schema (also done at smds start)
 *
 * DIR is the service's state directory (server.state_dir); on LMDB the events live in DIR/events.  With
 * PostgreSQL, --state is not needed.
 * Exit status: 0 success, 1 storage failure, 2 usage error.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "rsp/jsonw.h"
#include "smds/store.h"

static void usage(FILE *f)
{
    fputs("usage: smdsctl [--state DIR | --store.backend=postgres --store.dsn=DSN] COMMAND\n"
          "  list --eid EID       events of one EID, oldest first (JSON lines)\n"
          "  count [--eid EID]    number of events (one EID: unexpired only)\n"
          "  purge-expired        delete events past their expiry\n"
          "  export               every event as JSON lines\n"
          "  migrate              create or upgrade the PostgreSQL schema\n",
          f);
}

static int print_event(const smds_event *ev, void *arg)
{
    (void)arg;
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_kstr(&w, "eid", ev->eid);
    rsp_jsonw_kstr(&w, "eventId", ev->event_id);
    rsp_jsonw_kstr(&w, "rspServerAddress", ev->rsp_server_address);
    rsp_jsonw_kstr(&w, "owner", ev->owner);
    rsp_jsonw_kint(&w, "seq", (int64_t)ev->seq);
    rsp_jsonw_kint(&w, "createdAt", (int64_t)ev->created_at);
    rsp_jsonw_kint(&w, "expiresAt", (int64_t)ev->expires_at);
    rsp_jsonw_kint(&w, "via", ev->via);
    rsp_jsonw_kbool(&w, "forwarded", ev->forwarded);
    if (ev->root_smds[0])
        rsp_jsonw_kstr(&w, "rootSmds", ev->root_smds);
    rsp_jsonw_obj_end(&w);
    return rsp_jsonw_print_line(&w, stdout) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"eid", required_argument, NULL, 'e'},
        {"store.backend", required_argument, NULL, 'b'},
        {"store.dsn", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *state = NULL, *eid = NULL, *backend_name = "lmdb";
    smds_store_config cfg = {0};
    int c;
    while ((c = getopt_long(argc, argv, "s:e:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            state = optarg;
            break;
        case 'e':
            eid = optarg;
            break;
        case 'b':
            backend_name = optarg;
            break;
        case 'd':
            cfg.dsn = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (smds_store_backend_parse(backend_name, &cfg.backend) != 0) {
        fprintf(stderr, "smdsctl: --store.backend is lmdb or postgres\n");
        return 2;
    }
    bool pg = cfg.backend == SMDS_STORE_POSTGRES;
    if ((!state && !pg) || (pg && (!cfg.dsn || !cfg.dsn[0])) || optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    if (strcmp(cmd, "migrate") == 0) {
        char err[512];
        if (!pg) {
            fprintf(stderr, "smdsctl: migrate is for --store.backend=postgres (LMDB needs none)\n");
            return 2;
        }
        if (smds_store_migrate(cfg.dsn, err, sizeof(err)) != 0) {
            fprintf(stderr, "smdsctl: migrate: %s\n", err);
            return 1;
        }
        return 0;
    }
    if (eid && !smds_eid_valid(eid)) {
        fprintf(stderr, "smdsctl: an EID is 32 digits\n");
        return 2;
    }
    if (strcmp(cmd, "list") == 0 && !eid) {
        fprintf(stderr, "smdsctl: list needs --eid\n");
        return 2;
    }
    if (strcmp(cmd, "list") && strcmp(cmd, "count") && strcmp(cmd, "purge-expired") &&
        strcmp(cmd, "export")) {
        usage(stderr);
        return 2;
    }
    char dir[4096] = "";
    struct stat st;
    if (!pg) {
        snprintf(dir, sizeof(dir), "%s/events", state);
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "smdsctl: no event store in %s\n", state);
            return 1;
        }
    }
    smds_store *s = smds_store_open(dir, &cfg);
    if (!s) {
        fprintf(stderr, "smdsctl: cannot open the event store in %s\n", pg ? "the PostgreSQL database" : dir);
        return 1;
    }
    int rc = 0;
    time_t now = time(NULL);
    if (strcmp(cmd, "list") == 0 || (strcmp(cmd, "count") == 0 && eid)) {
        smds_event_list l;
        if (smds_store_list(s, eid, now, &l) != 0) {
            rc = 1;
        } else if (strcmp(cmd, "count") == 0) {
            printf("%zu\n", l.n);
        } else {
            for (size_t i = 0; i < l.n && rc == 0; i++)
                rc = print_event(&l.items[i], NULL) ? 1 : 0;
        }
        smds_event_list_free(&l);
    } else if (strcmp(cmd, "count") == 0) {
        printf("%llu\n", (unsigned long long)smds_store_count(s));
    } else if (strcmp(cmd, "purge-expired") == 0) {
        long total = 0, n;
        while ((n = smds_store_purge(s, now, 1000)) > 0)
            total += n;
        if (n < 0)
            rc = 1;
        printf("%ld\n", total);
    } else {
        rc = smds_store_foreach(s, print_event, NULL) ? 1 : 0;
    }
    smds_store_close(s);
    if (rc)
        fprintf(stderr, "smdsctl: storage error\n");
    return rc;
}
