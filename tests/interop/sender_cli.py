#!/usr/bin/python3
"""Command-line tests of the bundled hl7_sender, run by CTest as
hl7.sender_cli.<scenario>, against a scripted MLLP receiver written here on
plain asyncio streams (no python-hl7 needed).

    sender_cli.py SCENARIO --sender BIN

Scenarios:
  inputs      files of one message, several separated by empty lines, MLLP
              frames, an FHS/BHS batch, LF text with --loose (and without: a
              clear usage error), standard input; --outcomes lists every
              message in input order
  exit_codes  AA 0, AE 3, AR 4, unknown fate 8 (silence, a close before the
              ACK, an answer that is not an ACK), not sent: refused 6,
              connect timeout 5; usage and input errors 2; --retries resends
              with the same MSH-10
  repeat      --repeat with and without --new-ids, --window, --connections,
              --rate (a lower bound on the time taken), every message once

The receiver answers by the control id's prefix: AE-/AR- with that code,
SILENT- never, CLOSE- closes the connection before answering (CLOSE1- only on
the first arrival), JUNK- with a frame that is not HL7, anything else AA. It
records every message it received. Every child run is bounded by a timeout.
"""

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from mllp_script import CLOSE, Failure, ScriptedReceiver, check, frame  # noqa: E402

STEP_TIMEOUT = 30


def msg(cid, seg_end="\r"):
    return seg_end.join([
        f"MSH|^~\\&|SND|SFAC|RCV|RFAC|20240101120000||ADT^A01|{cid}|P|2.5",
        "EVN|A01|20240101120000",
        f"PID|1||{cid}^^^HOSP^MR||DOE^JOHN",
    ]) + seg_end


def answer(msh, n):
    """The script: by the control id's prefix (see the file comment)."""
    cid = msh[9] if len(msh) > 9 else ""
    if cid.startswith("SILENT"):
        return None
    if cid.startswith("CLOSE1") and n == 1 or cid.startswith("CLOSE-"):
        return CLOSE
    if cid.startswith("JUNK"):
        return b"this is not HL7"
    code = "AE" if cid.startswith("AE") else "AR" if cid.startswith("AR") else "AA"
    return f"MSH|^~\\&|RCV|RFAC|SND|SFAC|20240101120001||ACK^A01^ACK|A{n}{cid}|P|2.5\rMSA|{code}|{cid}\r".encode()


class Sender:
    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = workdir

    def run(self, *args, stdin=None, timeout=STEP_TIMEOUT):
        argv = [self.binary, *args]
        print(f"$ {' '.join(argv)}")
        started = time.monotonic()
        p = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)
        elapsed = time.monotonic() - started
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        print(f"  exit {p.returncode} after {elapsed:.2f} s")
        for line in (out.strip().splitlines()[-3:] + err.strip().splitlines()[-5:]):
            print(f"  | {line}")
        return p.returncode, out, err, elapsed

    def write(self, name, data):
        path = os.path.join(self.workdir, name)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return path

    def outcomes(self, path):
        with open(path) as f:
            return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def summary(out):
    m = re.search(r"hl7_sender: (\d+) messages?: (\d+) sent, (\d+) AA, (\d+) AE, (\d+) AR, (\d+) unknown fate, "
                  r"(\d+) not sent, (\d+) resends", out)
    if not m:
        raise Failure(f"no summary line in {out[-300:]!r}")
    keys = ["messages", "sent", "AA", "AE", "AR", "unknown", "not_sent", "resends"]
    return dict(zip(keys, map(int, m.groups())))


# ----------------------------------------------------------------------------


def scenario_inputs(s, rx):
    port = str(rx.port)
    outcomes = os.path.join(s.workdir, "outcomes.tsv")

    several = s.write("several.hl7", msg("IN-1") + "\r" + msg("IN-2") + "\r\r" + msg("IN-3"))
    framed = s.write("framed.mllp", frame(msg("FR-1").encode()) + b"\n" + frame(msg("FR-2").encode()) + b"\n")
    batch = s.write("batch.hl7", "FHS|^~\\&|SND\rBHS|^~\\&|SND\r" + msg("BA-1") + msg("BA-2") + "BTS|2\rFTS|1\r")
    lf = s.write("lf.txt", msg("LF-1", "\n") + "\n" + msg("LF-2", "\r\n"))

    rc, out, err, _ = s.run("--port", port, "-q", "--outcomes", outcomes, several, "--file", framed, batch)
    check(rc == 0, f"three files (several, framed, batch): exit 0 (got {rc})")
    expected = ["IN-1", "IN-2", "IN-3", "FR-1", "FR-2", "BA-1", "BA-2"]
    check(rx.received == expected, f"the receiver got every message once, in order: {rx.received}")
    rows = s.outcomes(outcomes)
    check(rows == [[cid, "acked", "AA", "1"] for cid in expected], f"--outcomes lists them in input order: {rows}")
    check(summary(out) == {"messages": 7, "sent": 7, "AA": 7, "AE": 0, "AR": 0, "unknown": 0, "not_sent": 0,
                           "resends": 0}, "summary line counts")
    check("Sent message" not in out, "-q prints no messages")

    rx.reset()
    rc, out, err, _ = s.run("--port", port, lf)
    check(rc == 2, f"LF text without --loose is a usage/input error (got {rc})")
    check("--loose" in err, f"the error suggests --loose: {err.strip()}")
    check(rx.received == [], "nothing was sent")

    rc, out, err, _ = s.run("--port", port, "--loose", lf)
    check(rc == 0, f"LF text with --loose: exit 0 (got {rc})")
    check(rx.received == ["LF-1", "LF-2"], f"both messages of the LF file sent: {rx.received}")
    check("Sent message\n MSH|" in out and "Received ACK\n MSH|" in out and "\nMSA|AA|LF-2\n" in out,
          "default output prints each message and ACK, segments on lines")

    rx.reset()
    rc, out, err, _ = s.run("--port", port, "-q", "-", stdin=frame(msg("STDIN-1").encode()))
    check(rc == 0 and rx.received == ["STDIN-1"], f"standard input (\"-\"), MLLP framed: exit {rc}, {rx.received}")

    rc, out, err, _ = s.run("--port", port, os.path.join(s.workdir, "missing.hl7"))
    check(rc == 2 and "missing.hl7" in err, f"unreadable file: exit 2 naming it (got {rc})")
    junk = s.write("junk.txt", "this is not HL7\r")
    rc, out, err, _ = s.run("--port", port, junk)
    check(rc == 2 and "junk.txt" in err, f"a file that is not HL7: exit 2 naming it (got {rc})")
    rc, out, err, _ = s.run("--port", port, "--window", "0")
    check(rc == 2, f"bad option value: exit 2 (got {rc})")
    rc, out, err, _ = s.run("--bogus")
    check(rc == 2, f"unknown option: exit 2 (got {rc})")


def scenario_exit_codes(s, rx):
    port = str(rx.port)
    outcomes = os.path.join(s.workdir, "outcomes.tsv")
    files = {cid: s.write(f"{cid}.hl7", msg(cid)) for cid in
             ["OK-1", "AE-1", "AR-1", "SILENT-1", "CLOSE-1", "CLOSE1-2", "JUNK-1"]}

    def run(*args, **kw):
        return s.run("--port", port, "-q", "--timeout", "0.5", "--outcomes", outcomes, *args, **kw)

    rc, out, _, _ = run(files["OK-1"])
    check(rc == 0, f"AA: exit 0 (got {rc})")
    rc, out, _, _ = run(files["OK-1"], files["AE-1"])
    check(rc == 3, f"AE: exit 3 (got {rc})")
    check(s.outcomes(outcomes) == [["OK-1", "acked", "AA", "1"], ["AE-1", "acked", "AE", "1"]], "outcomes: AA, AE")
    rc, out, _, _ = run(files["AE-1"], files["AR-1"])
    check(rc == 4, f"AE and AR: exit 4 (got {rc})")

    rx.reset()
    rc, out, err, elapsed = run(files["SILENT-1"], files["OK-1"])
    check(rc == 8, f"no ACK within the timeout: unknown fate, exit 8 (got {rc})")
    check(s.outcomes(outcomes) == [["SILENT-1", "unknown", "", "1"], ["OK-1", "acked", "AA", "1"]],
          f"outcomes: the silent one unknown, the next still acked: {s.outcomes(outcomes)}")
    check("SILENT-1: fate unknown after 1 attempt: no ACK within 500 ms" in err, "stderr says why")
    check(rx.counts.get("SILENT-1") == 1, "sent once (no --retries)")

    rx.reset()
    rc, out, err, _ = run("--retries", "2", files["SILENT-1"])
    check(rc == 8, f"--retries 2 against silence: still unknown, exit 8 (got {rc})")
    check(s.outcomes(outcomes) == [["SILENT-1", "unknown", "", "3"]], "three attempts")
    check(rx.counts.get("SILENT-1") == 3, f"the receiver got it three times, same MSH-10: {rx.counts}")
    check(summary(out)["resends"] == 2, "summary counts two resends")

    rc, out, err, _ = run(files["CLOSE-1"])
    check(rc == 8, f"closed before the ACK: unknown fate, exit 8 (got {rc})")
    check("closed the connection before answering" in err, f"stderr says the peer closed (not a timeout): {err}")

    rx.reset()
    rc, out, err, _ = run("--retries", "1", files["CLOSE1-2"])
    check(rc == 0, f"closed once, --retries 1: the resend is acknowledged, exit 0 (got {rc})")
    check(s.outcomes(outcomes) == [["CLOSE1-2", "acked", "AA", "2"]], "two attempts")

    rc, out, err, _ = run(files["JUNK-1"])
    check(rc == 8, f"an answer that is not an ACK: unknown fate, exit 8 (got {rc})")
    check("not an ACK" in err, f"stderr says so: {err}")

    # Not sent: nobody listens.
    with socket.socket() as tmp:
        tmp.bind(("127.0.0.1", 0))
        free_port = str(tmp.getsockname()[1])
    rc, out, err, _ = s.run("--port", free_port, "-q", "--outcomes", outcomes, files["OK-1"])
    check(rc == 6, f"connection refused: not sent, exit 6 (got {rc})")
    check(s.outcomes(outcomes) == [["OK-1", "not_sent", "", "0"]], "outcome not_sent, 0 attempts")
    rc, out, err, elapsed = s.run("--port", free_port, "-q", "--retries", "3", files["OK-1"])
    check(rc == 6 and "Connection refused" in err, f"--retries 3: four attempts, still exit 6 (got {rc})")
    check(elapsed >= 0.5, f"with back-off between attempts (100+200+400 ms nominal, >= 80 %): {elapsed:.2f} s")

    # Connect timeout: a listener whose accept queue is full answers no SYN.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(3):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(listener.getsockname())
        fillers.append(f)
    time.sleep(0.1)
    rc, out, err, _ = s.run("--port", str(listener.getsockname()[1]), "-q", "--connect-timeout", "0.3",
                            files["OK-1"])
    check(rc == 5, f"connect timeout: not sent, exit 5 (got {rc})")
    for f in fillers:
        f.close()
    listener.close()


def scenario_repeat(s, rx):
    port = str(rx.port)
    outcomes = os.path.join(s.workdir, "outcomes.tsv")
    one = s.write("one.hl7", msg("REP-1"))

    rc, out, _, _ = s.run("--port", port, "-q", "--repeat", "3", "--window", "4", "--outcomes", outcomes, one)
    check(rc == 0, f"--repeat 3: exit 0 (got {rc})")
    check(rx.received == ["REP-1"] * 3, "without --new-ids every copy keeps its MSH-10")
    check([r[0] for r in s.outcomes(outcomes)] == ["REP-1"] * 3, "outcomes: three lines")

    for window, connections in ((1, 1), (32, 1), (8, 4)):
        rx.reset()
        conns_before = rx.connections
        rc, out, _, _ = s.run("--port", port, "-q", "--repeat", "300", "--new-ids", "--window", str(window),
                              "--connections", str(connections), "--outcomes", outcomes, one)
        check(rc == 0, f"--repeat 300 --new-ids --window {window} --connections {connections}: exit 0 (got {rc})")
        ids = [r[0] for r in s.outcomes(outcomes)]
        check(len(ids) == 300 and len(set(ids)) == 300, "300 outcomes with 300 distinct MSH-10")
        check(all(r[1:] == ["acked", "AA", "1"] for r in s.outcomes(outcomes)), "all acked AA at the first attempt")
        check(sorted(rx.received) == sorted(ids), "the receiver got exactly those, once each")
        check(rx.connections - conns_before == connections, f"over {connections} connection(s)")

    rx.reset()
    rc, out, _, elapsed = s.run("--port", port, "-q", "--repeat", "10", "--new-ids", "--rate", "20", one)
    check(rc == 0 and len(rx.received) == 10, f"--rate 20: exit 0, 10 messages (got {rc})")
    check(elapsed >= 0.45, f"--rate 20 sends 10 messages in no less than 0.45 s (took {elapsed:.2f} s)")


SCENARIOS = {"inputs": scenario_inputs, "exit_codes": scenario_exit_codes, "repeat": scenario_repeat}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--sender", required=True)
    args = parser.parse_args()
    rx = ScriptedReceiver(answer)
    try:
        with tempfile.TemporaryDirectory(prefix="hl7_sender_cli_") as workdir:
            SCENARIOS[args.scenario](Sender(args.sender, workdir), rx)
    except Failure as e:
        print(f"FAIL: {e}")
        return 1
    except subprocess.TimeoutExpired as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        rx.stop()
    print(f"PASS: {args.scenario}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
