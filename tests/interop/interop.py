#!/usr/bin/python3
"""Interoperability tests between hl7's bundled programs and python-hl7 0.4.5
(Debian python3-hl7), run by CTest as hl7.interop.<scenario>.

    interop.py SCENARIO --receiver BIN --sender BIN --data DIR [--mllp-send PATH]

Scenarios:
  mllp_send         python-hl7's mllp_send --file (three MLLP frames) -> our hl7_receiver
  mllp_send_loose   mllp_send --loose --file (CRLF text) -> our hl7_receiver
  python_client     python-hl7's asyncio client (the document's sender), ASCII and
                    UTF-8 messages, two connections at once -> our hl7_receiver
  sender_to_python  our hl7_sender -> python-hl7's asyncio receiver (the document's)
  nak               python-hl7's client sends what we cannot parse (and an oversized
                    frame); our receiver must NAK with the cause and keep serving
  sender_window_python    hl7_sender --window 1 and 32 -> python-hl7's asyncio receiver:
                          every message acknowledged, each received exactly once
  sender_window_receiver  the same against our hl7_receiver

Every process runs in its own session and is killed (the whole group) when the
scenario ends, passes or fails; every wait has a timeout; servers bind port 0
on 127.0.0.1 and announce the port they got. Exit code 0 = pass, 77 = skipped
(python-hl7 not installed), anything else = failure.
"""

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from mllp_script import Failure, check  # noqa: E402

try:
    import hl7
    from hl7.mllp import open_hl7_connection
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: python-hl7 is not importable by {sys.executable}: {e}")
    print("      (Debian: apt-get install python3-hl7)")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
STEP_TIMEOUT = 20  # seconds for any one program run or wait
# Every child runs under timeout(1) with this limit, so none outlives a
# driver that was itself killed (timeout forwards SIGTERM to its child and
# returns the child's exit status).
CHILD_LIFETIME = 75
TIMEOUT_PREFIX = ["timeout", "-k", "5", str(CHILD_LIFETIME)] if shutil.which("timeout") else []
# Patient data in the sample files; none of it may appear in our receiver's log.
PATIENT_DATA = [
    b"EVERYWOMAN",
    b"EVERYMAN",
    b"555-44-4444",
    b"FERNWOOD",
    b"JONES",
    "M\u00fcller".encode(),
    b"DOE^J",
    b"this is not HL7",
]


class Proc:
    """A child process in its own session with its output in a file."""

    procs = []

    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.argv = argv
        self.out_path = os.path.join(workdir, f"{name}.out")
        self.out = open(self.out_path, "wb")
        print(f"$ {' '.join(argv)}")
        self.p = subprocess.Popen(
            TIMEOUT_PREFIX + argv,
            stdin=subprocess.DEVNULL,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        Proc.procs.append(self)

    def output(self):
        self.out.flush()
        with open(self.out_path, "rb") as f:
            return f.read()

    def wait(self, timeout=STEP_TIMEOUT):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failure(f"{self.name} did not finish within {timeout} s")

    def wait_for_output(self, pattern, timeout=STEP_TIMEOUT):
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            m = rx.search(self.output())
            if m:
                return m
            if self.p.poll() is not None:
                raise Failure(f"{self.name} exited ({self.p.returncode}) before printing {pattern!r}")
            time.sleep(0.05)
        raise Failure(f"{self.name} did not print {pattern!r} within {timeout} s")

    def terminate_and_wait(self, timeout=10):
        self.p.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.p.wait()

    @classmethod
    def kill_all(cls):
        for proc in cls.procs:
            proc.kill()
            proc.out.close()


def show(proc):
    text = proc.output().decode("utf-8", "replace")
    print(f"----- {proc.name} output -----\n{text.rstrip()}\n-----")


def env_utf8():
    env = dict(os.environ)
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def start_receiver(args, workdir, *extra):
    r = Proc("hl7_receiver", [args.receiver, "--host", "127.0.0.1", "--port", "0", *extra], workdir)
    m = r.wait_for_output(rb"[Ll]istening on [^\s]*:(\d+)")
    return r, int(m.group(1))


def stop_receiver(r):
    rc = r.terminate_and_wait()
    show(r)
    check(rc == 0, f"hl7_receiver exits with 0 on SIGTERM (got {rc})")
    log = r.output()
    leaked = [p for p in PATIENT_DATA if p in log]
    check(not leaked, f"hl7_receiver's log holds no message contents (found {leaked})")
    return log


def frames_in_mllp_send_output(out):
    """mllp_send prints each response's raw bytes (MLLP framing included) and
    a newline; it reads one recv() per message."""
    return re.findall(rb"\x0b(.*?)\x1c\r\n", out, re.S)


def parse_ack(payload, encoding="utf-8"):
    return hl7.parse(payload.decode(encoding))


# ----------------------------------------------------------------------------


def scenario_mllp_send(args, workdir):
    r, port = start_receiver(args, workdir)
    data = os.path.join(args.data, "interop_three.mllp")
    s = Proc("mllp_send", [args.python, args.mllp_send, "--file", data, "-p", str(port), "127.0.0.1"], workdir)
    rc = s.wait()
    show(s)
    check(rc == 0, f"mllp_send exits with 0 (got {rc})")
    frames = frames_in_mllp_send_output(s.output())
    check(len(frames) == 3, f"mllp_send printed 3 framed responses (got {len(frames)})")
    expected = [("INTEROP-0001", "ACK^A01^ACK"), ("INTEROP-0002", "ACK^R01^ACK"), ("INTEROP-0003", "ACK^A08^ACK")]
    for frame, (cid, msgtype) in zip(frames, expected):
        ack = parse_ack(frame)
        check(str(ack.segment("MSA")) == f"MSA|AA|{cid}", f"ACK for {cid} is MSA|AA|{cid} (got {ack.segment('MSA')})")
        check(str(ack.segment("MSH")[9]) == msgtype, f"ACK for {cid} has MSH-9 {msgtype}")
    log = stop_receiver(r)
    # mllp_send strips every message's final CR (read_stream's strip(SB + CR)):
    # the receiver got, and parsed, one byte less than each payload in the file.
    with open(data, "rb") as f:
        payloads = re.findall(rb"\x0b(.*?)\x1c", f.read(), re.S)
    for (cid, _), payload in zip(expected, payloads):
        size = len(payload.rstrip(b"\r"))
        check(re.search(rf"control id {cid}, .* {size} bytes; sent AA".encode(), log) is not None,
              f"receiver logged {cid} with {size} bytes (the file's {len(payload)} minus the stripped CR)")


def scenario_mllp_send_loose(args, workdir):
    r, port = start_receiver(args, workdir)
    data = os.path.join(args.data, "interop_loose.txt")
    s = Proc(
        "mllp_send",
        [args.python, args.mllp_send, "--loose", "--file", data, "-p", str(port), "127.0.0.1"],
        workdir,
    )
    rc = s.wait()
    show(s)
    check(rc == 0, f"mllp_send --loose exits with 0 (got {rc})")
    frames = frames_in_mllp_send_output(s.output())
    check(len(frames) == 2, f"mllp_send printed 2 framed responses (got {len(frames)})")
    for frame, cid in zip(frames, ["LOOSE-0001", "LOOSE-0002"]):
        ack = parse_ack(frame)
        check(str(ack.segment("MSA")) == f"MSA|AA|{cid}", f"ACK for {cid} is MSA|AA|{cid}")
    stop_receiver(r)


def scenario_python_client(args, workdir):
    r, port = start_receiver(args, workdir)
    files = [os.path.join(args.data, f) for f in ("interop_oru_r01.hl7", "interop_utf8_adt.hl7")]
    sender = os.path.join(HERE, "python_hl7_sender.py")
    # Two connections at once, each sending both messages (one ASCII, one UTF-8).
    clients = [
        Proc(f"python_sender_{i}", [args.python, sender, "127.0.0.1", str(port), "--encoding", "utf-8", *files],
             workdir, env=env_utf8())
        for i in (1, 2)
    ]
    for c in clients:
        rc = c.wait()
        show(c)
        check(rc == 0, f"{c.name} (python-hl7 asyncio client) exits with 0 (got {rc})")
        results = [line.split("\t")[1:] for line in c.output().decode("utf-8").splitlines()
                   if line.startswith("RESULT\t")]
        check(len(results) == 2, f"{c.name} got 2 ACKs (got {len(results)})")
        fields = [dict(kv.split("=", 1) for kv in line) for line in results]
        check(fields[0] == {"sent": "CNTRL-3456", "ack": "AA", "ack_id": "CNTRL-3456", "ack_to": "GHH LAB",
                            "ack_to_facility": "ELAB-3"}, f"{c.name}: ACK of the document's message: {fields[0]}")
        check(fields[1] == {"sent": "UTF8-0001", "ack": "AA", "ack_id": "UTF8-0001", "ack_to": "ADT1",
                            "ack_to_facility": "KLINIKUM M\u00dcNCHEN"},
              f"{c.name}: ACK of the UTF-8 message, non-ASCII MSH-4 echoed byte for byte: {fields[1]}")
    log = stop_receiver(r)
    check(log.count(b"UTF8-0001") >= 2 and log.count(b"CNTRL-3456") >= 2, "receiver logged all four messages")


def scenario_sender_to_python(args, workdir):
    py = Proc("python_receiver", [args.python, "-u", os.path.join(HERE, "python_hl7_receiver.py"),
                                  "--host", "127.0.0.1", "--port", "0"], workdir, env=env_utf8())
    port = int(py.wait_for_output(rb"Listening on [^\s]*:(\d+)").group(1))

    # The document's message (hl7_sender's default).
    s = Proc("hl7_sender", [args.sender, "--host", "127.0.0.1", "--port", str(port)], workdir)
    rc = s.wait()
    show(s)
    check(rc == 0, f"hl7_sender exits with 0 on AA (got {rc})")
    out = s.output()
    check(b"Received ACK" in out and b"\nMSA|AA|CNTRL-3456\n" in out, "hl7_sender printed python's ACK, MSA|AA|CNTRL-3456")
    py.wait_for_output(rb"EVERYWOMAN\^EVE\^E\^\^\^\^L\|JONES", timeout=5)
    check(True, "python-hl7 parsed and printed the message hl7_sender sent")

    # Three messages on one connection, from a file of MLLP frames.
    s = Proc("hl7_sender_file", [args.sender, "--host", "127.0.0.1", "--port", str(port), "--file",
                                 os.path.join(args.data, "interop_three.mllp")], workdir)
    rc = s.wait()
    show(s)
    check(rc == 0, f"hl7_sender --file (3 messages) exits with 0 (got {rc})")
    out = s.output()
    for cid in ("INTEROP-0001", "INTEROP-0002", "INTEROP-0003"):
        check(f"\nMSA|AA|{cid}\n".encode() in out, f"hl7_sender printed MSA|AA|{cid}")

    # Enhanced mode (MSH-15/MSH-16 AL): python-hl7 knows only original mode and
    # answers AA at once; our client, which would wait past a CA for the
    # application ACK, takes that AA as the answer.
    enhanced = os.path.join(workdir, "enhanced.hl7")
    with open(enhanced, "w", encoding="ascii") as f:
        f.write("MSH|^~\\&|SND|SF|RCV|RF|20240101120000||ADT^A01|ENH-1|P|2.5|||AL|AL\rPID|1||42\r")
    s = Proc("hl7_sender_enhanced", [args.sender, "--host", "127.0.0.1", "--port", str(port), "--timeout", "10",
                                     "--file", enhanced], workdir)
    rc = s.wait()
    show(s)
    check(rc == 0, f"hl7_sender exits with 0 on python-hl7's AA to an enhanced-mode message (got {rc})")
    check(b"\nMSA|AA|ENH-1\n" in s.output(), "hl7_sender printed MSA|AA|ENH-1")

    # python-hl7's streams decode with ascii/strict by default: a UTF-8 message
    # kills its handler (python-hl7 issue #54) and no ACK ever comes. Our sender
    # must give up after its timeout, not hang: the message was written and
    # never acknowledged, so its fate is unknown (exit 8; before hl7_sender
    # reported fates this was the timeout code 5).
    s = Proc("hl7_sender_utf8", [args.sender, "--host", "127.0.0.1", "--port", str(port), "--timeout", "2",
                                 "--file", os.path.join(args.data, "interop_utf8_adt.hl7")], workdir)
    started = time.monotonic()
    rc = s.wait()
    show(s)
    check(rc == 8, f"hl7_sender exits with 8 (unknown fate) when python-hl7 cannot decode UTF-8 (got {rc})")
    check(b"fate unknown after 1 attempt: no ACK within 2 s" in s.output(), "hl7_sender says the ACK timed out")
    check(time.monotonic() - started < 10, "hl7_sender gave up after its 2 s timeout")
    check(b"UnicodeDecodeError" in py.output(), "python-hl7's receiver failed with UnicodeDecodeError (issue #54)")

    rc = py.terminate_and_wait()
    show(py)
    check(rc == 0, f"python receiver stops cleanly (got {rc})")


def sender_windows(args, workdir, port, peer, count_in_peer, extra=()):
    """hl7_sender --window 1 and 32 (--repeat, --new-ids): every message
    acknowledged AA at the first attempt, and the peer got each exactly once."""
    outcomes = os.path.join(workdir, "outcomes.tsv")
    for window in (1, 32):
        s = Proc(f"hl7_sender_w{window}", [args.sender, "--host", "127.0.0.1", "--port", str(port), "-q",
                                           "--repeat", "200", "--new-ids", "--window", str(window),
                                           "--outcomes", outcomes, *extra], workdir)
        rc = s.wait(STEP_TIMEOUT * 2)
        show(s)
        check(rc == 0, f"hl7_sender --window {window} exits with 0 (got {rc})")
        with open(outcomes) as f:
            rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
        ids = [r[0] for r in rows]
        check(len(rows) == 200 and len(set(ids)) == 200, f"window {window}: 200 outcomes, 200 distinct MSH-10")
        check(all(r[1:] == ["acked", "AA", "1"] for r in rows), f"window {window}: all acked AA at the first attempt")
        time.sleep(0.2)  # let the peer flush its log
        counts = [count_in_peer(peer.output(), cid) for cid in ids]
        check(all(c == 1 for c in counts), f"window {window}: the peer got each message exactly once")


def scenario_sender_window_python(args, workdir):
    py = Proc("python_receiver", [args.python, "-u", os.path.join(HERE, "python_hl7_receiver.py"),
                                  "--host", "127.0.0.1", "--port", "0"], workdir, env=env_utf8())
    port = int(py.wait_for_output(rb"Listening on [^\s]*:(\d+)").group(1))
    # python-hl7 prints every message it receives, segments on lines.
    sender_windows(args, workdir, port, py, lambda out, cid: out.count(f"|ORU^R01|{cid}|".encode()))
    rc = py.terminate_and_wait()
    check(rc == 0, f"python receiver stops cleanly (got {rc})")


def scenario_sender_window_receiver(args, workdir):
    r, port = start_receiver(args, workdir)
    # Our receiver logs one line per message with its control id.
    sender_windows(args, workdir, port, r, lambda out, cid: out.count(f"control id {cid},".encode()))
    stop_receiver(r)


async def nak_client(port):
    """python-hl7's asyncio client sending what it can but we cannot parse."""
    results = []
    reader, writer = await asyncio.wait_for(open_hl7_connection("127.0.0.1", port, encoding="utf-8"), timeout=10)

    async def exchange(label, send):
        send(writer)
        await writer.drain()
        ack = await asyncio.wait_for(reader.readmessage(), timeout=10)
        print(f"{label}: received\n {ack}".replace("\r", "\n"))
        results.append((label, ack))
        return ack

    bad_id = "MSH|^~\\&|APP|FAC|RCV|RFAC|20240101||ADT^A01|BAD-0001|P|2.5\r"
    # writemessage() sends any str as is: a segment id with a control byte.
    await exchange("bad segment", lambda w: w.writemessage(bad_id + "P\x01D|1||X\r"))
    await exchange("not hl7", lambda w: w.writemessage("this is not HL7\r"))
    await exchange("empty frame", lambda w: w.writeblock(b""))
    # Larger than the receiver's --max-frame-size 4096.
    big = bad_id.replace("BAD-0001", "BIG-0001") + "OBX|1|TX|NOTE||" + "x" * 8000 + "\r"
    await exchange("oversized", lambda w: w.writemessage(big))
    # The same connection still works.
    good = "MSH|^~\\&|APP|FAC|RCV|RFAC|20240101||ADT^A01|GOOD-0001|P|2.5\rPID|1||42\r"
    await exchange("good after", lambda w: w.writemessage(good))
    writer.close()
    await writer.wait_closed()

    # And so does a new one.
    reader, writer = await asyncio.wait_for(open_hl7_connection("127.0.0.1", port, encoding="utf-8"), timeout=10)
    await exchange("new connection", lambda w: w.writemessage(good.replace("GOOD-0001", "GOOD-0002")))
    writer.close()
    await writer.wait_closed()
    return dict(results)


def scenario_nak(args, workdir):
    r, port = start_receiver(args, workdir, "--max-frame-size", "4096")
    acks = asyncio.run(asyncio.wait_for(nak_client(port), timeout=40))

    bad_offset = len("MSH|^~\\&|APP|FAC|RCV|RFAC|20240101||ADT^A01|BAD-0001|P|2.5\r")
    a = acks["bad segment"]
    check(a["MSA.1"] in ("AE", "AR"), f"bad segment id: NAK code {a['MSA.1']}")
    check(a["MSA.2"] == "BAD-0001", "bad segment id: NAK answers the control id BAD-0001")
    m = re.search(r"at byte (\d+)", a["MSA.3"])
    check(m is not None and "segment id" in a["MSA.3"], f"bad segment id: MSA-3 names the cause and offset: {a['MSA.3']!r}")
    check(bad_offset <= int(m.group(1)) <= bad_offset + 1, f"bad segment id: offset {m.group(1)} points at the bad segment")
    check(a.segment("ERR") is not None, "bad segment id: NAK has an ERR segment")

    a = acks["not hl7"]
    check(a["MSA.1"] == "AR", f"not HL7: NAK code AR (got {a['MSA.1']})")
    check("at byte 0" in a["MSA.3"], f"not HL7: MSA-3 names the cause: {a['MSA.3']!r}")

    a = acks["empty frame"]
    check(a["MSA.1"] == "AR", f"empty frame: NAK code AR (got {a['MSA.1']})")
    check("empty" in a["MSA.3"], f"empty frame: MSA-3 names the cause: {a['MSA.3']!r}")

    a = acks["oversized"]
    check(a["MSA.1"] == "AR", f"oversized frame: NAK code AR (got {a['MSA.1']})")
    check("4096" in a["MSA.3"], f"oversized frame: MSA-3 names the size limit: {a['MSA.3']!r}")

    for label, cid in (("good after", "GOOD-0001"), ("new connection", "GOOD-0002")):
        a = acks[label]
        check(str(a.segment("MSA")) == f"MSA|AA|{cid}", f"{label}: MSA|AA|{cid}")

    log = stop_receiver(r)
    check(re.search(rb"segment id.*at byte \d+", log) is not None, "receiver logged the parse error with its offset")
    check(re.search(rb"(size limit|too large)", log) is not None, "receiver logged the oversized frame's cause")


SCENARIOS = {
    "mllp_send": scenario_mllp_send,
    "mllp_send_loose": scenario_mllp_send_loose,
    "python_client": scenario_python_client,
    "sender_to_python": scenario_sender_to_python,
    "nak": scenario_nak,
    "sender_window_python": scenario_sender_window_python,
    "sender_window_receiver": scenario_sender_window_receiver,
}


def on_alarm(signum, frame):
    raise Failure("scenario took longer than 60 s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--receiver", required=True)
    parser.add_argument("--sender", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--mllp-send", default="/usr/bin/mllp_send")
    args = parser.parse_args()
    # Run python-hl7's scripts with this interpreter (the one that has hl7).
    args.python = sys.executable
    if args.scenario.startswith("mllp_send") and not os.path.exists(args.mllp_send):
        print(f"SKIP: {args.mllp_send} not found (Debian: apt-get install python3-hl7)")
        return 77
    print(f"python-hl7 {hl7.__version__} ({hl7.__file__}), {sys.executable}")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(60)
    try:
        with tempfile.TemporaryDirectory(prefix="hl7_interop_") as workdir:
            try:
                SCENARIOS[args.scenario](args, workdir)
            finally:
                Proc.kill_all()
    except Failure as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        signal.alarm(0)
    print(f"PASS: {args.scenario}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
