#!/bin/bash
# Default SM-DP+ end to end: a real smdp-default over TLS, lpa-sim as LPA + eUICC (ES9+), smdpctl for
# the inventory and orders.  The test PKI is minted with rsp-pki into $TEST_TMPDIR; TS.48 profiles are
# downloaded too when RSP_SHARED_DIR holds profiles/ts48.
#   usage: smdp_test.sh <smdp-default> <smdpctl> <rsp-pki> <lpa-sim>
# Prints "N passed, N failed" and exits non-zero on any failure.
set -u

SMDP=$(realpath "$1")
CTL=$(realpath "$2")
PKI_TOOL=$(realpath "$3")
LPASIM=$(realpath "$4")
TMP=${TEST_TMPDIR:-$(mktemp -d)}/smdp_it
rm -rf "$TMP"
mkdir -p "$TMP"
cd "$TMP" || exit 1

passed=0
failed=0
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null
    done
}
trap cleanup EXIT

ok() {
    passed=$((passed + 1))
    echo "ok   $1"
}
bad() {
    failed=$((failed + 1))
    echo "FAIL $1${2:+: $2}"
}
expect() { # NAME EXPECTED ACTUAL
    if [ "$2" == "$3" ]; then ok "$1"; else bad "$1" "expected '$2', got '$3'"; fi
}
contains() { # NAME NEEDLE HAYSTACK
    if printf '%s' "$3" | grep -qF -- "$2"; then ok "$1"; else bad "$1" "'$2' not in: $3"; fi
}
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

EID=89049032123451234512345678901235
EID2=89049032123451234512345678901243
FQDN=testsmdpplus1.example.com
STATE=$TMP/state

# ---------------------------------------------------------------- test PKI and profiles
if ! { "$PKI_TOOL" init --out pki --curve both &&
    "$PKI_TOOL" euicc --ca-dir pki/nist --eid $EID2 --force --out pki/nist/euicc/$EID2; } >pki.log 2>&1; then
    bad "mint the test PKI" "$(cat pki.log)"
    finish
fi
hex2file() { printf "$(echo "$1" | sed 's/../\\x&/g')" >"$2"; }
# A minimal package: header {2.3, iccid, services, GFSTE list} and 'end'.
upp() { hex2file "A016800102810103830A${1}A500A600AA00" "$2"; }
upp 8999000000000000001F one.der
upp 89990000000000000022 two.der
upp 8999000000000000003F three.der
upp 8999000000000000004F four.der
upp 8999000000000000005F five.der
upp 8999000000000000006F six.der
sha() { sha256sum "$1" | cut -d' ' -f1 | tr a-f A-F; }

out=$("$CTL" --state "$STATE" import --profile-type Test --owner op1 one.der two.der three.der four.der five.der \
    six.der 2>&1)
expect "import synthetic profiles" \
    "$(printf '8999000000000000001\n89990000000000000022\n8999000000000000003\n8999000000000000004\n8999000000000000005\n8999000000000000006')" \
    "$out"

# ---------------------------------------------------------------- the server
CAS=pki/nist/ci/ci.pem,pki/brainpool/ci/ci.pem
start_smdp() {
    rm -f smdp.ports
    "$SMDP" --server.workers=2 --server.state_dir="$STATE" --server.create_secrets --server.port_file=smdp.ports --device.port=0 \
        --s2s.port=0 --tls.cert=pki/nist/smdp/dptls.pem --tls.key=pki/nist/smdp/dptls.key.pem \
        --s2s.client_ca=pki/nist/operator/ca.pem --smdp.fqdn=$FQDN --smdp.ci="$CAS" \
        --smdp.auth_cert=pki/nist/smdp/dpauth.pem,pki/brainpool/smdp/dpauth.pem \
        --smdp.auth_key=pki/nist/smdp/dpauth.key.pem,pki/brainpool/smdp/dpauth.key.pem \
        --smdp.pb_cert=pki/nist/smdp/dppb.pem,pki/brainpool/smdp/dppb.pem \
        --smdp.pb_key=pki/nist/smdp/dppb.key.pem,pki/brainpool/smdp/dppb.key.pem \
        --log.file="$TMP/smdp.log" >>smdp.out 2>&1 &
    PID=$!
    PIDS+=("$PID")
    for _ in $(seq 1 300); do
        [ -s smdp.ports ] && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    PORT=$(awk '$1 == "device" {print $2}' smdp.ports 2>/dev/null)
    [ -n "$PORT" ]
}
if ! start_smdp; then
    bad "smdp-default starts" "$(cat smdp.out)"
    finish
fi
ok "smdp-default starts"

lpa() { # DIR [args...]: lpa-sim against this server
    local dir=$1
    shift
    "$LPASIM" --euicc "$dir" --cafile pki/nist/ci/ci.pem --connect-to 127.0.0.1:$PORT "$@" 2>&1
}
state_of() { "$CTL" --state "$STATE" list | grep "\"iccid\":\"$1\"" | sed 's/.*"state":"\([A-Za-z]*\)".*/\1/'; }
field() { printf '%s' "$2" | sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
code() { printf '%s' "$1" | sed -n 's/.*"subjectCode":"\([^"]*\)","reasonCode":"\([^"]*\)".*/\1\/\2/p'; }

"$LPASIM" init --euicc dev1 --from-pki pki --curve nist >lpa.log 2>&1 &&
    "$LPASIM" init --euicc dev2 --from-pki pki --curve brainpool >>lpa.log 2>&1 ||
    bad "lpa-sim init" "$(cat lpa.log)"

# ---------------------------------------------------------------- refusals before any order
out=$(lpa dev1 download --smdp $FQDN:$PORT)
expect "no order for this EID: 8.1.1/3.8" "8.1.1/3.8" "$(code "$out")"
out=$(lpa dev1 download --smdp $FQDN:$PORT --matching-id NO-SUCH-ID)
expect "unknown matchingId: 8.2.6/3.8" "8.2.6/3.8" "$(code "$out")"
out=$(lpa dev1 --address other.example.com download --smdp $FQDN:$PORT)
expect "wrong SM-DP+ address: 8.8.1/3.8" "8.8.1/3.8" "$(code "$out")"

# ---------------------------------------------------------------- Default SM-DP+: no matchingId
out=$("$CTL" --state "$STATE" order --owner op1 --iccid 8999000000000000001 --eid $EID --release 2>&1)
contains "order released for the EID" "8999000000000000001 " "$out"
expect "state Released" Released "$(state_of 8999000000000000001)"
out=$(lpa dev1 download --smdp $FQDN:$PORT --notify)
contains "download without matchingId succeeds" '"ok":true' "$out"
expect "packageSha256 is the imported package" "$(sha one.der)" "$(field packageSha256 "$out")"
expect "iccid" 8999000000000000001 "$(field iccid "$out")"
contains "notification sent" '"notified":true' "$out"
expect "state Installed" Installed "$(state_of 8999000000000000001)"
out=$(lpa dev1 download --smdp $FQDN:$PORT)
expect "nothing more for this EID: 8.1.1/3.8" "8.1.1/3.8" "$(code "$out")"

# ---------------------------------------------------------------- with a matchingId (brainpool eUICC)
out=$("$CTL" --state "$STATE" order --owner op1 --iccid 89990000000000000022 --matching-id AC-TOKEN-2 --release 2>&1)
expect "order with a matchingId" "89990000000000000022 AC-TOKEN-2" "$out"
# the operator hands the device an Activation Code as a QR code; the device scans it and downloads
ac=$("$CTL" --state "$STATE" activation-code --iccid 89990000000000000022 --smdp-address $FQDN --qr ac.png 2>&1)
expect "activation-code for the order" "LPA:1\$$FQDN\$AC-TOKEN-2" "$ac"
scanned=$(zbarimg --quiet --raw ac.png 2>/dev/null)
expect "its QR code scans to the same Activation Code" "$ac" "$scanned"
IFS='$' read -r _ ac_addr ac_token _ <<<"$scanned"
out=$(lpa dev2 download --smdp "$ac_addr:$PORT" --matching-id "$ac_token" --notify)
contains "download with the scanned Activation Code succeeds (brainpool)" '"ok":true' "$out"
expect "packageSha256 (matchingId)" "$(sha two.der)" "$(field packageSha256 "$out")"
expect "state Installed (matchingId)" Installed "$(state_of 89990000000000000022)"
contains "order bound to the downloading EID" "\"eid\":\"$EID\"" \
    "$("$CTL" --state "$STATE" list | grep 89990000000000000022)"

# ---------------------------------------------------------------- another EID's order
"$CTL" --state "$STATE" order --owner op1 --iccid 8999000000000000003 --eid $EID2 --matching-id MID-3 \
    --release >/dev/null 2>&1
out=$(lpa dev1 download --smdp $FQDN:$PORT --matching-id MID-3)
expect "matchingId of another EID: 8.1.1/3.8" "8.1.1/3.8" "$(code "$out")"
expect "refused order untouched" Released "$(state_of 8999000000000000003)"

# ---------------------------------------------------------------- cancelSession
if "$LPASIM" init --euicc dev3 --from-pki pki --curve nist --eid $EID2 >>lpa.log 2>&1; then
    out=$(lpa dev3 cancel --smdp $FQDN:$PORT --reason postponed)
    contains "cancelSession accepted" '"ok":true' "$out"
    expect "cancel leaves the order Released" Released "$(state_of 8999000000000000003)"
    out=$(lpa dev3 download --smdp $FQDN:$PORT --notify)
    contains "download after a cancel" '"ok":true' "$out"
    expect "packageSha256 after a cancel" "$(sha three.der)" "$(field packageSha256 "$out")"
    expect "state Installed after a cancel" Installed "$(state_of 8999000000000000003)"
else
    bad "lpa-sim init for the second EID" "$(tail -3 lpa.log)"
fi

# ---------------------------------------------------------------- confirmation code
"$CTL" --state "$STATE" order --owner op1 --iccid 8999000000000000004 --matching-id CC-4 --cc 1234 \
    --release >/dev/null 2>&1
out=$(lpa dev2 download --smdp $FQDN:$PORT --matching-id CC-4 --cc 9999)
expect "wrong confirmation code: 8.2.7/3.8" "8.2.7/3.8" "$(code "$out")"
contains "failed attempt counted" '"ccAttempts":1' "$("$CTL" --state "$STATE" list | grep 8999000000000000004)"
# A code of digits may also be hashed over its hex-decoded bytes (as some clients do): one try either way.
out=$(lpa dev2 download --smdp $FQDN:$PORT --matching-id CC-4 --cc 9999 --cc-hex)
expect "wrong confirmation code, hex-decoded: 8.2.7/3.8" "8.2.7/3.8" "$(code "$out")"
contains "counted once as well" '"ccAttempts":2' "$("$CTL" --state "$STATE" list | grep 8999000000000000004)"
out=$(lpa dev2 download --smdp $FQDN:$PORT --matching-id CC-4 --cc 1234 --cc-hex --notify)
contains "TC_SM-DP+_ES9+.GetBoundProfilePackage: right confirmation code, hex-decoded" '"ok":true' "$out"
expect "state Installed (confirmation code)" Installed "$(state_of 8999000000000000004)"
"$CTL" --state "$STATE" order --owner op1 --iccid 8999000000000000006 --matching-id CC-6 --cc 1234 \
    --release >/dev/null 2>&1
# One session per try: with the default limits (3 codes, 3 sessions) the third wrong code ends the order.
for n in 1 2; do
    out=$(lpa dev2 download --smdp $FQDN:$PORT --matching-id CC-6 --cc 000$n)
    expect "wrong confirmation code $n: 8.2.7/3.8" "8.2.7/3.8" "$(code "$out")"
done
out=$(lpa dev2 download --smdp $FQDN:$PORT --matching-id CC-6 --cc 0003)
expect "third wrong code: retries exhausted, 8.2.7/6.4" "8.2.7/6.4" "$(code "$out")"
expect "the order ends in Error" Error "$(state_of 8999000000000000006)"
contains "three failed attempts recorded" '"ccAttempts":3' "$("$CTL" --state "$STATE" list | grep 8999000000000000006)"
out=$(lpa dev2 download --smdp $FQDN:$PORT --matching-id CC-6 --cc 1234)
expect "the right code comes too late: 8.2.7/6.4" "8.2.7/6.4" "$(code "$out")"
out=$(lpa dev2 download --smdp $FQDN:$PORT --cc 1234)
expect "asked by EID alone, the device hears the same: 8.2.7/6.4" "8.2.7/6.4" "$(code "$out")"

# ---------------------------------------------------------------- getBoundProfilePackage retried
"$CTL" --state "$STATE" order --owner op1 --iccid 8999000000000000005 --eid $EID --release >/dev/null 2>&1
out=$("$LPASIM" --euicc dev1 --cafile pki/nist/ci/ci.pem --connect-to 127.0.0.1:$PORT --verbose \
    download --smdp $FQDN:$PORT 2>verbose.log)
contains "download, notification held back" '"notified":false' "$out"
expect "state Downloaded" Downloaded "$(state_of 8999000000000000005)"
# The server dies between the download and the retry: the session lives in the order store.
kill -KILL "$PID"
wait "$PID" 2>/dev/null
if start_smdp; then ok "smdp-default restarts after SIGKILL mid-order"; else bad "restart mid-order" "$(tail -3 smdp.out)"; fi
n=$(grep -n '^> POST .*/getBoundProfilePackage' verbose.log | cut -d: -f1)
req=$(sed -n "$((n + 1))p" verbose.log | sed 's/^> //')
first=$(sed -n "$((n + 2))p" verbose.log | sed 's/^< HTTP[^ ]* 200 //')
again=$(curl -s --cacert pki/nist/ci/ci.pem --resolve $FQDN:$PORT:127.0.0.1 -H 'Content-Type: application/json' \
    -H 'X-Admin-Protocol: gsma/rsp/v2.2.2' --data-binary "$req" \
    "https://$FQDN:$PORT/gsma/rsp2/es9plus/getBoundProfilePackage")
contains "retried getBoundProfilePackage succeeds after the restart" '"boundProfilePackage":"' "$again"
expect "retry gets the very same BPP" "$first" "$again"
out=$(lpa dev1 notify)
expect "late notification installs" Installed "$(state_of 8999000000000000005)"
# The AuthenticateClient of that download, replayed after the restart: the durable replay store refuses
# it (without it the order, now Installed, would only be "not found").
n=$(grep -n '^> POST .*/authenticateClient' verbose.log | cut -d: -f1)
req=$(sed -n "$((n + 1))p" verbose.log | sed 's/^> //')
again=$(curl -s --cacert pki/nist/ci/ci.pem --resolve $FQDN:$PORT:127.0.0.1 -H 'Content-Type: application/json' \
    -H 'X-Admin-Protocol: gsma/rsp/v2.2.2' --data-binary "$req" \
    "https://$FQDN:$PORT/gsma/rsp2/es9plus/authenticateClient")
expect "AuthenticateClient replayed after a restart: 8.10.1/3.9" 8.10.1/3.9 "$(code "$again")"

# ---------------------------------------------------------------- bad input on every handler
before=$("$CTL" --state "$STATE" list | sed 's/"updatedAt":[0-9]*//')
post() { # FN BODY: prints "HTTP-status body"
    curl -s -o resp.body -w '%{http_code}' --cacert pki/nist/ci/ci.pem --resolve $FQDN:$PORT:127.0.0.1 \
        -H 'Content-Type: application/json' -H 'X-Admin-Protocol: gsma/rsp/v2.2.2' \
        --data-binary "$2" "https://$FQDN:$PORT/gsma/rsp2/es9plus/$1"
    printf ' %s' "$(cat resp.body 2>/dev/null)"
}
TID=0100000000000000000000000000AB01
for fn in initiateAuthentication authenticateClient getBoundProfilePackage cancelSession; do
    expect "$fn: malformed JSON" 1.1/2.1 "$(code "$(post $fn '{"transactionId"')")"
    expect "$fn: empty object" 1.1/2.2 "$(code "$(post $fn '{}')")"
done
expect "initiateAuthentication: bad base64" 1.1/2.1 \
    "$(code "$(post initiateAuthentication '{"euiccChallenge":"***","euiccInfo1":"vyA=","smdpAddress":"'$FQDN'"}')")"
expect "initiateAuthentication: garbage euiccInfo1" 1.1/2.1 \
    "$(code "$(post initiateAuthentication '{"euiccChallenge":"AAAAAAAAAAAAAAAAAAAAAA==","euiccInfo1":"MAA=","smdpAddress":"'$FQDN'"}')")"
expect "authenticateClient: unknown transactionId" 8.10.1/3.9 \
    "$(code "$(post authenticateClient '{"transactionId":"'$TID'","authenticateServerResponse":"vzgA"}')")"
expect "getBoundProfilePackage: unknown transactionId" 8.10.1/3.9 \
    "$(code "$(post getBoundProfilePackage '{"transactionId":"'$TID'","prepareDownloadResponse":"vyEFoQOAAQA="}')")"
expect "cancelSession: unknown transactionId" 8.10.1/3.9 \
    "$(code "$(post cancelSession '{"transactionId":"'$TID'","cancelSessionResponse":"v0EDgQEA"}')")"
# Notifications are answered 204 whatever the body, malformed JSON included.
for body in '{"pendingNotification"' '{}' '{"pendingNotification":"***"}' '{"pendingNotification":"MAA="}' \
    '{"pendingNotification":"vzcA"}'; do
    expect "handleNotification answers 204 to $body" 204 "$(post handleNotification "$body" | cut -d' ' -f1)"
done
expect "bad input changed nothing" "$before" "$("$CTL" --state "$STATE" list | sed 's/"updatedAt":[0-9]*//')"
kill -0 "$PID" 2>/dev/null && ok "server alive after bad input" || bad "server alive after bad input"

# ---------------------------------------------------------------- retries with the one-time keys
# smdpOtpk of the BPP in the Nth getBoundProfilePackage answer of a verbose lpa-sim log
smdp_otpk() {
    grep '^< HTTP[^ ]* 200 .*"boundProfilePackage"' "$1" | sed -n "${2}p" |
        sed 's/.*"boundProfilePackage":"\([^"]*\)".*/\1/; s#\\/#/#g' | base64 -d 2>/dev/null | od -An -v -tx1 |
        tr -d ' \n' | grep -o '5f4941.\{130\}' | head -1
}
upp 8999000000000000007F seven.der
upp 8999000000000000008F eight.der
upp 8999000000000000009F nine.der
"$CTL" --state "$STATE" import --profile-type Retry --owner op1 seven.der eight.der >/dev/null 2>&1
"$CTL" --state "$STATE" import --profile-type Ppr --owner op1 --ppr ppr1 nine.der >/dev/null 2>&1
lpa_verbose() { # DIR [args...]: lpa-sim, the HTTP exchanges appended to retry.log
    local dir=$1
    shift
    "$LPASIM" --euicc "$dir" --cafile pki/nist/ci/ci.pem --connect-to 127.0.0.1:$PORT --verbose "$@" 2>>retry.log
}
retried() { # ICCID PACKAGE AFTER-BPP STATE-BETWEEN NAME: a download stopped after the BPP, then completed
    "$CTL" --state "$STATE" order --owner op1 --iccid "$1" --eid $EID --release >/dev/null 2>&1
    out=$(lpa_verbose dev1 download --smdp $FQDN:$PORT --after-bpp "$3")
    contains "$5: BPP delivered, then --after-bpp $3" '"ok":true' "$out"
    expect "$5: state $4 after the BPP" "$4" "$(state_of "$1")"
    out=$(lpa_verbose dev1 download --smdp $FQDN:$PORT --notify)
    contains "$5: the next session downloads" '"ok":true' "$out"
    expect "$5: packageSha256" "$(sha "$2")" "$(field packageSha256 "$out")"
    expect "$5: state Installed" Installed "$(state_of "$1")"
}
# TC_SM-DP+_ES9+.GetBoundProfilePackage_RetryCases_DifferentOTPK: the BPP reached the device, which went
# away without installing it, a result or a CancelSession; its next session brings a new otPK.EUICC and
# gets a new binding.
retried 8999000000000000007 seven.der drop Downloaded "new otPK.EUICC, new binding"
# TC_SM-DP+_ES9+.CancelSession_After_GetBoundProfilePackage (postponed), then
# TC_SM-DP+_ES9+.GetBoundProfilePackage_RetryCases_ReuseOTPK: the binding is kept, offered as
# bppEuiccOtpk, and the eUICC's kept key gets the same smdpOtpk.
rm -f retry.log
retried 8999000000000000008 eight.der postponed Released "postponed, kept binding"
first=$(smdp_otpk retry.log 1)
if [ -n "$first" ]; then
    expect "the kept binding's smdpOtpk is reused" "$first" "$(smdp_otpk retry.log 2)"
else
    bad "smdpOtpk found in the BPP"
fi
# TC_SM-DP+_ES9+.AuthenticateClientNIST_ErrorCases (PPR not allowed): a profile with PPR1 is not offered to
# an eUICC that forbids PPR1; nothing is counted, and an eUICC forbidding only PPR2 gets it.
"$CTL" --state "$STATE" order --owner op1 --iccid 8999000000000000009 --eid $EID --release >/dev/null 2>&1
out=$(lpa dev1 --forbidden-ppr ppr1 download --smdp $FQDN:$PORT)
expect "PPR1 forbidden by the eUICC: 8.2.5/4.3" "8.2.5/4.3" "$(code "$out")"
expect "refused for its PPR, the order stays Released" Released "$(state_of 8999000000000000009)"
contains "no download session counted" '"downloadAttempts":0' \
    "$("$CTL" --state "$STATE" list | grep 8999000000000000009)"
out=$(lpa dev1 --forbidden-ppr ppr2 download --smdp $FQDN:$PORT --notify)
contains "PPR2 forbidden only: the PPR1 profile installs" '"ok":true' "$out"
expect "state Installed (PPR1)" Installed "$(state_of 8999000000000000009)"
"$LPASIM" --euicc dev1 --forbidden-ppr ppr3 info >/dev/null 2>&1
expect "lpa-sim refuses an unknown PPR name" 2 $?
"$LPASIM" --euicc dev1 --forbidden-ppr ppr1, info >/dev/null 2>&1
expect "lpa-sim refuses a trailing comma" 2 $?
"$LPASIM" --euicc dev1 download --smdp $FQDN:$PORT --after-bpp later >/dev/null 2>&1
expect "lpa-sim refuses an unknown --after-bpp" 2 $?

# ---------------------------------------------------------------- TS.48 (shared material)
if [ -n "${RSP_SHARED_DIR:-}" ] && [ -f "$RSP_SHARED_DIR/profiles/ts48/TS48V2-SAIP2-1-BERTLV-UNIQUE.der" ]; then
    TS=$RSP_SHARED_DIR/profiles/ts48/TS48V2-SAIP2-1-BERTLV-UNIQUE.der
    iccid=$("$CTL" --state "$STATE" import --profile-type TS48 --owner op2 "$TS" 2>&1)
    "$CTL" --state "$STATE" order --owner op2 --iccid "$iccid" --eid $EID --release >/dev/null 2>&1
    out=$(lpa dev1 download --smdp $FQDN:$PORT --notify)
    contains "TS.48 V2 download" '"ok":true' "$out"
    expect "TS.48 V2 packageSha256" "$(sha "$TS")" "$(field packageSha256 "$out")"
    expect "TS.48 V2 Installed" Installed "$(state_of "$iccid")"
else
    echo "SKIP TS.48: RSP_SHARED_DIR/profiles/ts48 not available"
fi

kill -TERM "$PID"
wait "$PID"
expect "smdp-default stops cleanly on SIGTERM" 0 $?
finish
