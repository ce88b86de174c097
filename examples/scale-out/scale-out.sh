#!/usr/bin/env bash
# The scale-out kit: on loopback, a 3-node NATS JetStream cluster, the
# store's stream and consumer, N receivers, and HAProxy in TCP mode in front
# of them with an MLLP health check. One command up, one command down.
#
#   scale-out.sh up                  start everything (fails if already up)
#   scale-out.sh down [--purge]      stop everything; --purge also deletes the
#                                    run directory (JetStream data included)
#   scale-out.sh status              what runs, HAProxy's view, the stream's counts
#   scale-out.sh receiver N start|stop|kill    one receiver (N from 1)
#   scale-out.sh nats N start|stop|kill        one NATS server (N from 1)
#
# Settings come from the environment (defaults in brackets); `up` writes the
# effective ones to $HL7_SCALE_RUN_DIR/kit.env, which the other commands read.
#
#   HL7_SCALE_RUN_DIR     [${XDG_RUNTIME_DIR:-/tmp}/hl7-scale-out-$USER]
#   HL7_SCALE_HOST        [127.0.0.1] address everything listens on
#   HL7_NATS_PORTS        ["14222 14223 14224"] NATS client ports (one per server)
#   HL7_NATS_ROUTE_PORTS  ["16222 16223 16224"] cluster route ports
#   HL7_NATS_MAX_PAYLOAD  [8MB] largest message a server accepts
#   HL7_REPLICAS          [3] replicas of the streams
#   HL7_DEDUP_WINDOW      [600] the streams' duplicate window in seconds (a
#                         resend with the same MSH-3, MSH-4, MSH-10 is stored once)
#   HL7_MAX_ACK_PENDING   [1] messages the forwarders' consumer hands out at
#                         once: 1 keeps every sender's order, more deliver in
#                         parallel without order (see jetstream_options)
#   HL7_LB_PORT           [12575] where senders connect (HAProxy)
#   HL7_LB_STATS_PORT     [12580] HAProxy's statistics page (http://HOST:PORT/)
#   HL7_RECEIVER_PORTS    ["12576 12577"] one receiver per port
#   HL7_RECEIVER_CMD      the receiver's command line, with {host}, {port} and
#                         {store} replaced ({store}: the cluster's nats:// URLs)
#                         ["hl7_receiver --host {host} --port {port} --store {store}"]
#   HL7_FORWARDER_CMD     [none] a forwarder's command line ({store} replaced),
#                         e.g. "hl7_forwarder --store {store} --to HOST:PORT
#                         --drop-sender HL7PROBE/HAPROXY"
#   HL7_BIN_DIR           the build's examples directory (hl7_receiver there,
#                         hl7_nats_setup there or in scale-out/) [PATH]
#   HL7_NATS_SERVER       [nats-server]    HL7_HAPROXY [haproxy]
#
# Nothing needs root: every port is unprivileged and every file lives in the
# run directory; as root it works the same. Every process started here is
# recorded in a pid file, and `down` stops exactly those.

set -u

die() {
    echo "scale-out: $*" >&2
    exit 1
}

run_dir=${HL7_SCALE_RUN_DIR:-${XDG_RUNTIME_DIR:-/tmp}/hl7-scale-out-$(id -un)}

load_settings() {
    if [[ -f $run_dir/kit.env ]]; then
        # shellcheck disable=SC1091
        source "$run_dir/kit.env"
    fi
    host=${HL7_SCALE_HOST:-127.0.0.1}
    nats_ports=(${HL7_NATS_PORTS:-14222 14223 14224})
    route_ports=(${HL7_NATS_ROUTE_PORTS:-16222 16223 16224})
    max_payload=${HL7_NATS_MAX_PAYLOAD:-8MB}
    replicas=${HL7_REPLICAS:-3}
    dedup_window=${HL7_DEDUP_WINDOW:-600}
    max_ack_pending=${HL7_MAX_ACK_PENDING:-1}
    lb_port=${HL7_LB_PORT:-12575}
    stats_port=${HL7_LB_STATS_PORT:-12580}
    receiver_ports=(${HL7_RECEIVER_PORTS:-12576 12577})
    bin_dir=${HL7_BIN_DIR:-}
    receiver_cmd=${HL7_RECEIVER_CMD:-}
    forwarder_cmd=${HL7_FORWARDER_CMD:-}
    nats_server=${HL7_NATS_SERVER:-nats-server}
    haproxy=${HL7_HAPROXY:-haproxy}
    if [[ -z $receiver_cmd ]]; then
        receiver_cmd="$(program hl7_receiver) --host {host} --port {port} --store {store}"
    fi
    servers=
    for p in "${nats_ports[@]}"; do
        servers+=${servers:+,}nats://$host:$p
    done
}

# A bundled program: from HL7_BIN_DIR (or its scale-out/), else from PATH.
program() {
    if [[ -n $bin_dir && -x $bin_dir/$1 ]]; then
        echo "$bin_dir/$1"
    elif [[ -n $bin_dir && -x $bin_dir/scale-out/$1 ]]; then
        echo "$bin_dir/scale-out/$1"
    elif command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
    else
        echo "$1"
    fi
}

save_settings() {
    {
        printf 'HL7_SCALE_HOST=%q\n' "$host"
        printf 'HL7_NATS_PORTS=%q\n' "${nats_ports[*]}"
        printf 'HL7_NATS_ROUTE_PORTS=%q\n' "${route_ports[*]}"
        printf 'HL7_NATS_MAX_PAYLOAD=%q\n' "$max_payload"
        printf 'HL7_REPLICAS=%q\n' "$replicas"
        printf 'HL7_DEDUP_WINDOW=%q\n' "$dedup_window"
        printf 'HL7_MAX_ACK_PENDING=%q\n' "$max_ack_pending"
        printf 'HL7_LB_PORT=%q\n' "$lb_port"
        printf 'HL7_LB_STATS_PORT=%q\n' "$stats_port"
        printf 'HL7_RECEIVER_PORTS=%q\n' "${receiver_ports[*]}"
        printf 'HL7_BIN_DIR=%q\n' "$bin_dir"
        printf 'HL7_RECEIVER_CMD=%q\n' "$receiver_cmd"
        printf 'HL7_FORWARDER_CMD=%q\n' "$forwarder_cmd"
        printf 'HL7_NATS_SERVER=%q\n' "$nats_server"
        printf 'HL7_HAPROXY=%q\n' "$haproxy"
    } >"$run_dir/kit.env"
}

alive() {
    local f=$1
    [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

# Starts a command in its own session (it outlives this shell, and a
# terminal's ^C does not reach it), records its pid.
start_process() {
    local pidfile=$1 log=$2
    shift 2
    setsid "$@" >>"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
}

# Stops the processes recorded in the given pid files, all at once: the
# signal (TERM unless given with -s), up to 10 s, then SIGKILL. Only those
# pids, never anything found by name.
stop_processes() {
    local sig=TERM
    if [[ ${1:-} == -s ]]; then
        sig=$2
        shift 2
    fi
    local pids=() f pid
    for f in "$@"; do
        [[ -f $f ]] || continue
        pid=$(cat "$f")
        if kill -0 "$pid" 2>/dev/null; then
            kill -"$sig" "$pid" 2>/dev/null
            pids+=("$pid")
        fi
        rm -f "$f"
    done
    for _ in $(seq 100); do
        local left=()
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && left+=("$pid")
        done
        pids=("${left[@]}")
        (( ${#pids[@]} == 0 )) && return 0
        sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null
    sleep 0.2
}

# Waits until HOST:PORT accepts TCP connections.
wait_port() {
    local port=$1 what=$2
    for _ in $(seq 200); do
        if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "$what did not listen on $host:$port within 20 s"
}

#--------------------------------------------------------------------------
# NATS

nats_config() {
    local i=$1 name=n$1
    local routes=
    for p in "${route_ports[@]}"; do
        routes+="    nats-route://$host:$p"$'\n'
    done
    mkdir -p "$run_dir/nats/$name"
    cat >"$run_dir/nats/$name.conf" <<EOF
# Generated by scale-out.sh up
server_name: $name
listen: $host:${nats_ports[$((i - 1))]}
max_payload: $max_payload
jetstream {
    store_dir: "$run_dir/nats/$name"
}
cluster {
    name: hl7
    listen: $host:${route_ports[$((i - 1))]}
    routes: [
$routes    ]
}
EOF
}

nats_start() {
    local i=$1
    alive "$run_dir/pids/nats$i.pid" && return 0
    start_process "$run_dir/pids/nats$i.pid" "$run_dir/logs/nats$i.log" \
        "$nats_server" -c "$run_dir/nats/n$i.conf"
}

#--------------------------------------------------------------------------
# Receivers and forwarder

expand() {
    local cmd=$1 port=${2:-}
    cmd=${cmd//\{host\}/$host}
    cmd=${cmd//\{port\}/$port}
    cmd=${cmd//\{store\}/$servers}
    echo "$cmd"
}

receiver_start() {
    local i=$1
    local port=${receiver_ports[$((i - 1))]:-}
    [[ -n $port ]] || die "no receiver $i (HL7_RECEIVER_PORTS has ${#receiver_ports[@]})"
    alive "$run_dir/pids/receiver$i.pid" && return 0
    local cmd
    cmd=$(expand "$receiver_cmd" "$port")
    # shellcheck disable=SC2086 # the command line is split into words on purpose
    start_process "$run_dir/pids/receiver$i.pid" "$run_dir/logs/receiver$i.log" $cmd
}

#--------------------------------------------------------------------------
# HAProxy

# The health check's message: a fixed sender (MSH-3 HL7PROBE, MSH-4
# HAPROXY), a fixed control id (MSH-10 HL7PROBE-1), a network-management
# type (NMQ^N01) and processing id D (debugging). It goes the whole way a
# message goes: parsed, put in the store, acknowledged. The store's
# duplicate window turns every probe into a duplicate of the first (nothing
# stored), except one per window; the forwarder drops messages from the
# probe sender. A receiver whose store fails answers nothing, so HAProxy
# takes it out of rotation.
probe_message='MSH|^~\&|HL7PROBE|HAPROXY|HL7|SCALEOUT|20240101000000||NMQ^N01^NMQ_N01|HL7PROBE-1|D|2.5'$'\r'

hex() {
    od -An -v -tx1 | tr -d ' \n'
}

haproxy_config() {
    local probe
    probe=$( { printf '\x0b'; printf '%s' "$probe_message"; printf '\x1c\r'; } | hex)
    {
        cat <<EOF
# Generated by scale-out.sh up
global
    maxconn 4096
    stats socket $run_dir/haproxy.sock mode 600 level admin

defaults
    mode tcp
    timeout connect 5s
    # MLLP connections are long-lived and often idle between messages.
    timeout client 10m
    timeout server 10m
    timeout check 5s

frontend mllp_in
    bind $host:$lb_port
    default_backend receivers

backend receivers
    # Connections, not requests, are balanced: send each new one to the
    # receiver with the fewest.
    balance leastconn
    # The MLLP health check: a framed message, and an AA back.
    option tcp-check
    tcp-check connect
    tcp-check send-binary $probe
    tcp-check expect string MSA|AA
    # Out after 2 failed checks (2 s apart), back after 2 good ones; the
    # sessions of a receiver taken out are closed, so senders reconnect to
    # one that works.
    default-server inter 2s fall 2 rise 2 on-marked-down shutdown-sessions
EOF
        local i=1
        for p in "${receiver_ports[@]}"; do
            echo "    server r$i $host:$p check"
            i=$((i + 1))
        done
        cat <<EOF

listen stats
    mode http
    bind $host:$stats_port
    stats enable
    stats uri /
    stats refresh 5s
EOF
    } >"$run_dir/haproxy.cfg"
}

#--------------------------------------------------------------------------

cmd_up() {
    mkdir -p "$run_dir" || die "cannot create $run_dir"
    chmod 700 "$run_dir"
    load_settings
    for f in "$run_dir"/pids/*.pid; do
        [[ -e $f ]] || continue
        alive "$f" && die "already up ($f); run: $0 down"
    done
    (( ${#nats_ports[@]} == 3 && ${#route_ports[@]} == 3 )) || die "HL7_NATS_PORTS and HL7_NATS_ROUTE_PORTS need 3 ports each"
    command -v "$nats_server" >/dev/null || die "$nats_server not found (apt-get install nats-server)"
    command -v "$haproxy" >/dev/null || die "$haproxy not found (apt-get install haproxy)"
    local setup
    setup=$(program hl7_nats_setup)
    [[ -x $setup ]] || die "hl7_nats_setup not found: set HL7_BIN_DIR to the build's examples directory"
    mkdir -p "$run_dir/pids" "$run_dir/logs" "$run_dir/nats"
    save_settings
    # From here on, a failure (die) takes down whatever was started.
    up_done=0
    trap 'if [[ $up_done != 1 ]]; then echo "scale-out: up failed; stopping what was started" >&2; cmd_down >/dev/null; fi' EXIT

    for i in 1 2 3; do
        nats_config "$i"
        nats_start "$i"
    done
    for i in 1 2 3; do
        wait_port "${nats_ports[$((i - 1))]}" "nats-server n$i"
    done
    echo "NATS cluster: $servers"
    # The stream (R$replicas), the dead-letter stream and the consumer, once
    # JetStream has elected its meta leader.
    "$setup" --servers "$servers" --replicas "$replicas" --dedup-window "$dedup_window" --max-ack-pending "$max_ack_pending" --wait 60 >"$run_dir/logs/setup.log" 2>&1 ||
        die "hl7_nats_setup failed: $(cat "$run_dir/logs/setup.log")"
    sed 's/^/  /' "$run_dir/logs/setup.log"

    if [[ $receiver_cmd != *"{store}"* ]]; then
        echo "NOTE: the receiver command has no {store}: the receivers acknowledge without storing (placeholder)."
    fi
    local i=1
    for p in "${receiver_ports[@]}"; do
        receiver_start "$i"
        wait_port "$p" "receiver $i"
        echo "receiver $i: $host:$p"
        i=$((i + 1))
    done
    if [[ -n $forwarder_cmd ]]; then
        local cmd
        cmd=$(expand "$forwarder_cmd")
        # shellcheck disable=SC2086
        start_process "$run_dir/pids/forwarder.pid" "$run_dir/logs/forwarder.log" $cmd
        echo "forwarder: $cmd"
    fi

    haproxy_config
    "$haproxy" -c -q -f "$run_dir/haproxy.cfg" || die "HAProxy rejects $run_dir/haproxy.cfg"
    # -db: stay in the foreground, so the recorded pid is HAProxy's own.
    start_process "$run_dir/pids/haproxy.pid" "$run_dir/logs/haproxy.log" "$haproxy" -db -f "$run_dir/haproxy.cfg"
    wait_port "$lb_port" "HAProxy"
    up_done=1
    echo "HAProxy: senders connect to $host:$lb_port; statistics at http://$host:$stats_port/"
    echo "up; run directory $run_dir; stop with: $0 down"
}

cmd_down() {
    load_settings
    [[ -d $run_dir/pids ]] || { echo "nothing runs (no $run_dir/pids)"; return 0; }
    # Front to back: stop taking connections first, the cluster last.
    stop_processes "$run_dir/pids/haproxy.pid"
    stop_processes "$run_dir"/pids/receiver*.pid "$run_dir/pids/forwarder.pid"
    stop_processes "$run_dir"/pids/nats*.pid
    rm -f "$run_dir/haproxy.sock"
    if [[ ${1:-} == --purge ]]; then
        rm -rf "$run_dir"
        echo "down; $run_dir deleted"
    else
        echo "down; data kept in $run_dir (delete it with: $0 down --purge)"
    fi
}

# HAProxy's view of the receivers: name and status (UP, DOWN...) per line.
haproxy_servers() {
    exec 3<>"/dev/tcp/$host/$stats_port" || return 1
    printf 'GET /;csv HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" >&3
    awk -F, '$1 == "receivers" && $2 != "BACKEND" { print $2, $18 }' <&3
    exec 3<&-
}

cmd_status() {
    load_settings
    local f
    for f in "$run_dir"/pids/*.pid; do
        [[ -e $f ]] || continue
        local name
        name=$(basename "$f" .pid)
        if alive "$f"; then
            echo "$name: running (pid $(cat "$f"))"
        else
            echo "$name: not running"
        fi
    done
    if alive "$run_dir/pids/haproxy.pid"; then
        echo "HAProxy's receivers:"
        haproxy_servers | sed 's/^/  /'
    fi
    "$(program hl7_nats_setup)" --servers "$servers" --no-create --wait 2 2>&1 | sed 's/^/  /'
}

cmd_receiver() {
    load_settings
    local i=${1:?receiver number} action=${2:?start, stop or kill}
    case $action in
    start) receiver_start "$i" && wait_port "${receiver_ports[$((i - 1))]}" "receiver $i" ;;
    stop) stop_processes "$run_dir/pids/receiver$i.pid" ;;
    kill) stop_processes -s KILL "$run_dir/pids/receiver$i.pid" ;;
    *) die "receiver $i $action: start, stop or kill" ;;
    esac
}

cmd_nats() {
    load_settings
    local i=${1:?server number} action=${2:?start, stop or kill}
    case $action in
    start) nats_start "$i" && wait_port "${nats_ports[$((i - 1))]}" "nats-server n$i" ;;
    stop) stop_processes "$run_dir/pids/nats$i.pid" ;;
    kill) stop_processes -s KILL "$run_dir/pids/nats$i.pid" ;;
    *) die "nats $i $action: start, stop or kill" ;;
    esac
}

case ${1:-} in
up) cmd_up ;;
down) shift; cmd_down "$@" ;;
status) cmd_status ;;
receiver) shift; cmd_receiver "$@" ;;
nats) shift; cmd_nats "$@" ;;
*)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
