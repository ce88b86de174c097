#!/usr/bin/env bash
# ctest hl7.nats.kit: the scale-out kit (examples/scale-out/scale-out.sh) on
# free loopback ports in a temporary run directory: up, a message through
# HAProxy, the MLLP health check taking a killed receiver out of rotation
# and putting it back, a NATS server killed and restarted, then down, after
# which none of the processes it started may be left.
#
#   kit_test.sh <scale-out.sh> <build examples dir> <hl7_sender>

set -u

kit=${1:?usage: kit_test.sh <scale-out.sh> <examples dir> <hl7_sender>}
bin_dir=${2:?examples dir}
sender=${3:?hl7_sender}

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/hl7_kit.XXXXXX") || exit 1
export HL7_SCALE_RUN_DIR=$run_dir/run
export HL7_BIN_DIR=$bin_dir

fail() {
    echo "FAIL: $*"
    for f in "$HL7_SCALE_RUN_DIR"/logs/*.log; do
        [[ -e $f ]] || continue
        echo "----- $f (last lines) -----"
        tail -n 20 "$f"
    done
    exit 1
}

cleanup() {
    "$kit" down --purge >/dev/null 2>&1
    rm -rf "$run_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Ten free loopback ports.
read -r -a ports < <(/usr/bin/python3 - <<'EOF'
import socket
socks = []
for _ in range(10):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)
(( ${#ports[@]} == 10 )) || fail "no free ports"
export HL7_NATS_PORTS="${ports[0]} ${ports[1]} ${ports[2]}"
export HL7_NATS_ROUTE_PORTS="${ports[3]} ${ports[4]} ${ports[5]}"
export HL7_LB_PORT=${ports[6]}
export HL7_LB_STATS_PORT=${ports[7]}
export HL7_RECEIVER_PORTS="${ports[8]} ${ports[9]}"

# HAProxy's status of receiver $1 (r1, r2): UP, DOWN, "UP 1/2"...
server_status() {
    local out
    out=$(exec 3<>"/dev/tcp/127.0.0.1/$HL7_LB_STATS_PORT" &&
        printf 'GET /;csv HTTP/1.0\r\n\r\n' >&3 && cat <&3) 2>/dev/null || return 1
    awk -F, -v s="$1" '$1 == "receivers" && $2 == s { print $18 }' <<<"$out"
}

wait_status() {
    local server=$1 want=$2
    for _ in $(seq 200); do   # up to 20 s: checks every 2 s, 2 to change state
        [[ $(server_status "$server") == "$want" ]] && return 0
        sleep 0.1
    done
    fail "HAProxy never saw $server $want (last: $(server_status "$server"))"
}

send_through_lb() {
    local out
    out=$(timeout -k 5 30 "$sender" --host 127.0.0.1 --port "$HL7_LB_PORT" --timeout 10 2>&1)
    grep -q '^MSA|AA|CNTRL-3456$' <<<"$out" || fail "no AA through HAProxy: $out"
}

echo "== up"
timeout -k 5 120 "$kit" up || fail "scale-out.sh up failed"
"$kit" up >/dev/null 2>&1 && fail "a second up did not refuse"
pids=$(cat "$HL7_SCALE_RUN_DIR"/pids/*.pid)
(( $(wc -w <<<"$pids") == 6 )) || fail "expected 6 processes (3 NATS, 2 receivers, HAProxy), got: $pids"

echo "== health checks pass; a message through HAProxy"
wait_status r1 UP
wait_status r2 UP
send_through_lb

echo "== a killed receiver leaves the rotation, and comes back"
"$kit" receiver 1 kill
wait_status r1 DOWN
send_through_lb
send_through_lb
"$kit" receiver 1 start || fail "receiver 1 did not start again"
wait_status r1 UP
pids="$pids $(cat "$HL7_SCALE_RUN_DIR/pids/receiver1.pid")"

echo "== a killed NATS server: the layout stays readable, the server rejoins"
"$kit" nats 1 kill
# If it led the stream or the consumer, JetStream elects another (4-9 s in 2.9).
for _ in $(seq 30); do
    status=$("$kit" status 2>&1)
    grep -q 'stream HL7 (hl7.in.>, 3 replicas)' <<<"$status" && break
    sleep 1
done
grep -q 'stream HL7 (hl7.in.>, 3 replicas)' <<<"$status" || fail "no stream with one server down: $status"
"$kit" nats 1 start || fail "nats 1 did not start again"
pids="$pids $(cat "$HL7_SCALE_RUN_DIR/pids/nats1.pid")"
status=$("$kit" status 2>&1)
echo "$status"
grep -q 'nats1: running' <<<"$status" || fail "nats1 not running after start"

echo "== down"
timeout -k 5 120 "$kit" down || fail "scale-out.sh down failed"
for p in $pids; do
    kill -0 "$p" 2>/dev/null && fail "process $p still runs after down"
done
for port in "${ports[@]}"; do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && fail "port $port still accepts connections after down"
done
[[ -d $HL7_SCALE_RUN_DIR/nats ]] || fail "down without --purge deleted the data"
"$kit" down --purge >/dev/null || fail "down --purge failed"
[[ ! -e $HL7_SCALE_RUN_DIR ]] || fail "down --purge left $HL7_SCALE_RUN_DIR"
echo "PASS"
