#!/bin/bash
# tests/package_test.sh DEB - the Debian package, installed and run (tools/test runs it outside Bazel,
# after tools/package --reuse).
#
# Always, without root: the package's metadata, files and maintainer scripts; its files unpacked into a
# scratch root (dpkg-deb -x); a configuration written from the packaged sample with a test PKI made by the
# packaged rsp-pki; `init` and --check-config; the packaged smds serving /healthz, /metrics clean under
# `promtool check metrics`, a refused client certificate logged and counted; smdsctl backup while
# serving, restore into a fresh state directory and serving from it.
# With RSP_PACKAGE_INSTALL=1 as root (CI, a throw-away machine): a real dpkg -i (system user, state
# directories, nothing enabled or started), then dpkg --purge (all of it gone).
# Prints "N passed, N failed" and exits non-zero on any failure.
set -u

DEB=$(realpath "$1")
. "$(dirname "$0")/integration/lib.sh"
TMP=$(mktemp -d /tmp/rsp-package-test.XXXXXX)
trap 'it_cleanup; rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1

# ---------------------------------------------------------------- metadata and files
info=$(dpkg-deb --info "$DEB")
contains "package name" "Package: rsp-servers" "$info"
contains "depends on the libraries it links" "libh2o-evloop0.13" "$info"
contents=$(dpkg-deb --contents "$DEB" | awk '{print $6}')
for f in ./usr/sbin/smds ./usr/sbin/smdp-default ./usr/bin/smdsctl ./usr/bin/smdpctl ./usr/bin/rsp-pki \
    ./etc/rsp/smds.ini ./etc/rsp/smdp-default.ini ./lib/systemd/system/smds.service \
    ./lib/systemd/system/smdp-default.service ./usr/share/doc/rsp-servers/operations.md; do
    contains "ships $f" "$f" "$contents"
done
dpkg-deb --ctrl-tarfile "$DEB" | tar -x -C "$TMP" 2>/dev/null
expect "conffiles are the samples" "/etc/rsp/smds.ini /etc/rsp/smdp-default.ini" "$(cat conffiles | xargs)"
for s in postinst prerm postrm; do
    sh -n "$s" && ok "$s is valid sh" || bad "$s is valid sh"
done
grep -q 'systemctl \(enable\|start\)' postinst && bad "postinst enables or starts nothing" ||
    ok "postinst enables or starts nothing"

R=$TMP/root
dpkg-deb -x "$DEB" "$R" || { bad "dpkg-deb -x"; it_finish; exit 1; }
ok "unpacked into a scratch root"
help=$("$R/usr/sbin/smds" --help)
contains "--help lists the modes" "--check-config" "$help"
contains "--help lists init" "init [--config=FILE]" "$help"
# The usage block of --help is quoted in the packaged operations guide: they must agree.
printf '%s\n' "$help" | sed -n '/^usage:/,/--version$/p' >usage.txt
missing=$(while IFS= read -r line; do
    grep -qxF -- "$line" "$R/usr/share/doc/rsp-servers/operations.md" || echo "$line"
done <usage.txt)
expect "docs/operations.md quotes smds --help's usage ($(wc -l <usage.txt) lines)" "" "$missing"

# ---------------------------------------------------------------- configure from the sample
"$R/usr/bin/rsp-pki" init --out "$TMP/pki" --curve nist >/dev/null && ok "rsp-pki init" || bad "rsp-pki init"
P=$TMP/pki/nist
C=$TMP/smds.ini
cp "$R/etc/rsp/smds.ini" "$C"
ini_set "$C" server state_dir "$TMP/state"
ini_set "$C" server workers 2
ini_set "$C" server port_file "$TMP/ports"
ini_set "$C" tls cert "$P/smds/dstls.pem"
ini_set "$C" tls key "$P/smds/dstls.key.pem"
ini_set "$C" device port 0
ini_set "$C" s2s port 0
ini_set "$C" s2s client_ca "$P/ci/ci.pem"
ini_set "$C" smds fqdn testsmds.example.com
ini_set "$C" smds ci "$P/ci/ci.pem"
ini_set "$C" smds auth_cert "$P/smds/dsauth.pem"
ini_set "$C" smds auth_key "$P/smds/dsauth.key.pem"
mkdir -m 0700 "$TMP/state"
"$R/usr/sbin/smds" init --config="$C" >/dev/null && ok "smds init" || bad "smds init"
out=$("$R/usr/sbin/smds" --check-config --config="$C" 2>&1)
expect "--check-config passes" 0 $?
contains "--check-config says OK" "smds: the configuration is OK" "$out"

# ---------------------------------------------------------------- serve from the installed files
start_smds() { # STATE PORTFILE LOG
    "$R/usr/sbin/smds" --config="$C" --server.state_dir="$1" --server.port_file="$2" >"$3" 2>&1 &
    PID=$!
    it_track $PID
    wait_ports "$2" $PID
}
start_smds "$TMP/state" "$TMP/ports" smds.log && ok "the packaged smds starts" || bad "the packaged smds starts"
DEV=$(port_of ports device)
S2S=$(port_of ports s2s)
expect "/healthz answers" ok "$(curl -s --cacert "$P/ci/ci.pem" "https://127.0.0.1:$DEV/healthz")"
expect "/readyz answers" ready "$(curl -s --cacert "$P/ci/ci.pem" "https://127.0.0.1:$DEV/readyz")"

DP=(--cacert "$P/ci/ci.pem" --cert "$P/smdp/dptls.pem" --key "$P/smdp/dptls.key.pem")
for i in 1 2 3; do
    body=$(printf '{"header":{"functionRequesterIdentifier":"pt","functionCallIdentifier":"%s"},"eid":"%s","rspServerAddress":"testsmdpplus1.example.com","eventId":"EV-%s"}' \
        $i 89049032123451234512345678901235 $i)
    curl -s "${DP[@]}" -H 'Content-Type: application/json' -H 'X-Admin-Protocol: gsma/rsp/v2.2.2' -d "$body" \
        "https://127.0.0.1:$S2S/gsma/rsp2/es12/registerEvent" | grep -q Executed-Success && ok "event $i registered" ||
        bad "event $i registered"
done

# A client certificate from a CA the s2s listener does not trust: refused, logged, counted.
# TLS 1.2: its client waits for the server's Finished, so it reads the alert; a TLS 1.3 client may
# already be past its handshake and see only the close (rsp/http_test checks the 1.3 alerts in process).
cerr=$(curl -sS --tls-max 1.2 --cacert "$P/ci/ci.pem" --cert "$P/operator/client.pem" --key "$P/operator/client.key.pem" \
    "https://127.0.0.1:$S2S/metrics" 2>&1 >/dev/null)
expect "an untrusted client certificate is refused" 1 $(($? != 0))
contains "the client receives the unknown_ca alert" "alert unknown ca" "$cerr"
log_wait smds.log '"TLS refused: listener s2s' && ok "the refusal is logged" || bad "the refusal is logged"
contains "the log line has the peer address and reason" \
    'peer 127.0.0.1:' "$(grep 'TLS refused' smds.log)"
contains "the log line names the verification error" 'reason unknown_ca: client certificate' "$(cat smds.log)"

curl -s "${DP[@]}" "https://127.0.0.1:$S2S/metrics" >metrics.txt
contains "the refusal is counted" 'rsp_tls_refusals_total{listener="s2s",reason="unknown_ca"} 1' "$(cat metrics.txt)"
contains "rsp_build_info" 'rsp_build_info{version="' "$(cat metrics.txt)"
if command -v promtool >/dev/null 2>&1; then
    out=$(promtool check metrics <metrics.txt 2>&1)
    expect "promtool check metrics is clean" "0:" "$?:$out"
else
    echo "SKIP: promtool not installed (tools/bootstrap installs prometheus)"
fi
expect "no /metrics on the device listener" 404 \
    "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$P/ci/ci.pem" "https://127.0.0.1:$DEV/metrics")"

# ---------------------------------------------------------------- backup while serving, restore, serve
out=$("$R/usr/bin/smdsctl" --state "$TMP/state" backup "$TMP/backup")
expect "smdsctl backup while smds serves" 0 $?
contains "the backup has the transaction secret" "txn.secret" "$(cat "$TMP/backup/MANIFEST")"
stop "smds" $PID
json_lines smds.log && ok "every log line of the run is JSON" || bad "every log line of the run is JSON"
"$R/usr/bin/smdsctl" --state "$TMP/restored" restore "$TMP/backup" >/dev/null
expect "smdsctl restore into a fresh state directory" 0 $?
"$R/usr/bin/smdsctl" --state "$TMP/restored" restore "$TMP/backup" >/dev/null 2>&1
expect "restore refuses to overwrite" 1 $?
expect "the restored store holds the events" 3 "$("$R/usr/bin/smdsctl" --state "$TMP/restored" count)"
start_smds "$TMP/restored" "$TMP/ports2" restored.log && ok "smds serves from the restored state" ||
    bad "smds serves from the restored state"
S2S=$(port_of ports2 s2s)
body='{"header":{"functionRequesterIdentifier":"pt","functionCallIdentifier":"9"},"eid":"89049032123451234512345678901235","rspServerAddress":"testsmdpplus1.example.com","eventId":"EV-2"}'
out=$(curl -s "${DP[@]}" -H 'Content-Type: application/json' -H 'X-Admin-Protocol: gsma/rsp/v2.2.2' -d "$body" \
    "https://127.0.0.1:$S2S/gsma/rsp2/es12/deleteEvent")
contains "a restored event can be deleted" "Executed-Success" "$out"
stop "restored smds" $PID

# ---------------------------------------------------------------- a real install (CI only)
if [ "${RSP_PACKAGE_INSTALL:-0}" = 1 ] && [ "$(id -u)" = 0 ]; then
    if dpkg-query -W rsp-servers >/dev/null 2>&1; then
        bad "rsp-servers is already installed on this machine; not touching it"
    else
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$DEB" >install.log 2>&1
        expect "dpkg -i (through apt for the dependencies)" 0 $?
        getent passwd rsp >/dev/null && ok "the system user rsp exists" || bad "the system user rsp exists"
        expect "/var/lib/rsp/smds belongs to rsp, mode 700" "rsp 700" "$(stat -c '%U %a' /var/lib/rsp/smds)"
        expect "/var/lib/rsp/smdp-default belongs to rsp" rsp "$(stat -c %U /var/lib/rsp/smdp-default)"
        expect "smds --version from /usr/sbin" smds "$(/usr/sbin/smds --version | cut -d' ' -f1)"
        if [ -d /run/systemd/system ]; then
            expect "smds.service is not enabled" disabled "$(systemctl is-enabled smds.service 2>/dev/null)"
            expect "smds.service is not running" inactive "$(systemctl is-active smds.service 2>/dev/null)"
        fi
        out=$(/usr/sbin/smds --check-config 2>&1)
        expect "the unconfigured sample does not pass --check-config" 1 $?
        contains "it says what is missing" "error: smds.fqdn is required" "$out"
        dpkg --purge rsp-servers >purge.log 2>&1
        expect "dpkg --purge" 0 $?
        getent passwd rsp >/dev/null && bad "purge removes the user rsp" || ok "purge removes the user rsp"
        [ ! -e /var/lib/rsp ] && [ ! -e /etc/rsp ] && [ ! -e /usr/sbin/smds ] && ok "purge removes the files" ||
            bad "purge removes the files"
    fi
else
    echo "SKIP: real install (set RSP_PACKAGE_INSTALL=1 and run as root on a throw-away machine)"
fi

it_finish
