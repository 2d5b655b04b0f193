/*
 * pgtmp - starts or stops a throw-away PostgreSQL server (tests/pg/pgtmp.h) for shell tests and local
 * clusters.
 *
 *   pgtmp start          prints "DIR<TAB>DSN" of a new running server
 *   pgtmp stop DIR       stops it and removes DIR
 *   pgtmp halt DIR       stops it, keeps DIR
 *   pgtmp resume DIR     starts it again
 *   pgtmp createdb DIR NAME   creates database NAME unless it exists
 *
 * Exit status: 0, 1 on failure, 2 on a usage error, 3 when PostgreSQL is not installed.
 */
#include <stdio.h>
#include <string.h>

#include "tests/pg/pgtmp.h"

int main(int argc, char **argv)
{
    pgtmp p;
    int rc;
    if (argc == 2 && strcmp(argv[1], "start") == 0) {
        rc = pgtmp_start(&p);
        if (rc == 0)
            printf("%s\t%s\n", p.dir, p.dsn);
        else
            pgtmp_stop(&p);
    } else if (argc == 3 &&
               (!strcmp(argv[1], "stop") || !strcmp(argv[1], "halt") || !strcmp(argv[1], "resume"))) {
        rc = pgtmp_attach(&p, argv[2]);
        if (rc == 0 && !strcmp(argv[1], "stop"))
            pgtmp_stop(&p);
        else if (rc == 0)
            rc = !strcmp(argv[1], "halt") ? pgtmp_halt(&p) : pgtmp_resume(&p);
    } else if (argc == 4 && !strcmp(argv[1], "createdb")) {
        rc = pgtmp_attach(&p, argv[2]);
        if (rc == 0)
            rc = pgtmp_create_db(&p, argv[3]);
    } else {
        fprintf(stderr, "usage: pgtmp start | stop DIR | halt DIR | resume DIR | createdb DIR NAME\n");
        return 2;
    }
    if (rc == PGTMP_ABSENT) {
        fprintf(stderr, "pgtmp: PostgreSQL binaries are not installed\n");
        return 3;
    }
    return rc == 0 ? 0 : 1;
}
