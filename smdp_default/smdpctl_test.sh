#!/bin/bash
# smdpctl end to end: import synthetic and TS.48 packages, refusals, listing.  With a second argument
# (the pgtmp tool) the same checks run on a PostgreSQL order store of a throw-away server.
set -u
SMDPCTL="$1"
PGTMP="${2:-}"
STORE_OPTS=()
if [ -n "$PGTMP" ]; then
    started=$("$PGTMP" start)
    rc=$?
    if [ $rc -eq 3 ]; then
        echo "SKIP: smdpctl_test_pg: PostgreSQL is not installed"
        exit 0
    fi
    [ $rc -eq 0 ] || { echo "FAIL: cannot start PostgreSQL"; exit 1; }
    PGDIR=${started%%$'\t'*}
    trap '"$PGTMP" stop "$PGDIR"' EXIT
    STORE_OPTS=(--store.backend=postgres "--store.dsn=${started#*$'\t'}")
fi
ctl() { "$SMDPCTL" "${STORE_OPTS[@]}" "$@"; }
STATE="${TEST_TMPDIR:-$(mktemp -d)}/state"
WORK="${TEST_TMPDIR:-$(mktemp -d)}/work"
mkdir -p "$WORK"
fails=0
check() { # description, condition...
    local what="$1"
    shift
    if "$@"; then echo "ok $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}
hex2file() { printf "$(echo "$1" | sed 's/../\\x&/g')" >"$2"; }

# A minimal package: header {2.3, iccid, services, GFSTE list} and 'end'.
upp() { hex2file "A016800102810103830A${1}A500A600AA00" "$2"; }
upp 8999000000000000001F "$WORK/one.der"
upp 89990000000000000022 "$WORK/two.der"
hex2file "A00A800102810103830A89" "$WORK/truncated.der"
hex2file "300380010100" "$WORK/garbage.der"
upp 8999000000000000003F "$WORK/three.der"

out=$(ctl --state "$STATE" import --profile-type Test --owner op1 "$WORK/one.der" "$WORK/two.der")
rc=$?
check "import exit 0" test $rc -eq 0
check "import prints ICCIDs" test "$out" = "$(printf '8999000000000000001\n89990000000000000022')"
check "master key is private" test "$(stat -c %a "$STATE/master.key")" = 600

out=$(ctl --state "$STATE" import --profile-type Test --owner op1 "$WORK/one.der" "$WORK/truncated.der" \
    "$WORK/garbage.der" "$WORK/three.der" 2>"$WORK/err")
rc=$?
check "partial failure exit 1" test $rc -eq 1
check "good file still imported" test "$out" = "8999000000000000003"
check "duplicate reported" grep -q "one.der: ICCID already imported" "$WORK/err"
check "truncated reported" grep -q "truncated.der: profile element is not well-formed DER" "$WORK/err"
check "garbage reported" grep -q "garbage.der: " "$WORK/err"
check "missing file reported" sh -c "! \"$SMDPCTL\" --state \"$STATE\" import --profile-type T --owner o \"$WORK/nope.der\" 2>&1 | grep -q '^[0-9]'"

ctl --state "$STATE" import --profile-type Test "$WORK/one.der" 2>/dev/null
check "usage error exit 2" test $? -eq 2
ctl --state "$STATE" frobnicate 2>/dev/null
check "unknown command exit 2" test $? -eq 2
ctl --state "$STATE" import --profile-type T --owner o --class weird "$WORK/one.der" 2>/dev/null
check "bad class exit 2" test $? -eq 2

expected=3
if [ -n "${RSP_SHARED_DIR:-}" ] && ls "$RSP_SHARED_DIR"/profiles/ts48/*.der >/dev/null 2>&1; then
    out=$(ctl --state "$STATE" import --profile-type TS48 --owner op2 --spn "GSMA" --name "TS.48" \
        --class test "$RSP_SHARED_DIR"/profiles/ts48/*.der)
    rc=$?
    n=$(ls "$RSP_SHARED_DIR"/profiles/ts48/*.der | wc -l)
    check "TS.48 import exit 0" test $rc -eq 0
    check "TS.48 ICCIDs printed" test "$(echo "$out" | grep -c '^8949449[0-9]\{12\}$')" -eq "$n"
    expected=$((expected + n))
else
    echo "SKIP TS.48 import: RSP_SHARED_DIR not set"
fi

list=$(ctl --state "$STATE" list)
check "list exit 0" test $? -eq 0
check "list has every profile" test "$(echo "$list" | wc -l)" -eq "$expected"
check "all Available" test "$(echo "$list" | grep -c '"state":"Available"')" -eq "$expected"
check "list shows the owner and type" grep -q '"iccid":"8999000000000000001","profileType":"Test","owner":"op1"' <<<"$list"
check "no key material listed" sh -c "! echo '$list' | grep -qi 'ppk\|hash\|blob'"
if [ "$expected" -gt 3 ]; then
    check "TS.48 metadata listed" grep -q '"serviceProviderName":"GSMA","profileName":"TS.48","profileClass":0' <<<"$list"
fi

# purge deletes only finished orders (orders_test covers the deletion itself); Available ones stay.
check "purge of unfinished orders deletes nothing" test "$(ctl --state "$STATE" purge --older-than 0)" = 0
check "purge --dry-run lists nothing" test -z "$(ctl --state "$STATE" purge --older-than 0 --dry-run)"
ctl --state "$STATE" purge 2>/dev/null
check "purge without --older-than exit 2" test $? -eq 2
check "the orders are still there" test "$(ctl --state "$STATE" list | wc -l)" -eq "$expected"

if [ -n "$PGTMP" ]; then
    ctl migrate >/dev/null
    check "migrate again exit 0" test $? -eq 0
    ctl --state "$STATE" backup "$WORK/backup" 2>/dev/null
    check "backup of a PostgreSQL store is refused (pg_dump)" test $? -eq 2
else
    "$SMDPCTL" migrate 2>/dev/null
    check "migrate needs --store.backend=postgres" test $? -eq 2
    # backup and restore round trip: the restored store lists the same profiles, and the master key came
    # along.
    check "backup exit 0" ctl --state "$STATE" backup "$WORK/backup"
    check "the backup has the master key" test -s "$WORK/backup/master.key"
    check "restore exit 0" ctl --state "$WORK/restored" restore "$WORK/backup"
    check "the restored store lists the same" test "$(ctl --state "$WORK/restored" list)" = "$list"
    check "the master key is restored unchanged" cmp -s "$STATE/master.key" "$WORK/restored/master.key"
    ctl --state "$WORK/restored" restore "$WORK/backup" 2>/dev/null
    check "restore over existing data exit 1" test $? -eq 1
    ctl --state "$STATE" backup "$WORK/backup" 2>/dev/null
    check "backup into an existing directory exit 1" test $? -eq 1
fi

# Activation Codes and their QR codes
AC() { ctl --state "$STATE" activation-code "$@"; }
AC --iccid 8999000000000000001 --smdp-address smdp.example.com >/dev/null 2>"$WORK/err"
check "activation-code of an Available profile: exit 1" test $? -eq 1
check "and says why" grep -q "Available" "$WORK/err"
out=$(ctl --state "$STATE" order --owner op1 --iccid 8999000000000000001 --matching-id AC-0001 --release)
check "order with an operator-given matchingId" test "$out" = "8999000000000000001 AC-0001"
out=$(AC --iccid 8999000000000000001 --smdp-address smdp.example.com --qr "$WORK/ac1.png")
check "activation-code printed" test "$out" = 'LPA:1$smdp.example.com$AC-0001'
if command -v zbarimg >/dev/null 2>&1; then
    check "the QR code reads back to the same string" \
        test "$(zbarimg --quiet --raw "$WORK/ac1.png" 2>/dev/null)" = 'LPA:1$smdp.example.com$AC-0001'
else
    check "zbarimg is installed (tools/bootstrap: zbar-tools)" false
fi
out=$(ctl --state "$STATE" order --owner op1 --iccid 89990000000000000022 --cc 1234 --release)
mid=${out#* }
out=$(AC --iccid 89990000000000000022 --smdp-address smdp.example.com:8443 --oid 2.999.10 --qr "$WORK/ac2.png")
check "with a confirmation code: OID and flag" test "$out" = "LPA:1\$smdp.example.com:8443\$$mid\$2.999.10\$1"
check "a generated matchingId is a valid token" grep -qE '^[0-9A-Z-]+$' <<<"$mid"
if command -v zbarimg >/dev/null 2>&1; then
    check "that QR code reads back too" test "$(zbarimg --quiet --raw "$WORK/ac2.png" 2>/dev/null)" = "$out"
fi
out=$(AC --iccid 89990000000000000022 --smdp-address smdp.example.com)
check "without OID the field stays empty before the flag" test "$out" = "LPA:1\$smdp.example.com\$$mid\$\$1"
ctl --state "$STATE" order --owner op1 --iccid 8999000000000000003 --matching-id lower-case 2>/dev/null
check "an operator matchingId outside the token rules is refused" test $? -eq 1
AC --iccid 8999000000000000001 --smdp-address 'bad$host' 2>/dev/null
check "a bad address is a usage error" test $? -eq 2
AC --iccid 8999000000000000001 --smdp-address smdp.example.com --oid 2.x 2>/dev/null
check "a bad OID is a usage error" test $? -eq 2
AC --iccid 8999000000000000099 --smdp-address smdp.example.com 2>/dev/null
check "an unknown ICCID: exit 1" test $? -eq 1
AC --iccid 8999000000000000001 --smdp-address smdp.example.com --qr /nonexistent-dir/x.png 2>/dev/null
check "an unwritable QR file: exit 1" test $? -eq 1

# metadata options of import
upp 8999000000000000077F "$WORK/seven.der"
printf '\x89PNG\r\n\x1a\nabc' >"$WORK/icon.png"
printf 'GIF89a' >"$WORK/icon.gif"
ctl --state "$STATE" import --profile-type M --owner op1 --notify enable,reboot "$WORK/seven.der" 2>/dev/null
check "unknown notification event: exit 2" test $? -eq 2
ctl --state "$STATE" import --profile-type M --owner op1 --icon "$WORK/icon.gif" "$WORK/seven.der" 2>/dev/null
check "an icon that is neither PNG nor JPEG: exit 2" test $? -eq 2
ctl --state "$STATE" import --profile-type M --owner op1 --owner-gid1 01 "$WORK/seven.der" 2>/dev/null
check "a GID without an owner MCC/MNC: exit 2" test $? -eq 2
ctl --state "$STATE" import --profile-type M --owner op1 --owner-mccmnc 3104 "$WORK/seven.der" 2>/dev/null
check "a short MCC/MNC: exit 2" test $? -eq 2
out=$(ctl --state "$STATE" import --profile-type M --owner op1 --notify enable,disable,delete \
    --notify-address notify.example.com --icon "$WORK/icon.png" --owner-mccmnc 310410 --owner-gid1 0A \
    --ppr ppr1,update-control "$WORK/seven.der")
check "import with every metadata option" test "$out" = 8999000000000000077
line=$(ctl --state "$STATE" list | grep 8999000000000000077)
check "notification events and address stored" grep -q '"notifyEvents":14,"notifyAddress":"notify.example.com"' <<<"$line"
check "icon, owner and rules stored" grep -q '"iconBytes":11,"profileOwnerMccMnc":"130014","ppr":3' <<<"$line"

if [ $fails -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
fi
echo "all passed"
