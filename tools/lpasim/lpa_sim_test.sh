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
. ./tests/integration/lib.sh
it_init lpa_sim_test
EID=89049032123451234512345678901235

# expect_run DESCRIPTION WANTED-EXIT PATTERN COMMAND...: exit code and one stdout line matching PATTERN
expect_run() {
    d="$1" want="$2" pat="$3"
    shift 3
    out=$("$@" 2>"$TMP/stderr")
    rc=$?
    lines=$(printf '%s\n' "$out" | wc -l)
    if [ "$rc" -ne "$want" ]; then
        bad "$d: exit $rc, wanted $want: $out $(cat "$TMP/stderr")"
    elif [ "$want" -ne 2 ] && [ "$lines" -ne 1 ]; then
        bad "$d: $lines lines of output"
    elif ! printf '%s\n' "$out" | grep -q -- "$pat"; then
        bad "$d: output '$out' lacks $pat"
    else
        ok
    fi
}

"$PKI" init --out "$TMP/pki" --curve both >/dev/null || bad "rsp-pki init"

expect_run "init" 0 "\"ok\":true,\"eid\":\"$EID\"" "$SIM" init --euicc "$TMP/e1" --from-pki "$TMP/pki"
# a v3 variant set: the eUICC keeps its EUM sub-CA, EUM and CI sub-CA chain
"$PKI" init --out "$TMP/pkic" --variant C --curve both >/dev/null || bad "rsp-pki init --variant C"
for c in nist brainpool; do
    expect_run "init from variant C $c" 0 "\"ok\":true,\"eid\":\"$EID\"" "$SIM" init --euicc "$TMP/ec$c" \
        --from-pki "$TMP/pkic" --curve $c
    n=$(grep -c "BEGIN CERTIFICATE" "$TMP/ec$c/eum.pem" 2>/dev/null)
    if [ "$n" = 3 ]; then ok; else bad "variant C $c eUICC keeps 3 chain certificates, has $n"; fi
done
# SGP.26 v3 file names (*_SIG_*), with an EUM sub-CA
mkdir -p "$TMP/s26v3"
cp "$TMP/pkic/nist/ci/ci.der" "$TMP/s26v3/CERT_CI_SIG_NIST.der"
cp "$TMP/pkic/nist/eum/eum.der" "$TMP/s26v3/CERT_EUM_SIG_NIST.der"
cp "$TMP/pkic/nist/eum-subca/eum-subca.der" "$TMP/s26v3/CERT_EUMSubCA_SIG_NIST.der"
cp "$TMP/pkic/nist/ci-subca/ci-subca.der" "$TMP/s26v3/CERT_CISubCA_SIG_NIST.der"
cp "$TMP/pkic/nist/euicc/$EID/euicc.der" "$TMP/s26v3/CERT_EUICC_SIG_NIST.der"
cp "$TMP/pkic/nist/euicc/$EID/euicc.key.pem" "$TMP/s26v3/SK_EUICC_SIG_NIST.pem"
expect_run "init from SGP.26 v3 names" 0 "\"ok\":true,\"eid\":\"$EID\"" "$SIM" init --euicc "$TMP/es26v3" \
    --from-pki "$TMP/s26v3"
n=$(grep -c "BEGIN CERTIFICATE" "$TMP/es26v3/eum.pem" 2>/dev/null)
if [ "$n" = 3 ]; then ok; else bad "SGP.26 v3 names: 3 chain certificates, has $n"; fi
expect_run "init trusts both CIs" 0 '"trustedCis":2' "$SIM" init --euicc "$TMP/e2" --from-pki "$TMP/pki" --curve brainpool
expect_run "init twice" 1 '"ok":false,"stage":"init"' "$SIM" init --euicc "$TMP/e1" --from-pki "$TMP/pki"
expect_run "init wrong EID" 1 '"ok":false' "$SIM" init --euicc "$TMP/e3" --from-pki "$TMP/pki" --eid 89049032123451234512345678901299
expect_run "info" 0 '"euiccInfo1":"vyB' "$SIM" --euicc "$TMP/e1" info
expect_run "info root SM-DS" 0 '"rootSmdsAddress":"lpa.ds.gsma.com"' "$SIM" --euicc "$TMP/e1" info
expect_run "profiles empty" 0 '"profiles":\[\],"pendingNotifications":\[\]' "$SIM" profiles --euicc "$TMP/e1"
expect_run "enable unknown" 1 '"euiccError":"iccidOrAidNotFound"' "$SIM" --euicc "$TMP/e1" enable --iccid 8988211000000000017
expect_run "download, nothing listening" 1 '"ok":false,"stage":"initiateAuthentication"' \
    "$SIM" --euicc "$TMP/e1" --timeout 5000 download --smdp 127.0.0.1:1
expect_run "discover, nothing listening" 1 '"stage":"initiateAuthentication"' \
    "$SIM" --euicc "$TMP/e1" --timeout 5000 discover --smds 127.0.0.1:1 --es11-paths es11
expect_run "notify, nothing pending" 0 '"sent":0,"failed":0,"pending":0' "$SIM" --euicc "$TMP/e1" notify
expect_run "bad server" 1 '"detail":"bad server' "$SIM" --euicc "$TMP/e1" download --smdp "https://x/"
expect_run "usage: no command" 2 '' "$SIM" --euicc "$TMP/e1"
expect_run "usage: unknown option" 2 '' "$SIM" --euicc "$TMP/e1" profiles --bogus
expect_run "usage: cancel without reason" 2 '' "$SIM" --euicc "$TMP/e1" cancel --smdp 127.0.0.1:1
expect_run "usage: bad es11 paths" 2 '' "$SIM" --euicc "$TMP/e1" discover --smds x --es11-paths es12
expect_run "no eUICC directory" 1 '"stage":"load"' "$SIM" --euicc "$TMP/none" profiles

if [ -n "${RSP_SHARED_DIR:-}" ] && [ -d "$RSP_SHARED_DIR/pki/sgp26" ]; then
    expect_run "init from SGP.26" 0 "\"eid\":\"$EID\",.*\"trustedCis\":2" \
        "$SIM" init --euicc "$TMP/sgp26" --from-pki "$RSP_SHARED_DIR/pki/sgp26"
else
    echo "SKIP SGP.26 init: RSP_SHARED_DIR not set"
fi

rm -rf "$TMP"
it_finish
