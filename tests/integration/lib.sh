# tests/integration/lib.sh - helpers shared by the shell tests; source it (POSIX sh, so /bin/sh and bash
# scripts can both use it) from the runfiles root, where Bazel starts a test:
#     . ./tests/integration/lib.sh
# and list //tests/integration:lib.sh in the test's data.  Checks are counted in $passed and $failed;
# it_finish prints the tally and gives the test's exit status.

passed=0
failed=0
IT_PIDS=""

# it_init NAME: a fresh work directory $TEST_TMPDIR/NAME (or under a new temporary directory), in $TMP;
# processes named with it_track are killed when the test exits.
it_init() {
    TMP=${TEST_TMPDIR:-$(mktemp -d)}/$1
    rm -rf "$TMP"
    mkdir -p "$TMP" || exit 1
    trap it_cleanup EXIT
}

it_cleanup() {
    for p in $IT_PIDS; do
        kill -KILL "$p" 2>/dev/null
    done
    if [ -n "${IT_PG_DIR:-}" ]; then
        "$IT_PG_TOOL" stop "$IT_PG_DIR"
    fi
}

# it_pg_start TOOL: starts a throw-away PostgreSQL with the pgtmp tool (tests/pg), stopped and removed when
# the test exits; sets IT_PG_DIR.  Returns 3 when PostgreSQL is not installed, 1 on another failure.
it_pg_start() {
    IT_PG_TOOL=$1
    _out=$("$IT_PG_TOOL" start) || return $?
    IT_PG_DIR=${_out%%	*}
}

# it_pg_dsn NAME: creates database NAME (letters, digits, _) on the test server and prints its DSN.
it_pg_dsn() {
    "$IT_PG_TOOL" createdb "$IT_PG_DIR" "$1" >/dev/null || return 1
    echo "host=$IT_PG_DIR user=rsp dbname=$1"
}

# it_track PID: kill PID (with SIGKILL) if it still runs when the test exits.
it_track() {
    IT_PIDS="$IT_PIDS $1"
}

# ok [NAME]: a passed check, printed when named.
ok() {
    passed=$((passed + 1))
    if [ $# -gt 0 ]; then echo "ok   $1"; fi
}

# bad NAME [DETAIL]: a failed check.
bad() {
    failed=$((failed + 1))
    echo "FAIL $1${2:+: $2}"
}

# expect NAME EXPECTED ACTUAL
expect() {
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "expected '$2', got '$3'"; fi
}

# contains NAME NEEDLE HAYSTACK
contains() {
    if printf '%s' "$3" | grep -qF -- "$2"; then ok "$1"; else bad "$1" "'$2' not in: $3"; fi
}

# es_status JSON: OK for an ES response with Executed-Success, else its subjectCode/reasonCode
# ("none" for what is missing).
es_status() {
    if printf '%s' "$1" | grep -q '"status":"Executed-Success"'; then
        echo OK
    else
        echo "$(printf '%s' "$1" | sed -n 's/.*"subjectCode":"\([^"]*\)".*/\1/p' | grep . || echo none)/$(
            printf '%s' "$1" | sed -n 's/.*"reasonCode":"\([^"]*\)".*/\1/p' | grep . || echo none)"
    fi
}

# until_has SECONDS NEEDLE CMD...: runs CMD every 0.1 s until its output holds NEEDLE (SECONDS at most);
# prints the last output.  until_lacks: until it no longer does.
until_has() { _until_output 0 "$@"; }
until_lacks() { _until_output 1 "$@"; }
_until_output() {
    _lack=$1 _secs=$2 _needle=$3 _out=""
    shift 3
    for _ in $(seq 1 $((_secs * 10))); do
        _out=$("$@")
        printf '%s' "$_out" | grep -qF -- "$_needle"
        [ $(($? == 0)) -ne "$_lack" ] && break
        sleep 0.1
    done
    printf '%s' "$_out"
}

# log_wait FILE NEEDLE: waits (5 s at most) until FILE holds NEEDLE; access-log lines
# reach the file in batches, up to RSP_LOG_FLUSH_MS (50 ms) after they were logged.
log_wait() {
    for _ in $(seq 1 50); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# wait_ports FILE PID: waits (30 s at most) until the server PID wrote its port file.
wait_ports() {
    for _ in $(seq 1 300); do
        [ -s "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# port_of FILE NAME: the port of listener NAME in a port file ("NAME PORT" lines).
port_of() {
    awk -v n="$2" '$1 == n {print $2}' "$1"
}

# unblocked_threads PID: the threads of PID, other than the main one, that would take SIGHUP, SIGINT or
# SIGTERM with their default action. The main thread waits for them in sigtimedwait, which unblocks them
# while it waits, so it is not checked.
unblocked_threads() {
    local t m
    for t in /proc/"$1"/task/*; do
        [ "${t##*/}" = "$1" ] && continue
        m=$(awk '$1 == "SigBlk:" {print $2}' "$t/status" 2>/dev/null) || continue
        [ -n "$m" ] && [ $((0x$m & 0x4003)) -ne $((0x4003)) ] && echo "${t##*/}"
    done
}

# stop NAME PID: SIGTERM, and the process must exit 0.
stop() {
    expect "$1: every thread leaves SIGTERM to the signal loop" "" "$(unblocked_threads "$2")"
    kill -TERM "$2"
    wait "$2"
    expect "$1 stops cleanly on SIGTERM" 0 $?
}

# it_finish: prints "N passed, N failed"; non-zero when a check failed.
it_finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# ini_set FILE SECTION KEY VALUE: sets KEY in [SECTION] of an INI file written from the annotated sample
# (`<service> --print-sample-config`), uncommenting its ';KEY =' line.
ini_set() {
    awk -v s="[$2]" -v k="$3" -v v="$4" '
        /^\[/ { in_s = ($0 == s) }
        in_s && ($0 ~ "^;?" k " =") { print k " = " v; next }
        { print }' "$1" >"$1.tmp" && mv "$1.tmp" "$1"
}

# json_lines FILE: exits non-zero (naming the line) unless every line of FILE is one JSON object.
json_lines() {
    python3 -c '
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    try:
        assert isinstance(json.loads(line), dict)
    except Exception:
        sys.exit("line %d is not a JSON object: %s" % (n, line.strip()))
' "$1"
}
