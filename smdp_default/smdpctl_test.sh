#!/bin/bash
# smdpctl end to end: import synthetic and TS.48 packages, refusals, listing.
set -u
SMDPCTL="$1"
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

out=$("$SMDPCTL" --state "$STATE" import --profile-type Test --owner op1 "$WORK/one.der" "$WORK/two.der")
rc=$?
check "import exit 0" test $rc -eq 0
check "import prints ICCIDs" test "$out" = "$(printf '8999000000000000001\n89990000000000000022')"
check "master key is private" test "$(stat -c %a "$STATE/master.key")" = 600

out=$("$SMDPCTL" --state "$STATE" import --profile-type Test --owner op1 "$WORK/one.der" "$WORK/truncated.der" \
    "$WORK/garbage.der" "$WORK/three.der" 2>"$WORK/err")
rc=$?
check "partial failure exit 1" test $rc -eq 1
check "good file still imported" test "$out" = "8999000000000000003"
check "duplicate reported" grep -q "one.der: ICCID already imported" "$WORK/err"
check "truncated reported" grep -q "truncated.der: profile element is not well-formed DER" "$WORK/err"
check "garbage reported" grep -q "garbage.der: " "$WORK/err"
check "missing file reported" sh -c "! \"$SMDPCTL\" --state \"$STATE\" import --profile-type T --owner o \"$WORK/nope.der\" 2>&1 | grep -q '^[0-9]'"

"$SMDPCTL" --state "$STATE" import --profile-type Test "$WORK/one.der" 2>/dev/null
check "usage error exit 2" test $? -eq 2
"$SMDPCTL" --state "$STATE" frobnicate 2>/dev/null
check "unknown command exit 2" test $? -eq 2
"$SMDPCTL" --state "$STATE" import --profile-type T --owner o --class weird "$WORK/one.der" 2>/dev/null
check "bad class exit 2" test $? -eq 2

expected=3
if [ -n "${RSP_SHARED_DIR:-}" ] && ls "$RSP_SHARED_DIR"/profiles/ts48/*.der >/dev/null 2>&1; then
    out=$("$SMDPCTL" --state "$STATE" import --profile-type TS48 --owner op2 --spn "GSMA" --name "TS.48" \
        --class test "$RSP_SHARED_DIR"/profiles/ts48/*.der)
    rc=$?
    n=$(ls "$RSP_SHARED_DIR"/profiles/ts48/*.der | wc -l)
    check "TS.48 import exit 0" test $rc -eq 0
    check "TS.48 ICCIDs printed" test "$(echo "$out" | grep -c '^8949449[0-9]\{12\}$')" -eq "$n"
    expected=$((expected + n))
else
    echo "SKIP TS.48 import: RSP_SHARED_DIR not set"
fi

list=$("$SMDPCTL" --state "$STATE" list)
check "list exit 0" test $? -eq 0
check "list has every profile" test "$(echo "$list" | wc -l)" -eq "$expected"
check "all Available" test "$(echo "$list" | grep -c '"state":"Available"')" -eq "$expected"
check "list shows the owner and type" grep -q '"iccid":"8999000000000000001","profileType":"Test","owner":"op1"' <<<"$list"
check "no key material listed" sh -c "! echo '$list' | grep -qi 'ppk\|hash\|blob'"
if [ "$expected" -gt 3 ]; then
    check "TS.48 metadata listed" grep -q '"serviceProviderName":"GSMA","profileName":"TS.48","profileClass":0' <<<"$list"
fi

# purge deletes only finished orders (orders_test covers the deletion itself); Available ones stay.
check "purge of unfinished orders deletes nothing" test "$("$SMDPCTL" --state "$STATE" purge --older-than 0)" = 0
check "purge --dry-run lists nothing" test -z "$("$SMDPCTL" --state "$STATE" purge --older-than 0 --dry-run)"
"$SMDPCTL" --state "$STATE" purge 2>/dev/null
check "purge without --older-than exit 2" test $? -eq 2
check "the orders are still there" test "$("$SMDPCTL" --state "$STATE" list | wc -l)" -eq "$expected"

# backup and restore round trip: the restored store lists the same profiles, and the master key came along.
check "backup exit 0" "$SMDPCTL" --state "$STATE" backup "$WORK/backup"
check "the backup has the master key" test -s "$WORK/backup/master.key"
check "restore exit 0" "$SMDPCTL" --state "$WORK/restored" restore "$WORK/backup"
check "the restored store lists the same" test "$("$SMDPCTL" --state "$WORK/restored" list)" = "$list"
check "the master key is restored unchanged" cmp -s "$STATE/master.key" "$WORK/restored/master.key"
"$SMDPCTL" --state "$WORK/restored" restore "$WORK/backup" 2>/dev/null
check "restore over existing data exit 1" test $? -eq 1
"$SMDPCTL" --state "$STATE" backup "$WORK/backup" 2>/dev/null
check "backup into an existing directory exit 1" test $? -eq 1

if [ $fails -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
fi
echo "all passed"
