#!/bin/bash
# CI check of the load generator: `rsp-bench all --quick` against real servers (smds, smdp-default) must
# finish and write a result whose numbers are sane.  No timing thresholds: the JSON exists, every mode
# ran, the fields are present, counts are positive and there are no errors.
#   usage: rsp_bench_quick_test.sh <rsp-bench> <smds> <smdp-default> <rsp-pki>
set -u

BENCH=$(realpath "$1")
SMDS=$(realpath "$2")
SMDP=$(realpath "$3")
PKI=$(realpath "$4")
TMP=${TEST_TMPDIR:-$(mktemp -d)}/rsp_bench_quick
rm -rf "$TMP"
mkdir -p "$TMP"
OUT=$TMP/quick.json

start=$(date +%s)
"$BENCH" all --quick --connections per-call,per-download --resumption off,on --smds "$SMDS" --smdp "$SMDP" --rsp-pki "$PKI" --out "$OUT" --workdir "$TMP/work" \
    >"$TMP/stdout" 2>"$TMP/stderr"
rc=$?
end=$(date +%s)
cat "$TMP/stdout"
if [ $rc -ne 0 ]; then
    echo "FAIL rsp-bench exited with $rc"
    tail -20 "$TMP/stderr"
fi
echo "rsp-bench --quick took $((end - start)) s"

python3 - "$OUT" "$rc" <<'PY'
import json, os, sys

path, rc = sys.argv[1], int(sys.argv[2])
passed = failed = 0

def check(name, cond):
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + name)
    else:
        failed += 1
        print("FAIL " + name)

def number(v):
    # CPU times come in clock ticks: a few quick connections may round to 0
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0

def positive(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0

check("rsp-bench exits 0", rc == 0)
check("the result file exists", os.path.exists(path))
if not os.path.exists(path):
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1)
d = json.load(open(path))
check("machine: nproc and CPU model", positive(d["machine"]["nproc"]) and d["machine"]["cpu_model"])
check("no failed phases", d["failed_phases"] == 0)
phases = d["phases"]

def of(mode):
    return [p for p in phases if p["mode"] == mode]

for mode, count_key, per_key in (("es11-boot-storm", "polls", "server_cpu_us_per_poll"),
                                 ("es11-keepalive", "polls", "server_cpu_us_per_poll")):
    got = of(mode)
    check("%s: both curves" % mode, sorted(p["curve"] for p in got) == ["brainpool", "nist"])
    for p in got:
        n = "%s %s" % (mode, p["curve"])
        check(n + ": polls > 0, errors == 0", positive(p[count_key]) and p["errors"] == 0)
        check(n + ": rate and latency", positive(p["polls_per_s"]) and positive(p["latency_ms"]["p50"])
              and p["latency_ms"]["p99"] >= p["latency_ms"]["p50"])
        check(n + ": server CPU per poll", positive(p[per_key]))
        check(n + ": crypto floor and ratio", positive(p["floor_us"]["total"]) and positive(p["ratio"]))
        check(n + ": TLS 1.3 over HTTP/2", p["tls"]["version"] == "TLSv1.3" and p["tls"]["http"] == "2"
              and p["tls"]["group"] is not None)
        check(n + ": series", len(p["series"]) > 0)
    if mode == "es11-boot-storm":
        for p in got:
            check("boot storm %s: one fresh connection per poll, none resumed" % p["curve"],
                  p["tls_connections"] == p["polls"] and p["tls_resumed"] == 0)

e12 = of("es12-register")
check("es12-register ran once", len(e12) == 1)
for p in e12:
    check("es12: registrations > 0, errors == 0", positive(p["registrations"]) and p["errors"] == 0)
    check("es12: rate, latency, server CPU", positive(p["registrations_per_s"]) and positive(p["latency_ms"]["p99"])
          and positive(p["server_cpu_us_per_registration"]))
    check("es12: group commit counted", positive(p["db_commits"]))
    check("es12: h2load on /healthz and the ratio", positive(p["h2load_healthz"].get("requests_per_s"))
          and positive(p["ratio"]))

e9 = of("es9-download")
check("es9-download: both curves, four connection patterns each",
      sorted((p.get("curve", ""), p.get("connections"), p.get("resumption")) for p in e9)
      == sorted((c, k, r) for c in ("brainpool", "nist") for k in ("per-call", "per-download")
                for r in (False, True)))
for p in e9:
    n = "es9 %s %s%s" % (p.get("curve"), p.get("connections"), " resumed" if p.get("resumption") else "")
    check(n + ": connections per download", p.get("tls_connections")
          == p.get("downloads", 0) * (4 if p.get("connections") == "per-call" else 2))
    check(n + ": the server resumed every connection, or none",
          p.get("server_resumed") == (p.get("tls_connections") if p.get("resumption") else 0))
    check(n + ": transport ceiling subtracted", number(p.get("transport_ceiling_us_per_download")))
    check(n + ": available", p["available"] is True)
    if p["available"]:
        check(n + ": downloads > 0, errors == 0", positive(p["downloads"]) and p["errors"] == 0)
        check(n + ": server CPU per download, floor, ratio", positive(p["server_cpu_us_per_download"])
              and positive(p["floor_us"]["total"]) and positive(p["ratio"]))

tc = of("es9-transport-ceiling")
check("transport ceiling: full and resumed", sorted(p["resumption"] for p in tc) == [False, True])
for p in tc:
    n = "transport ceiling%s" % (" resumed" if p["resumption"] else "")
    check(n + ": connections > 0, errors == 0, server CPU", positive(p["connections"]) and p["errors"] == 0
          and number(p["server_cpu_us_per_connection"]))
    check(n + ": resumed on the server and the client alike, or not at all",
          p["server_resumed"] == p["tls_resumed"] == (p["connections"] if p["resumption"] else 0))

sc = of("scale")
check("scale ran once", len(sc) == 1)
for p in sc:
    check("scale: two stores preloaded", len(p["preload"]) == 2 and all(positive(x["events"]) for x in p["preload"]))
    check("scale: runs without errors", all(positive(r["polls"]) and r["errors"] == 0 for r in p["runs"]))
    check("scale: p99 per store and the ratio", len(p["p99_ms"]) == 2
          and all(positive(x["median_p99"]) for x in p["p99_ms"]) and positive(p["ratio"]))

t = d["targets"]
check("targets listed with values", len(t) >= 8 and all(isinstance(x["value"], (int, float)) for x in t))
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
py=$?

png=${OUT%.json}.png
if command -v gnuplot >/dev/null 2>&1; then
    if [ -s "$png" ] && [ "$(head -c 4 "$png" | od -An -c | tr -d ' ')" = '211PNG' ]; then
        echo "ok   the plot is a PNG"
    else
        echo "FAIL the plot is a PNG"
        py=1
    fi
else
    echo "SKIP the plot: no gnuplot"
fi
exit $py
