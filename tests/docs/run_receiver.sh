#!/usr/bin/env bash
# ctest hl7.docs.receiver: runs the README's complete receiver program the
# way its text says it works. Started on a free port (argument 0), it must
# print "listening on port N", answer one framed message with MSA|AA|<id>
# (sent over bash's /dev/tcp: no other program involved), then exit 0 on
# SIGTERM, printing nothing else. A second run on the port the first one
# holds must fail with exit 1 and an error message (the error path of main).
# A third, sent SIGINT as soon as it says it listens, must exit 0.
#
#   run_receiver.sh <receiver program>
#
# Every wait is bounded; an EXIT trap kills whatever is still running.

set -u

program=${1:?usage: run_receiver.sh <receiver program>}
source "$(dirname "${BASH_SOURCE[0]}")/../../examples/server_process.sh"
server_init hl7_doc_receiver

start_receiver() {
    server_start "$1" "$program" 0
    server_port "$1" 's/^listening on port \([0-9][0-9]*\)$/\1/p'
    echo "receiver (pid $server_pid) listening on port $port"
}

start_receiver "$work/log"

# One MLLP frame: VT, the message, FS CR. The ACK is read up to its FS.
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect to 127.0.0.1:$port"
printf '\x0bMSH|^~\\&|DOCS|TEST|R|R|20240101120000||ADT^A01|DOC-42|P|2.5\rPID|1||123^^^H^MR\r\x1c\r' >&3
IFS= read -r -d $'\x1c' -t 20 ack <&3 || fail "no ACK within 20 s"
exec 3<&- 3>&-
ack=${ack#$'\x0b'}
echo "ACK: ${ack//$'\r'/ | }"
[[ $ack == *$'\r'"MSA|AA|DOC-42"* ]] || fail "the ACK has no MSA|AA|DOC-42"

# A second receiver on the same port: the error is reported, exit code 1.
timeout -k 5 20 "$program" "$port" >"$work/log2" 2>&1
rc2=$?
[[ $rc2 -eq 1 ]] || fail "a second receiver on port $port exited with $rc2 (expected 1)"
grep -q '^ack_receiver: ' "$work/log2" || fail "a second receiver on port $port printed no error"
echo "second receiver on the same port: exit 1, $(cat "$work/log2")"

server_stop TERM
[[ $server_rc -eq 0 ]] || fail "the receiver exited with $server_rc after SIGTERM (expected 0)"
grep -q '^received ADT^A01 DOC-42$' "$work/log" || fail "the receiver did not print 'received ADT^A01 DOC-42'"
[[ $(grep -vc -e '^listening on port ' -e '^received ' "$work/log") -eq 0 ]] ||
    fail "the receiver printed something else (an error?)"

# SIGINT as soon as it listens: the signals are caught before it says so.
start_receiver "$work/log3"
server_stop INT
[[ $server_rc -eq 0 ]] || fail "the receiver exited with $server_rc on SIGINT right after starting (expected 0)"
echo "PASS: ACK received; clean exit 0 on SIGTERM, and on SIGINT right after starting"
