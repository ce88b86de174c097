#!/usr/bin/env bash
# The main job (ctest hl7.demo): start hl7_receiver on a free loopback port,
# send the document's message with hl7_sender, check the ACK and exit code,
# then stop the receiver with SIGTERM and check it exits cleanly.
#
#   run_demo.sh <hl7_receiver> <hl7_sender>
#
# Never hangs (every wait is bounded) and never leaves a process behind (an
# EXIT trap kills whatever is still running).

set -u

receiver=${1:?usage: run_demo.sh <hl7_receiver> <hl7_sender>}
sender=${2:?usage: run_demo.sh <hl7_receiver> <hl7_sender>}

work=$(mktemp -d "${TMPDIR:-/tmp}/hl7_demo.XXXXXX") || exit 1
receiver_pid=
watchdog_pid=

cleanup() {
    [[ -n $watchdog_pid ]] && kill "$watchdog_pid" 2>/dev/null
    if [[ -n $receiver_pid ]] && kill -0 "$receiver_pid" 2>/dev/null; then
        kill -KILL "$receiver_pid" 2>/dev/null
        wait "$receiver_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "FAIL: $*"
    if [[ -f $work/receiver.log ]]; then
        echo "----- receiver log -----"
        cat "$work/receiver.log"
    fi
    exit 1
}

# 1. The receiver, on a port the system picks; it prints the port it got.
# Started directly, so that our signals reach it and nothing else: under
# timeout(1) (as before) a SIGTERM to timeout reached the receiver twice
# (timeout signals the child, then its process group), and when the two did
# not merge, hl7_receiver took the second for "SIGTERM again: exit without
# waiting" (exit 1), or died of it once its signal_set was gone (143): the
# hl7.demo flake, 4 runs in 300 under load. A SIGTERM to timeout before its
# fork() returned also made timeout exit alone and orphan the receiver.
# A watchdog ends the receiver after 50 s should this script be killed.
"$receiver" --host 127.0.0.1 --port 0 >"$work/receiver.log" 2>&1 &
receiver_pid=$!
( trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  sleep 50 & nap=$!
  wait "$nap" && kill -KILL "$receiver_pid" 2>/dev/null ) &
watchdog_pid=$!

port=
for _ in $(seq 100); do   # up to 10 s
    port=$(sed -n 's/.*[Ll]istening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$work/receiver.log" | head -n 1)
    [[ -n $port ]] && break
    kill -0 "$receiver_pid" 2>/dev/null || fail "hl7_receiver exited before listening"
    sleep 0.1
done
[[ -n $port ]] || fail "hl7_receiver did not report a port within 10 s"
echo "hl7_receiver (pid $receiver_pid) listening on 127.0.0.1:$port"

# 2. The sender, bounded by its own 10 s timeouts and by timeout(1).
echo "\$ hl7_sender --host 127.0.0.1 --port $port"
timeout -k 5 30 "$sender" --host 127.0.0.1 --port "$port" >"$work/sender.out" 2>&1
sender_rc=$?
cat "$work/sender.out"
[[ $sender_rc -eq 0 ]] || fail "hl7_sender exited with $sender_rc (expected 0)"
grep -q '^MSA|AA|CNTRL-3456$' "$work/sender.out" || fail "hl7_sender did not print the ACK MSA|AA|CNTRL-3456"

# 3. SIGTERM: the receiver closes the server and exits with 0.
kill -TERM "$receiver_pid"
for _ in $(seq 100); do   # up to 10 s
    kill -0 "$receiver_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$receiver_pid" 2>/dev/null; then
    fail "hl7_receiver still running 10 s after SIGTERM"
fi
wait "$receiver_pid"
receiver_rc=$?
receiver_pid=
echo "----- receiver log -----"
cat "$work/receiver.log"
echo "------------------------"
[[ $receiver_rc -ne 137 ]] || fail "hl7_receiver was still running after 50 s (killed by the watchdog)"
[[ $receiver_rc -eq 0 ]] || fail "hl7_receiver exited with $receiver_rc after SIGTERM (expected 0)"
grep -q 'CNTRL-3456' "$work/receiver.log" || fail "hl7_receiver did not log the message's control id"
if grep -q 'EVERYWOMAN' "$work/receiver.log"; then
    fail "hl7_receiver logged patient data without --log-messages"
fi

echo "PASS: ACK received (exit 0), receiver stopped cleanly on SIGTERM (exit 0)"
