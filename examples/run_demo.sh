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

source "$(dirname "${BASH_SOURCE[0]}")/server_process.sh"
server_init hl7_demo

# 1. The receiver, on a port the system picks; it prints the port it got.
# (Directly, not under timeout(1): see server_process.sh.)
server_start "$work/receiver.log" "$receiver" --host 127.0.0.1 --port 0
server_port "$work/receiver.log" 's/.*[Ll]istening on [^ ]*:\([0-9][0-9]*\).*/\1/p'
echo "hl7_receiver (pid $server_pid) listening on 127.0.0.1:$port"

# 2. The sender, bounded by its own 10 s timeouts and by timeout(1).
echo "\$ hl7_sender --host 127.0.0.1 --port $port"
timeout -k 5 30 "$sender" --host 127.0.0.1 --port "$port" >"$work/sender.out" 2>&1
sender_rc=$?
cat "$work/sender.out"
[[ $sender_rc -eq 0 ]] || fail "hl7_sender exited with $sender_rc (expected 0)"
grep -q '^MSA|AA|CNTRL-3456$' "$work/sender.out" || fail "hl7_sender did not print the ACK MSA|AA|CNTRL-3456"

# 3. SIGTERM: the receiver closes the server and exits with 0.
server_stop TERM
receiver_rc=$server_rc
echo "----- receiver log -----"
cat "$work/receiver.log"
echo "------------------------"
[[ $receiver_rc -ne 137 ]] || fail "hl7_receiver was killed by the watchdog (still running after 50 s)"
[[ $receiver_rc -eq 0 ]] || fail "hl7_receiver exited with $receiver_rc after SIGTERM (expected 0)"
grep -q 'CNTRL-3456' "$work/receiver.log" || fail "hl7_receiver did not log the message's control id"
if grep -q 'EVERYWOMAN' "$work/receiver.log"; then
    fail "hl7_receiver logged patient data without --log-messages"
fi

echo "PASS: ACK received (exit 0), receiver stopped cleanly on SIGTERM (exit 0)"
