#!/bin/sh
# lpa-sim command line: init from an rsp-pki output and from the SGP.26 files
# (when RSP_SHARED_DIR is set), info, profiles, exit codes and the one-object
# JSON output of failures.  The network flows are covered by lpa_test.
# Usage: lpa_sim_test.sh PATH-TO-lpa-sim PATH-TO-rsp-pki
set -u

abspath() {
    case "$1" in
    /*) echo "$1" ;;
    *) echo "$PWD/$1" ;;
    esac
}
SIM=$(abspath "$1")
PKI=$(abspath "$2")
T="${TEST_TMPDIR:-$(mktemp -d)}/lpa_sim_test"
rm -rf "$T"
mkdir -p "$T"
EID=89049032123451234512345678901235
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() {
    fail=$((fail + 1))
    echo "not ok: $*"
}
# expect DESCRIPTION WANTED-EXIT PATTERN COMMAND...: exit code and one stdout line matching PATTERN
expect() {
    d="$1" want="$2" pat="$3"
    shift 3
    out=$("$@" 2>"$T/stderr")
    rc=$?
    lines=$(printf '%s\n' "$out" | wc -l)
    if [ "$rc" -ne "$want" ]; then
        bad "$d: exit $rc, wanted $want: $out $(cat "$T/stderr")"
    elif [ "$want" -ne 2 ] && [ "$lines" -ne 1 ]; then
        bad "$d: $lines lines of output"
    elif ! printf '%s\n' "$out" | grep -q -- "$pat"; then
        bad "$d: output '$out' lacks $pat"
    else
        ok
    fi
}

"$PKI" init --out "$T/pki" --curve both >/dev/null || bad "rsp-pki init"

expect "init" 0 "\"ok\":true,\"eid\":\"$EID\"" "$SIM" init --euicc "$T/e1" --from-pki "$T/pki"
expect "init trusts both CIs" 0 '"trustedCis":2' "$SIM" init --euicc "$T/e2" --from-pki "$T/pki" --curve brainpool
expect "init twice" 1 '"ok":false,"stage":"init"' "$SIM" init --euicc "$T/e1" --from-pki "$T/pki"
expect "init wrong EID" 1 '"ok":false' "$SIM" init --euicc "$T/e3" --from-pki "$T/pki" --eid 89049032123451234512345678901299
expect "info" 0 '"euiccInfo1":"vyB' "$SIM" --euicc "$T/e1" info
expect "info root SM-DS" 0 '"rootSmdsAddress":"lpa.ds.gsma.com"' "$SIM" --euicc "$T/e1" info
expect "profiles empty" 0 '"profiles":\[\],"pendingNotifications":\[\]' "$SIM" profiles --euicc "$T/e1"
expect "enable unknown" 1 '"euiccError":"iccidOrAidNotFound"' "$SIM" --euicc "$T/e1" enable --iccid 8988211000000000017
expect "download, nothing listening" 1 '"ok":false,"stage":"initiateAuthentication"' \
    "$SIM" --euicc "$T/e1" --timeout 5000 download --smdp 127.0.0.1:1
expect "discover, nothing listening" 1 '"stage":"initiateAuthentication"' \
    "$SIM" --euicc "$T/e1" --timeout 5000 discover --smds 127.0.0.1:1 --es11-paths es11
expect "notify, nothing pending" 0 '"sent":0,"failed":0,"pending":0' "$SIM" --euicc "$T/e1" notify
expect "bad server" 1 '"detail":"bad server' "$SIM" --euicc "$T/e1" download --smdp "https://x/"
expect "usage: no command" 2 '' "$SIM" --euicc "$T/e1"
expect "usage: unknown option" 2 '' "$SIM" --euicc "$T/e1" profiles --bogus
expect "usage: cancel without reason" 2 '' "$SIM" --euicc "$T/e1" cancel --smdp 127.0.0.1:1
expect "usage: bad es11 paths" 2 '' "$SIM" --euicc "$T/e1" discover --smds x --es11-paths es12
expect "no eUICC directory" 1 '"stage":"load"' "$SIM" --euicc "$T/none" profiles

if [ -n "${RSP_SHARED_DIR:-}" ] && [ -d "$RSP_SHARED_DIR/pki/sgp26" ]; then
    expect "init from SGP.26" 0 "\"eid\":\"$EID\",.*\"trustedCis\":2" \
        "$SIM" init --euicc "$T/sgp26" --from-pki "$RSP_SHARED_DIR/pki/sgp26"
else
    echo "SKIP SGP.26 init: RSP_SHARED_DIR not set"
fi

rm -rf "$T"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
