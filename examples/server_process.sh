# Sourced by examples/run_demo.sh and tests/docs/run_receiver.sh: one server
# program at a time in the background, with bounded waits, a scratch
# directory, and no process left behind.
#
# The program is started directly, not under timeout(1), so that a signal we
# send reaches it once: timeout forwards a SIGTERM to its child and then to
# its process group, so the child may receive it twice (hl7_receiver then
# took the second for "SIGTERM again: exit without waiting" and exited 1, or
# died of it after its signal_set was gone: the hl7.demo flake, 4 runs in
# 300 under load); and a signal reaching timeout before its fork() returned
# made timeout exit alone, orphaning the program. Instead a watchdog kills
# the program after 50 s should the calling script itself be killed.

server_pid=
server_watchdog=

# server_init NAME: creates the scratch directory `work`; on exit the server
# is killed if still running and `work` removed.
server_init() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || exit 1
    trap 'server_cleanup; rm -rf "$work"' EXIT
    trap 'exit 130' INT TERM
}

# fail MESSAGE: prints it and the files in `work` (the programs' output), exits 1.
fail() {
    echo "FAIL: $*"
    local f
    for f in "$work"/*; do
        [[ -f $f ]] && { echo "----- ${f##*/} -----"; cat "$f"; }
    done
    exit 1
}

# server_start LOG COMMAND...: starts COMMAND with stdout and stderr in LOG.
server_start() {
    local log=$1
    shift
    server_cleanup
    "$@" >"$log" 2>&1 &
    server_pid=$!
    ( trap 'kill "$nap" 2>/dev/null; exit 0' TERM
      sleep 50 & nap=$!
      wait "$nap" && kill -KILL "$server_pid" 2>/dev/null ) &
    server_watchdog=$!
}

# server_port LOG SED-SCRIPT: waits up to 20 s for the program to print its
# port (SED-SCRIPT prints it) and sets `port`.
server_port() {
    port=
    for _ in $(seq 200); do
        port=$(sed -n "$2" "$1" | head -n 1)
        [[ -n $port ]] && return 0
        kill -0 "$server_pid" 2>/dev/null || fail "the server exited before listening"
        sleep 0.1
    done
    fail "the server did not print its port within 20 s"
}

# server_stop SIGNAL: sends it, waits up to 20 s for the program to exit and
# sets `server_rc` (137: killed by the watchdog).
server_stop() {
    kill "-$1" "$server_pid"
    for _ in $(seq 200); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$server_pid" 2>/dev/null && fail "the server still runs 20 s after SIG$1"
    wait "$server_pid"
    server_rc=$?
    server_pid=
}

server_cleanup() {
    [[ -n $server_watchdog ]] && kill "$server_watchdog" 2>/dev/null
    server_watchdog=
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    server_pid=
}
