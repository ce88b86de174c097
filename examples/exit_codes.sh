#!/usr/bin/env bash
# ctest hl7.examples.exit_codes: the bundled programs' failure exits, which
# no other test reaches: each must end at once with its documented status
# and a line on standard error naming the program.
#
#   exit_codes.sh receiver=PATH [forwarder=PATH] [nats_setup=PATH]
#
# forwarder= also means the receiver was built with SQLite (--store sqlite:).

set -u

source "$(dirname "${BASH_SOURCE[0]}")/server_process.sh"
server_init hl7_exit_codes

receiver= forwarder= nats_setup=
for a in "$@"; do
    case $a in
    receiver=*) receiver=${a#*=} ;;
    forwarder=*) forwarder=${a#*=} ;;
    nats_setup=*) nats_setup=${a#*=} ;;
    *) fail "unknown argument $a" ;;
    esac
done
[[ -n $receiver ]] || fail "usage: exit_codes.sh receiver=PATH [forwarder=PATH] [nats_setup=PATH]"

# expect STATUS STDERR-PATTERN COMMAND...: runs COMMAND (bounded), checks both.
expect() {
    local want=$1 pattern=$2
    shift 2
    timeout -k 5 30 "$@" >"$work/out" 2>"$work/err"
    local rc=$?
    echo "\$ ${1##*/} ${*:2} -> $rc: $(head -1 "$work/err")"
    [[ $rc -eq $want ]] || fail "$* exited with $rc, expected $want; stderr: $(cat "$work/err")"
    grep -q -- "$pattern" "$work/err" || fail "$* did not say \"$pattern\" on stderr: $(cat "$work/err")"
}

# A port in use: held by a first receiver.
server_start "$work/receiver.log" "$receiver" --host 127.0.0.1 --port 0
server_port "$work/receiver.log" 's/.*[Ll]istening on [^ ]*:\([0-9][0-9]*\).*/\1/p'
expect 3 "^hl7_receiver: cannot listen on 127.0.0.1:$port" "$receiver" --host 127.0.0.1 --port "$port"
expect 2 "^hl7_receiver: unknown option --no-such-option" "$receiver" --no-such-option
server_stop TERM
[[ $server_rc -eq 0 ]] || fail "the first hl7_receiver exited with $server_rc after SIGTERM (expected 0)"

if [[ -n $forwarder ]]; then
    expect 4 "^hl7_receiver: cannot open the store" \
        "$receiver" --host 127.0.0.1 --port 0 --store "sqlite:$work/no-such-dir/store.db"
    grep -q 'Listening' "$work/out" && fail "hl7_receiver listened without its store"
    # The forwarder never creates a store.
    expect 4 "^hl7_forwarder: cannot open the store" \
        "$forwarder" --store "sqlite:$work/missing.db" --to "127.0.0.1:$port"
    expect 2 "^hl7_forwarder: --to HOST:PORT is required" "$forwarder" --store "sqlite:$work/missing.db"
fi

if [[ -n $nats_setup ]]; then
    # The receiver's port, now closed: nothing answers there for JetStream.
    expect 3 "^hl7_nats_setup: " "$nats_setup" --servers "nats://127.0.0.1:$port" --wait 0
    expect 2 "^hl7_nats_setup: --servers is required" "$nats_setup"
fi

echo "PASS"
