#!/bin/bash
# SM-DS end to end: real smds processes, real (mutual) TLS.  curl plays the SM-DP+ (ES12), es11_client
# plays the device (the lpasim LPA + eUICC, ES11, with tampering), lpa-sim itself checks interoperation, a
# second smds plays the Alternative SM-DS (ES15 cascade).
#   usage: smds_test.sh <smds> <smdsctl> <rsp-pki> <es11_client> <lpa-sim> <h2_reset_client>
#                       [postgres <pgtmp>]
# With "postgres" every state directory's events live in a database of their own on a throw-away
# PostgreSQL server (two processes on one state share it, as nodes of a cluster do), and the end checks
# what a database outage does.
# The test PKI is minted with rsp-pki into $TEST_TMPDIR; the SGP.26 part runs when RSP_SHARED_DIR holds
# pki/sgp26.  Prints "N passed, N failed" and exits non-zero on any failure.
set -u

SMDS=$(realpath "$1")
CTL=$(realpath "$2")
PKI_TOOL=$(realpath "$3")
CLIENT=$(realpath "$4")
LPASIM=$(realpath "$5")
RESETTER=$(realpath "$6")
STORE=${7:-lmdb}
PGTOOL=${8:+$(realpath "$8")}
. ./tests/integration/lib.sh
it_init smds_it_$STORE
cd "$TMP" || exit 1
if [ "$STORE" = postgres ]; then
    it_pg_start "$PGTOOL"
    rc=$?
    if [ $rc -eq 3 ]; then
        echo "SKIP: PostgreSQL is not installed (tools/bootstrap installs it)"
        exit 0
    elif [ $rc -ne 0 ]; then
        echo "cannot start PostgreSQL"
        echo "0 passed, 1 failed"
        exit 1
    fi
    DB_METRIC=smds_pg_commits_total
    BATCH_METRIC=smds_pg_batch_max
else
    DB_METRIC=smds_db_commits_total
    BATCH_METRIC='smds_db_batch_size_bucket{le="1"}'
fi

# store_args STATE: sets STORE_ARGS, the flags naming the event store of that state directory (for smds
# and smdsctl alike)
store_args() {
    if [ "$STORE" = postgres ]; then
        local db
        db=t_$(basename "$1" | tr -c 'a-z0-9\n' _)
        STORE_ARGS=(--store.backend=postgres "--store.dsn=$(it_pg_dsn "$db")")
    else
        STORE_ARGS=(--state "$1")
    fi
}

# ctl STATE COMMAND...: smdsctl on that state's event store
ctl() {
    local state=$1
    shift
    store_args "$state"
    "$CTL" "${STORE_ARGS[@]}" "$@"
}

EID=89049032123451234512345678901235
FQDN=testsmds.example.com
DP1=testsmdpplus1.example.com

# ---------------------------------------------------------------- test PKI
mkdir -p extra
if ! { "$PKI_TOOL" init --out pki --curve both &&
    "$PKI_TOOL" init --out other &&
    "$PKI_TOOL" mint --kind dptls --issuer-cert pki/nist/ci/ci.pem --issuer-key pki/nist/ci/ci.key.pem \
        --fqdn smdp2.example.com --rid 2.999.12 --out extra/dp2 &&
    "$PKI_TOOL" mint --kind dstls --issuer-cert pki/nist/ci/ci.pem --issuer-key pki/nist/ci/ci.key.pem \
        --fqdn alt.example.com --rid 2.999.21 --out extra/alt &&
    "$PKI_TOOL" mint --kind euicc --issuer-cert pki/nist/eum/eum.pem --issuer-key pki/nist/eum/eum.key.pem \
        --not-before 2015-01-01 --not-after 2016-01-01 --out extra/expired &&
    "$PKI_TOOL" euicc --ca-dir pki/nist --eid 890490331234512345123456789012 --force --out extra/outside; } \
    >pki.log 2>&1; then
    echo "cannot mint the test PKI: $(cat pki.log)"
    echo "0 passed, 1 failed"
    exit 1
fi
CAS=pki/nist/ci/ci.pem,pki/brainpool/ci/ci.pem
AUTH=pki/nist/smds/dsauth.pem,pki/brainpool/smds/dsauth.pem
AUTHKEY=pki/nist/smds/dsauth.key.pem,pki/brainpool/smds/dsauth.key.pem

# ---------------------------------------------------------------- helpers
# start_smds NAME STATE [flags...]: sets PID, DEV and S2S; with DB_STATE set, on postgres the node uses
# that state's database instead of its own (a node of the same cluster on another host)
start_smds() {
    local name=$1 state=$2
    shift 2
    rm -f "$name.ports"
    store_args "${DB_STATE:-$state}"
    [ "$STORE" = postgres ] || STORE_ARGS=()
    "$SMDS" "${STORE_ARGS[@]}" --server.workers=2 --server.state_dir="$state" --server.create_secrets --server.port_file="$name.ports" --device.port=0 \
        --s2s.port=0 --tls.cert=pki/nist/smds/dstls.pem --tls.key=pki/nist/smds/dstls.key.pem \
        --s2s.client_ca="$CAS" --smds.fqdn=$FQDN --smds.ci="$CAS" --smds.auth_cert="$AUTH" \
        --smds.auth_key="$AUTHKEY" --log.file="$TMP/$name.log" "$@" >>"$name.out" 2>&1 &
    PID=$!
    it_track "$PID"
    if ! wait_ports "$name.ports" "$PID"; then
        bad "$name starts" "$(cat "$name.out")"
        return 1
    fi
    DEV=$(port_of "$name.ports" device)
    S2S=$(port_of "$name.ports" s2s)
    return 0
}

# s2s FN PORT CERTBASE BODY [curl args]: prints the response body (ES12/ES15 over mutual TLS)
s2s() {
    local fn=$1 port=$2 cert=$3 body=$4
    shift 4
    curl -s --max-time 20 --cacert pki/nist/ci/ci.pem ${cert:+--cert "$cert.pem" --key "$cert.key.pem"} \
        -H 'Content-Type: application/json' -H 'X-Admin-Protocol: gsma/rsp/v2.2.2' -d "$body" "$@" \
        "https://127.0.0.1:$port/gsma/rsp2/$fn"
}

# code JSON: OK for Executed-Success, else subjectCode/reasonCode
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

reg() { # EID ADDRESS EVENTID [extra JSON members]
    printf '{"header":{"functionRequesterIdentifier":"it","functionCallIdentifier":"%s"},"eid":"%s","rspServerAddress":"%s","eventId":"%s"%s}' \
        "$RANDOM" "$1" "$2" "$3" "${4:-}"
}

del() { # EID EVENTID
    printf '{"header":{"functionRequesterIdentifier":"it","functionCallIdentifier":"%s"},"eid":"%s","eventId":"%s"}' \
        "$RANDOM" "$1" "$2"
}

# dev PORT CURVE [client args]: ES11 discovery as the curve's test eUICC
dev() {
    local port=$1 curve=$2
    shift 2
    "$CLIENT" --server "127.0.0.1:$port" --cacert pki/nist/ci/ci.pem \
        --euicc-cert "pki/$curve/euicc/$EID/euicc.pem" --euicc-key "pki/$curve/euicc/$EID/euicc.key.pem" \
        --eum-cert "pki/$curve/eum/eum.pem" --ci "pki/$curve/ci/ci.pem" --address $FQDN "$@" 2>&1
}

first() { printf '%s\n' "$1" | head -n 1; }
last() { printf '%s\n' "$1" | tail -n 1; }
events() { printf '%s\n' "$1" | awk '$1 == "EVENT" {printf "%s@%s ", $2, $3}'; }

count() { ctl "$1" count ${2:+--eid "$2"}; }

# ================================================================ root SM-DS "A"
start_smds A "$TMP/state-a" || {
    it_finish
    exit 1
}
A_PID=$PID
A_DEV=$DEV
A_S2S=$S2S
ok "smds A starts"

# ---------------------------------------------------------------- ES12 over mutual TLS
expect "no events at first" "OK 0" "$(first "$(dev $A_DEV nist)")"
out=$(s2s es12/registerEvent $A_S2S pki/nist/smdp/dptls "$(reg $EID $DP1 EV-1)")
expect "ES12 RegisterEvent" OK "$(code "$out")"
out=$(s2s es12/registerEvent $A_S2S pki/brainpool/smdp/dptls "$(reg $EID $DP1 EV-2)")
expect "ES12 RegisterEvent from the same SM-DP+ under the brainpool CI" OK "$(code "$out")"
out=$(s2s es12/registerEvent $A_S2S extra/dp2 "$(reg $EID smdp2.example.com EV-3)")
expect "ES12 RegisterEvent from a second SM-DP+" OK "$(code "$out")"
out=$(s2s es12/registerEvent $A_S2S extra/dp2 "$(reg $EID smdp2.example.com EV-1)")
expect "duplicate EventID: 8.9.5/3.3" 8.9.5/3.3 "$(code "$out")"
out=$(s2s es12/registerEvent $A_S2S extra/dp2 "$(reg $EID $DP1 EV-X)")
expect "rspServerAddress of another SM-DP+: 1.1/1.2" 1.1/1.2 "$(code "$out")"
out=$(s2s es12/registerEvent $A_S2S pki/nist/smdp/dptls "$(reg 8904903212345123451234567890123 $DP1 EV-X)")
expect "31-digit EID: 8.1.1/2.1" 8.1.1/2.1 "$(code "$out")"
out=$(s2s es12/deleteEvent $A_S2S extra/dp2 "$(del $EID EV-1)")
expect "deleting another SM-DP+'s event: 8.9.5/3.9" 8.9.5/3.9 "$(code "$out")"
out=$(s2s es12/deleteEvent $A_S2S pki/nist/smdp/dptls "$(del $EID EV-404)")
expect "deleting an unknown event: 8.9.5/3.9" 8.9.5/3.9 "$(code "$out")"
s2s es12/registerEvent $A_S2S "" "$(reg $EID $DP1 EV-NC)" >/dev/null
rc=$?
if [ $rc -ne 0 ]; then ok "ES12 without a client certificate is refused (curl rc $rc)"; else bad "ES12 without a client certificate is refused"; fi
s2s es12/registerEvent $A_S2S other/nist/smdp/dptls "$(reg $EID $DP1 EV-NC)" >/dev/null
rc=$?
if [ $rc -ne 0 ]; then ok "ES12 with a foreign CI's certificate is refused (curl rc $rc)"; else bad "ES12 with a foreign CI's certificate is refused"; fi
out=$(s2s es15/registerEvent $A_S2S pki/nist/smdp/dptls "$(reg $EID $DP1 EV-15)")
expect "ES15 from an SM-DP+: 1.1/1.2" 1.1/1.2 "$(code "$out")"
expect "the store holds the three events" 3 "$(count state-a)"

# ---------------------------------------------------------------- ES11 discovery
out=$(dev $A_DEV nist)
expect "NIST eUICC discovers all its events" "OK 3" "$(first "$out")"
expect "in arrival order, with their addresses" \
    "EV-1@$DP1 EV-2@$DP1 EV-3@smdp2.example.com " "$(events "$out")"
out=$(dev $A_DEV brainpool --path es11 --address-field smdsAddress)
expect "brainpool eUICC over /gsma/rsp2/es11 with smdsAddress" "OK 3" "$(first "$out")"
out=$(dev $A_DEV nist --matching-id EV-2)
expect "a specific EventID" "OK 1" "$(first "$out")"
expect "only that event" "EV-2@$DP1 " "$(events "$out")"
expect "an unknown EventID: 8.9.5/3.9" "FAIL authenticateClient 8.9.5/3.9" "$(first "$(dev $A_DEV nist --matching-id EV-9)")"
expect "the address compares without case" "OK 3" \
    "$(first "$("$CLIENT" --server "127.0.0.1:$A_DEV" --cacert pki/nist/ci/ci.pem \
        --euicc-cert pki/nist/euicc/$EID/euicc.pem --euicc-key pki/nist/euicc/$EID/euicc.key.pem \
        --eum-cert pki/nist/eum/eum.pem --ci pki/nist/ci/ci.pem --address TestSMDS.Example.Com)")"

# ---------------------------------------------------------------- interop: the project's lpa-sim
"$LPASIM" init --euicc lpa-nist --from-pki pki --curve nist >lpa.log 2>&1 &&
    "$LPASIM" init --euicc lpa-brp --from-pki pki --curve brainpool >>lpa.log 2>&1 ||
    bad "lpa-sim init" "$(cat lpa.log)"
out=$("$LPASIM" --euicc lpa-nist --cafile pki/nist/ci/ci.pem --address $FQDN discover --smds 127.0.0.1:$A_DEV 2>&1)
contains "lpa-sim discovers over the es9plus paths" \
    '{"eventId":"EV-3","rspServerAddress":"smdp2.example.com"}' "$out"
out=$("$LPASIM" --euicc lpa-brp --cafile pki/nist/ci/ci.pem --address $FQDN --es11-paths es11 \
    discover --smds 127.0.0.1:$A_DEV --matching-id EV-2 2>&1)
expect "lpa-sim (brainpool) asks for one event over the es11 paths" \
    '{"ok":true,"eventEntries":[{"eventId":"EV-2","rspServerAddress":"'$DP1'"}]}' "$out"

# ---------------------------------------------------------------- ES11 refusals
expect "bad euiccSignature1: 8.1/6.1" "FAIL authenticateClient 8.1/6.1" \
    "$(first "$(dev $A_DEV nist --tamper signature)")"
expect "wrong serverChallenge: 8.1/6.1" "FAIL authenticateClient 8.1/6.1" \
    "$(first "$(dev $A_DEV brainpool --tamper challenge)")"
expect "unknown transactionId: 8.10.1/3.9" "FAIL authenticateClient 8.10.1/3.9" \
    "$(first "$(dev $A_DEV nist --tamper outer-tid)")"
out=$(dev $A_DEV nist --replay)
expect "a transaction completes once" "OK 3" "$(first "$out")"
expect "replayed transactionId: 8.10.1/3.9" "FAIL authenticateClient 8.10.1/3.9" "$(last "$out")"
expect "wrong server address: 8.9.1/3.8" "FAIL initiateAuthentication 8.9.1/3.8" \
    "$(first "$(dev $A_DEV nist --address other.example.com)")"
expect "wrong serverAddress signed by the eUICC: 8.9.1/3.8" "FAIL authenticateClient 8.9.1/3.8" \
    "$(first "$(dev $A_DEV nist --tamper address)")"
expect "unsupported SVN: 8.9.3/3.1" "FAIL initiateAuthentication 8.9.3/3.1" \
    "$(first "$(dev $A_DEV nist --svn 1.0.0)")"
expect "SVN 3.x is accepted" "OK 3" "$(first "$(dev $A_DEV nist --svn 3.1.0)")"
out=$("$CLIENT" --server "127.0.0.1:$A_DEV" --cacert pki/nist/ci/ci.pem \
    --euicc-cert other/nist/euicc/$EID/euicc.pem --euicc-key other/nist/euicc/$EID/euicc.key.pem \
    --eum-cert other/nist/eum/eum.pem --ci other/nist/ci/ci.pem --address $FQDN 2>&1)
expect "eUICC of a foreign CI: 8.9.2/3.1" "FAIL initiateAuthentication 8.9.2/3.1" "$(first "$out")"
out=$("$CLIENT" --server "127.0.0.1:$A_DEV" --cacert pki/nist/ci/ci.pem \
    --euicc-cert other/nist/euicc/$EID/euicc.pem --euicc-key other/nist/euicc/$EID/euicc.key.pem \
    --eum-cert other/nist/eum/eum.pem --ci pki/nist/ci/ci.pem --sign-ci pki/nist/ci/ci.pem --address $FQDN 2>&1)
expect "chain from a foreign CI behind our PKID: 8.11.1/3.9" "FAIL authenticateClient 8.11.1/3.9" "$(first "$out")"
out=$("$CLIENT" --server "127.0.0.1:$A_DEV" --cacert pki/nist/ci/ci.pem \
    --euicc-cert extra/expired.pem --euicc-key extra/expired.key.pem \
    --eum-cert pki/nist/eum/eum.pem --ci pki/nist/ci/ci.pem --address $FQDN 2>&1)
expect "expired eUICC certificate: 8.1.3/6.3" "FAIL authenticateClient 8.1.3/6.3" "$(first "$out")"
out=$("$CLIENT" --server "127.0.0.1:$A_DEV" --cacert pki/nist/ci/ci.pem \
    --euicc-cert extra/outside/euicc.pem --euicc-key extra/outside/euicc.key.pem \
    --eum-cert pki/nist/eum/eum.pem --ci pki/nist/ci/ci.pem --address $FQDN 2>&1)
expect "EID outside the EUM's range: 8.1.3/6.1" "FAIL authenticateClient 8.1.3/6.1" "$(first "$out")"
expect "truncated AuthenticateServerResponse: 1.1/2.1" "FAIL authenticateClient 1.1/2.1" \
    "$(first "$(dev $A_DEV nist --tamper truncate)")"

# ---------------------------------------------------------------- bad input on every handler
D=https://127.0.0.1:$A_DEV/gsma/rsp2
post_dev() { curl -s --max-time 20 --cacert pki/nist/ci/ci.pem -H 'Content-Type: application/json' -d "$2" "$D/$1"; }
for fn in es9plus/initiateAuthentication es11/initiateAuthentication es9plus/authenticateClient es11/authenticateClient; do
    expect "$fn: malformed JSON" 1.1/2.1 "$(code "$(post_dev $fn '{"euiccChallenge":')")"
    expect "$fn: not an object" 1.1/2.1 "$(code "$(post_dev $fn '[1,2]')")"
    expect "$fn: empty object" 1.1/2.2 "$(code "$(post_dev $fn '{}')")"
done
expect "initiateAuthentication: wrong type" 1.1/2.1 "$(code "$(post_dev es9plus/initiateAuthentication \
    '{"euiccChallenge":1,"euiccInfo1":"vyAA","smdpAddress":"'$FQDN'"}')")"
expect "initiateAuthentication: bad base64" 1.1/2.1 "$(code "$(post_dev es9plus/initiateAuthentication \
    '{"euiccChallenge":"AAAAAAAAAAAAAAAAAAAAAA==","euiccInfo1":"vyA*","smdpAddress":"'$FQDN'"}')")"
expect "initiateAuthentication: truncated EUICCInfo1" 1.1/2.1 "$(code "$(post_dev es9plus/initiateAuthentication \
    '{"euiccChallenge":"AAAAAAAAAAAAAAAAAAAAAA==","euiccInfo1":"vyAFggMC","smdpAddress":"'$FQDN'"}')")"
expect "authenticateClient: bad hex" 1.1/2.1 "$(code "$(post_dev es9plus/authenticateClient \
    '{"transactionId":"XY","authenticateServerResponse":"vzgA"}')")"
expect "authenticateClient: unknown transaction" 8.10.1/3.9 "$(code "$(post_dev es9plus/authenticateClient \
    '{"transactionId":"0102","authenticateServerResponse":"vzgA"}')")"
status=$(curl -s -o /dev/null -w '%{http_code}' --cacert pki/nist/ci/ci.pem -H 'Content-Type: text/plain' -d '{}' \
    "$D/es9plus/initiateAuthentication")
expect "wrong Content-Type: HTTP 415" 415 "$status"
status=$(curl -s -o /dev/null -w '%{http_code}' --cacert pki/nist/ci/ci.pem -H 'Content-Type: application/json' \
    -H 'X-Admin-Protocol: other/1' -d '{}' "$D/es9plus/initiateAuthentication")
expect "wrong X-Admin-Protocol: HTTP 400" 400 "$status"
for fn in es12/registerEvent es12/deleteEvent; do
    expect "$fn: malformed JSON" 1.1/2.1 "$(code "$(s2s $fn $A_S2S pki/nist/smdp/dptls '{"eid"')")"
    expect "$fn: no header" 1.1/2.2 "$(code "$(s2s $fn $A_S2S pki/nist/smdp/dptls '{"eid":"'$EID'","eventId":"E"}')")"
    expect "$fn: wrong type" 1.1/2.1 "$(code "$(s2s $fn $A_S2S pki/nist/smdp/dptls \
        '{"header":{"functionRequesterIdentifier":"a","functionCallIdentifier":"b"},"eid":1,"eventId":"E","rspServerAddress":"'$DP1'"}')")"
done
for fn in es15/registerEvent es15/deleteEvent; do
    expect "$fn: malformed JSON" 1.1/2.1 "$(code "$(s2s $fn $A_S2S extra/alt '{')")"
done
expect "bad input changed nothing" 3 "$(count state-a)"
kill -0 $A_PID 2>/dev/null && ok "smds A survived the bad input" || bad "smds A survived the bad input"

# ---------------------------------------------------------------- HTTP/2 rapid reset
# msum TEXT PREFIX: the sum of the values of the metric lines starting with PREFIX
msum() { printf '%s\n' "$1" | awk -v p="$2" 'index($0, p) == 1 {s += $NF} END {printf "%d", s}'; }
dev_metrics() {
    curl -s --cacert pki/nist/ci/ci.pem --cert pki/nist/smdp/dptls.pem --key pki/nist/smdp/dptls.key.pem \
        "https://127.0.0.1:$A_S2S/metrics"
}
before=$(dev_metrics)
out=$("$RESETTER" --server "127.0.0.1:$A_DEV" --cacert pki/nist/ci/ci.pem \
    --path /gsma/rsp2/es9plus/initiateAuthentication --streams 400 --batch 50)
contains "a rapid-reset client gets GOAWAY (ENHANCE_YOUR_CALM) and is closed" "GOAWAY 11 CLOSED 1" "$out"
after=$(dev_metrics)
expect "none of its reset InitiateAuthentication requests ran" \
    "$(msum "$before" 'rsp_requests_total{function="ES11.InitiateAuthentication"')" \
    "$(msum "$after" 'rsp_requests_total{function="ES11.InitiateAuthentication"')"
expect "one connection cut" 1 "$(msum "$after" rsp_http2_connections_cut_total)"
n=$(msum "$after" rsp_http2_resets_before_start_total)
[ "$n" -gt 100 ] && ok "resets counted before any work ($n)" || bad "resets counted before any work" "$n"
expect "a genuine device is served right after" "OK 3" "$(first "$(dev $A_DEV nist)")"
# bodies: over body_limit (64k) 413 from the glue; over h2o's hard cap (144k) a reset clients do not retry
out=$("$RESETTER" --server "127.0.0.1:$A_DEV" --cacert pki/nist/ci/ci.pem \
    --path /gsma/rsp2/es9plus/initiateAuthentication --body 100000)
expect "an HTTP/2 body over the limit gets an answer" RESPONSE "$out"
head -c 100000 /dev/zero | tr '\0' ' ' >big.json
expect "... 413" 413 "$(curl -s -o /dev/null -w '%{http_code}' --http2 --cacert pki/nist/ci/ci.pem \
    -H 'Content-Type: application/json' --data-binary @big.json \
    "https://127.0.0.1:$A_DEV/gsma/rsp2/es9plus/initiateAuthentication")"
out=$("$RESETTER" --server "127.0.0.1:$A_DEV" --cacert pki/nist/ci/ci.pem \
    --path /gsma/rsp2/es9plus/initiateAuthentication --body 400000)
expect "an HTTP/2 body over the hard cap: RST_STREAM ENHANCE_YOUR_CALM, not REFUSED_STREAM" "RST 11" "$out"
expect "... counted" 1 "$(msum "$(dev_metrics)" rsp_http2_too_large_total)"

# ---------------------------------------------------------------- operations
expect "no /metrics on the device listener by default" 404 \
    "$(curl -s -o /dev/null -w '%{http_code}' --cacert pki/nist/ci/ci.pem "https://127.0.0.1:$A_DEV/metrics")"
metrics=$(curl -s --cacert pki/nist/ci/ci.pem --cert pki/nist/smdp/dptls.pem --key pki/nist/smdp/dptls.key.pem \
    "https://127.0.0.1:$A_S2S/metrics")
contains "/metrics counts ES11 calls by code" 'rsp_requests_total{function="ES11.AuthenticateClient",code="8.1/6.1"}' "$metrics"
contains "/metrics has latency histograms" 'rsp_request_duration_seconds_bucket{function="ES12.RegisterEvent"' "$metrics"
contains "/metrics has the events gauge" 'smds_events_stored 3' "$metrics"
contains "/metrics has group-commit batch sizes" "$BATCH_METRIC" "$metrics"
metrics=$(curl -s --cacert pki/nist/ci/ci.pem --cert pki/nist/smdp/dptls.pem --key pki/nist/smdp/dptls.key.pem \
    "https://127.0.0.1:$A_S2S/metrics")
contains "/metrics on the s2s listener" "$DB_METRIC" "$metrics"
log_wait A.log '"path":"/gsma/rsp2/es12/registerEvent","status":200'
log=$(cat A.log)
contains "JSON access log lines" '"type":"access","method":"POST","path":"/gsma/rsp2/es12/registerEvent","status":200' "$log"
contains "the access log names the peer" '"peer":"2.999.10"' "$log"
expect "smdsctl count" 3 "$(count state-a)"
expect "smdsctl count --eid" 3 "$(count state-a $EID)"
expect "smdsctl list --eid" "EV-1 EV-2 EV-3" \
    "$(ctl state-a list --eid $EID | sed -n 's/.*"eventId":"\([^"]*\)".*/\1/p' | tr '\n' ' ' | sed 's/ $//')"
contains "smdsctl export" '"owner":"2.999.12"' "$(ctl state-a export)"
ctl state-a list >/dev/null 2>&1
expect "smdsctl list without --eid is a usage error" 2 $?
kill -HUP $A_PID
sleep 0.5
expect "discovery after SIGHUP" "OK 3" "$(first "$(dev $A_DEV nist)")"
contains "SIGHUP reloads the CI and DSauth certificates" "CI and CERT.DSauth certificates reloaded" "$(cat A.log)"

# ---------------------------------------------------------------- two processes, one state
start_smds B "$TMP/state-a" && {
    B_PID=$PID
    B_DEV=$DEV
    B_S2S=$S2S
    out=$(dev $A_DEV nist --auth-server "127.0.0.1:$B_DEV")
    expect "a transaction started on A finishes on B" "OK 3" "$(first "$out")"
    out=$(s2s es12/registerEvent $B_S2S pki/nist/smdp/dptls "$(reg $EID $DP1 EV-B)")
    expect "ES12 on B" OK "$(code "$out")"
    expect "A sees B's event" "OK 4" "$(first "$(dev $A_DEV nist)")"
    out=$(s2s es12/registerEvent $A_S2S pki/nist/smdp/dptls "$(reg $EID $DP1 EV-B)")
    expect "the same EventID on A once B has it: 8.9.5/3.3" 8.9.5/3.3 "$(code "$out")"
    out=$(s2s es12/deleteEvent $A_S2S pki/nist/smdp/dptls "$(del $EID EV-B)")
    expect "A deletes B's registration (same SM-DP+)" OK "$(code "$out")"
    stop B $B_PID
}

# ---------------------------------------------------------------- ES12 delete, restart keeps events
out=$(s2s es12/deleteEvent $A_S2S pki/nist/smdp/dptls "$(del $EID EV-1)")
expect "ES12 DeleteEvent by the owner" OK "$(code "$out")"
expect "the device no longer sees it" "EV-2@$DP1 EV-3@smdp2.example.com " "$(events "$(dev $A_DEV nist)")"
expect "a discovery whose AuthenticateClient is kept" "OK 2" "$(first "$(dev $A_DEV nist --save-auth saved-auth.json)")"
stop A $A_PID
start_smds A "$TMP/state-a" && {
    A_PID=$PID
    A_DEV=$DEV
    A_S2S=$S2S
    expect "restart keeps the events" "EV-2@$DP1 EV-3@smdp2.example.com " "$(events "$(dev $A_DEV nist)")"
    out=$(curl -s --max-time 20 --cacert pki/nist/ci/ci.pem -H 'Content-Type: application/json' \
        -H 'X-Admin-Protocol: gsma/rsp/v2.2.2' -d @saved-auth.json \
        "https://127.0.0.1:$A_DEV/gsma/rsp2/es9plus/authenticateClient")
    expect "an AuthenticateClient replayed after a restart: 8.10.1/3.9" 8.10.1/3.9 "$(code "$out")"
    expect "no events leave with the replay" 0 "$(printf '%s' "$out" | grep -c eventEntries)"
}

# ---------------------------------------------------------------- postgres: replay on another node
# Node N2 has a state directory (replay cache, LMDB) of its own and only the database and the transaction
# secret in common with A, as a node on another host: only the shared record can refuse the replay.
if [ "$STORE" = postgres ]; then
    mkdir -p "$TMP/state-n2" && cp "$TMP/state-a/txn.secret" "$TMP/state-n2/"
    expect "a discovery on A whose AuthenticateClient is kept" "OK 2" \
        "$(first "$(dev $A_DEV nist --save-auth saved-auth-2.json)")"
    DB_STATE="$TMP/state-a" start_smds N2 "$TMP/state-n2" && {
        N2_PID=$PID
        out=$(curl -s --max-time 20 --cacert pki/nist/ci/ci.pem -H 'Content-Type: application/json' \
            -H 'X-Admin-Protocol: gsma/rsp/v2.2.2' -d @saved-auth-2.json \
            "https://127.0.0.1:$DEV/gsma/rsp2/es9plus/authenticateClient")
        expect "an AuthenticateClient consumed on A, replayed on node N2: 8.10.1/3.9" 8.10.1/3.9 "$(code "$out")"
        expect "no events leave with the replay on N2" 0 "$(printf '%s' "$out" | grep -c eventEntries)"
        expect "a fresh discovery on N2 works" "OK 2" "$(first "$(dev $DEV nist)")"
        expect "N2 keeps no replay store of its own" no "$([ -e "$TMP/state-n2/replay" ] && echo yes || echo no)"
        stop N2 $N2_PID
    }
fi

# ---------------------------------------------------------------- cascade: Alternative SM-DS "C" -> root A
ALT=(--smds.fqdn=alt.example.com --tls.cert=extra/alt.pem --tls.key=extra/alt.key.pem
    --root.address=127.0.0.1:$A_S2S --root.cert=extra/alt.pem --root.key=extra/alt.key.pem
    --root.ca=pki/nist/ci/ci.pem)
start_smds C "$TMP/state-c" "${ALT[@]}" && {
    C_PID=$PID
    C_DEV=$DEV
    C_S2S=$S2S
    out=$(s2s es12/registerEvent $C_S2S pki/nist/smdp/dptls "$(reg $EID $DP1 EV-CAS ',"forwardingIndicator":true')")
    expect "ES12 RegisterEvent with forwardingIndicator on the Alternative SM-DS" OK "$(code "$out")"
    out=$(dev $A_DEV nist)
    contains "the root lists the event with the Alternative SM-DS's address" "EV-CAS@alt.example.com" "$(events "$out")"
    out=$("$CLIENT" --server "127.0.0.1:$C_DEV" --cacert pki/nist/ci/ci.pem \
        --euicc-cert pki/nist/euicc/$EID/euicc.pem --euicc-key pki/nist/euicc/$EID/euicc.key.pem \
        --eum-cert pki/nist/eum/eum.pem --ci pki/nist/ci/ci.pem --address alt.example.com --matching-id EV-CAS 2>&1)
    expect "the Alternative SM-DS gives the SM-DP+ for that EventID" "EV-CAS@$DP1 " "$(events "$out")"
    out=$(s2s es12/registerEvent $C_S2S pki/nist/smdp/dptls "$(reg $EID $DP1 EV-LOCAL)")
    expect "without forwardingIndicator the event stays local" OK "$(code "$out")"
    contains "the root does not list it" "OK 3" "$(first "$(dev $A_DEV nist)")"
    out=$(s2s es12/registerEvent $C_S2S pki/nist/smdp/dptls "$(reg $EID $DP1 EV-2 ',"forwardingIndicator":true')")
    expect "the root refuses (EventID taken there): 8.9/4.2" 8.9/4.2 "$(code "$out")"
    expect "and the Alternative SM-DS keeps nothing" 2 "$(count state-c)"
    out=$(s2s es12/deleteEvent $C_S2S pki/nist/smdp/dptls "$(del $EID EV-CAS)")
    expect "ES12 DeleteEvent on the Alternative SM-DS" OK "$(code "$out")"
    expect "cascades to the root" "EV-2@$DP1 EV-3@smdp2.example.com " "$(events "$(dev $A_DEV nist)")"
    stop C $C_PID
}
start_smds C2 "$TMP/state-c2" --smds.fqdn=alt.example.com --tls.cert=extra/alt.pem --tls.key=extra/alt.key.pem \
    --root.address=127.0.0.1:1 --root.cert=extra/alt.pem --root.key=extra/alt.key.pem \
    --root.ca=pki/nist/ci/ci.pem --root.timeout_ms=2000 && {
    out=$(s2s es12/registerEvent $S2S pki/nist/smdp/dptls "$(reg $EID $DP1 EV-U ',"forwardingIndicator":true')")
    expect "root unreachable: 8.9/5.1" 8.9/5.1 "$(code "$out")"
    expect "and the event is not kept" 0 "$(count state-c2)"
    stop C2 $PID
}

# ---------------------------------------------------------------- event expiry
start_smds D "$TMP/state-d" --smds.event_max_age=1 --smds.housekeeping_interval=3600 && {
    out=$(s2s es12/registerEvent $S2S pki/nist/smdp/dptls "$(reg $EID $DP1 EV-OLD)")
    expect "register a short-lived event" OK "$(code "$out")"
    sleep 2.2
    expect "an expired event is not served" "OK 0" "$(first "$(dev $DEV nist)")"
    expect "smdsctl purge-expired" 1 "$(ctl state-d purge-expired)"
    expect "nothing left" 0 "$(count state-d)"
    stop D $PID
}

# ---------------------------------------------------------------- database outage (PostgreSQL only)
if [ "$STORE" = postgres ]; then
    readyz() { curl -s -o /dev/null -w '%{http_code}' --cacert pki/nist/ci/ci.pem "https://127.0.0.1:$A_DEV/readyz"; }
    # readyz_wait CODE: up to 5 s for /readyz to answer CODE
    readyz_wait() {
        for _ in $(seq 1 50); do
            [ "$(readyz)" = "$1" ] && break
            sleep 0.1
        done
    }
    expect "/readyz with the database up" 200 "$(readyz)"
    "$IT_PG_TOOL" halt "$IT_PG_DIR"
    readyz_wait 503
    expect "/readyz turns 503 when the database stops" 503 "$(readyz)"
    t0=$(date +%s%N)
    out=$(s2s es12/registerEvent $A_S2S pki/nist/smdp/dptls "$(reg $EID $DP1 EV-DOWN)")
    t1=$(date +%s%N)
    expect "ES12 with the database down: the retryable 1.1/5.1" 1.1/5.1 "$(code "$out")"
    if [ $(((t1 - t0) / 1000000)) -lt 2000 ]; then ok "and at once ($(((t1 - t0) / 1000000)) ms)"; else bad "and at once" "$(((t1 - t0) / 1000000)) ms"; fi
    expect "ES11 with the database down: 1.1/5.1" "FAIL authenticateClient 1.1/5.1" "$(first "$(dev $A_DEV nist)")"
    "$IT_PG_TOOL" resume "$IT_PG_DIR"
    readyz_wait 200
    expect "/readyz is 200 again once the database is back" 200 "$(readyz)"
    expect "acknowledged events survived, the refused one is absent" "EV-2@$DP1 EV-3@smdp2.example.com " "$(events "$(dev $A_DEV nist)")"
    out=$(s2s es12/registerEvent $A_S2S pki/nist/smdp/dptls "$(reg $EID $DP1 EV-DOWN)")
    expect "ES12 works again after the reconnection" OK "$(code "$out")"
fi
stop A $A_PID

# ---------------------------------------------------------------- SGP.26 eUICCs
S26=${RSP_SHARED_DIR:-}/pki/sgp26
if [ -n "${RSP_SHARED_DIR:-}" ] && [ -d "$S26" ]; then
    if "$PKI_TOOL" init --out sgp --curve both \
        --ci-cert "$S26/CertificateIssuer/CERT_CI_ECDSA_NIST.pem" --ci-key "$S26/CertificateIssuer/SK_CI_ECDSA_NIST.pem" \
        --ci-cert "$S26/CertificateIssuer/CERT_CI_ECDSA_BRP.pem" --ci-key "$S26/CertificateIssuer/SK_CI_ECDSA_BRP.pem" \
        >sgp.log 2>&1; then
        start_smds E "$TMP/state-e" --smds.ci=sgp/nist/ci/ci.pem,sgp/brainpool/ci/ci.pem \
            --smds.auth_cert=sgp/nist/smds/dsauth.pem,sgp/brainpool/smds/dsauth.pem \
            --smds.auth_key=sgp/nist/smds/dsauth.key.pem,sgp/brainpool/smds/dsauth.key.pem \
            --s2s.client_ca=sgp/nist/ci/ci.pem --tls.cert=sgp/nist/smds/dstls.pem --tls.key=sgp/nist/smds/dstls.key.pem && {
            out=$(curl -s --max-time 20 --cacert sgp/nist/ci/ci.pem --cert sgp/nist/smdp/dptls.pem \
                --key sgp/nist/smdp/dptls.key.pem -H 'Content-Type: application/json' -d "$(reg $EID $DP1 EV-26)" \
                "https://127.0.0.1:$S2S/gsma/rsp2/es12/registerEvent")
            expect "ES12 under the SGP.26 CI" OK "$(code "$out")"
            for curve in NIST BRP; do
                out=$("$CLIENT" --server "127.0.0.1:$DEV" --cacert sgp/nist/ci/ci.pem \
                    --euicc-cert "$S26/eUICC/CERT_EUICC_ECDSA_$curve.der" --euicc-key "$S26/eUICC/SK_EUICC_ECDSA_$curve.pem" \
                    --eum-cert "$S26/EUM/CERT_EUM_ECDSA_$curve.der" --ci "$S26/CertificateIssuer/CERT_CI_ECDSA_$curve.der" \
                    --address $FQDN 2>&1)
                expect "the SGP.26 $curve eUICC discovers its event" "EV-26@$DP1 " "$(events "$out")"
            done
            stop E $PID
        }
    else
        bad "rsp-pki with the SGP.26 CI" "$(cat sgp.log)"
    fi
else
    echo "SKIP SGP.26 eUICCs: RSP_SHARED_DIR/pki/sgp26 not available"
fi

it_finish
