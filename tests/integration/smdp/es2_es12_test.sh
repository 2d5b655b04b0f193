#!/bin/bash
# Default SM-DP+ with its neighbours, all real processes over real (mutual) TLS:
#   operator (curl with the operator client certificate) --ES2+--> smdp-default --ES12--> smds
#   lpa-sim (LPA + eUICC) --ES11--> smds, --ES9+--> smdp-default
#   smdp-default --ES2+ HandleDownloadProgressInfo--> operator_stub
# Covers orders and release over ES2+, event registration and deletion at the SM-DS, downloads with the
# EventID and without any matchingId (the Default SM-DP+ case), progress notifications with a retry,
# the durable outbox across an SM-DS outage and an SM-DP+ crash, the 8.9/5.1 policy, operator rights,
# SIGHUP reload, /metrics, JSON logs, bad input; TS.48 when RSP_SHARED_DIR has it.
#   usage: es2_es12_test.sh <smdp-default> <smdpctl> <smds> <rsp-pki> <lpa-sim> <operator_stub>
set -u
. ./tests/integration/lib.sh

SMDP=$(realpath "$1")
CTL=$(realpath "$2")
SMDS=$(realpath "$3")
PKI_TOOL=$(realpath "$4")
LPASIM=$(realpath "$5")
STUB=$(realpath "$6")
it_init smdp_es2_es12
cd "$TMP" || exit 1

finish() {
    it_finish
    exit
}

EID=89049032123451234512345678901235
FQDN=testsmdpplus1.example.com
DS=testsmds.example.com
BADDS=wrong-name.example.com # reaches the SM-DS, whose certificate names another host
OPHOST=es2.operator.example
STATE=$TMP/smdp-state

# ---------------------------------------------------------------- PKI, profiles
if ! { "$PKI_TOOL" init --out pki --curve nist &&
    "$PKI_TOOL" mint --kind dptls --issuer-cert pki/nist/operator/ca.pem --issuer-key pki/nist/operator/ca.key.pem \
        --fqdn $OPHOST --rid '' --out opsrv &&
    "$PKI_TOOL" mint --kind operator-client --issuer-cert pki/nist/operator/ca.pem \
        --issuer-key pki/nist/operator/ca.key.pem --cn other.operator.com --fqdn other.operator.com --out op2 &&
    "$PKI_TOOL" mint --kind operator-client --issuer-cert pki/nist/operator/ca.pem \
        --issuer-key pki/nist/operator/ca.key.pem --cn unknown.example --fqdn unknown.example --out op3 &&
    "$PKI_TOOL" mint --kind operator-client --issuer-cert pki/nist/ci/ci.pem --issuer-key pki/nist/ci/ci.key.pem \
        --cn test.operator.com --fqdn test.operator.com --out rogue; } >pki.log 2>&1; then
    bad "mint the test PKI" "$(cat pki.log)"
    finish
fi
hex2file() { printf "$(echo "$1" | sed 's/../\\x&/g')" >"$2"; }
sha() { sha256sum "$1" | cut -d' ' -f1 | tr a-f A-F; }
for i in 1 2 3 4 5 6 7; do
    hex2file "A016800102810103830A899900000000000010${i}FA500A600AA00" p$i.der
done
hex2file "A016800102810103830A8999000000000000108FA500A600AA00" p8.der
out=$("$CTL" --state "$STATE" import --profile-type Test --owner op1 p1.der p2.der p3.der p4.der p5.der p6.der \
    p7.der 2>&1)
contains "import profiles for op1" 8999000000000000107 "$out"
out=$("$CTL" --state "$STATE" import --profile-type Test --owner op2 p8.der 2>&1)
expect "import a profile for op2" 8999000000000000108 "$out"
# Every TS.48 package in the shared material, imported under its own profile type.
TS_FILES=()
TS_ICCIDS=()
if [ -n "${RSP_SHARED_DIR:-}" ] && [ -d "$RSP_SHARED_DIR/profiles/ts48" ]; then
    for f in "$RSP_SHARED_DIR"/profiles/ts48/*.der; do
        [ -f "$f" ] || continue
        iccid=$("$CTL" --state "$STATE" import --profile-type "TS48-$(basename "$f" .der)" --owner op1 "$f" 2>&1)
        if [[ "$iccid" =~ ^[0-9]{19,20}$ ]]; then
            TS_FILES+=("$f")
            TS_ICCIDS+=("$iccid")
        else
            bad "import $(basename "$f")" "$iccid"
        fi
    done
fi

# ---------------------------------------------------------------- operator stub, SM-DS, SM-DP+
"$STUB" --port-file=stub.ports --log="$TMP/operator.log" --cert=opsrv.pem --key=opsrv.key.pem \
    --ca=pki/nist/ci/ci.pem --fail=1 >stub.out 2>&1 &
STUB_PID=$!
it_track $STUB_PID
wait_ports stub.ports $STUB_PID || { bad "operator stub starts" "$(cat stub.out)"; finish; }
OPPORT=$(port_of stub.ports es2)

start_smds() { # [S2S port]
    rm -f smds.ports
    "$SMDS" --server.workers=2 --server.state_dir="$TMP/smds-state" --server.create_secrets --server.port_file=smds.ports \
        --device.port="${DSDEV:-0}" --s2s.port="${1:-0}" --tls.cert=pki/nist/smds/dstls.pem \
        --tls.key=pki/nist/smds/dstls.key.pem --s2s.client_ca=pki/nist/ci/ci.pem --smds.fqdn=$DS \
        --smds.ci=pki/nist/ci/ci.pem --smds.auth_cert=pki/nist/smds/dsauth.pem \
        --smds.auth_key=pki/nist/smds/dsauth.key.pem --log.file="$TMP/smds.log" >>smds.out 2>&1 &
    SMDS_PID=$!
    it_track $SMDS_PID
    wait_ports smds.ports $SMDS_PID || return 1
    DSDEV=$(port_of smds.ports device)
    DSS2S=$(port_of smds.ports s2s)
}
start_smds || { bad "smds starts" "$(cat smds.out)"; finish; }
ok "smds starts"

cat >operators.ini <<EOF
[op1]
cn = test.operator.com
notify_url = https://$OPHOST:$OPPORT/gsma/rsp2/es2plus/handleDownloadProgressInfo
notify_ca = pki/nist/operator/ca.pem
[op2]
cn = other.operator.com
EOF

start_smdp() {
    rm -f smdp.ports
    "$SMDP" --server.workers=2 --server.state_dir="$STATE" --server.create_secrets --server.port_file=smdp.ports \
        --device.port="${DEV:-0}" --s2s.port="${S2S:-0}" --tls.cert=pki/nist/smdp/dptls.pem \
        --tls.key=pki/nist/smdp/dptls.key.pem --s2s.client_ca=pki/nist/operator/ca.pem --smdp.fqdn=$FQDN \
        --smdp.ci=pki/nist/ci/ci.pem --smdp.auth_cert=pki/nist/smdp/dpauth.pem \
        --smdp.auth_key=pki/nist/smdp/dpauth.key.pem --smdp.pb_cert=pki/nist/smdp/dppb.pem \
        --smdp.pb_key=pki/nist/smdp/dppb.key.pem --smdp.operators=operators.ini --client.ca=pki/nist/ci/ci.pem \
        --client.connect_to="$DS:443:127.0.0.1:$DSS2S,$OPHOST:$OPPORT:127.0.0.1:$OPPORT,$BADDS:443:127.0.0.1:$DSS2S" \
        --client.timeout_ms=3000 --outbox.backoff_min=1 --outbox.backoff_max=2 \
        --outbox.smds_unavailable_after=3 --outbox.lease=5 --log.file="$TMP/smdp.log" >>smdp.out 2>&1 &
    SMDP_PID=$!
    it_track $SMDP_PID
    wait_ports smdp.ports $SMDP_PID || return 1
    DEV=$(port_of smdp.ports device)
    S2S=$(port_of smdp.ports s2s)
}
start_smdp || { bad "smdp-default starts" "$(cat smdp.out)"; finish; }
ok "smdp-default starts"

# ---------------------------------------------------------------- helpers
# es2 FN BODY [cert base]: ES2+ call as an operator; prints the response body
es2() {
    local cert=${3:-pki/nist/operator/client}
    curl -s --max-time 20 --cacert pki/nist/ci/ci.pem --cert "$cert.pem" --key "$cert.key.pem" \
        --resolve $FQDN:$S2S:127.0.0.1 -H 'Content-Type: application/json' -H 'X-Admin-Protocol: gsma/rsp/v2.2.2' \
        --data-binary "$2" "https://$FQDN:$S2S/gsma/rsp2/es2plus/$1"
}
hdr() { printf '"header":{"functionRequesterIdentifier":"op1","functionCallIdentifier":"%s"}' "$RANDOM"; }
code() {
    if printf '%s' "$1" | grep -q '"status":"Executed-Success"'; then
        echo OK
    else
        local s r
        s=$(printf '%s' "$1" | sed -n 's/.*"subjectCode":"\([^"]*\)".*/\1/p')
        r=$(printf '%s' "$1" | sed -n 's/.*"reasonCode":"\([^"]*\)".*/\1/p')
        echo "${s:-none}/${r:-none}"
    fi
}
field() { printf '%s' "$2" | sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
state_of() { "$CTL" --state "$STATE" list | grep "\"iccid\":\"$1\"" | sed 's/.*"state":"\([A-Za-z]*\)".*/\1/'; }
lpa() { # DIR [args...]
    local dir=$1
    shift
    "$LPASIM" --euicc "$dir" --cafile pki/nist/ci/ci.pem "$@" 2>&1
}
discover() { lpa dev --connect-to 127.0.0.1:$DSDEV discover --smds $DS; }
download() { lpa dev --connect-to 127.0.0.1:$DEV download --smdp $FQDN "$@" --notify; }
oplog() { cat operator.log 2>/dev/null; }

"$LPASIM" init --euicc dev --from-pki pki --curve nist >lpa.log 2>&1 || bad "lpa-sim init" "$(cat lpa.log)"

# ---------------------------------------------------------------- operator identity and rights
curl -s -o /dev/null --max-time 10 --cacert pki/nist/ci/ci.pem --resolve $FQDN:$S2S:127.0.0.1 \
    "https://$FQDN:$S2S/healthz"
[ $? -ne 0 ] && ok "ES2+ refuses a client without certificate" || bad "ES2+ refuses a client without certificate"
out=$(es2 downloadOrder "{$(hdr),\"iccid\":\"8999000000000000101\"}" rogue)
[ -z "$out" ] && ok "ES2+ refuses a certificate from another CA" || bad "ES2+ refuses a certificate from another CA" "$out"
expect "a CN the operators file does not list: 1.1/1.2" 1.1/1.2 \
    "$(code "$(es2 downloadOrder "{$(hdr),\"iccid\":\"8999000000000000101\"}" op3)")"
expect "op2 may not order op1's profile: 8.2.1/1.2" 8.2.1/1.2 \
    "$(code "$(es2 downloadOrder "{$(hdr),\"iccid\":\"8999000000000000101\"}" op2)")"
expect "op1 may not order op2's profile: 8.2.1/1.2" 8.2.1/1.2 \
    "$(code "$(es2 downloadOrder "{$(hdr),\"iccid\":\"8999000000000000108\"}")")"
expect "the header is mandatory: 1.1/2.2" 1.1/2.2 "$(code "$(es2 downloadOrder '{"iccid":"8999000000000000101"}')")"

# ---------------------------------------------------------------- release with an SM-DS event; EventID download
out=$(es2 downloadOrder "{$(hdr),\"eid\":\"$EID\",\"iccid\":\"8999000000000000101\"}")
expect "DownloadOrder with EID" OK "$(code "$out")"
expect "DownloadOrder returns the ICCID" 8999000000000000101 "$(field iccid "$out")"
out=$(es2 confirmOrder "{$(hdr),\"iccid\":\"8999000000000000101\",\"releaseFlag\":true,\"smdsAddress\":\"$DS\"}")
expect "ConfirmOrder with release and smdsAddress" OK "$(code "$out")"
MID=$(field matchingId "$out")
expect "ConfirmOrder generated a matchingId" 1 "$([ ${#MID} -gt 10 ] && echo 1)"
expect "ConfirmOrder returns smdpAddress" $FQDN "$(field smdpAddress "$out")"
out=$(until_has 15 "$MID" discover)
contains "the SM-DS holds the event (RegisterEvent delivered)" "\"eventId\":\"$MID\"" "$out"
contains "the event points to the SM-DP+" "\"rspServerAddress\":\"$FQDN\"" "$out"
out=$(download --matching-id "$MID")
contains "download with the EventID" '"ok":true' "$out"
expect "packageSha256 is the imported package" "$(sha p1.der)" "$(field packageSha256 "$out")"
expect "state Installed" Installed "$(state_of 8999000000000000101)"
out=$(until_lacks 15 "$MID" discover)
if printf '%s' "$out" | grep -qF "$MID"; then bad "DeleteEvent after the install" "$out"; else ok "DeleteEvent after the install"; fi

# ---------------------------------------------------------------- progress notifications (first one refused, then retried)
out=$(until_has 15 '"notificationPointId":4' oplog)
contains "operator notified: eligibility" '"iccid":"8999000000000000101","profileType":"Test"' "$out"
contains "operator notified: BPP download" '"notificationPointId":3' "$out"
contains "operator notified: installation, with the result" '"resultData":"vz' "$out"
contains "operator stub refused one attempt" "REFUSED $FQDN" "$out"
n1=$(grep ACCEPTED operator.log | grep -c '"notificationPointId":1,')
expect "the refused notification was delivered once retried" 1 "$n1"
contains "notifications come from CERT.DP.TLS" "ACCEPTED $FQDN " "$out"

# ---------------------------------------------------------------- the Default SM-DP+ case: no matchingId at all
out=$(es2 downloadOrder "{$(hdr),\"eid\":\"$EID\",\"iccid\":\"8999000000000000102\"}")
expect "DownloadOrder (Default SM-DP+)" OK "$(code "$out")"
expect "ConfirmOrder without SM-DS" OK \
    "$(code "$(es2 confirmOrder "{$(hdr),\"iccid\":\"8999000000000000102\",\"releaseFlag\":true}")")"
out=$(download)
contains "download without matchingId" '"ok":true' "$out"
expect "packageSha256 (Default SM-DP+)" "$(sha p2.der)" "$(field packageSha256 "$out")"
expect "state Installed (Default SM-DP+)" Installed "$(state_of 8999000000000000102)"

# ---------------------------------------------------------------- ReleaseProfile registers, CancelOrder deletes
es2 downloadOrder "{$(hdr),\"eid\":\"$EID\",\"iccid\":\"8999000000000000103\"}" >/dev/null
out=$(es2 confirmOrder "{$(hdr),\"iccid\":\"8999000000000000103\",\"releaseFlag\":false,\"matchingId\":\"EV-103\",\"smdsAddress\":\"$DS\"}")
expect "ConfirmOrder without release" OK "$(code "$out")"
sleep 1
if discover | grep -qF EV-103; then bad "no event before the release"; else ok "no event before the release"; fi
expect "ReleaseProfile" OK "$(code "$(es2 releaseProfile "{$(hdr),\"iccid\":\"8999000000000000103\"}")")"
contains "ReleaseProfile registered the event" '"eventId":"EV-103"' "$(until_has 15 EV-103 discover)"
expect "TC_SM-DP+_ES2+.CancelOrder without the order's EID: 8.1.1/2.2" 8.1.1/2.2 \
    "$(code "$(es2 cancelOrder "{$(hdr),\"iccid\":\"8999000000000000103\",\"matchingId\":\"EV-103\",\"finalProfileStatusIndicator\":\"Available\"}")")"
expect "TC_SM-DP+_ES2+.CancelOrder without the order's matchingId: 8.2.6/2.2" 8.2.6/2.2 \
    "$(code "$(es2 cancelOrder "{$(hdr),\"iccid\":\"8999000000000000103\",\"eid\":\"$EID\",\"finalProfileStatusIndicator\":\"Available\"}")")"
expect "and the order stays Released" Released "$(state_of 8999000000000000103)"
expect "CancelOrder" OK \
    "$(code "$(es2 cancelOrder "{$(hdr),\"iccid\":\"8999000000000000103\",\"eid\":\"$EID\",\"matchingId\":\"EV-103\",\"finalProfileStatusIndicator\":\"Available\"}")")"
expect "state Available after CancelOrder" Available "$(state_of 8999000000000000103)"
out=$(until_lacks 15 EV-103 discover)
if printf '%s' "$out" | grep -qF EV-103; then bad "CancelOrder deleted the event" "$out"; else ok "CancelOrder deleted the event"; fi

# ---------------------------------------------------------------- ES2+ retry after a lost answer
RH='"header":{"functionRequesterIdentifier":"op1","functionCallIdentifier":"retry-106"}'
first=$(es2 downloadOrder "{$RH,\"eid\":\"$EID\",\"iccid\":\"8999000000000000106\"}")
expect "DownloadOrder (first attempt)" OK "$(code "$first")"
again=$(es2 downloadOrder "{$RH,\"eid\":\"$EID\",\"iccid\":\"8999000000000000106\"}")
expect "the same call again gets the first answer, not 8.2.1/3.5" "$first" "$again"
expect "a new call for it is refused" 8.2.1/3.3 \
    "$(code "$(es2 downloadOrder "{$(hdr),\"eid\":\"$EID\",\"iccid\":\"8999000000000000106\"}")")"
contains "the access log names the functionCallIdentifier" '"callId":"retry-106"' \
    "$(until_has 5 retry-106 grep ES2+.DownloadOrder smdp.log)"
expect "CancelOrder to leave it as found" OK \
    "$(code "$(es2 cancelOrder "{$(hdr),\"iccid\":\"8999000000000000106\",\"eid\":\"$EID\",\"finalProfileStatusIndicator\":\"Available\"}")")"

# ---------------------------------------------------------------- ConfirmOrder: RegisterEvent tried at once
metric() { curl -s --cacert pki/nist/ci/ci.pem --cert pki/nist/operator/client.pem \
    --key pki/nist/operator/client.key.pem --resolve $FQDN:$S2S:127.0.0.1 "https://$FQDN:$S2S/metrics" | grep "^$1 "; }
es2 downloadOrder "{$(hdr),\"eid\":\"$EID\",\"iccid\":\"8999000000000000106\"}" >/dev/null
out=$(es2 confirmOrder "{$(hdr),\"iccid\":\"8999000000000000106\",\"releaseFlag\":true,\"matchingId\":\"EV-106\",\"smdsAddress\":\"$BADDS\"}")
expect "TC_SM-DP+_ES2+.ConfirmOrder: an SM-DS refusing TLS (RegisterEvent at once): 8.9/5.1" 8.9/5.1 "$(code "$out")"
expect "the order stays as it was" Linked "$(state_of 8999000000000000106)"
contains "nothing is left in the outbox" "smdp_outbox_pending 0" "$(until_has 15 'smdp_outbox_pending 0' metric smdp_outbox_pending)"
if discover | grep -qF EV-106; then bad "no event at the SM-DS" "$(discover)"; else ok "no event at the SM-DS"; fi
expect "CancelOrder after the refused ConfirmOrder" OK \
    "$(code "$(es2 cancelOrder "{$(hdr),\"iccid\":\"8999000000000000106\",\"eid\":\"$EID\",\"finalProfileStatusIndicator\":\"Available\"}")")"

# ---------------------------------------------------------------- CancelSession: event and order agree
es2 downloadOrder "{$(hdr),\"eid\":\"$EID\",\"iccid\":\"8999000000000000107\"}" >/dev/null
out=$(es2 confirmOrder "{$(hdr),\"iccid\":\"8999000000000000107\",\"releaseFlag\":true,\"matchingId\":\"EV-107\",\"smdsAddress\":\"$DS\"}")
expect "ConfirmOrder for the CancelSession case" OK "$(code "$out")"
contains "its event is at the SM-DS" '"eventId":"EV-107"' "$(until_has 15 EV-107 discover)"
out=$(lpa dev --connect-to 127.0.0.1:$DEV cancel --smdp $FQDN --matching-id EV-107 --reason postponed)
contains "CancelSession postponed accepted" '"ok":true' "$out"
expect "postponed keeps the order Released" Released "$(state_of 8999000000000000107)"
sleep 1
contains "and keeps its event" '"eventId":"EV-107"' "$(discover)"
out=$(lpa dev --connect-to 127.0.0.1:$DEV cancel --smdp $FQDN --matching-id EV-107 --reason endUserRejection)
contains "CancelSession endUserRejection accepted" '"ok":true' "$out"
expect "endUserRejection ends the order" Error "$(state_of 8999000000000000107)"
out=$(until_lacks 15 EV-107 discover)
if printf '%s' "$out" | grep -qF EV-107; then bad "and deletes its event" "$out"; else ok "and deletes its event"; fi
contains "the operator hears of the cancelled session" '"iccid":"8999000000000000107"' \
    "$(until_has 15 '"iccid":"8999000000000000107"' oplog)"

# ---------------------------------------------------------------- metadata set at import; the device's notifications
hex2file "A016800102810103830A8999000000000000109FA500A600AA00" p9.der
out=$("$CTL" --state "$STATE" import --profile-type Notified --owner op1 --notify enable,disable,delete \
    --owner-mccmnc 31041 --ppr update-control p9.der 2>&1)
expect "import with notification configuration and owner" 8999000000000000109 "$out"
es2 downloadOrder "{$(hdr),\"eid\":\"$EID\",\"iccid\":\"8999000000000000109\"}" >/dev/null
expect "ConfirmOrder (notified profile)" OK \
    "$(code "$(es2 confirmOrder "{$(hdr),\"iccid\":\"8999000000000000109\",\"releaseFlag\":true}")")"
contains "download of the notified profile" '"ok":true' "$(download)"
expect "installed" Installed "$(state_of 8999000000000000109)"
out=$(lpa dev delete --iccid 8999000000000000109)
contains "the device deletes it and queues a notification for us" '"ok":true' "$out"
out=$(lpa dev --connect-to 127.0.0.1:$DEV notify)
contains "the LPA sends it to the SM-DP+" '"sent":1' "$out"
expect "a delete notification ends the order" Unavailable "$(state_of 8999000000000000109)"
contains "the operator gets ES2+ HandleNotification" '"profileManagementOperation":"delete"' \
    "$(until_has 15 '"profileManagementOperation":"delete"' oplog)"

# ---------------------------------------------------------------- SM-DS outage, SM-DP+ crash: the outbox keeps the event
kill -TERM $SMDS_PID
wait $SMDS_PID
es2 downloadOrder "{$(hdr),\"eid\":\"$EID\",\"iccid\":\"8999000000000000104\"}" >/dev/null
out=$(es2 confirmOrder "{$(hdr),\"iccid\":\"8999000000000000104\",\"releaseFlag\":true,\"matchingId\":\"EV-104\",\"smdsAddress\":\"$DS\"}")
expect "ConfirmOrder accepted while the SM-DS is down (queued)" OK "$(code "$out")"
sleep 5
es2 downloadOrder "{$(hdr),\"eid\":\"$EID\",\"iccid\":\"8999000000000000105\"}" >/dev/null
out=$(es2 confirmOrder "{$(hdr),\"iccid\":\"8999000000000000105\",\"releaseFlag\":true,\"matchingId\":\"EV-105\",\"smdsAddress\":\"$DS\"}")
expect "SM-DS down for longer than allowed: 8.9/5.1" 8.9/5.1 "$(code "$out")"
expect "and the order stays unreleased" Linked "$(state_of 8999000000000000105)"
grep -q '"level":"warn".*RegisterEvent' smdp.log && ok "retries are logged" || bad "retries are logged"
kill -KILL $SMDP_PID
wait $SMDP_PID 2>/dev/null
start_smds "$DSS2S" || bad "smds restarts on its port" "$(tail -3 smds.out)"
start_smdp || { bad "smdp-default restarts after a crash" "$(tail -3 smdp.out)"; finish; }
contains "the queued RegisterEvent survives the crash and is delivered" '"eventId":"EV-104"' \
    "$(until_has 20 EV-104 discover)"
out=$(es2 confirmOrder "{$(hdr),\"iccid\":\"8999000000000000105\",\"releaseFlag\":true,\"matchingId\":\"EV-105\",\"smdsAddress\":\"$DS\"}")
expect "ConfirmOrder accepted again once the SM-DS is back (new process)" OK "$(code "$out")"
out=$(download --matching-id EV-104)
contains "download after the outage" '"ok":true' "$out"
out=$(download --matching-id EV-105)
contains "and the next one" '"ok":true' "$out"
out=$(until_lacks 15 EV-10 discover)
if printf '%s' "$out" | grep -qF EV-10; then bad "both events deleted after install" "$out"; else ok "both events deleted after install"; fi

# ---------------------------------------------------------------- bad input on every ES2+ handler changes nothing
before=$("$CTL" --state "$STATE" list | sed 's/"updatedAt":[0-9]*//')
for fn in downloadOrder confirmOrder cancelOrder releaseProfile; do
    expect "$fn: malformed JSON" 1.1/2.1 "$(code "$(es2 $fn '{"header"')")"
    expect "$fn: no header" 1.1/2.2 "$(code "$(es2 $fn '{}')")"
    expect "$fn: wrong member type" 1.1/2.1 "$(code "$(es2 $fn "{$(hdr),\"iccid\":7,\"eid\":7,\"releaseFlag\":1}")")"
done
expect "confirmOrder: unknown ICCID" 8.2.1/3.9 \
    "$(code "$(es2 confirmOrder "{$(hdr),\"iccid\":\"8999000000000009999\",\"releaseFlag\":true}")")"
expect "TC_SM-DP+_ES2+.ConfirmOrder: rootSmdsAddress without smdsAddress: 1.1/2.2" 1.1/2.2 \
    "$(code "$(es2 confirmOrder "{$(hdr),\"iccid\":\"8999000000000000106\",\"releaseFlag\":true,\"rootSmdsAddress\":\"$DS\"}")")"
expect "cancelOrder: bad final status" 1.1/2.1 \
    "$(code "$(es2 cancelOrder "{$(hdr),\"iccid\":\"8999000000000000106\",\"finalProfileStatusIndicator\":\"Gone\"}")")"
expect "downloadOrder: bad EID" 8.1.1/2.1 \
    "$(code "$(es2 downloadOrder "{$(hdr),\"eid\":\"12\",\"iccid\":\"8999000000000000106\"}")")"
expect "wrong content type: 415" 415 "$(curl -s -o /dev/null -w '%{http_code}' --cacert pki/nist/ci/ci.pem \
    --cert pki/nist/operator/client.pem --key pki/nist/operator/client.key.pem --resolve $FQDN:$S2S:127.0.0.1 \
    -H 'Content-Type: text/plain' -d '{}' "https://$FQDN:$S2S/gsma/rsp2/es2plus/downloadOrder")"
expect "bad input changed nothing" "$before" "$("$CTL" --state "$STATE" list | sed 's/"updatedAt":[0-9]*//')"
kill -0 $SMDP_PID 2>/dev/null && ok "server alive after bad input" || bad "server alive after bad input"

# ---------------------------------------------------------------- SIGHUP reloads the operators
expect "before reload: unknown.example is nobody" 1.1/1.2 \
    "$(code "$(es2 downloadOrder "{$(hdr),\"iccid\":\"8999000000000000108\"}" op3)")"
sed -i 's/^cn = other.operator.com$/cn = other.operator.com, unknown.example/' operators.ini
kill -HUP $SMDP_PID
out=""
for _ in $(seq 1 40); do
    out=$(code "$(es2 downloadOrder "{$(hdr),\"iccid\":\"8999000000000000108\"}" op3)")
    [ "$out" = OK ] && break
    sleep 0.25
done
expect "after SIGHUP unknown.example acts as op2" OK "$out"

# ---------------------------------------------------------------- operations
metrics=$(curl -s --cacert pki/nist/ci/ci.pem --cert pki/nist/operator/client.pem \
    --key pki/nist/operator/client.key.pem --resolve $FQDN:$S2S:127.0.0.1 "https://$FQDN:$S2S/metrics")
contains "/metrics: ES2+ calls by code" 'rsp_requests_total{function="ES2+.ConfirmOrder",code="OK"}' "$metrics"
contains "/metrics: outbox" "smdp_outbox_sent_total" "$metrics"
contains "/metrics: outbox attempts by kind" 'smdp_outbox_attempts_total{kind="RegisterEvent",outcome="sent"}' "$metrics"
contains "/metrics: group commit" "smdp_db_commits_total" "$metrics"
log_wait smdp.log '"peer":"op1"'
contains "JSON access log" '"function":"ES2+.DownloadOrder"' "$(cat smdp.log)"
contains "access log names the operator" '"peer":"op1"' "$(cat smdp.log)"

# ---------------------------------------------------------------- every TS.48 package, both ways
# Even-numbered ones through the SM-DS event and the EventID, odd ones as the Default SM-DP+ (no
# matchingId); each is ordered by profile type, confirmed with the SM-DS address, and must decrypt to the
# imported bytes.
if [ ${#TS_FILES[@]} -gt 0 ]; then
    for i in "${!TS_FILES[@]}"; do
        f=${TS_FILES[$i]}
        name=$(basename "$f" .der)
        out=$(es2 downloadOrder "{$(hdr),\"eid\":\"$EID\",\"profileType\":\"TS48-$name\"}")
        expect "$name: DownloadOrder by profile type" "${TS_ICCIDS[$i]}" "$(field iccid "$out")"
        out=$(es2 confirmOrder "{$(hdr),\"iccid\":\"${TS_ICCIDS[$i]}\",\"releaseFlag\":true,\"smdsAddress\":\"$DS\"}")
        expect "$name: ConfirmOrder" OK "$(code "$out")"
        mid=$(field matchingId "$out")
        contains "$name: event registered at the SM-DS" "\"eventId\":\"$mid\"" "$(until_has 15 "$mid" discover)"
        if [ $((i % 2)) -eq 0 ]; then
            out=$(download --matching-id "$mid")
            how="EventID"
        else
            out=$(download)
            how="no matchingId"
        fi
        contains "$name: download ($how)" '"ok":true' "$out"
        expect "$name: decrypted package is the imported file" "$(sha "$f")" "$(field packageSha256 "$out")"
        expect "$name: Installed" Installed "$(state_of "${TS_ICCIDS[$i]}")"
        out=$(until_lacks 15 "$mid" discover)
        if printf '%s' "$out" | grep -qF "$mid"; then bad "$name: event deleted" "$out"; else ok "$name: event deleted"; fi
    done
else
    echo "SKIP TS.48: RSP_SHARED_DIR/profiles/ts48 not available"
fi

stop smdp-default $SMDP_PID
stop smds $SMDS_PID
stop operator-stub $STUB_PID
finish
