#!/bin/bash
# The HAProxy configuration: distro/haproxy/rsp-cluster.cfg is what tools/haproxy-cfg writes for the
# reference layout (tests/cluster/haproxy_cfg.args), HAProxy 2.6 accepts it, and the generator refuses
# malformed node specifications.
#   usage: haproxy_cfg_test.sh <tools/haproxy-cfg> <haproxy_cfg.args> <distro/haproxy/rsp-cluster.cfg>
set -u
. ./tests/integration/lib.sh
GEN=$1
ARGS=$(cat "$2")
REF=$3
it_init haproxy_cfg
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

# shellcheck disable=SC2086 # the arguments file holds words
"$GEN" $ARGS >"$TMP/gen.cfg" 2>"$TMP/gen.err"
expect "the generator runs" 0 $?
if diff -u "$REF" "$TMP/gen.cfg" >"$TMP/diff"; then ok "distro/haproxy/rsp-cluster.cfg is the generator's output"; else
    bad "distro/haproxy/rsp-cluster.cfg is the generator's output" "$(cat "$TMP/diff")"
fi
for want in "mode tcp" "balance roundrobin" "send-proxy-v2" "uri /readyz" "check-send-proxy" "check-ssl" \
    "verify required" "bind 0.0.0.0:8443" "bind 0.0.0.0:8444" "bind 0.0.0.0:9443" "bind 0.0.0.0:9444" \
    "server smds-b 10.0.0.12:8444 check port 8443" "server smdp-c 10.0.0.13:9444 check port 9443"; do
    contains "the configuration has '$want'" "$want" "$(cat "$TMP/gen.cfg")"
done
if [ ! -x "$HAPROXY" ]; then
    bad "haproxy is installed (tools/bootstrap installs it)"
else
    # HAProxy loads the CA file at parse time: check the same text with a real one.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=t -days 1 \
        -keyout "$TMP/k.pem" -out "$TMP/ca.pem" >/dev/null 2>&1
    sed "s|/etc/haproxy/rsp/ci.pem|$TMP/ca.pem|; s|maxconn 20000|maxconn 100|" "$TMP/gen.cfg" >"$TMP/check.cfg"
    out=$("$HAPROXY" -c -f "$TMP/check.cfg" 2>&1)
    expect "haproxy -c accepts it" 0 $?
    printf '%s\n' "$out" | grep -q WARNING && bad "haproxy -c gives no warning" "$out" || ok "haproxy -c gives no warning"
fi
"$GEN" --ca x --smds bad --smdp n=a:1:2 >/dev/null 2>&1
expect "a node without NAME= is refused" 2 $?
"$GEN" --ca x --smds n=a:1 --smdp n=a:1:2 >/dev/null 2>&1
expect "a node without its s2s port is refused" 2 $?
"$GEN" --smds n=a:1:2 --smdp n=a:1:2 >/dev/null 2>&1
expect "--ca is required" 2 $?
it_finish
