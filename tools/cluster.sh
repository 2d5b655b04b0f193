# tools/cluster.sh - starts a loopback cluster: a throw-away PostgreSQL, 2 smds and 2 smdp-default nodes, and
# HAProxy in front (the reference deployment of docs/deploy.md on one machine). Sourced by tools/run
# --cluster and by the cluster test (tests/cluster/), which set before calling cluster_start:
#   CL          the cluster's directory (the database in $CL/pg, node N's data in $CL/<node>/, its log in
#               $CL/<node>.log, haproxy.cfg and haproxy.log); CL_TOP, the highest directory above it
#               whose permissions may be narrowed to let user nobody through when running as root [$CL]
#   BIN         bazel-bin (smds/smds, smdp_default/smdp-default, smds/smdsctl, smdp_default/smdpctl)
#   PKI         the test PKI (rsp-pki init), for the health checks' CA
#   SMDS_FLAGS, SMDP_FLAGS   arrays: the services' own flags (certificates, keys, FQDNs, ES12 target)
#   LB_PORTS    "DS_DEVICE,DS_S2S,DP_DEVICE,DP_S2S" of the balancer [8443,8444,9443,9444]
#   NODE_BASE   node ports: smds-1 BASE+1/+2, smds-2 +3/+4, smdp-1 +5/+6, smdp-2 +7/+8 [18440]
#   CLUSTER_SERVICES  "smds smdp" [both]; "smds" starts the SM-DS half alone (2 nodes)
#   PIDS, NAMES arrays the started processes are appended to; PG_STOP is set to the command that stops
#               the database
# Every node runs with store.backend = postgres, the PROXY protocol on both listeners, and the transaction
# secrets and master key shared through files in $CL (a node started alone would mint its own).
# PostgreSQL listens on a unix socket in $CL/pg only; initdb and postgres refuse root, so as root the
# database directory belongs to user nobody and the server programs run as nobody.

: "${LB_PORTS:=8443,8444,9443,9444}"
: "${NODE_BASE:=18440}"
: "${CLUSTER_SERVICES:=smds smdp}"
CLUSTER_NODES=()
for _s in $CLUSTER_SERVICES; do CLUSTER_NODES+=("$_s-1" "$_s-2"); done
unset _s

# Debian puts these in /usr/sbin, which a test's PATH may not hold.
RUNUSER=$(command -v runuser || echo /usr/sbin/runuser)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

pg_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && [ -x "$d/initdb" ] || {
        echo "cluster: PostgreSQL server binaries not found (tools/bootstrap installs postgresql)" >&2
        return 1
    }
    echo "$d"
}

# pg_as CMD...: runs a PostgreSQL server program, as nobody when we are root, from / (the caller's
# directory may be closed to that user).
pg_as() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && "$RUNUSER" -u nobody -- "$@")
    else
        (cd / && "$@")
    fi
}

pg_dsn() { # DB
    echo "host=$CL/pg user=rsp dbname=$1"
}

# pg_start: initialises $CL/pg on first use, starts the server and creates the databases smds and smdp.
pg_start() {
    local bin sock
    bin=$(pg_bindir) || return 1
    sock="$CL/pg/.s.PGSQL.5432"
    if [ ${#sock} -gt 100 ]; then
        echo "cluster: $CL is too deep for a unix socket path (${#sock} > 100 characters)" >&2
        return 1
    fi
    mkdir -p "$CL/pg"
    chmod 700 "$CL/pg"
    if [ "$(id -u)" -eq 0 ]; then
        # nobody must reach $CL/pg. Directories from $CL up to $CL_TOP become traversable only (711, no
        # listing) and whatever else they hold is closed to others; anything above must already be open.
        local d=$CL top=${CL_TOP:-$CL}
        while :; do
            if [ "${d#"$top"}" != "$d" ]; then
                chmod 711 "$d"
                find "$d" -mindepth 1 -maxdepth 1 ! -path "$CL" ! -path "$CL/pg" -exec chmod go-rwx {} +
            elif ! "$RUNUSER" -u nobody -- test -x "$d"; then
                echo "cluster: PostgreSQL runs as nobody under root, and nobody cannot enter $d" >&2
                return 1
            fi
            [ "$d" != / ] || break
            d=$(dirname "$d")
        done
        chown -R nobody: "$CL/pg"
    fi
    if [ ! -s "$CL/pg/data/PG_VERSION" ]; then
        # --no-sync skips initdb's own fsyncs only; the server runs with fsync and synchronous_commit on.
        pg_as "$bin/initdb" -D "$CL/pg/data" -U rsp -A trust -E UTF8 --no-sync >"$CL/pg/initdb.log" 2>&1 || {
            echo "cluster: initdb failed; see $CL/pg/initdb.log" >&2
            return 1
        }
    fi
    pg_as "$bin/pg_ctl" -D "$CL/pg/data" -l "$CL/pg/server.log" -w -t 60 -s \
        -o "-c listen_addresses='' -k $CL/pg -c fsync=on -c synchronous_commit=on -c max_connections=200" \
        start || {
        echo "cluster: PostgreSQL did not start; see $CL/pg/server.log" >&2
        return 1
    }
    PG_STOP=(pg_stop)
    local db
    for db in smds smdp; do
        if ! "$bin/psql" -h "$CL/pg" -U rsp -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" |
            grep -q 1; then
            "$bin/createdb" -h "$CL/pg" -U rsp "$db" || return 1
        fi
    done
}

pg_stop() {
    local bin
    bin=$(pg_bindir) || return 1
    pg_as "$bin/pg_ctl" -D "$CL/pg/data" -m fast -w -t 60 -s stop
}

# pg_restart: a fast restart (in-flight transactions are rolled back, committed ones survive).
pg_restart() {
    local bin
    bin=$(pg_bindir) || return 1
    pg_as "$bin/pg_ctl" -D "$CL/pg/data" -l "$CL/pg/server.log" -m fast -w -t 60 -s restart \
        -o "-c listen_addresses='' -k $CL/pg -c fsync=on -c synchronous_commit=on -c max_connections=200"
}

# node_ports NODE: "DEVICE S2S".
node_ports() {
    local i
    for i in "${!CLUSTER_NODES[@]}"; do
        if [ "${CLUSTER_NODES[$i]}" = "$1" ]; then
            echo "$((NODE_BASE + 2 * i + 1)) $((NODE_BASE + 2 * i + 2))"
            return 0
        fi
    done
    return 1
}

# node_start NODE: starts one node (again) and records its pid in NODE_PID[NODE].
declare -A NODE_PID
node_start() {
    local node=$1 dev s2s
    read -r dev s2s <<<"$(node_ports "$node")"
    local common=(--server.state_dir="$CL/$node" --server.create_secrets --server.port_file="$CL/$node.ports" --device.port="$dev"
        --s2s.port="$s2s" --device.proxy_protocol=true --s2s.proxy_protocol=true --store.backend=postgres)
    rm -f "$CL/$node.ports"
    case $node in
    smds-*)
        "$BIN/smds/smds" "${common[@]}" --store.dsn="$(pg_dsn smds)" --smds.txn_secret="$CL/smds.txn.secret" \
            "${SMDS_FLAGS[@]}" >>"$CL/$node.log" 2>&1 &
        ;;
    smdp-*)
        "$BIN/smdp_default/smdp-default" "${common[@]}" --store.dsn="$(pg_dsn smdp)" \
            --smdp.txn_secret="$CL/smdp.txn.secret" --smdp.master_key="$CL/smdp.master.key" \
            "${SMDP_FLAGS[@]}" >>"$CL/$node.log" 2>&1 &
        ;;
    esac
    NODE_PID[$node]=$!
    PIDS+=($!)
    NAMES+=("$node")
    local _
    for _ in $(seq 1 300); do
        [ -s "$CL/$node.ports" ] && return 0
        kill -0 "${NODE_PID[$node]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "cluster: $node did not start; its log ($CL/$node.log):" >&2
    tail -n 20 "$CL/$node.log" >&2
    return 1
}

# lb_status: "BACKEND SERVER STATUS" lines from HAProxy's stats socket.
lb_status() {
    python3 - "$CL/haproxy.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
for line in data.decode().splitlines()[1:]:
    f = line.split(",")
    if len(f) > 17 and f[1] not in ("FRONTEND", "BACKEND"):
        print(f[0], f[1], f[17])
PY
}

# lb_wait_up N SECONDS: waits until N server entries are UP.
lb_wait_up() {
    local _
    for _ in $(seq 1 $(($2 * 4))); do
        [ "$(lb_status 2>/dev/null | grep -c ' UP$')" -ge "$1" ] && return 0
        sleep 0.25
    done
    return 1
}

lb_start() {
    local args=(--ca "$PKI/nist/ci/ci.pem" --ports "$LB_PORTS" --inter 1s --stats "$CL/haproxy.sock") node dev s2s
    for node in "${CLUSTER_NODES[@]}"; do
        read -r dev s2s <<<"$(node_ports "$node")"
        args+=("--${node%-*}" "$node=127.0.0.1:$dev:$s2s")
    done
    "$ROOT/tools/haproxy-cfg" "${args[@]}" >"$CL/haproxy.cfg" || return 1
    "$HAPROXY" -db -f "$CL/haproxy.cfg" >>"$CL/haproxy.log" 2>&1 &
    PIDS+=($!)
    NAMES+=(haproxy)
    LB_PID=$!
}

cluster_start() {
    local b bins=()
    case " $CLUSTER_SERVICES " in *" smds "*) bins+=("$BIN/smds/smds") ;; esac
    case " $CLUSTER_SERVICES " in *" smdp "*) bins+=("$BIN/smdp_default/smdp-default") ;; esac
    for b in "${bins[@]}"; do
        if ! "$b" --help 2>/dev/null | grep -q -- '--store.backend'; then
            echo "cluster: $(basename "$b") has no PostgreSQL store (store.backend) in this build" >&2
            return 1
        fi
    done
    mkdir -p "$CL"
    echo "cluster: PostgreSQL in $CL/pg"
    pg_start || return 1
    # The first node of each service creates the shared secrets; the second reads them.
    local node
    for node in "${CLUSTER_NODES[@]}"; do
        node_start "$node" || return 1
    done
    lb_start || return 1
    if ! lb_wait_up $((2 * ${#CLUSTER_NODES[@]})) 30; then
        echo "cluster: HAProxy does not see every node ready:" >&2
        lb_status >&2
        return 1
    fi
}

cluster_banner() {
    local node dev s2s
    echo
    echo "Cluster (state/cluster/): PostgreSQL on the unix socket in state/cluster/pg, HAProxy in front"
    for node in "${CLUSTER_NODES[@]}"; do
        read -r dev s2s <<<"$(node_ports "$node")"
        echo "  $node   device 127.0.0.1:$dev  s2s 127.0.0.1:$s2s  (PROXY protocol v2: through HAProxy only)"
    done
    echo "  balancer state:  echo 'show stat' | socat - UNIX:state/cluster/haproxy.sock"
}
