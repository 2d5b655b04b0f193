#!/bin/bash
# Integration test of what an operator relies on: the packaged sample files are what the binaries print,
# a configuration written from them passes --check-config only once `init` made the secrets, a production
# start refuses to mint them, --print-config shows the effective values, the systemd readiness protocol
# (READY / RELOADING / STOPPING) over $NOTIFY_SOCKET, SIGHUP naming the keys that need a restart, JSON-only
# logs, and the systemd units pass `systemd-analyze verify`.
#   usage: ops_test.sh <smds> <smdp-default> <rsp-pki> <distro dir file: smds.ini>
set -u

SMDS=$(realpath "$1")
SMDP=$(realpath "$2")
RSP_PKI=$(realpath "$3")
DISTRO=$(dirname "$(realpath "$4")")
. ./tests/integration/lib.sh
it_init ops
# Under ASan, LeakSanitizer lists the suppressions it used on stderr at exit; the logs checked below must
# hold only the service's own (JSON) lines.
export LSAN_OPTIONS=${LSAN_OPTIONS:+$LSAN_OPTIONS:}print_suppressions=0
cd "$TMP" || exit 1
"$RSP_PKI" init --out pki --curve nist >/dev/null || { bad "rsp-pki init"; it_finish; exit 1; }
P=$TMP/pki/nist

# ---------------------------------------------------------------- the samples are generated
for s in smds:"$SMDS" smdp-default:"$SMDP"; do
    name=${s%%:*} bin=${s#*:}
    if "$bin" --print-sample-config | diff -u "$DISTRO/$name.ini" - >"$name.diff"; then
        ok "distro/$name.ini is what $name --print-sample-config prints"
    else
        bad "distro/$name.ini is stale (regenerate it with $name --print-sample-config)" "$(head -20 "$name.diff")"
    fi
done

# ---------------------------------------------------------------- a configuration from the sample
cp "$DISTRO/smds.ini" smds.ini
ini_set smds.ini server state_dir "$TMP/smds-state"
ini_set smds.ini server port_file "$TMP/smds.ports"
ini_set smds.ini server workers 2
ini_set smds.ini tls cert "$P/smds/dstls.pem"
ini_set smds.ini tls key "$P/smds/dstls.key.pem"
ini_set smds.ini device port 0
ini_set smds.ini s2s port 0
ini_set smds.ini s2s client_ca "$P/ci/ci.pem"
ini_set smds.ini smds fqdn testsmds.example.com
ini_set smds.ini smds ci "$P/ci/ci.pem"
ini_set smds.ini smds auth_cert "$P/smds/dsauth.pem"
ini_set smds.ini smds auth_key "$P/smds/dsauth.key.pem"

out=$("$SMDS" --check-config --config=smds.ini 2>&1)
expect "--check-config fails before init" 1 $?
contains "--check-config says to run init" 'smds-state/txn.secret does not exist (create it with `smds init`)' "$out"
"$SMDS" --config=smds.ini >refused.log 2>&1
expect "a production start refuses to mint the secret" 1 $?
contains "the refusal names smds init" 'create it with `smds init`' "$(cat refused.log)"
json_lines refused.log && ok "the refused start logs JSON only" || bad "the refused start logs JSON only"
[ ! -e smds-state/txn.secret ] && ok "no secret was minted" || bad "no secret was minted"

out=$("$SMDS" init --config=smds.ini)
contains "smds init creates the secret" "created transaction secret $TMP/smds-state/txn.secret" "$out"
[ "$(stat -c %a smds-state/txn.secret)" = 600 ] && ok "the secret has mode 0600" || bad "the secret has mode 0600"
out=$("$SMDS" init --config=smds.ini)
contains "a second init keeps it" "kept the existing transaction secret" "$out"
out=$("$SMDS" --check-config --config=smds.ini 2>&1)
expect "--check-config passes after init" 0 $?
contains "--check-config checks the CERT.DSauth chain" "ok: smds.auth_cert: $P/smds/dsauth.pem chains to smds.ci" "$out"

out=$("$SMDS" --check-config --config=smds.ini --smds.auth_key="$P/smds/dstls.key.pem" \
    --s2s.client_ca="$TMP/missing.pem" --smds.fqdn= 2>&1)
expect "--check-config fails on a bad configuration" 1 $?
contains "a key of another certificate" "error: smds.auth_key: $P/smds/dstls.key.pem does not belong" "$out"
contains "a missing file" "error: s2s.client_ca: $TMP/missing.pem: No such file or directory" "$out"
contains "a required key" "error: smds.fqdn is required" "$out"
contains "the error count" "smds: the configuration has" "$out"
out=$("$SMDS" --check-config --config=smds.ini --smds.auth_cert="$P/smds/dstls.pem" \
    --smds.auth_key="$P/smds/dstls.key.pem" --smds.ci="$TMP/pki/nist/operator/ca.pem" 2>&1)
contains "a chain to another CI" "does not chain to smds.ci" "$out"
"$SMDS" --check-config --config=smds.ini --device.port=70000 >/dev/null 2>&1
expect "a port out of range is a configuration error" 2 $?

out=$("$SMDS" --print-config --config=smds.ini --smds.txn_ttl=77)
contains "--print-config shows the effective values" "txn_ttl = 77" "$out"
contains "--print-config shows defaults too" "events_per_eid = 100" "$out"
contains "--version" "smds 0.9.0" "$("$SMDS" --version)"

# ---------------------------------------------------------------- systemd readiness, reload, stop
# A socket path must fit in 108 bytes, which $TMP often does not.
NDIR=$(mktemp -d /tmp/rsp-ops-notify.XXXXXX)
trap 'it_cleanup; rm -rf "$NDIR"' EXIT
python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2], "w").close()
with open(sys.argv[2], "a") as f:
    while True:
        m = s.recv(4096).decode()
        f.write(m.replace("\n", " ") + "\n")
        f.flush()
        if m.startswith("STOPPING=1"):
            break
' "$NDIR/notify.sock" "$TMP/notify.txt" &
NPID=$!
it_track $NPID
for _ in $(seq 1 50); do [ -S "$NDIR/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$NDIR/notify.sock "$SMDS" --config=smds.ini >smds.log 2>&1 &
PID=$!
it_track $PID
wait_ports smds.ports $PID && ok "smds starts from the sample-based configuration" || bad "smds starts"
log_wait notify.txt "READY=1" && ok "READY=1 reaches \$NOTIFY_SOCKET" || bad "READY=1 reaches \$NOTIFY_SOCKET"
DEV=$(port_of smds.ports device)
expect "/healthz answers" ok "$(curl -s -k "https://127.0.0.1:$DEV/healthz")"
ini_set smds.ini log level debug
ini_set smds.ini smds events_per_eid 7
kill -HUP $PID
log_wait smds.log '"reload done"' && ok "SIGHUP reloads" || bad "SIGHUP reloads"
contains "the reload applies log.level" '"reload: log.level applied"' "$(cat smds.log)"
contains "the reload names the key that needs a restart" \
    'smds.events_per_eid changed; it needs a restart' "$(cat smds.log)"
contains "RELOADING=1 with MONOTONIC_USEC, then READY=1" "RELOADING=1 MONOTONIC_USEC=" "$(cat notify.txt)"
expect "READY=1 again after the reload" 2 "$(grep -c '^READY=1' notify.txt)"
expect "still serving after the reload" ok "$(curl -s -k "https://127.0.0.1:$DEV/healthz")"
stop "smds" $PID
wait $NPID
contains "STOPPING=1 on SIGTERM" "STOPPING=1" "$(cat notify.txt)"
json_lines smds.log && ok "every log line is JSON (start, reload, stop)" || bad "every log line is JSON"
contains "the start line names the version" '"msg":"smds 0.9.0 (commit ' "$(cat smds.log)"

# ---------------------------------------------------------------- SM-DP+: init makes both secrets
cp "$DISTRO/smdp-default.ini" smdp.ini
ini_set smdp.ini server state_dir "$TMP/smdp-state"
out=$("$SMDP" init --config=smdp.ini)
contains "smdp-default init creates the transaction secret" "created transaction secret $TMP/smdp-state/txn.secret" "$out"
contains "smdp-default init creates the master key" "created master key $TMP/smdp-state/master.key" "$out"
out=$("$SMDP" rotate-key --config=smdp.ini)
contains "rotate-key adds key 1" "added transaction key 1" "$out"
expect "the rotated file holds two keys" 2 "$(wc -l <smdp-state/txn.secret)"
out=$("$SMDP" --check-config --config=smdp.ini 2>&1)
contains "smdp-default --check-config needs the FQDN" "error: smdp.fqdn is required" "$out"
contains "smdp-default --check-config finds the master key" "ok: master key: $TMP/smdp-state/master.key" "$out"

# ---------------------------------------------------------------- monitoring files
python3 -m json.tool "$DISTRO/grafana-dashboard.json" >/dev/null && ok "the Grafana dashboard is JSON" ||
    bad "the Grafana dashboard is JSON"
if command -v promtool >/dev/null 2>&1; then
    out=$(promtool check rules "$DISTRO/prometheus-alerts.yml" 2>&1)
    expect "promtool check rules distro/prometheus-alerts.yml" 0 $?
else
    echo "SKIP: promtool not installed (tools/bootstrap installs prometheus)"
fi

# ---------------------------------------------------------------- systemd units
if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir -p units
    for name in smds smdp-default; do
        # verify resolves ExecStart=: point it at the binaries under test.
        sed "s|/usr/sbin/$name |$([ $name = smds ] && echo "$SMDS" || echo "$SMDP") |" \
            "$DISTRO/$name.service" >"units/$name.service"
        out=$(systemd-analyze verify "units/$name.service" 2>&1)
        rc=$?
        if [ $rc -eq 0 ] && [ -z "$out" ]; then ok "systemd-analyze verify $name.service"; else
            bad "systemd-analyze verify $name.service" "$out"; fi
        for want in Type=notify 'ExecReload=/bin/kill -HUP $MAINPID' ProtectSystem=strict NoNewPrivileges=yes \
            "ReadWritePaths=/var/lib/rsp/$name" LimitNOFILE=; do
            grep -qF -- "$want" "$DISTRO/$name.service" && ok "$name.service has $want" ||
                bad "$name.service has $want"
        done
    done
else
    echo "SKIP: systemd-analyze not installed (tools/bootstrap installs systemd)"
fi

it_finish
