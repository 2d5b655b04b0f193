#!/bin/sh
# rsp-pki end to end: `init --curve both`, the layout, the certificate contents
# as the openssl CLI prints them, PKIX chains of the TLS and server
# certificates, the euicc / mint / eid commands, and (when RSP_SHARED_DIR is
# set) a PKI under the published SGP.26 CI.
# Usage: rsp_pki_test.sh PATH-TO-rsp-pki
set -u

case "$1" in
/*) PKI="$1" ;;
*) PKI="$PWD/$1" ;;
esac
. ./tests/integration/lib.sh
it_init rsp_pki_test
EID=89049032123451234512345678901235

# check DESCRIPTION COMMAND...: the command must succeed
check() {
    d="$1"
    shift
    if "$@" >"$TMP/.out" 2>&1; then ok; else
        bad "$d"
        sed 's/^/    /' "$TMP/.out" | head -5
    fi
}
# refuse DESCRIPTION COMMAND...: the command must fail
refuse() {
    d="$1"
    shift
    if "$@" >"$TMP/.out" 2>&1; then bad "$d (succeeded)"; else ok; fi
}
# has FILE TEXT...: `openssl x509 -text` of FILE contains every TEXT
has() {
    f="$1"
    shift
    if ! openssl x509 -in "$f" -noout -text >"$TMP/.text" 2>&1; then
        bad "openssl x509 -text $f"
        return
    fi
    for s in "$@"; do
        if grep -qF -- "$s" "$TMP/.text"; then ok; else bad "$f lacks '$s'"; fi
    done
}

# signed_by CERT ISSUER: the signature of CERT verifies with ISSUER's key.
# (openssl verify cannot check an eUICC: the EUM name constraint is an EID
# prefix that RFC 5280 matching rejects.)
signed_by() {
    off=$(openssl x509 -in "$1" -outform der | openssl asn1parse -inform der |
        sed -n 's/^ *\([0-9]*\):d=1 .*BIT STRING.*/\1/p')
    openssl x509 -in "$1" -outform der -out "$TMP/.c.der" &&
        openssl asn1parse -inform der -in "$TMP/.c.der" -strparse 4 -noout -out "$TMP/.tbs" &&
        openssl asn1parse -inform der -in "$TMP/.c.der" -strparse "$off" -noout -out "$TMP/.sig" &&
        openssl x509 -in "$2" -noout -pubkey >"$TMP/.ipub" &&
        openssl dgst -sha256 -verify "$TMP/.ipub" -signature "$TMP/.sig" "$TMP/.tbs"
}

# ---- init, both curves ----
check "init --curve both" "$PKI" init --out "$TMP/pki" --curve both
check "README.txt" test -s "$TMP/pki/README.txt"

NAMES="ci/ci eum/eum euicc/$EID/euicc smds/dsauth smds/dstls smdp/dpauth smdp/dppb smdp/dptls operator/ca operator/client"
for set in nist brainpool; do
    S="$TMP/pki/$set"
    for n in $NAMES; do
        for ext in der pem key.pem; do
            check "$set/$n.$ext exists" test -s "$S/$n.$ext"
        done
        check "$set/$n.key.pem is private" test "$(stat -c %a "$S/$n.key.pem")" = 600
        check "$set/$n DER = PEM" sh -c "openssl x509 -inform der -in '$S/$n.der' | cmp -s - '$S/$n.pem'"
        check "$set/$n key matches" sh -c "openssl pkey -in '$S/$n.key.pem' -pubout >'$TMP/.pk1' &&
            openssl x509 -in '$S/$n.pem' -noout -pubkey >'$TMP/.pk2' && cmp -s '$TMP/.pk1' '$TMP/.pk2'"
    done

    if [ $set = nist ]; then CURVE="NIST CURVE: P-256"; else CURVE="ASN1 OID: brainpoolP256r1"; fi
    has "$S/ci/ci.pem" "Policy: 2.23.146.1.2.1.0" "Certificate Policies: critical" "Certificate Sign, CRL Sign" \
        "Basic Constraints: critical" "CA:TRUE" "Registered ID:2.999.1" "URI:http://ci.test.example.com/CRL-A.crl" \
        "Subject Key Identifier" "$CURVE"
    has "$S/eum/eum.pem" "Policy: 2.23.146.1.2.1.2" "Certificate Policies: critical" "Name Constraints: critical" \
        "DirName:O = RSP Test EUM, serialNumber = 89049032" "CA:TRUE, pathlen:0" "Authority Key Identifier" \
        "Subject: C = ES, O = RSP Test EUM, CN = EUM Test" "$CURVE"
    check "$set eUICC signed by the EUM" signed_by "$S/euicc/$EID/euicc.pem" "$S/eum/eum.pem"
    refuse "$set eUICC not signed by the CI" signed_by "$S/euicc/$EID/euicc.pem" "$S/ci/ci.pem"
    has "$S/euicc/$EID/euicc.pem" "Policy: 2.23.146.1.2.1.1" "Digital Signature" \
        "Subject: C = ES, O = RSP Test EUM, serialNumber = $EID, CN = Test eUICC" \
        "Not After : Dec 31 23:59:59 9999 GMT" "$CURVE"
    has "$S/smds/dsauth.pem" "Policy: 2.23.146.1.2.1.7" "Registered ID:2.999.20" "Digital Signature" "$CURVE"
    has "$S/smds/dstls.pem" "Policy: 2.23.146.1.2.1.6" "DNS:testsmds.example.com" "Registered ID:2.999.20" \
        "DNS:localhost" "IP Address:127.0.0.1" "Extended Key Usage: critical" \
        "TLS Web Server Authentication, TLS Web Client Authentication" "NIST CURVE: P-256"
    has "$S/smdp/dpauth.pem" "Policy: 2.23.146.1.2.1.4" "Registered ID:2.999.10" 'Subject: O = ACME, CN = "TEST SM-DP+"'
    has "$S/smdp/dppb.pem" "Policy: 2.23.146.1.2.1.5" "Registered ID:2.999.10" "$CURVE"
    has "$S/smdp/dptls.pem" "Policy: 2.23.146.1.2.1.3" "DNS:testsmdpplus1.example.com" "Registered ID:2.999.10" \
        "DNS:localhost" "IP Address:127.0.0.1" "TLS Web Server Authentication, TLS Web Client Authentication" \
        "NIST CURVE: P-256"
    has "$S/operator/ca.pem" "CA:TRUE" "Subject: C = US, O = Test Operator, CN = Test Operator CA"
    has "$S/operator/client.pem" "TLS Web Client Authentication" "DNS:test.operator.com" \
        "Issuer: C = US, O = Test Operator, CN = Test Operator CA"

    # Plain PKIX chains (the eUICC chain fails by design: EID-prefix name constraint).
    for n in smds/dsauth smdp/dpauth smdp/dppb eum/eum; do
        check "openssl verify $set/$n" openssl verify -CAfile "$S/ci/ci.pem" "$S/$n.pem"
    done
    for n in smds/dstls smdp/dptls; do
        check "openssl verify $set/$n as server" openssl verify -purpose sslserver -verify_hostname localhost \
            -CAfile "$S/ci/ci.pem" "$S/$n.pem"
        check "openssl verify $set/$n on 127.0.0.1" openssl verify -verify_ip 127.0.0.1 -CAfile "$S/ci/ci.pem" \
            "$S/$n.pem"
        check "openssl verify $set/$n as client" openssl verify -purpose sslclient -CAfile "$S/ci/ci.pem" "$S/$n.pem"
    done
    check "openssl verify $set dptls by name" openssl verify -verify_hostname testsmdpplus1.example.com \
        -CAfile "$S/ci/ci.pem" "$S/smdp/dptls.pem"
    refuse "openssl verify $set dstls for a foreign name" openssl verify -verify_hostname other.example.com \
        -CAfile "$S/ci/ci.pem" "$S/smds/dstls.pem"
    check "openssl verify $set operator client" openssl verify -purpose sslclient -CAfile "$S/operator/ca.pem" \
        "$S/operator/client.pem"
    refuse "operator client does not chain to the CI" openssl verify -CAfile "$S/ci/ci.pem" \
        "$S/operator/client.pem"
done
refuse "sets have distinct CIs" cmp -s "$TMP/pki/nist/ci/ci.der" "$TMP/pki/brainpool/ci/ci.der"

# ---- options of init ----
check "init with names and prefix" "$PKI" init --out "$TMP/opt" --fqdn ds.example.test --smdp-fqdn dp.example.test \
    --eid-prefix 89049099 --ds-rid 2.999.21 --dp-rid 2.999.11 --eum-org "Other EUM" --tls-curve set \
    --curve brainpool --no-loopback
E2=$(ls "$TMP/opt/brainpool/euicc" 2>/dev/null)
check "derived EID is valid" "$PKI" eid --check "$E2"
check "derived EID has the prefix" sh -c "echo '$E2' | grep -q '^89049099'"
has "$TMP/opt/brainpool/eum/eum.pem" "DirName:O = Other EUM, serialNumber = 89049099"
has "$TMP/opt/brainpool/smds/dstls.pem" "DNS:ds.example.test" "Registered ID:2.999.21" "ASN1 OID: brainpoolP256r1"
has "$TMP/opt/brainpool/smdp/dptls.pem" "DNS:dp.example.test" "Registered ID:2.999.11"
refuse "no-loopback leaves out localhost" grep -q localhost "$TMP/.text"
refuse "init with EID outside the prefix" "$PKI" init --out "$TMP/bad" --eid $EID --eid-prefix 89049099
refuse "init with bad check digits" "$PKI" init --out "$TMP/bad" --eid 89049032123451234512345678901234
refuse "init without --out" "$PKI" init
refuse "init with a CI key of the wrong curve" "$PKI" init --out "$TMP/bad" --curve brainpool \
    --ci-cert "$TMP/pki/nist/ci/ci.pem" --ci-key "$TMP/pki/nist/ci/ci.key.pem"
refuse "init with a CI key that does not match" "$PKI" init --out "$TMP/bad" \
    --ci-cert "$TMP/pki/nist/ci/ci.pem" --ci-key "$TMP/pki/nist/eum/eum.key.pem"

# ---- euicc ----
check "euicc with a 30-digit EID" "$PKI" euicc --ca-dir "$TMP/pki" --curve brainpool \
    --eid 890490320000000000000000000001 --out "$TMP/e1"
E1=$(openssl x509 -in "$TMP/e1/euicc.pem" -noout -subject -nameopt sep_multiline | sed -n 's/^ *serialNumber=//p')
check "euicc EID got check digits" "$PKI" eid --check "$E1"
has "$TMP/e1/euicc.pem" "ASN1 OID: brainpoolP256r1" "Policy: 2.23.146.1.2.1.1" "O = RSP Test EUM"
check "euicc signed by the EUM" signed_by "$TMP/e1/euicc.pem" "$TMP/pki/brainpool/eum/eum.pem"
refuse "euicc outside the EUM prefix" "$PKI" euicc --ca-dir "$TMP/pki" --eid 89049033123451234512345678901257 \
    --out "$TMP/e2"
check "euicc outside the prefix with --force" "$PKI" euicc --ca-dir "$TMP/pki" --force \
    --eid 89049033123451234512345678901257 --out "$TMP/e2"
has "$TMP/e2/euicc.pem" "serialNumber = 89049033123451234512345678901257"
refuse "euicc with bad check digits" "$PKI" euicc --ca-dir "$TMP/pki" --eid 89049032123451234512345678901234 \
    --out "$TMP/e3"
check "euicc expired" "$PKI" euicc --ca-dir "$TMP/pki/nist" --eid $EID --not-before 2010-01-01 \
    --not-after 2015-01-01 --serial 020000000000000001 --out "$TMP/expired"
refuse "expired euicc fails -checkend" openssl x509 -in "$TMP/expired/euicc.pem" -noout -checkend 0
has "$TMP/expired/euicc.pem" "Not After : Jan  1 00:00:00 2015 GMT" "Serial Number:" "02:00:00:00:00:00:00:00:01"
check "euicc not yet valid" "$PKI" euicc --ca-dir "$TMP/pki" --eid $EID --not-before +2d --out "$TMP/future"
NB=$(openssl x509 -in "$TMP/future/euicc.pem" -noout -startdate | cut -d= -f2)
check "future euicc is not yet valid" test "$(date -u -d "$NB" +%s)" -gt "$(($(date +%s) + 86400))"
check "euicc with key-cert-sign defect" "$PKI" euicc --ca-dir "$TMP/pki" --eid $EID --defect key-cert-sign \
    --out "$TMP/kcs"
has "$TMP/kcs/euicc.pem" "Digital Signature, Certificate Sign"
check "euicc reusing a key" "$PKI" euicc --ca-dir "$TMP/pki" --eid $EID --key "$TMP/e2/euicc.key.pem" --out "$TMP/rekey"
check "reused key is the same" sh -c "openssl x509 -in '$TMP/rekey/euicc.pem' -noout -pubkey >'$TMP/p1' &&
    openssl x509 -in '$TMP/e2/euicc.pem' -noout -pubkey | cmp -s - '$TMP/p1'"
refuse "euicc without an EUM" "$PKI" euicc --ca-dir "$TMP/nowhere" --eid $EID --out "$TMP/e4"

# ---- mint ----
check "mint dptls wrong policy" "$PKI" mint --kind dptls --issuer-cert "$TMP/pki/nist/ci/ci.pem" \
    --issuer-key "$TMP/pki/nist/ci/ci.key.pem" --defect wrong-policy --fqdn bad.example.test --out "$TMP/m/dptls-bad"
has "$TMP/m/dptls-bad.pem" "Policy: 2.23.146.1.2.1.6" "DNS:bad.example.test"
check "mint EUM with an IIN list" "$PKI" mint --kind eum --issuer-cert "$TMP/pki/nist/ci/ci.der" \
    --issuer-key "$TMP/pki/nist/ci/ci.key.pem" --defect iin-list --eid-prefix 8904903 --out "$TMP/iin/eum/eum"
has "$TMP/iin/eum/eum.pem" "2.23.146.1.2.2.0"
refuse "IIN-list EUM has no nameConstraints" grep -q "Name Constraints" "$TMP/.text"
check "euicc under the IIN-list EUM" "$PKI" euicc --ca-dir "$TMP/iin" --eid 89049039999999999999999999999951 \
    --out "$TMP/iin/e"
refuse "IIN-list EUM refuses another prefix" "$PKI" euicc --ca-dir "$TMP/iin" --eid 89049042123451234512345678901261 \
    --out "$TMP/iin/e2"
check "mint self-signed operator CA" "$PKI" mint --kind operator-ca --curve brainpool --out "$TMP/m/opca"
refuse "mint eum without an issuer" "$PKI" mint --kind eum --out "$TMP/m/x"
refuse "mint with an unknown defect" "$PKI" mint --kind ci --defect nonsense --out "$TMP/m/x"
refuse "mint with an unknown kind" "$PKI" mint --kind root --out "$TMP/m/x"

# ---- eid ----
check "eid --check SGP.26 EID" "$PKI" eid --check $EID
refuse "eid --check wrong digits" "$PKI" eid --check 89049032123451234512345678901234
check "eid --prefix" sh -c "'$PKI' eid --prefix 89049032 --number 7 | grep -qx 89049032000000000000000000000745"
refuse "unknown command" "$PKI" frobnicate

# ---- verify-euicc (only once the binary links rsp/cert) ----
if "$PKI" verify-euicc --ci "$TMP/pki/nist/ci/ci.pem" --eum "$TMP/pki/nist/eum/eum.pem" \
    --euicc "$TMP/pki/nist/euicc/$EID/euicc.pem" >"$TMP/.v" 2>&1 || [ $? -ne 2 ]; then
    check "verify-euicc OK" grep -qx "OK $EID" "$TMP/.v"
    check "verify-euicc brainpool" sh -c "'$PKI' verify-euicc --ci '$TMP/pki/nist/ci/ci.pem' \
        --ci '$TMP/pki/brainpool/ci/ci.der' --eum '$TMP/pki/brainpool/eum/eum.der' \
        --euicc '$TMP/pki/brainpool/euicc/$EID/euicc.der' | grep -qx 'OK $EID'"
    "$PKI" verify-euicc --ci "$TMP/pki/nist/ci/ci.pem" --eum "$TMP/pki/nist/eum/eum.pem" \
        --euicc "$TMP/expired/euicc.pem" >"$TMP/.v" 2>&1
    check "verify-euicc expired exits 1" test $? -eq 1
    check "verify-euicc expired is 8.1.3/6.3" grep -q "^FAIL 8.1.3/6.3 " "$TMP/.v"
    "$PKI" verify-euicc --ci "$TMP/pki/nist/ci/ci.pem" --eum "$TMP/pki/nist/eum/eum.pem" \
        --euicc "$TMP/e2/euicc.pem" >"$TMP/.v" 2>&1
    check "verify-euicc outside the prefix is 8.1.3/6.1" grep -q "^FAIL 8.1.3/6.1 " "$TMP/.v"
    "$PKI" verify-euicc --ci "$TMP/pki/nist/ci/ci.pem" --eum "$TMP/pki/nist/eum/eum.pem" \
        --euicc "$TMP/kcs/euicc.pem" >"$TMP/.v" 2>&1
    check "verify-euicc keyCertSign eUICC is 8.1.3/6.1" grep -q "^FAIL 8.1.3/6.1 " "$TMP/.v"
    "$PKI" verify-euicc --ci "$TMP/pki/brainpool/ci/ci.pem" --eum "$TMP/pki/nist/eum/eum.pem" \
        --euicc "$TMP/pki/nist/euicc/$EID/euicc.pem" >"$TMP/.v" 2>&1
    check "verify-euicc unknown CI is 8.11.1/3.9" grep -q "^FAIL 8.11.1/3.9 " "$TMP/.v"
    # ---- SGP.26 v3 variants, valid and invalid, both curves ----
    # vfail NAME WANT SET EUM EUICC [--chain F ...]: verify-euicc answers FAIL WANT
    vfail() {
        n="$1" w="$2" s="$3" e="$4" u="$5"
        shift 5
        "$PKI" verify-euicc --ci "$s/ci/ci.pem" --eum "$e" "$@" --euicc "$u" >"$TMP/.v" 2>&1
        check "$n is $w" grep -q "^FAIL $w " "$TMP/.v"
    }
    for v in O Ov3 A B C; do
        check "init --variant $v" "$PKI" init --out "$TMP/var$v" --variant $v --curve both
        for c in nist brainpool; do
            S="$TMP/var$v/$c" E="$TMP/var$v/$c/euicc/$EID"
            check "variant $v $c verifies with its chain" sh -c "'$PKI' verify-euicc --ci '$S/ci/ci.pem' \
                --eum '$E/chain.pem' --euicc '$E/euicc.pem' | grep -qx 'OK $EID'"
        done
    done
    check "Ov3 eUICC has the v3 policy" sh -c "openssl x509 -in '$TMP/varOv3/nist/euicc/$EID/euicc.pem' -noout \
        -text | grep -q 2.23.146.1.2.1.0.0.0.0.0"
    check "A: EUM pathLen 1" sh -c "openssl x509 -in '$TMP/varA/nist/eum/eum.pem' -noout -text |
        grep -q 'pathlen:1'"
    for c in nist brainpool; do
        A="$TMP/varA/$c" B="$TMP/varB/$c" C="$TMP/varC/$c"
        # A without the EUM in otherCertsInChain: no path to the CI
        vfail "A $c without the EUM" 8.11.1/3.9 "$A" "$A/eum-subca/eum-subca.pem" "$A/euicc/$EID/euicc.pem"
        # B without the CI sub-CA
        vfail "B $c without the CI sub-CA" 8.11.1/3.9 "$B" "$B/eum/eum.pem" "$B/euicc/$EID/euicc.pem"
        # A EUM sub-CA expired
        "$PKI" mint --kind eum-subca --curve $c --out "$TMP/x$c-subexp" --issuer-cert "$A/eum/eum.pem" \
            --issuer-key "$A/eum/eum.key.pem" --key "$A/eum-subca/eum-subca.key.pem" \
            --not-before -400d --not-after -1d >/dev/null
        vfail "A $c EUM sub-CA expired" 8.1.2/6.3 "$A" "$TMP/x$c-subexp.pem" "$A/euicc/$EID/euicc.pem" \
            --chain "$A/eum/eum.pem"
        # A EUM with pathLen 0 above its sub-CA
        "$PKI" mint --kind eum --v3 --curve $c --out "$TMP/x$c-eum0" --issuer-cert "$A/ci/ci.pem" \
            --issuer-key "$A/ci/ci.key.pem" --key "$A/eum/eum.key.pem" --pathlen 0 >/dev/null
        vfail "A $c EUM pathLen 0" 8.1.2/6.1 "$A" "$A/eum-subca/eum-subca.pem" "$A/euicc/$EID/euicc.pem" \
            --chain "$TMP/x$c-eum0.pem"
        # B CI sub-CA with the EUM policy
        "$PKI" mint --kind ci-subca --curve $c --out "$TMP/x$c-cisubpol" --issuer-cert "$B/ci/ci.pem" \
            --issuer-key "$B/ci/ci.key.pem" --key "$B/ci-subca/ci-subca.key.pem" \
            --policy 2.23.146.1.2.1.0.0.0 >/dev/null
        vfail "B $c CI sub-CA wrong policy" 8.1.2/6.1 "$B" "$B/eum/eum.pem" "$B/euicc/$EID/euicc.pem" \
            --chain "$TMP/x$c-cisubpol.pem"
        # C CI sub-CA badly signed
        "$PKI" mint --kind ci-subca --curve $c --out "$TMP/x$c-cisubsig" --issuer-cert "$C/ci/ci.pem" \
            --issuer-key "$C/ci/ci.key.pem" --key "$C/ci-subca/ci-subca.key.pem" --defect bad-signature >/dev/null
        vfail "C $c CI sub-CA bad signature" 8.1.2/6.1 "$C" "$C/eum-subca/eum-subca.pem" "$C/euicc/$EID/euicc.pem" \
            --chain "$C/eum/eum.pem" --chain "$TMP/x$c-cisubsig.pem"
        # C eUICC outside an EUM sub-CA range
        "$PKI" mint --kind eum-subca --curve $c --out "$TMP/x$c-subrange" --issuer-cert "$C/eum/eum.pem" \
            --issuer-key "$C/eum/eum.key.pem" --key "$C/eum-subca/eum-subca.key.pem" --eid-prefix 89049033 >/dev/null
        vfail "C $c EID outside the EUM sub-CA range" 8.1.3/6.1 "$C" "$TMP/x$c-subrange.pem" \
            "$C/euicc/$EID/euicc.pem" --chain "$C/eum/eum.pem" --chain "$C/ci-subca/ci-subca.pem"
        # a sub-CA given as the CI is refused as a trust anchor
        "$PKI" verify-euicc --ci "$B/ci-subca/ci-subca.pem" --eum "$B/eum/eum.pem" \
            --euicc "$B/euicc/$EID/euicc.pem" >"$TMP/.v" 2>&1
        check "B $c sub-CA is no trust anchor" grep -q "sub-CA is not a trust anchor" "$TMP/.v"
    done
    # ---- CRLs ----
    S="$TMP/pki/nist" E="$TMP/pki/nist/euicc/$EID/euicc.pem"
    V="--ci $S/ci/ci.pem --eum $S/eum/eum.pem --euicc $E"
    check "crl: empty CI CRL" "$PKI" crl --issuer-cert "$S/ci/ci.pem" --issuer-key "$S/ci/ci.key.pem" --out "$TMP/ok.crl"
    check "crl: good CRL accepted" sh -c "'$PKI' verify-euicc $V --crl '$TMP/ok.crl' | grep -qx 'OK $EID'"
    "$PKI" crl --issuer-cert "$S/ci/ci.pem" --issuer-key "$S/ci/ci.key.pem" --revoke "$S/eum/eum.pem" \
        --out "$TMP/eum.crl.der" >/dev/null
    "$PKI" verify-euicc $V --crl "$TMP/eum.crl.der" >"$TMP/.v" 2>&1
    check "crl: revoked EUM is 8.1.2/6.3" grep -q "^FAIL 8.1.2/6.3 .*revoked" "$TMP/.v"
    "$PKI" crl --issuer-cert "$S/eum/eum.pem" --issuer-key "$S/eum/eum.key.pem" --revoke "$E" \
        --out "$TMP/euicc.crl" >/dev/null
    "$PKI" verify-euicc $V --crl "$TMP/euicc.crl" >"$TMP/.v" 2>&1
    check "crl: revoked eUICC is 8.1.3/6.3" grep -q "^FAIL 8.1.3/6.3 " "$TMP/.v"
    "$PKI" crl --issuer-cert "$S/ci/ci.pem" --issuer-key "$S/ci/ci.key.pem" --this-update -30d \
        --next-update -1d --out "$TMP/stale.crl" >/dev/null
    "$PKI" verify-euicc $V --crl "$TMP/stale.crl" >"$TMP/.v" 2>&1
    check "crl: stale CRL refused (8.1.2/6.1)" grep -q "^FAIL 8.1.2/6.1 .*stale" "$TMP/.v"
    check "crl: stale CRL under warn" sh -c "'$PKI' verify-euicc $V --crl '$TMP/stale.crl' --crl-policy warn |
        grep -qx 'OK $EID'"
    # a CRL with the CI's name signed by another CI's key
    refuse "crl: issuer key must match" "$PKI" crl --issuer-cert "$S/ci/ci.pem" \
        --issuer-key "$TMP/pki/brainpool/ci/ci.key.pem" --out "$TMP/forged.crl"
    check "crl: another CI (same name)" "$PKI" mint --kind ci --out "$TMP/otherci"
    check "crl: CRL by another CI" "$PKI" crl --issuer-cert "$TMP/otherci.pem" --issuer-key "$TMP/otherci.key.pem" \
        --out "$TMP/other.crl"
    "$PKI" verify-euicc $V --crl "$TMP/other.crl" >"$TMP/.v" 2>&1
    check "crl: CRL signed by another CI refused at load" test $? -eq 2
    check "crl: CRL signed by another CI ignored under warn" sh -c "'$PKI' verify-euicc $V --crl '$TMP/other.crl' \
        --crl-policy warn | grep -qx 'OK $EID'"
    SE="${RSP_SHARED_DIR:-}/pki"
    if [ -d "$SE/sgp26-invalid" ]; then
        V="--ci $SE/sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der --eum $SE/sgp26/EUM/CERT_EUM_ECDSA_NIST.der"
        check "verify-euicc SGP.26 eUICC" sh -c "'$PKI' verify-euicc $V \
            --euicc '$SE/sgp26/eUICC/CERT_EUICC_ECDSA_NIST.der' | grep -qx 'OK $EID'"
        check "verify-euicc SGP.26 INVALID_EID" sh -c "'$PKI' verify-euicc $V \
            --euicc '$SE/sgp26-invalid/CERT_EUICC_ECDSA_NIST_INVALID_EID.der' | grep -q '^FAIL 8.1.3/6.1 '"
        check "verify-euicc SGP.26 EXPIRED" sh -c "'$PKI' verify-euicc $V \
            --euicc '$SE/sgp26-invalid/CERT_EUICC_ECDSA_NIST_EXPIRED.der' | grep -q '^FAIL 8.1.3/6.3 '"
    fi
else
    echo "SKIP verify-euicc: $(cat "$TMP/.v")"
fi

# ---- under the published SGP.26 CI ----
SH="${RSP_SHARED_DIR:-}/pki/sgp26/CertificateIssuer"
if [ -n "${RSP_SHARED_DIR:-}" ] && [ -f "$SH/CERT_CI_ECDSA_NIST.pem" ]; then
    check "init with the SGP.26 CI" "$PKI" init --out "$TMP/sgp26" --ci-cert "$SH/CERT_CI_ECDSA_NIST.pem" \
        --ci-key "$SH/SK_CI_ECDSA_NIST.pem"
    check "SGP.26 CI copied as is" cmp -s "$TMP/sgp26/nist/ci/ci.der" "$SH/CERT_CI_ECDSA_NIST.der"
    has "$TMP/sgp26/nist/eum/eum.pem" "F5:41:72:BD:F9:8A:95:D6:5C:BE:B8:8A:38:A1:C1:1D:80:0A:85:C3" \
        "Issuer: CN = Test CI, OU = TESTCERT, O = RSPTEST, C = IT"
    for n in smds/dsauth smds/dstls smdp/dpauth smdp/dppb smdp/dptls eum/eum; do
        check "openssl verify $n under the SGP.26 CI" openssl verify -CAfile "$SH/CERT_CI_ECDSA_NIST.pem" \
            "$TMP/sgp26/nist/$n.pem"
    done
    check "init both curves with both SGP.26 CIs" "$PKI" init --out "$TMP/sgp26b" --curve both \
        --ci-cert "$SH/CERT_CI_ECDSA_BRP.der" --ci-key "$SH/SK_CI_ECDSA_BRP.pem" \
        --ci-cert "$SH/CERT_CI_ECDSA_NIST.der" --ci-key "$SH/SK_CI_ECDSA_NIST.pem"
    check "brainpool set uses the SGP.26 BRP CI" cmp -s "$TMP/sgp26b/brainpool/ci/ci.der" "$SH/CERT_CI_ECDSA_BRP.der"
    check "openssl verify dptls under the SGP.26 BRP CI" openssl verify -CAfile "$SH/CERT_CI_ECDSA_BRP.pem" \
        "$TMP/sgp26b/brainpool/smdp/dptls.pem"
    SE="$RSP_SHARED_DIR/pki/sgp26"
    check "euicc under a copy of the SGP.26 EUM" sh -c "mkdir -p '$TMP/s26eum/eum' &&
        openssl x509 -inform der -in '$SE/EUM/CERT_EUM_ECDSA_NIST.der' -out '$TMP/s26eum/eum/eum.pem' &&
        cp '$SE/EUM/SK_EUM_ECDSA_NIST.pem' '$TMP/s26eum/eum/eum.key.pem' &&
        '$PKI' euicc --ca-dir '$TMP/s26eum' --eid 89049032000000000000000000000163 --out '$TMP/s26e'"
    check "SGP.26-EUM-issued eUICC verifies by signature" signed_by "$TMP/s26e/euicc.pem" "$TMP/s26eum/eum/eum.pem"
else
    echo "SKIP SGP.26 CI checks: RSP_SHARED_DIR not set or without pki/sgp26"
fi

it_finish
