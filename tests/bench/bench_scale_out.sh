#!/usr/bin/env bash
# End-to-end messages per second of the scale-out shape (issue 12): senders ->
# HAProxy -> 2 x hl7_receiver --store nats:// -> an R3 JetStream stream on a
# 3-node cluster, against one hl7_receiver without a store and one with
# --store sqlite, measured by the same load generator in the same rounds.
#
#   bench_scale_out.sh HL7_BENCH_MLLP EXAMPLES_DIR [hl7_bench_mllp options...]
#
# Nothing new is started by hand: examples/scale-out/scale-out.sh brings the
# deployment up (its own ports and run directory, below) and takes it down;
# hl7_bench_mllp is the load generator, runs (a) and (b) itself, and reaches
# (c) as its "port:N" target, measuring the CPU of the receivers, the NATS
# servers and HAProxy during those runs (--port-cpu).
#
# Environment (defaults in brackets):
#   HL7_BENCH_DIR          [.] where the run directory (JetStream's files, the
#                          SQLite file) is made: the disk under test
#   HL7_BENCH_SERVER_CPU   [0] CPU every server process is pinned to
#   HL7_BENCH_CLIENT_CPU   [1] CPU the load generator is pinned to
#   HL7_BENCH_CONNECTIONS  [8,64] connections, comma-separated
#   HL7_DEDUP_WINDOW       [0.1] the stream's duplicate window in seconds: the
#                          corpus is sent over and over with the same MSH-10s,
#                          and resends inside the window would be acknowledged
#                          without being replicated (the SQLite receiver gets
#                          --dedup-window 0 for the same reason)
#   HL7_NATS_PORTS ["24222 24223 24224"], HL7_NATS_ROUTE_PORTS ["26222 26223 26224"],
#   HL7_LB_PORT [22575], HL7_LB_STATS_PORT [22580], HL7_RECEIVER_PORTS ["22576 22577"]:
#                          the kit's ports, away from its defaults so a kit
#                          already up is left alone

set -u

die() {
    echo "bench_scale_out: $*" >&2
    exit 2
}

bench=${1:-}
bin_dir=${2:-}
[[ -x $bench && -x $bin_dir/hl7_receiver ]] ||
    die "usage: $0 HL7_BENCH_MLLP EXAMPLES_DIR [hl7_bench_mllp options...] (EXAMPLES_DIR holds hl7_receiver)"
shift 2
bench=$(realpath "$bench")
bin_dir=$(realpath "$bin_dir")
here=$(cd "$(dirname "$0")" && pwd)
kit=$here/../../examples/scale-out/scale-out.sh
[[ -x $kit ]] || die "no $kit"

server_cpu=${HL7_BENCH_SERVER_CPU:-0}
client_cpu=${HL7_BENCH_CLIENT_CPU:-1}
cores=$(nproc)
run_dir=$(mktemp -d "${HL7_BENCH_DIR:-$PWD}/scale-out-bench.XXXXXX") || die "cannot make a run directory"

export HL7_SCALE_RUN_DIR=$run_dir
export HL7_BIN_DIR=$bin_dir
export HL7_NATS_PORTS=${HL7_NATS_PORTS:-24222 24223 24224}
export HL7_NATS_ROUTE_PORTS=${HL7_NATS_ROUTE_PORTS:-26222 26223 26224}
export HL7_LB_PORT=${HL7_LB_PORT:-22575}
export HL7_LB_STATS_PORT=${HL7_LB_STATS_PORT:-22580}
export HL7_RECEIVER_PORTS=${HL7_RECEIVER_PORTS:-22576 22577}
export HL7_REPLICAS=3
export HL7_DEDUP_WINDOW=${HL7_DEDUP_WINDOW:-0.1}
# --ack-mode original: the corpus asks for enhanced mode (MSH-15 AL, MSH-16 NE),
# which a durable receiver answers with CA; (a) and (b) answer one AA in
# original mode (bench_mllp's store: targets pass the same flag): like for like.
export HL7_RECEIVER_CMD="$bin_dir/hl7_receiver --quiet --ack-mode original --host {host} --port {port} --store {store}"

trap '"$kit" down --purge >/dev/null' EXIT
"$kit" up || die "scale-out.sh up failed"

# Every server (the kit's processes now, hl7_bench_mllp's own receivers when it
# starts them) on one CPU, the load generator on the other: on two cores the
# servers then share one, and the load generator's cost stays out of theirs.
if ((cores < 2)); then
    echo "one CPU: nothing pinned"
    server_cpu=-1
    client_cpu=-1
else
    for f in "$run_dir"/pids/*.pid; do
        pid=$(cat "$f")
        # -a: every thread (nats-server and HAProxy have several); threads
        # made later inherit the mask.
        taskset -a -cp "$server_cpu" "$pid" >/dev/null || die "cannot pin $(basename "$f" .pid) to CPU $server_cpu"
        echo "pinned $(basename "$f" .pid) (pid $pid, all threads) to CPU $server_cpu"
    done
fi

group() {
    local name=$1 ids="" f
    shift
    for f in "$@"; do
        ids+=${ids:++}$(cat "$f")
    done
    echo "$name=$ids"
}
port_cpu="$(group receivers "$run_dir"/pids/receiver*.pid),$(group nats "$run_dir"/pids/nats*.pid),$(group haproxy "$run_dir/pids/haproxy.pid")"

cd "$run_dir" || die "cannot enter $run_dir"
echo "nproc: $cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(a) hl7_receiver --quiet, (b) the same with --store sqlite:bench.db --dedup-window 0 (in $run_dir),"
echo "(c) HAProxy :$HL7_LB_PORT -> 2 x hl7_receiver --store nats:// -> stream HL7 (R3, duplicate window ${HL7_DEDUP_WINDOW} s)"
echo
"$bench" --targets "hl7,store:sqlite:bench.db,port:$HL7_LB_PORT" \
    --connections "${HL7_BENCH_CONNECTIONS:-8,64}" --big none \
    --server-cpu "$server_cpu" --client-cpu "$client_cpu" --port-cpu "$port_cpu" "$@" | tee bench.out
rc=${PIPESTATUS[0]}
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$kit" status | tee status.out
# Every message (c) acknowledged is in the stream: its count is at least the
# round trips acknowledged (more by HAProxy's health checks, one stored per
# duplicate window per check).
acked=$(sed -n "s/^  port:$HL7_LB_PORT: \([0-9]*\) round trips acknowledged.*/\1/p" bench.out)
queued=$(sed -n 's/.*queued \([0-9]*\),.*/\1/p' status.out)
if [[ -z $acked || -z $queued ]]; then
    echo "FAILED: could not read the acknowledged count ($acked) or the stream's count ($queued)"
    rc=1
elif ((queued < acked)); then
    echo "FAILED: $acked round trips acknowledged through HAProxy, only $queued messages in the stream"
    rc=1
else
    echo "stream HL7 holds $queued messages for $acked acknowledged through HAProxy (the rest: health-check probes)"
fi
exit "$rc"
