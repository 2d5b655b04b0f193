#!/bin/bash
# Several nodes behind a load balancer, all real: a throw-away PostgreSQL 15, HAProxy 2.6 (TCP mode, PROXY
# protocol v2, /readyz checks), 2 smds and 2 smdp-default nodes started by tools/cluster.sh (the code behind
# tools/run --cluster), lpa-sim as the device and curl as the operator and as extra SM-DP+ load, over real
# (mutual) TLS on loopback.
#   1. the walk-through through the balancer: ES2+ order, ES12 on one SM-DS node, ES11 polls reaching both
#      SM-DS nodes and seeing the event, ES9+ calls of one download on both SM-DP+ nodes, installed, the
#      event deleted; the device's address in the access logs; nodes refuse connections without a PROXY
#      header;
#   2. kill -9 of one node of each service during an ES11 boot storm, ES12 load and ES2+ load: 0
#      acknowledged writes lost, 0 duplicated, no outbox item stuck, the survivors carry on;
#   3. PostgreSQL stopped: every node not ready; restarted during ES12 and ES2+ load: only retryable
#      answers, 0 acknowledged writes lost;
#   4. concurrent ConfirmOrder, CancelOrder and downloads of one order from both nodes: one winner.
# Loops are bounded; all traffic stays on loopback.
# With MODE smds the SM-DS half runs alone (2 smds nodes; ES12 comes from curl instead of the SM-DP+):
# every check above that involves only the SM-DS.
#   usage: cluster_test.sh full|smds <smds> <smdsctl> <smdp-default> <smdpctl> <rsp-pki> <lpa-sim>
#          <tools/cluster.sh>
set -u
. ./tests/integration/lib.sh
MODE=$1
shift
case $MODE in
full) CLUSTER_SERVICES="smds smdp" ;;
smds) CLUSTER_SERVICES=smds ;;
*)
    echo "usage: cluster_test.sh full|smds ..." >&2
    exit 2
    ;;
esac
full() { [ "$MODE" = full ]; }

SMDS_BIN=$(realpath "$1")
DSCTL=$(realpath "$2")
SMDP_BIN=$(realpath "$3")
DPCTL=$(realpath "$4")
PKI_TOOL=$(realpath "$5")
LPASIM=$(realpath "$6")
TOOLS=$(cd "$(dirname "$7")" && pwd)
ROOT=$(dirname "$TOOLS") # tools/cluster.sh finds tools/haproxy-cfg there

# PostgreSQL runs as nobody under root and its socket path must stay short: not under TEST_TMPDIR.
TMP=$(mktemp -d /tmp/rsp-cluster-XXXXXX) || exit 1
CL=$TMP/cluster
CL_TOP=$TMP
mkdir -p "$CL"
cd "$TMP" || exit 1
PIDS=()
NAMES=()
PG_STOP=()
finish() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ ${#PG_STOP[@]} -gt 0 ]; then "${PG_STOP[@]}" >/dev/null 2>&1; fi
    if [ "$failed" -ne 0 ]; then
        for f in "$CL"/*.log "$CL"/pg/server.log; do
            echo "--- tail of $f"
            tail -n 15 "$f"
        done
    fi
    rm -rf "$TMP"
    it_finish
    # In an EXIT trap a bare exit would keep the status from before the trap.
    exit $?
}
trap finish EXIT

# tools/cluster.sh expects bazel-bin's layout under $BIN.
BIN=$TMP/bin
mkdir -p "$BIN/smds" "$BIN/smdp_default"
ln -s "$SMDS_BIN" "$BIN/smds/smds"
ln -s "$SMDP_BIN" "$BIN/smdp_default/smdp-default"
PKI=$TMP/pki
LB_PORTS=$((20000 + RANDOM % 20000))
DS_DEV=$LB_PORTS DS_S2S=$((LB_PORTS + 1)) DP_DEV=$((LB_PORTS + 2)) DP_S2S=$((LB_PORTS + 3))
LB_PORTS="$DS_DEV,$DS_S2S,$DP_DEV,$DP_S2S"
NODE_BASE=$((DP_S2S + 10))
DS=testsmds.example.com
FQDN=testsmdpplus1.example.com
EID=89049032123451234512345678901235

"$PKI_TOOL" init --out "$PKI" --curve nist >pki.log 2>&1 || {
    bad "mint the test PKI" "$(cat pki.log)"
    exit
}
P=$PKI/nist
SMDS_FLAGS=(--server.workers=2 --smds.fqdn=$DS --smds.ci="$P/ci/ci.pem" --tls.cert="$P/smds/dstls.pem"
    --tls.key="$P/smds/dstls.key.pem" --s2s.client_ca="$P/ci/ci.pem" --smds.auth_cert="$P/smds/dsauth.pem"
    --smds.auth_key="$P/smds/dsauth.key.pem" --smds.events_per_eid=1000)
SMDP_FLAGS=(--server.workers=2 --smdp.fqdn=$FQDN --smdp.ci="$P/ci/ci.pem" --smdp.auth_cert="$P/smdp/dpauth.pem"
    --smdp.auth_key="$P/smdp/dpauth.key.pem" --smdp.pb_cert="$P/smdp/dppb.pem" --smdp.pb_key="$P/smdp/dppb.key.pem"
    --tls.cert="$P/smdp/dptls.pem" --tls.key="$P/smdp/dptls.key.pem" --s2s.client_ca="$P/operator/ca.pem"
    --client.ca="$P/ci/ci.pem" --client.connect_to="$DS:443:127.0.0.1:$DS_S2S" --client.timeout_ms=3000
    --outbox.backoff_min=1 --outbox.backoff_max=2 --outbox.lease=5)

. "$TOOLS/cluster.sh"
if ! cluster_start >start.log 2>&1; then
    bad "the cluster starts" "$(cat start.log)"
    exit
fi
ok "PostgreSQL, ${#CLUSTER_NODES[@]} nodes ($CLUSTER_SERVICES) and HAProxy start; HAProxy sees every backend ready"
NB=$((2 * ${#CLUSTER_NODES[@]})) # backend entries: each node is in two backends
DSN_DS=$(pg_dsn smds)
DSN_DP=$(pg_dsn smdp)

# ---------------------------------------------------------------- helpers
dsctl() { "$DSCTL" --store.backend=postgres --store.dsn="$DSN_DS" "$@"; }
dpctl() {
    "$DPCTL" --store.backend=postgres --store.dsn="$DSN_DP" --master-key="$CL/smdp.master.key" "$@"
}
hdr() { printf '"header":{"functionRequesterIdentifier":"test.operator.com","functionCallIdentifier":"%s"}' "$RANDOM"; }
# es2 FN BODY: ES2+ through the balancer as the operator; prints the body and a last line "HTTP <status>"
# (000 when there was no answer)
es2() {
    curl -s -w '\nHTTP %{http_code}' --max-time 10 --cacert "$P/ci/ci.pem" --cert "$P/operator/client.pem" --key "$P/operator/client.key.pem" \
        --resolve "$FQDN:$DP_S2S:127.0.0.1" -H 'Content-Type: application/json' \
        -H 'X-Admin-Protocol: gsma/rsp/v2.2.2' --data-binary "$2" "https://$FQDN:$DP_S2S/gsma/rsp2/es2plus/$1"
}
# es12 FN BODY: ES12 through the balancer as the SM-DP+ (CERT.DP.TLS), printed as es2 does
es12() {
    curl -s -w '\nHTTP %{http_code}' --max-time 10 --cacert "$P/ci/ci.pem" --cert "$P/smdp/dptls.pem" --key "$P/smdp/dptls.key.pem" \
        --resolve "$DS:$DS_S2S:127.0.0.1" -H 'Content-Type: application/json' \
        -H 'X-Admin-Protocol: gsma/rsp/v2.2.2' --data-binary "$2" "https://$DS:$DS_S2S/gsma/rsp2/es12/$1"
}
# code OUTPUT: OK, subject/reason, "none" when there was no answer, http<status> for a transport error
code() {
    local st
    st=$(printf '%s' "$1" | sed -n 's/^HTTP \([0-9]*\)$/\1/p')
    if [ -z "$st" ] || [ "$st" = 000 ]; then
        echo none
    elif [ "$st" != 200 ]; then
        echo "http$st"
    else
        es_status "$1"
    fi
}
field() { printf '%s' "$2" | sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
lpa() { "$LPASIM" --euicc "$1" --cafile "$P/ci/ci.pem" --fresh-connections "${@:2}" 2>&1; }
discover() { lpa "$1" --connect-to "127.0.0.1:$DS_DEV" discover --smds $DS; }
download() { lpa "$1" --connect-to "127.0.0.1:$DP_DEV" download --smdp $FQDN --notify "${@:2}"; }
# calls NODE FUNCTION: access-log lines of FUNCTION (a prefix) on NODE so far
calls() { grep -c "\"function\":\"$2" "$CL/$1.log"; }
# profile ICCID FILE: a minimal profile package (header and end) with that 19-digit ICCID
profile() {
    printf "$(echo "A016800102810103830A${1}FA500A600AA00" | sed 's/../\\x&/g')" >"$2"
}
iccid() { printf '8999000000000%06d' "$1"; }
# eid N: a 32-digit EID for load number N (same issuer prefix as the test eUICC)
eid() { printf '8904903212345123451234%010d' "$1"; }
# A client retries what was not acknowledged for this long: through a database restart all nodes turn
# not ready for a moment and the balancer has nowhere to send a call.
RETRY_SECS=20
# retryable CODE: what a client may retry (no answer, or "temporarily unavailable" / execution error)
retryable() { [ "$1" = none ] || [ "$1" = 1.1/5.1 ] || [ "$1" = http503 ]; }

"$LPASIM" init --euicc dev --from-pki "$PKI" --curve nist >lpa.log 2>&1 || bad "lpa-sim init" "$(cat lpa.log)"

# ================================================================ 1. the walk-through through the balancer
curl -s -o /dev/null --max-time 5 --cacert "$P/ci/ci.pem" --resolve "$DS:$((NODE_BASE + 1)):127.0.0.1" \
    "https://$DS:$((NODE_BASE + 1))/healthz"
[ $? -ne 0 ] && ok "a node refuses a connection without a PROXY header" ||
    bad "a node refuses a connection without a PROXY header"
out=$(curl -s --max-time 5 --cacert "$P/ci/ci.pem" --resolve "$DS:$DS_DEV:127.0.0.1" "https://$DS:$DS_DEV/readyz")
expect "/readyz through the balancer" ready "$out"

es12_before=$(($(calls smds-1 ES12.RegisterEvent) + $(calls smds-2 ES12.RegisterEvent)))
if full; then
    profile "$(iccid 1)" p1.der
    expect "smdpctl import into the shared store" 8999000000000000001 "$(dpctl import --profile-type Demo \
        --owner test.operator.com p1.der 2>&1)"
    out=$(es2 downloadOrder "{$(hdr),\"eid\":\"$EID\",\"profileType\":\"Demo\"}")
    expect "ES2+ DownloadOrder through the balancer" OK "$(code "$out")"
    out=$(es2 confirmOrder "{$(hdr),\"iccid\":\"8999000000000000001\",\"releaseFlag\":true,\"smdsAddress\":\"$DS\"}")
    expect "ES2+ ConfirmOrder (on the other SM-DP+ node)" OK "$(code "$out")"
    MID=$(field matchingId "$out")
else
    MID=EV-WALK
    expect "ES12 RegisterEvent through the balancer" OK "$(code "$(es12 registerEvent \
        "{$(hdr),\"eid\":\"$EID\",\"rspServerAddress\":\"$FQDN\",\"eventId\":\"$MID\"}")")"
fi
for _ in $(seq 1 40); do
    n=$(($(calls smds-1 ES12.RegisterEvent) + $(calls smds-2 ES12.RegisterEvent)))
    [ "$n" -gt "$es12_before" ] && break
    sleep 0.25
done
expect "ES12 RegisterEvent landed on exactly one SM-DS node" 1 $((n - es12_before))
# Each poll is two calls on two new connections: round robin starts the ES11 transaction on one node and
# finishes it on the other (the stateless transactions at work).
before1=$(calls smds-1 ES11.) before2=$(calls smds-2 ES11.)
seen=0
for _ in 1 2 3 4; do
    out=$(discover dev)
    printf '%s' "$out" | grep -qF "\"eventId\":\"$MID\"" && seen=$((seen + 1))
done
expect "4 ES11 polls through the balancer all see the event" 4 $seen
[ "$(calls smds-1 ES11.)" -gt "$before1" ] && [ "$(calls smds-2 ES11.)" -gt "$before2" ] &&
    ok "the ES11 polls reached both SM-DS nodes" || bad "the ES11 polls reached both SM-DS nodes"
if full; then
    b1=$(grep -c '"path":"/gsma/rsp2/es9plus/' "$CL/smdp-1.log") b2=$(grep -c '"path":"/gsma/rsp2/es9plus/' "$CL/smdp-2.log")
    out=$(download dev)
    contains "the ES9+ download through the balancer installs the profile" '"installed":true' "$out"
    a1=$(grep -c '"path":"/gsma/rsp2/es9plus/' "$CL/smdp-1.log") a2=$(grep -c '"path":"/gsma/rsp2/es9plus/' "$CL/smdp-2.log")
    [ "$a1" -gt "$b1" ] && [ "$a2" -gt "$b2" ] && ok "the ES9+ calls of that download landed on both SM-DP+ nodes" ||
        bad "the ES9+ calls of that download landed on both SM-DP+ nodes" "smdp-1 $b1->$a1, smdp-2 $b2->$a2"
    contains "the order is Installed" '"state":"Installed"' "$(dpctl list | grep 8999000000000000001)"
else
    expect "ES12 DeleteEvent through the balancer" OK \
        "$(code "$(es12 deleteEvent "{$(hdr),\"eid\":\"$EID\",\"eventId\":\"$MID\"}")")"
fi
for _ in $(seq 1 40); do
    out=$(discover dev)
    printf '%s' "$out" | grep -qF "$MID" || break
    sleep 0.25
done
contains "the event was deleted at the SM-DS" '"eventEntries":[]' "$out"
# The device's address comes from the PROXY header: HAProxy connects from 127.0.0.1, the client from .2.
curl -s -o /dev/null --max-time 5 --interface 127.0.0.2 --cacert "$P/ci/ci.pem" --resolve "$DS:$DS_DEV:127.0.0.1" \
    -H 'Content-Type: application/json' -d '{}' "https://$DS:$DS_DEV/gsma/rsp2/es9plus/initiateAuthentication"
log_wait "$CL/smds-1.log" '"addr":"127.0.0.2"' || log_wait "$CL/smds-2.log" '"addr":"127.0.0.2"'
expect "access logs carry the client's address from the PROXY header" 0 $?

# ================================================================ 2. kill -9 under load
# ES12 load: W workers register new events through the balancer, one new connection each, retrying what
# was not acknowledged once it can (a retry that finds its EventID taken means the first attempt landed).
es12_worker() { # ID COUNT OUT
    local i ev c out
    for ((i = 0; i < $2; i++)); do
        ev=K$1-$i
        local until=$((SECONDS + RETRY_SECS))
        while [ $SECONDS -lt $until ]; do
            out=$(es12 registerEvent "{$(hdr),\"eid\":\"$(eid $((i % 50)))\",\"rspServerAddress\":\"$FQDN\",\"eventId\":\"$ev\"}")
            c=$(code "$out")
            if [ "$c" = OK ] || [ "$c" = 8.9.5/3.3 ]; then
                echo "$ev $(eid $((i % 50))) $c"
                break
            fi
            retryable "$c" || {
                echo "$ev - BAD:$c"
                break
            }
            sleep 0.2
        done
    done >"$3"
}
# ES2+ load: order and release one profile per ICCID, with the same retry rule: a repeated DownloadOrder
# that finds the ICCID in use (8.2.1/3.3), or a repeated ConfirmOrder that finds the order released
# (8.2.1/3.5), is the first attempt's success.
es2_worker() { # FIRST COUNT OUT
    local i id c out step try landed
    for ((i = $1; i < $1 + $2; i++)); do
        id=$(iccid $((100 + i)))
        for step in downloadOrder confirmOrder; do
            landed=8.2.1/3.3
            [ $step = confirmOrder ] && landed=8.2.1/3.5
            local until=$((SECONDS + RETRY_SECS)) try=0
            while [ $SECONDS -lt $until ]; do
                try=$((try + 1))
                if [ $step = downloadOrder ]; then
                    out=$(es2 downloadOrder "{$(hdr),\"eid\":\"$(eid $((1000 + i)))\",\"iccid\":\"$id\"}")
                else
                    out=$(es2 confirmOrder "{$(hdr),\"iccid\":\"$id\",\"releaseFlag\":true,\"smdsAddress\":\"$DS\"}")
                fi
                c=$(code "$out")
                [ "$c" = "$landed" ] && [ "$try" -gt 1 ] && c=OK
                [ "$c" = OK ] && break
                retryable "$c" || break
                sleep 0.2
            done
            echo "$id $step $c"
            [ "$c" = OK ] || break
        done
    done >"$3"
}
# boot storm: devices poll in a loop; prints one code per poll
es11_worker() { # DIR SECONDS OUT
    local end=$((SECONDS + $2)) out
    while [ $SECONDS -lt $end ]; do
        out=$(discover "$1")
        if printf '%s' "$out" | grep -q '"ok":true'; then echo ok; else echo "fail $(printf '%s' "$out" | head -c 200)"; fi
    done >"$3"
}
N_ES2=30
if full; then
    for i in $(seq 1 $((2 * N_ES2 + 10))); do profile "$(iccid $((100 + i)))" "load-$i.der"; done
    n=$(dpctl import --profile-type Load --owner test.operator.com load-*.der 2>&1 | grep -c '^8999')
    expect "import the load profiles" $((2 * N_ES2 + 10)) "$n"
fi
for d in dev2 dev3; do cp -r dev $d; done

# check_es12 FILES...: every acknowledged EventID is stored exactly once.
check_es12() {
    local tag=$1
    shift
    cat "$@" >"acked-$tag"
    local bad_answers acked stored
    bad_answers=$(grep -c ' BAD:' "acked-$tag")
    expect "$tag: ES12 answers were all successes or retryable" 0 "$bad_answers"
    acked=$(grep -vc ' BAD:' "acked-$tag")
    dsctl export >"export-$tag" 2>&1
    stored=0
    while read -r ev _ _; do grep -qF "\"eventId\":\"$ev\"" "export-$tag" && stored=$((stored + 1)); done <"acked-$tag"
    expect "$tag: all $acked acknowledged registrations are stored" "$acked" "$stored"
    expect "$tag: no EventID is stored twice" "" \
        "$(sed -n 's/.*"eventId":"\([^"]*\)".*/\1/p' "export-$tag" | sort | uniq -d | head -n 3)"
}
# check_es2 FILES...: every acknowledged release is a Released order whose event reached the SM-DS once.
check_es2() {
    local tag=$1
    shift
    cat "$@" >"orders-$tag"
    local bad_answers released missing=0 stuck=0 iccid mid
    bad_answers=$(awk '$3 != "OK" && $3 != "none" && $3 != "1.1/5.1" && $3 != "http503"' "orders-$tag" | head -n 3)
    expect "$tag: ES2+ answers were all successes or retryable" "" "$bad_answers"
    dpctl list >"list-$tag" 2>&1
    # ICCID and matchingId (= EventID) of every acknowledged release, from the shared store.
    released=$(awk '$2 == "confirmOrder" && $3 == "OK" {print $1}' "orders-$tag" | while read -r iccid; do
        echo "$iccid $(field matchingId "$(grep "\"iccid\":\"$iccid\"" "list-$tag")")"
    done)
    [ -n "$released" ] || bad "$tag: some orders were released"
    while read -r iccid mid; do
        [ -n "$iccid" ] || continue
        grep "\"iccid\":\"$iccid\"" "list-$tag" | grep -q '"state":"Released"' || missing=$((missing + 1))
    done <<<"$released"
    expect "$tag: all $(wc -l <<<"$released") acknowledged releases are Released orders" 0 "$missing"
    expect "$tag: no ICCID has two orders" "" \
        "$(sed -n 's/.*"iccid":"\([^"]*\)".*/\1/p' "list-$tag" | sort | uniq -d | head -n 3)"
    # The outbox delivers every release's RegisterEvent (a lease held by a killed node expires in 5 s).
    for _ in $(seq 1 60); do
        dsctl export >"export-$tag" 2>&1
        stuck=0
        while read -r iccid mid; do
            [ -n "$mid" ] || continue
            grep -qF "\"eventId\":\"$mid\"" "export-$tag" || stuck=$((stuck + 1))
        done <<<"$released"
        [ $stuck -eq 0 ] && break
        sleep 0.5
    done
    expect "$tag: no outbox item stuck (every released order's event is at the SM-DS)" 0 $stuck
    expect "$tag: no event registered twice" "" \
        "$(sed -n 's/.*"eventId":"\([^"]*\)".*/\1/p' "export-$tag" | sort | uniq -d | head -n 3)"
}

es12_worker a 60 k-a.out &
w1=$!
es12_worker b 60 k-b.out &
w2=$!
es11_worker dev2 12 s-a.out &
w3=$!
victims=(smds-1)
if full; then
    es2_worker 1 "$N_ES2" o-a.out &
    w4=$!
    victims+=(smdp-1)
fi
sleep 4
for v in "${victims[@]}"; do kill -KILL "${NODE_PID[$v]}"; done
killed_at=$SECONDS
wait $w1 $w2 $w3 ${w4:-}
ok "kill -9 of ${victims[*]} in the middle of the load (load ran $((SECONDS - killed_at)) s after it)"
check_es12 kill k-a.out k-b.out
full && check_es2 kill o-a.out
polls=$(grep -c . s-a.out)
fails=$(grep -c '^fail' s-a.out)
[ "$polls" -gt 0 ] && [ "$fails" -le 2 ] && ok "ES11 boot storm: $polls polls, $fails failed around the kill" ||
    bad "ES11 boot storm around the kill" "$polls polls, $fails failed: $(grep -m 3 '^fail' s-a.out)"
expect "ES11 after the kill: the surviving SM-DS node serves" ok "$(tail -n 1 s-a.out)"
rejoined=0
for v in "${victims[@]}"; do node_start "$v" || rejoined=1; done
[ $rejoined -eq 0 ] && lb_wait_up $NB 20
expect "the killed nodes rejoin" 0 $?

# ================================================================ 3. PostgreSQL down, then restarted under load
pg_stop
for _ in $(seq 1 20); do
    [ "$(lb_status | grep -c ' UP$')" -eq 0 ] && break
    sleep 0.5
done
expect "PostgreSQL down: HAProxy sees no node ready (/readyz)" 0 "$(lb_status | grep -c ' UP$')"
pg_as "$(pg_bindir)/pg_ctl" -D "$CL/pg/data" -l "$CL/pg/server.log" -w -t 60 -s \
    -o "-c listen_addresses='' -k $CL/pg" start
lb_wait_up $NB 20
expect "PostgreSQL back: every node ready again by itself" 0 $?

es12_worker c 60 r-c.out &
w1=$!
w2=
if full; then
    es2_worker $((N_ES2 + 1)) "$N_ES2" o-b.out &
    w2=$!
fi
sleep 3
pg_restart
expect "PostgreSQL restarted in the middle of the load" 0 $?
wait $w1 $w2
check_es12 restart r-c.out
full && check_es2 restart o-b.out

# ================================================================ 4. one winner
full || exit
# Two identical calls at once through the balancer go to the two SM-DP+ nodes (round robin).
race() { # FN BODY: prints both codes, sorted
    es2 "$1" "$2" >race1 &
    es2 "$1" "$2" >race2
    wait
    printf '%s\n%s\n' "$(code "$(cat race1)")" "$(code "$(cat race2)")" | sort | tr '\n' ' '
}
winners() { printf '%s' "$1" | tr ' ' '\n' | grep -c '^OK$'; }
for i in 1 2 3; do
    iccid=$(iccid $((100 + 2 * N_ES2 + i)))
    es2 downloadOrder "{$(hdr),\"eid\":\"$(eid $((5000 + i)))\",\"iccid\":\"$iccid\"}" >/dev/null
    r=$(race confirmOrder "{$(hdr),\"iccid\":\"$iccid\",\"releaseFlag\":true,\"smdsAddress\":\"$DS\"}")
    expect "two ConfirmOrder at once ($i): one winner ($r)" 1 "$(winners "$r")"
    mid=$(cat race1 race2 | grep -o '"matchingId":"[^"]*"' | head -1 | cut -d'"' -f4)
    r=$(race cancelOrder "{$(hdr),\"iccid\":\"$iccid\",\"eid\":\"$(eid $((5000 + i)))\",\"matchingId\":\"$mid\",\"finalProfileStatusIndicator\":\"Unavailable\"}")
    expect "two CancelOrder at once ($i): one winner ($r)" 1 "$(winners "$r")"
done
# Two copies of one device download the same order at once: one gets the profile.
iccid=$(iccid $((100 + 2 * N_ES2 + 4)))
es2 downloadOrder "{$(hdr),\"eid\":\"$EID\",\"iccid\":\"$iccid\"}" >/dev/null
es2 confirmOrder "{$(hdr),\"iccid\":\"$iccid\",\"releaseFlag\":true}" >/dev/null
rm -rf dev4 dev5
cp -r dev dev4
cp -r dev dev5
download dev4 >dl1 2>&1 &
download dev5 >dl2 2>&1
wait
expect "two downloads of one order at once: one installs" 1 "$(cat dl1 dl2 | grep -c '"installed":true')"
contains "that order is Installed" '"state":"Installed"' "$(dpctl list | grep "$iccid")"
