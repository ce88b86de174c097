#!/usr/bin/env bash
# ctest hl7.docs.receiver: runs the README's complete receiver program the
# way its text says it works. Started on a free port (argument 0), it must
# print "listening on port N", answer one framed message with MSA|AA|<id>
# (sent over bash's /dev/tcp: no other program involved), then exit 0 on
# SIGTERM, with nothing on stderr. A second run on the port the first one
# holds must fail with exit 1 and an error message (the error path of main).
# A third, sent SIGINT as soon as it says it listens, must exit 0.
#
#   run_receiver.sh <receiver program>
#
# Every wait is bounded; an EXIT trap kills whatever is still running.

set -u

program=${1:?usage: run_receiver.sh <receiver program>}
work=$(mktemp -d "${TMPDIR:-/tmp}/hl7_doc_receiver.XXXXXX") || exit 1
pid=
watchdog=

cleanup() {
    exec 3<&- 3>&- 2>/dev/null
    [[ -n $watchdog ]] && kill "$watchdog" 2>/dev/null
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "FAIL: $*"
    local f
    for f in out err out2 err2 out3 err3; do
        [[ -f $work/$f ]] && { echo "----- receiver $f (2, 3: the second, third run) -----"; cat "$work/$f"; }
    done
    exit 1
}

# Starts the program on a free port in the background (pid), sets port.
# Directly, not under timeout(1), so that a signal reaches the program once
# (see examples/run_demo.sh); a watchdog ends it after 50 s should this
# script be killed.
start_receiver() {
    local out=$1 err=$2
    [[ -n $watchdog ]] && kill "$watchdog" 2>/dev/null
    "$program" 0 >"$out" 2>"$err" &
    pid=$!
    ( trap 'kill "$nap" 2>/dev/null; exit 0' TERM
      sleep 50 & nap=$!
      wait "$nap" && kill -KILL "$pid" 2>/dev/null ) &
    watchdog=$!
    port=
    for _ in $(seq 200); do   # up to 20 s, generous for a loaded machine
        port=$(sed -n 's/^listening on port \([0-9][0-9]*\)$/\1/p' "$out" | head -n 1)
        [[ -n $port ]] && break
        kill -0 "$pid" 2>/dev/null || fail "the receiver exited before listening"
        sleep 0.1
    done
    [[ -n $port ]] || fail "the receiver did not print 'listening on port N' within 20 s"
    echo "receiver (pid $pid) listening on port $port"
}

# Signals the program and waits up to 20 s for it; sets rc.
stop_receiver() {
    kill "-$1" "$pid"
    for _ in $(seq 200); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && fail "the receiver still runs 20 s after SIG$1"
    wait "$pid"
    rc=$?
    pid=
}

start_receiver "$work/out" "$work/err"

# One MLLP frame: VT, the message, FS CR. The ACK is read up to its FS.
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect to 127.0.0.1:$port"
printf '\x0bMSH|^~\\&|DOCS|TEST|R|R|20240101120000||ADT^A01|DOC-42|P|2.5\rPID|1||123^^^H^MR\r\x1c\r' >&3
IFS= read -r -d $'\x1c' -t 20 ack <&3 || fail "no ACK within 20 s"
exec 3<&- 3>&-
ack=${ack#$'\x0b'}
echo "ACK: ${ack//$'\r'/ | }"
[[ $ack == *$'\r'"MSA|AA|DOC-42"* ]] || fail "the ACK has no MSA|AA|DOC-42"

# A second receiver on the same port: the error is reported, exit code 1.
timeout -k 5 20 "$program" "$port" >"$work/out2" 2>"$work/err2"
rc2=$?
[[ $rc2 -eq 1 ]] || fail "a second receiver on port $port exited with $rc2 (expected 1)"
grep -q '^ack_receiver: ' "$work/err2" || fail "a second receiver on port $port printed no error: $(cat "$work/err2")"
echo "second receiver on the same port: exit 1, $(cat "$work/err2")"

stop_receiver TERM
[[ $rc -eq 0 ]] || fail "the receiver exited with $rc after SIGTERM (expected 0)"
grep -q '^received ADT^A01 DOC-42$' "$work/out" || fail "the receiver did not print 'received ADT^A01 DOC-42'"
[[ ! -s $work/err ]] || fail "the receiver wrote to stderr"

# SIGINT as soon as it listens: the signals are caught before it says so.
start_receiver "$work/out3" "$work/err3"
stop_receiver INT
[[ $rc -eq 0 ]] || fail "the receiver exited with $rc on SIGINT right after starting (expected 0)"
echo "PASS: ACK received; clean exit 0 on SIGTERM, and on SIGINT right after starting"
