#!/bin/bash
# SGP.22 v3 PKI end to end, real processes over real TLS: for each SGP.26 v3 variant (O, Ov3, A, B, C) on
# each curve (NIST P-256, brainpoolP256r1), `rsp-pki init --variant` mints the PKI; one smds and one
# smdp-default start with its server certificates (CERT.DSauth, DPauth, DPpb and the TLS certificates, with
# their intermediates: v3 policies and, for A/B/C, under the SM-DS / SM-DP+ / CI sub-CAs).  Then:
#   * the operator orders a profile over ES2+; the SM-DP+ registers its event at the SM-DS over ES12 (mutual
#     TLS with CERT.DP.TLS under the sub-CAs), lpa-sim discovers it over ES11, installs it over ES9+, and the
#     SM-DP+ deletes the event;
#   * the variant's invalid chains (made with `rsp-pki mint`) are refused over ES11 and ES9+ with their
#     8.1.2 / 8.1.3 / 8.11.1 codes;
#   * ES12 clients with a wrong role under the sub-CAs get 403;
# and both services refuse to start with an expired CI in their configuration.
#   usage: v3_e2e_test.sh <smds> <smdp-default> <smdpctl> <rsp-pki> <lpa-sim>
set -u
. ./tests/integration/lib.sh

SMDS=$(realpath "$1")
SMDP=$(realpath "$2")
CTL=$(realpath "$3")
PKI_TOOL=$(realpath "$4")
LPASIM=$(realpath "$5")
it_init pki_v3_e2e
cd "$TMP" || exit 1

EID=89049032123451234512345678901235
FQDN=testsmdpplus1.example.com
DS=testsmds.example.com
OPERATOR=test.operator.com
V3=2.23.146.1.2.1.0.0

# lpa_code JSON: OK for an lpa-sim success, else the subjectCode/reasonCode of its failure
lpa_code() {
    case "$1" in
    '{"ok":true'*) echo OK ;;
    *) es_status "$1" ;;
    esac
}
field() { printf '%s' "$2" | sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
pki() { "$PKI_TOOL" "$@" >>pki.log 2>&1 || bad "rsp-pki $*" "$(tail -3 pki.log)"; }
# bundle CERT: CERT followed by its intermediates (chain.pem of its folder, when the variant has one)
bundle() {
    local d
    d=$(dirname "$1")
    cat "$1" >"$1.bundle"
    if [ -f "$d/chain.pem" ]; then cat "$d/chain.pem" >>"$1.bundle"; fi
    echo "$1.bundle"
}
stop_quiet() {
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# start_servers SET: smds and smdp-default with the certificates of SET (DIR/<curve>); sets DSDEV DSS2S DEV
# S2S SMDS_PID SMDP_PID.
start_servers() {
    local s=$1
    rm -f smds.ports smdp.ports
    "$SMDS" --server.workers=1 --server.state_dir="$s.smds" --server.create_secrets --server.port_file=smds.ports \
        --device.port=0 --s2s.port=0 --tls.cert="$(bundle "$s/smds/dstls.pem")" --tls.key="$s/smds/dstls.key.pem" \
        --s2s.client_ca="$s/ci/ci.pem" --smds.fqdn=$DS --smds.ci="$s/ci/ci.pem" \
        --smds.auth_cert="$(bundle "$s/smds/dsauth.pem")" --smds.auth_key="$s/smds/dsauth.key.pem" \
        --log.file="$s.smds.log" >"$s.smds.out" 2>&1 &
    SMDS_PID=$!
    it_track $SMDS_PID
    wait_ports smds.ports $SMDS_PID || return 1
    DSDEV=$(port_of smds.ports device)
    DSS2S=$(port_of smds.ports s2s)
    "$CTL" --state "$s.smdp" import --profile-type Demo --owner $OPERATOR p1.der >>"$s.smdp.out" 2>&1 || return 1
    "$SMDP" --server.workers=1 --server.state_dir="$s.smdp" --server.create_secrets --server.port_file=smdp.ports \
        --device.port=0 --s2s.port=0 --tls.cert="$(bundle "$s/smdp/dptls.pem")" --tls.key="$s/smdp/dptls.key.pem" \
        --s2s.client_ca="$s/operator/ca.pem" --smdp.fqdn=$FQDN --smdp.ci="$s/ci/ci.pem" \
        --smdp.auth_cert="$(bundle "$s/smdp/dpauth.pem")" --smdp.auth_key="$s/smdp/dpauth.key.pem" \
        --smdp.pb_cert="$(bundle "$s/smdp/dppb.pem")" --smdp.pb_key="$s/smdp/dppb.key.pem" \
        --client.ca="$s/ci/ci.pem" --client.connect_to="$DS:443:127.0.0.1:$DSS2S" --client.timeout_ms=5000 \
        --outbox.backoff_min=1 --outbox.backoff_max=1 --log.file="$s.smdp.log" >>"$s.smdp.out" 2>&1 &
    SMDP_PID=$!
    it_track $SMDP_PID
    wait_ports smdp.ports $SMDP_PID || return 1
    DEV=$(port_of smdp.ports device)
    S2S=$(port_of smdp.ports s2s)
}

# es2 SET FN BODY: ES2+ call as the operator
es2() {
    curl -s --max-time 20 --cacert "$1/ci/ci.pem" --cert "$1/operator/client.pem" \
        --key "$1/operator/client.key.pem" --resolve $FQDN:$S2S:127.0.0.1 -H 'Content-Type: application/json' \
        -H 'X-Admin-Protocol: gsma/rsp/v2.2.2' --data-binary "$3" "https://$FQDN:$S2S/gsma/rsp2/es2plus/$2"
}
hdr() { printf '"header":{"functionRequesterIdentifier":"%s","functionCallIdentifier":"%s"}' $OPERATOR "$RANDOM"; }
# es12 SET CERT KEY FN BODY: an ES12 call to the SM-DS as the holder of CERT (a bundle); prints the HTTP status
# and the body
es12() {
    curl -s --max-time 20 --cacert "$1/ci/ci.pem" --cert "$2" --key "$3" -w ' %{http_code}' \
        --resolve $DS:$DSS2S:127.0.0.1 -H 'Content-Type: application/json' -H 'X-Admin-Protocol: gsma/rsp/v2.2.2' \
        --data-binary "$5" "https://$DS:$DSS2S/gsma/rsp2/es12/$4"
}
reg() { # EVENTID
    printf '{%s,"eid":"%s","rspServerAddress":"%s","eventId":"%s"}' "$(hdr)" $EID $FQDN "$1"
}
lpa() { # SET DEVICE args...: lpa-sim with the set's CI as TLS trust anchor
    local s=$1 d=$2
    shift 2
    "$LPASIM" --euicc "$d" --cafile "$s/ci/ci.pem" "$@" 2>&1
}
discover() { lpa "$1" "$2" --connect-to 127.0.0.1:$DSDEV discover --smds $DS; }
download() {
    local s=$1 d=$2
    shift 2
    lpa "$s" "$d" --connect-to 127.0.0.1:$DEV download --smdp $FQDN --notify "$@"
}

# bad_device NAME CHAIN [EUICC-BASE]: a device directory NAME, the valid one's copy with CHAIN (PEM, the
# eUICC's issuer first) as what it sends, and optionally another eUICC certificate (EUICC-BASE.pem, same key)
bad_device() {
    rm -rf "$1"
    cp -r dev0 "$1"
    rm -f "$1"/eum.der "$1"/eum.pem
    cat $2 >"$1/eum.pem"
    if [ $# -gt 2 ]; then
        rm -f "$1"/euicc.der "$1"/euicc.pem
        cp "$3.der" "$1/euicc.der"
    fi
}

# refused SET NAME CODE DEVICE: ES11 and ES9+ both refuse DEVICE with CODE
refused() {
    expect "$2: ES11 refuses with $3" "$3" "$(lpa_code "$(discover "$1" "$4")")"
    expect "$2: ES9+ refuses with $3" "$3" "$(lpa_code "$(download "$1" "$4")")"
}

# refuses_start NAME OUT CMD...: the server start CMD (writing its ports to exp.ports) fails before it
# listens, naming the expired CI in its output OUT
refuses_start() {
    local name=$1 out=$2 rc
    shift 2
    timeout 20 "$@" >"$out" 2>&1
    rc=$?
    expect "$name refuses to start with an expired CI" 1 "$([ $rc -ne 0 ] && [ $rc -ne 124 ] && [ ! -s exp.ports ] && echo 1)"
    contains "$name names the expired CI" "ci-expired.pem: CI certificate: expired" "$(cat "$out")"
}

printf "$(echo A016800102810103830A8999000000000000101FA500A600AA00 | sed 's/../\\x&/g')" >p1.der

for v in O Ov3 A B C; do
    pki init --out "var$v" --variant $v --curve both
    for c in nist brainpool; do
        S=var$v/$c
        E=$S/euicc/$EID
        n="$v $c"
        # ---------------------------------------------------------------- v3 server certificates
        if [ $v != O ]; then
            pol=$(openssl x509 -in "$S/smdp/dpauth.pem" -noout -ext certificatePolicies 2>&1)
            contains "$n: CERT.DPauth has the v3 policy" "$V3.1.1" "$pol"
            pol=$(openssl x509 -in "$S/smds/dstls.pem" -noout -ext certificatePolicies 2>&1)
            contains "$n: CERT.DS.TLS has the v3 policy" "$V3.2.0" "$pol"
        fi
        case $v in
        A | C) want="SM-DP+ SubCA" ;;
        B) want="CI SubCA" ;;
        *) want="" ;;
        esac
        if [ -n "$want" ]; then
            contains "$n: CERT.DPpb is under the sub-CA" "$want" "$(openssl x509 -in "$S/smdp/dppb.pem" -noout -issuer)"
        fi
        if ! start_servers "$S"; then
            bad "$n: smds and smdp-default start" "$(tail -3 "$S.smds.out" "$S.smdp.out")"
            stop_quiet "$SMDS_PID"
            stop_quiet "${SMDP_PID:-}"
            continue
        fi
        ok "$n: smds and smdp-default start with the variant's server certificates"

        # ---------------------------------------------------------------- valid chain: order, discover, install
        rm -rf dev0
        out=$("$LPASIM" init --euicc dev0 --from-pki "var$v" --curve $c 2>&1)
        contains "$n: lpa-sim init" '"ok":true' "$out"
        rm -rf dev && cp -r dev0 dev
        out=$(es2 "$S" downloadOrder "{$(hdr),\"eid\":\"$EID\",\"profileType\":\"Demo\"}")
        expect "$n: DownloadOrder" 8999000000000000101 "$(field iccid "$out")"
        out=$(es2 "$S" confirmOrder "{$(hdr),\"iccid\":\"8999000000000000101\",\"releaseFlag\":true,\"smdsAddress\":\"$DS\"}")
        mid=$(field matchingId "$out")
        expect "$n: ConfirmOrder with the SM-DS" 1 "$([ ${#mid} -gt 10 ] && echo 1)"
        out=$(until_has 15 "$mid" discover "$S" dev)
        contains "$n: ES12 RegisterEvent with CERT.DP.TLS, ES11 discovery" "\"eventId\":\"$mid\"" "$out"
        out=$(download "$S" dev --matching-id "$mid")
        contains "$n: ES9+ download and install" '"ok":true' "$out"
        out=$("$CTL" --state "$S.smdp" list 2>&1)
        contains "$n: the order is Installed" '"state":"Installed"' "$out"
        out=$(until_lacks 15 "$mid" discover "$S" dev)
        if printf '%s' "$out" | grep -qF "$mid"; then bad "$n: ES12 DeleteEvent after the install" "$out"; else
            ok "$n: ES12 DeleteEvent after the install"
        fi

        # ---------------------------------------------------------------- invalid chains of the variant
        X=$S/x
        case $v in
        O | Ov3)
            v3flag=$([ $v = Ov3 ] && echo --v3)
            pki mint --kind eum $v3flag --curve $c --out "$X-eumexp" --issuer-cert "$S/ci/ci.pem" \
                --issuer-key "$S/ci/ci.key.pem" --key "$S/eum/eum.key.pem" --not-before -400d --not-after -1d
            bad_device bad1 "$X-eumexp.pem"
            refused "$S" "$n: EUM expired" 8.1.2/6.3 bad1
            pki mint --kind euicc $v3flag --curve $c --out "$X-euiccexp" --issuer-cert "$S/eum/eum.pem" \
                --issuer-key "$S/eum/eum.key.pem" --key "$E/euicc.key.pem" --eid $EID --not-before 2015-01-01 \
                --not-after 2016-01-01
            bad_device bad2 "$S/eum/eum.pem" "$X-euiccexp"
            refused "$S" "$n: eUICC expired" 8.1.3/6.3 bad2
            ;;
        A)
            pki mint --kind eum-subca --curve $c --out "$X-subexp" --issuer-cert "$S/eum/eum.pem" \
                --issuer-key "$S/eum/eum.key.pem" --key "$S/eum-subca/eum-subca.key.pem" --not-before -400d \
                --not-after -1d
            bad_device bad1 "$X-subexp.pem $S/eum/eum.pem"
            refused "$S" "$n: EUM sub-CA expired" 8.1.2/6.3 bad1
            pki mint --kind eum --v3 --curve $c --out "$X-eum0" --issuer-cert "$S/ci/ci.pem" \
                --issuer-key "$S/ci/ci.key.pem" --key "$S/eum/eum.key.pem" --pathlen 0
            bad_device bad2 "$S/eum-subca/eum-subca.pem $X-eum0.pem"
            refused "$S" "$n: EUM pathLen 0 above its sub-CA" 8.1.2/6.1 bad2
            ;;
        B)
            pki mint --kind ci-subca --curve $c --out "$X-cisubpol" --issuer-cert "$S/ci/ci.pem" \
                --issuer-key "$S/ci/ci.key.pem" --key "$S/ci-subca/ci-subca.key.pem" --policy $V3.0
            bad_device bad1 "$S/eum/eum.pem $X-cisubpol.pem"
            refused "$S" "$n: CI sub-CA with the EUM policy" 8.1.2/6.1 bad1
            ;;
        C)
            pki mint --kind ci-subca --curve $c --out "$X-cisubsig" --issuer-cert "$S/ci/ci.pem" \
                --issuer-key "$S/ci/ci.key.pem" --key "$S/ci-subca/ci-subca.key.pem" --defect bad-signature
            bad_device bad1 "$S/eum-subca/eum-subca.pem $S/eum/eum.pem $X-cisubsig.pem"
            refused "$S" "$n: CI sub-CA badly signed" 8.1.2/6.1 bad1
            pki mint --kind eum-subca --curve $c --out "$X-subrange" --issuer-cert "$S/eum/eum.pem" \
                --issuer-key "$S/eum/eum.key.pem" --key "$S/eum-subca/eum-subca.key.pem" --eid-prefix 89049033
            bad_device bad2 "$X-subrange.pem $S/eum/eum.pem $S/ci-subca/ci-subca.pem"
            refused "$S" "$n: EID outside the EUM sub-CA's range" 8.1.3/6.1 bad2
            ;;
        esac

        # ---------------------------------------------------------------- ES12 TLS clients and their roles
        if [ $v = A ] || [ $v = C ]; then
            # CERT.DP.TLS under the SM-DP+ sub-CA (and the CI sub-CA for C), as the SM-DP+ sends it
            out=$(es12 "$S" "$S/smdp/dptls.pem.bundle" "$S/smdp/dptls.key.pem" registerEvent "$(reg EV-TLS)")
            contains "$n: ES12 client under the SM-DP+ sub-CA accepted" '"status":"Executed-Success"' "$out"
            # an SM-DP+ TLS certificate issued by the SM-DS sub-CA: the wrong role for that CA
            pki mint --kind dptls --v3 --out "$X-dptls-ds" --issuer-cert "$S/smds/ds-subca.pem" \
                --issuer-key "$S/smds/ds-subca.key.pem" --fqdn $FQDN --rid 2.999.10
            cat "$X-dptls-ds.pem" "$S/smds/chain.pem" >"$X-dptls-ds.bundle"
            out=$(es12 "$S" "$X-dptls-ds.bundle" "$X-dptls-ds.key.pem" registerEvent "$(reg EV-WRONG1)")
            expect "$n: CERT.DP.TLS under the SM-DS sub-CA refused" 403 "${out##* }"
            # a certificate with CERT.DPauth's policy (not a TLS role) under the SM-DP+ sub-CA
            pki mint --kind dptls --out "$X-dptls-auth" --issuer-cert "$S/smdp/dp-subca.pem" \
                --issuer-key "$S/smdp/dp-subca.key.pem" --fqdn $FQDN --rid 2.999.10 --policy $V3.1.1
            cat "$X-dptls-auth.pem" "$S/smdp/chain.pem" >"$X-dptls-auth.bundle"
            out=$(es12 "$S" "$X-dptls-auth.bundle" "$X-dptls-auth.key.pem" registerEvent "$(reg EV-WRONG2)")
            expect "$n: a TLS client with the CERT.DPauth policy refused" 403 "${out##* }"
            # CERT.DP.TLS without its sub-CA: no path to the CI, the handshake fails
            out=$(es12 "$S" "$S/smdp/dptls.pem" "$S/smdp/dptls.key.pem" registerEvent "$(reg EV-WRONG3)")
            expect "$n: CERT.DP.TLS without its intermediates refused in the handshake" 000 "${out##* }"
        fi

        stop "$n: smdp-default" $SMDP_PID
        stop "$n: smds" $SMDS_PID
    done
done

# ---------------------------------------------------------------- an expired CI is refused at start
S=varC/nist
pki mint --kind ci --out ci-expired --not-before -400d --not-after -1d
refuses_start smds exp.smds.out "$SMDS" --server.state_dir="$TMP/exp.smds" --server.create_secrets \
    --server.port_file=exp.ports --device.port=0 --s2s.port=0 --tls.cert="$S/smds/dstls.pem.bundle" \
    --tls.key="$S/smds/dstls.key.pem" --s2s.client_ca="$S/ci/ci.pem" --smds.fqdn=$DS \
    --smds.ci="$S/ci/ci.pem,ci-expired.pem" --smds.auth_cert="$S/smds/dsauth.pem.bundle,$S/smds/dsauth.pem.bundle" \
    --smds.auth_key="$S/smds/dsauth.key.pem,$S/smds/dsauth.key.pem"
refuses_start smdp-default exp.smdp.out "$SMDP" --server.state_dir="$TMP/exp.smdp" --server.create_secrets \
    --server.port_file=exp.ports --device.port=0 --s2s.port=0 --tls.cert="$S/smdp/dptls.pem.bundle" \
    --tls.key="$S/smdp/dptls.key.pem" --s2s.client_ca="$S/operator/ca.pem" --smdp.fqdn=$FQDN \
    --smdp.ci="ci-expired.pem" --smdp.auth_cert="$S/smdp/dpauth.pem.bundle" --smdp.auth_key="$S/smdp/dpauth.key.pem" \
    --smdp.pb_cert="$S/smdp/dppb.pem.bundle" --smdp.pb_key="$S/smdp/dppb.key.pem"

it_finish
