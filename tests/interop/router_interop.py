#!/usr/bin/python3
"""The bundled hl7_router (hl7::router + hl7::run) against python-hl7 0.4.5's
asyncio client, run by CTest as hl7.examples.hl7_router.

    router_interop.py HL7_ROUTER

python-hl7 knows original acknowledgement mode only: every message it sends
must get exactly one answer, of the right code, on the same connection.
Enhanced mode (MSH-15/MSH-16) is checked with raw MLLP frames, reading both
acknowledgements. Finally SIGTERM must stop the router cleanly (exit 0), and
its output must hold no message contents.

Exit code 0 = pass, 77 = skipped (python-hl7 not installed), else failure.
"""

import asyncio
import os
import re
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
    sys.exit(77)

TIMEOUT = 20
SECRETS = [b"PATIENT-SECRET", b"DOE^JANE", b"GLUCOSE-SECRET"]


def message(msg_type, control_id, version="2.5", after12="", pid=True):
    segments = [f"MSH|^~\\&|SND|SFAC|RCV|RFAC|20240101120000||{msg_type}|{control_id}|P|{version}{after12}"]
    if pid:
        segments.append("PID|1||PATIENT-SECRET^^^HOSP||DOE^JANE")
    segments.append("OBX|1|ST|GLUCOSE-SECRET||182")
    return "\r".join(segments)


async def python_client(port):
    """The document's sender, one connection, one message at a time."""
    reader, writer = await asyncio.wait_for(open_hl7_connection("127.0.0.1", port), timeout=TIMEOUT)
    cases = [
        # (message, expected MSA-1, expected ERR-3.1 or None, what)
        (message("ADT^A01^ADT_A01", "PY-1"), "AA", None, "a routed ADT is accepted"),
        (message("ADT^A04", "PY-2", pid=False), "AE", "207", "an ADT without PID: the handler throws, AE 207"),
        (message("ORU^R01", "PY-3"), "AA", None, "a routed ORU^R01 is accepted"),
        (message("ORU^R30", "PY-4"), "AR", "201", "ORU with an unrouted event: AR 201"),
        (message("SIU^S12", "PY-5"), "AR", "200", "an unrouted type: AR 200"),
        (message("ADT^A01", ""), "AR", "101", "no control id: AR 101, never AA"),
        (message("ADT^A01^ADT_A01", "PY-1"), "AA", None, "a resend of an accepted message: AA again"),
    ]
    for text, code, err, what in cases:
        writer.writemessage(hl7.parse(text))
        await writer.drain()
        ack = await asyncio.wait_for(reader.readmessage(), timeout=TIMEOUT)
        sent_id = text.split("|")[9]
        check(str(ack["MSA.1"]) == code and str(ack["MSA.2"]) == sent_id,
              f"python-hl7 client: {what} (MSA {ack['MSA.1']}|{ack['MSA.2']})")
        if err is not None:
            check(str(ack["ERR.3.1.1"]) == err, f"  ERR-3 is {err} (got {ack['ERR.3.1.1']})")
    writer.close()
    await writer.wait_closed()


def frame(text):
    return b"\x0b" + text.encode() + b"\x1c\r"


async def read_frame(reader):
    data = await asyncio.wait_for(reader.readuntil(b"\x1c\r"), timeout=TIMEOUT)
    start = data.index(b"\x0b")
    return hl7.parse(data[start + 1:-2].decode())


async def enhanced_client(port):
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout=TIMEOUT)
    # AL/AL: the commit ACK, then the application ACK as a message of its own.
    writer.write(frame(message("ADT^A01", "EN-1", after12="|||AL|AL")))
    await writer.drain()
    ca = await read_frame(reader)
    aa = await read_frame(reader)
    check(str(ca["MSA.1"]) == "CA" and str(ca["MSA.2"]) == "EN-1", "enhanced AL/AL: CA first")
    check(str(aa["MSA.1"]) == "AA" and str(aa["MSA.2"]) == "EN-1", "enhanced AL/AL: then AA")
    check(str(aa["MSH.10"]) != str(ca["MSH.10"]), "the application ACK has its own MSH-10")
    # AL/NE: only the commit ACK; the next answer belongs to the next message.
    writer.write(frame(message("ADT^A01", "EN-2", after12="|||AL|NE")))
    writer.write(frame(message("ORU^R01", "EN-3")))
    await writer.drain()
    only_ca = await read_frame(reader)
    next_ack = await read_frame(reader)
    check(str(only_ca["MSA.1"]) == "CA" and str(only_ca["MSA.2"]) == "EN-2", "enhanced AL/NE: CA only")
    check(str(next_ack["MSA.1"]) == "AA" and str(next_ack["MSA.2"]) == "EN-3", "original mode right after")
    # AL/AL for an unrouted type: CR and no application ACK.
    writer.write(frame(message("SIU^S12", "EN-4", after12="|||AL|AL")))
    writer.write(frame(message("ORU^R01", "EN-5")))
    await writer.drain()
    cr = await read_frame(reader)
    after = await read_frame(reader)
    check(str(cr["MSA.1"]) == "CR" and str(cr["ERR.3.1.1"]) == "200", "enhanced: unrouted type is CR 200")
    check(str(after["MSA.2"]) == "EN-5", "no application ACK after a CR")
    # The header that is just "MSH|": AR naming MSH-9, with a complete header of its own.
    writer.write(frame("MSH|"))
    await writer.drain()
    bare = await read_frame(reader)
    check(str(bare["MSA.1"]) == "AR", "a bare MSH| is rejected, not accepted")
    check(str(bare["MSH.12"]) == "2.5" and str(bare["MSH.11"]) == "P", "the NAK has MSH-11 and MSH-12")
    writer.close()
    await writer.wait_closed()


def main():
    router = sys.argv[1]
    with tempfile.TemporaryDirectory() as work:
        out_path = os.path.join(work, "router.out")
        with open(out_path, "wb") as out:
            p = subprocess.Popen([router, "--host", "127.0.0.1", "--port", "0", "--threads", "2"],
                                 stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
            try:
                port = None
                deadline = time.monotonic() + TIMEOUT
                while time.monotonic() < deadline and port is None:
                    with open(out_path, "rb") as f:
                        m = re.search(rb"Listening on [^\s]*:(\d+)", f.read())
                    if m:
                        port = int(m.group(1))
                    elif p.poll() is not None:
                        raise Failure(f"hl7_router exited ({p.returncode}) before listening")
                    else:
                        time.sleep(0.05)
                check(port is not None, f"hl7_router listens (port {port})")
                asyncio.run(python_client(port))
                asyncio.run(enhanced_client(port))
                p.send_signal(signal.SIGTERM)
                rc = p.wait(TIMEOUT)
                check(rc == 0, f"hl7_router exits with 0 on SIGTERM (got {rc})")
            finally:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        with open(out_path, "rb") as f:
            log = f.read()
        print("----- hl7_router output -----\n" + log.decode("utf-8", "replace").rstrip() + "\n-----")
        leaked = [s for s in SECRETS if s in log]
        check(not leaked, f"hl7_router's output holds no message contents (found {leaked})")
        check(b"handler failed: segment not found: PID" in log, "the handler's failure is reported with its cause")
        check(b"control id PY-1: duplicate" in log, "the resend is reported as a duplicate")
        check(b"Stopped" in log, "hl7_router stopped cleanly")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"FAIL: {e}")
        sys.exit(1)
    print("PASS")
