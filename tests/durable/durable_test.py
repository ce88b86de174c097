#!/usr/bin/python3
"""End-to-end durability tests of the bundled programs (CTest hl7.durable.*).

    durable_test.py SCENARIO --bin DIR [--work DIR]

DIR holds hl7_receiver, hl7_sender, hl7_forwarder and hl7_store. Each
scenario starts the real programs on loopback, does harm to them (SIGKILL, a
database locked by another process, a full store) and then checks, with
Python's sqlite3 on the store files, what an AA promised:

  receiver_crash   hl7_sender sends 10,000 messages over 8 connections to
                   hl7_receiver --store sqlite:, which is SIGKILLed twice and
                   restarted; every AA'd control id is stored exactly once,
                   nothing stored was never sent.
  forwarder_crash  hl7_forwarder delivers 3,000 stored messages of 4 senders to
                   a downstream hl7_receiver --store (duplicate detection off,
                   so every copy is counted) and is SIGKILLed twice; every
                   message arrives, each sender's in order, and copies are
                   no more than the messages that could have been in flight.
  store_failure    the database is locked by another process mid-run (commits
                   fail after the lock deadline): no AA for what was not
                   stored, the log says why, the receiver recovers by itself;
                   --store-failure nak answers AE; a full store (--store-max-size)
                   refuses, and a restart with room takes the resends.
  forwarder_verdicts  hl7_forwarder against a scripted downstream (a Python
                   MLLP server in this process) that answers AR to some
                   messages and AE to others: AR is a dead letter at once, AE
                   is retried with back-off and a dead letter after
                   --max-attempts, the sender waits meanwhile (order), the
                   rest is delivered once; hl7_store lists and requeues the
                   dead letters.
  duplicates       resends within --dedup-window are acknowledged and stored
                   once; after the window they are stored again.
  acknowledgements what hl7_receiver answers, with and without --store: AR
                   naming the field for a header-only "MSH|^~\\&|" frame (not
                   stored), AA with --lenient-header for a header with only
                   MSH-10; with --store, CA (once stored) then AA for a message
                   asking for enhanced mode (MSH-15/MSH-16 AL), one AA with
                   --ack-mode original.
  kit_kill         the scale-out kit (examples/scale-out/scale-out.sh, needs
                   --kit and hl7_stream_dump): 20,000 messages over 8
                   connections through HAProxy to 2 receivers storing in an
                   R3 JetStream stream, a forwarder delivering to a downstream
                   receiver; one receiver and one NATS server SIGKILLed and
                   restarted mid-run. Every AA'd message is in the stream
                   exactly once (read with hl7_stream_dump), nothing unsent is
                   there, and downstream gets every one of them.
  nats_outage      hl7_receiver --store nats:// started before any NATS
                   server (the kit with no receivers of its own, needs --kit
                   and hl7_stream_dump): it listens and answers no AA (closes
                   the connection; AE with --store-failure nak) until the kit
                   brings the cluster up, then AA's the resends. Then 3,000
                   messages over 8 connections, resent on no AA, while all
                   three NATS servers are SIGKILLed and restarted 4 s later:
                   every AA'd message is in the stream exactly once, nothing
                   unsent is there, the receiver AA's a fresh message after.

Each scenario prints its counts and exits 0 when every check holds.
"""

import argparse
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from mllp_script import Failure, ScriptedReceiver, check, frame  # noqa: E402

TIMEOUT = 90  # seconds any one wait may take before the scenario fails


def wait_until(pred, what, timeout=TIMEOUT, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise Failure("timed out waiting for " + what)


class Program:
    """A bundled program run in the background, its output in a file."""

    def __init__(self, name, argv, log_path):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self, timeout=30):
        """SIGTERM; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self.log.close()
        return rc

    def wait(self, timeout=TIMEOUT):
        rc = self.proc.wait(timeout)
        self.log.close()
        return rc

    def running(self):
        return self.proc.poll() is None


class Env:
    def __init__(self, bin_dir, work):
        self.bin = bin_dir
        self.work = work
        self.programs = []

    def path(self, name):
        return os.path.join(self.work, name)

    def exe(self, name):
        return os.path.join(self.bin, name)

    def receiver(self, db, port=0, extra=(), log="receiver.log", quiet=True):
        """Starts hl7_receiver --store sqlite:DB (--store DB when it is a
        nats:// URL, no store if DB is None) and waits for "Listening";
        returns (program, port)."""
        log_path = self.path(log)
        before = len(open(log_path, "rb").read()) if os.path.exists(log_path) else 0
        p = Program("receiver", [self.exe("hl7_receiver"), "--host", "127.0.0.1", "--port", str(port)] +
                    (["-q"] if quiet else []) +
                    (["--store", db if db.startswith("nats://") else "sqlite:" + db] if db else []) + list(extra),
                    log_path).start()
        self.programs.append(p)

        def listening():
            m = re.search(r"Listening on [0-9.]+:(\d+)", p.text()[before:])
            if not m and not p.running():
                raise Failure("hl7_receiver exited: " + p.text()[before:])
            return int(m.group(1)) if m else None
        return p, wait_until(listening, "hl7_receiver to listen")

    def sender(self, port, args, log="sender.log"):
        p = Program("sender", [self.exe("hl7_sender"), "--host", "127.0.0.1", "--port", str(port), "-q"] + args,
                    self.path(log)).start()
        self.programs.append(p)
        return p

    def forwarder(self, db, port, extra=(), log="forwarder.log"):
        p = Program("forwarder", [self.exe("hl7_forwarder"), "--store", "sqlite:" + db, "--to",
                                  "127.0.0.1:%d" % port, "-q"] + list(extra), self.path(log)).start()
        self.programs.append(p)
        return p

    def cleanup(self):
        for p in self.programs:
            if p.proc and p.proc.poll() is None:
                p.proc.send_signal(signal.SIGKILL)
                p.proc.wait()


def stored_count(db):
    """Messages in a store, read while a receiver writes it (WAL: no blocking)."""
    if not os.path.exists(db):
        return 0
    try:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0  # not created yet


def rows(db, sql, params=()):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def control_id_counts(db):
    return dict(rows(db, "SELECT control_id, COUNT(*) FROM messages GROUP BY control_id"))


def read_outcomes(path):
    """hl7_sender --outcomes: MSH-10 TAB fate TAB ACK code TAB attempts."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 4:
                out.append((parts[0], parts[1], parts[2], int(parts[3])))
    return out


def read_failures(program):
    """The "Could not store message" lines of a receiver's log: (control id, why)."""
    return re.findall(r"Could not store message from \S+ \(control id ([^,]+), \d+ bytes\): ([^\n]*)", program.text())


def check_acks_stored(outcomes, counts, total):
    """What an AA promises: every AA'd message stored exactly once; nothing
    stored that was not sent; nothing stored twice."""
    acked = {c for c, fate, code, _ in outcomes if fate == "acked" and code == "AA"}
    not_sent = {c for c, fate, _, _ in outcomes if fate == "not_sent"}
    sent = {c for c, fate, _, _ in outcomes if fate != "not_sent"}
    missing = [c for c in acked if counts.get(c, 0) != 1]
    check(len(outcomes) == total, "the loader reported an outcome for each of its %d messages (%d)" % (total, len(outcomes)))
    check(not missing, "every AA'd message is in the store exactly once (%d AA'd; wrong: %s)" % (len(acked), missing[:5]))
    extra = [c for c in counts if c not in sent]
    check(not extra, "nothing in the store was not sent (%d stored; strangers: %s)" % (len(counts), extra[:5]))
    unsent_stored = [c for c in not_sent if c in counts]
    check(not unsent_stored, "no message the loader never wrote is stored (%d not sent)" % len(not_sent))
    twice = [c for c, n in counts.items() if n > 1]
    check(not twice, "no control id is stored twice (%s)" % twice[:5])
    return acked


MESSAGE = ("MSH|^~\\&|{app}|{fac}|RECV|HOSP|20260101120000||ADT^A01^ADT_A01|{cid}|P|2.5\r"
           "EVN|A01|20260101120000\r"
           "PID|1||{cid}^^^HOSP^MR||DOE^JANE||19800101|F\r")


def write_messages(path, senders, count_each=1, prefix="M"):
    """A file for hl7_sender: messages of `senders` (MSH-3, MSH-4) interleaved,
    separated by empty lines."""
    with open(path, "w", newline="") as f:
        blocks = []
        for i in range(count_each):
            for app, fac in senders:
                blocks.append(MESSAGE.format(app=app, fac=fac, cid="%s%s%s%05d" % (prefix, app, fac, i)))
        f.write("\n\n".join(blocks) + "\n")


#------------------------------------------------------------------------------

def receiver_crash(env):
    total = 10000
    db = env.path("in.db")
    rec, port = env.receiver(db)
    loader = env.sender(port, ["--connections", "8", "--new-ids", "--repeat", str(total), "--retries", "40",
                               "--timeout", "10", "--outcomes", env.path("outcomes.txt")])
    kills = []
    for at in (total * 25 // 100, total * 60 // 100):
        wait_until(lambda: stored_count(db) >= at or not loader.running(), "%d messages stored" % at)
        check(loader.running(), "the loader is still sending when the receiver is killed (%d stored)" % stored_count(db))
        rec.kill()
        kills.append(stored_count(db))
        time.sleep(0.2)  # connections fail; the loader backs off and resends
        rec, _ = env.receiver(db, port=port)
    rc = loader.wait()
    print("loader exit code", rc, "\n" + loader.text().strip().splitlines()[-1], flush=True)
    check(rec.stop() == 0, "the receiver stops cleanly on SIGTERM after the run")

    outcomes = read_outcomes(env.path("outcomes.txt"))
    counts = control_id_counts(db)
    acked = check_acks_stored(outcomes, counts, total)
    resent = sum(1 for o in outcomes if o[3] > 1)
    print("counts: %d sent, %d AA, %d stored, %d resent after the kills (stored at the kills: %s)"
          % (total, len(acked), len(counts), resent, kills), flush=True)
    check(resent > 0, "the kills hit messages in flight (some were resent)")
    check(len(acked) == total, "with retries every message was acknowledged in the end")
    absorbed = rows(db, "SELECT value FROM counters WHERE name = 'duplicates'")[0][0]
    print("resends absorbed as duplicates (stored before a kill, its AA lost):", absorbed, flush=True)
    check(absorbed <= resent, "no more duplicates than resends")


def forwarder_crash(env):
    senders = [("LAB", "NORTH"), ("LAB", "SOUTH"), ("RAD", "NORTH"), ("ADT", "MAIN")]
    each = 750
    total = each * len(senders)
    window = 8
    up = env.path("up.db")
    down = env.path("down.db")
    write_messages(env.path("messages.hl7"), senders, each)

    rec, port = env.receiver(up, log="upstream.log")
    loader = env.sender(port, ["--connections", "4", "--window", "4", "--outcomes", env.path("outcomes.txt"),
                               "--loose", env.path("messages.hl7")])
    check(loader.wait() == 0, "the upstream receiver acknowledged all %d messages" % total)
    check(rec.stop() == 0, "the upstream receiver stopped")
    check(stored_count(up) == total, "all %d are stored upstream" % total)

    # Downstream keeps every copy it gets: duplicate detection off.
    drec, dport = env.receiver(down, extra=["--dedup-window", "0"], log="downstream.log")
    fwd_args = ["--window", str(window), "--exit-when-idle"]
    kills = 0
    for at in (total * 25 // 100, total * 60 // 100):
        fwd = env.forwarder(up, dport, fwd_args)
        wait_until(lambda: stored_count(down) >= at or not fwd.running(), "%d messages delivered" % at)
        check(fwd.running(), "the forwarder is still delivering when it is killed (%d delivered)" % stored_count(down))
        fwd.kill()
        kills += 1
    fwd = env.forwarder(up, dport, fwd_args)
    check(fwd.wait() == 0, "the restarted forwarder delivered the rest and exited (--exit-when-idle)")
    print(fwd.text().strip().splitlines()[-1], flush=True)
    check(drec.stop() == 0, "the downstream receiver stopped")

    states = dict(rows(up, "SELECT state, COUNT(*) FROM messages GROUP BY state"))
    check(states == {1: total}, "upstream, every message is marked delivered (%s)" % states)
    up_ids = dict(rows(up, "SELECT control_id, id FROM messages"))
    got = rows(down, "SELECT control_id, id FROM messages ORDER BY id")
    counts = {}
    for cid, _ in got:
        counts[cid] = counts.get(cid, 0) + 1
    missing = [c for c in up_ids if c not in counts]
    check(not missing, "downstream got every stored message at least once (missing %s)" % missing[:5])
    strangers = [c for c in counts if c not in up_ids]
    check(not strangers, "downstream got nothing that was not stored (%s)" % strangers[:5])
    copies = sum(n - 1 for n in counts.values())
    print("counts: %d stored, %d delivered downstream, %d extra copies after %d kills (window %d)"
          % (total, len(got), copies, kills, window), flush=True)
    check(copies <= kills * window,
          "extra copies (%d) are at most the messages in flight at the kills (%d x %d)" % (copies, kills, window))
    # Each sender's order: first arrivals follow the upstream order.
    by_sender = {}
    seen = set()
    sender_of = dict(rows(up, "SELECT m.control_id, s.application || '^' || s.facility FROM messages m "
                              "JOIN senders s ON s.id = m.sender_id"))
    for cid, _ in got:
        if cid in seen:
            continue
        seen.add(cid)
        by_sender.setdefault(sender_of[cid], []).append(up_ids[cid])
    check(all(ids == sorted(ids) for ids in by_sender.values()) and len(by_sender) == len(senders),
          "each of the %d senders' messages arrived in the order they were stored" % len(senders))


def verdicts(msh, n):
    """The downstream's script: ids starting with REJ get AR, with ERR get
    AE, the rest AA."""
    cid = msh[9]
    code = "AR" if cid.startswith("REJ") else "AE" if cid.startswith("ERR") else "AA"
    return ("MSH|^~\\&|DOWN|DOWN|%s|%s|20260101120000||ACK|A%s|P|2.5\rMSA|%s|%s|%s\r"
            % (msh[2], msh[3], cid, code, cid, "scripted " + code)).encode()


def forwarder_verdicts(env):
    up = env.path("up.db")
    ids = {"LAB/NORTH": ["A00", "A01", "A02", "REJA03", "A04", "A05"],
           "RAD/SOUTH": ["B00", "B01", "ERRB02", "B03", "B04", "B05"]}
    blocks = []
    for i in range(6):
        for sender, cids in ids.items():
            app, fac = sender.split("/")
            blocks.append(MESSAGE.format(app=app, fac=fac, cid=cids[i]))
    with open(env.path("messages.hl7"), "w", newline="") as f:
        f.write("\n\n".join(blocks) + "\n")
    rec, port = env.receiver(up, log="upstream.log")
    check(env.sender(port, ["--loose", env.path("messages.hl7")]).wait() == 0, "12 messages stored upstream")
    check(rec.stop() == 0, "the upstream receiver stopped")

    down = ScriptedReceiver(verdicts)
    try:
        fwd = env.forwarder(up, down.port, ["--window", "4", "--max-attempts", "3", "--retry-delay", "100ms",
                                            "--max-retry-delay", "200ms", "--exit-when-idle"])
        check(fwd.wait(60) == 0, "the forwarder settled everything and exited (--exit-when-idle)")
    finally:
        down.stop()
    log = fwd.text()
    print(log.strip().splitlines()[-1], flush=True)
    got = {}
    for sender, cid in down.arrivals:
        got.setdefault(sender, []).append(cid)
    check(got["LAB/NORTH"] == ids["LAB/NORTH"], "LAB/NORTH: each sent once, in order, the AR'd one once: %s" % got["LAB/NORTH"])
    expected_b = ["B00", "B01", "ERRB02", "ERRB02", "ERRB02", "B03", "B04", "B05"]
    check(got["RAD/SOUTH"] == expected_b,
          "RAD/SOUTH: the AE'd message tried 3 times while the sender's next waited: %s" % got["RAD/SOUTH"])
    states = dict(rows(up, "SELECT control_id, state FROM messages"))
    check(states["REJA03"] == 2 and states["ERRB02"] == 2, "the AR'd and the thrice AE'd messages are dead letters")
    check(all(v == 1 for k, v in states.items() if k not in ("REJA03", "ERRB02")), "the other 10 are delivered")
    check(re.search(r"Gave up on id \d+ \(control id REJA03\): .*answered AR", log) is not None,
          "the log says why REJA03 was given up (AR)")
    check(re.search(r"Not delivered id \d+ \(control id ERRB02\): .*answered AE.*attempt 1 of 3, retrying in 100 ms", log)
          is not None, "the log shows the AE'd message's retries with back-off")
    listing = subprocess.run([env.exe("hl7_store"), "list", "--store", "sqlite:" + up], capture_output=True, text=True)
    check("REJA03" in listing.stdout and "ERRB02" in listing.stdout and "answered AE: scripted AE (3 failed attempts)"
          in listing.stdout, "hl7_store list shows both dead letters with their reasons")
    requeue = subprocess.run([env.exe("hl7_store"), "requeue", "--all", "--store", "sqlite:" + up],
                             capture_output=True, text=True)
    check(requeue.returncode == 0 and "requeued 2 dead letters" in requeue.stdout, "hl7_store requeue --all")


def hold_write_lock(db, seconds):
    """Another process holds the database's write lock (a stuck job, a backup
    tool): the receiver's commits wait its lock deadline, then fail."""
    return subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        "con = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)\n"
        "con.execute('BEGIN EXCLUSIVE')\n"
        "print('locked', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
        "con.execute('ROLLBACK')\n"), db, str(seconds)], stdout=subprocess.PIPE, text=True)


def store_failure(env):
    db = env.path("in.db")
    rec, port = env.receiver(db)
    total = 3000
    loader = env.sender(port, ["--connections", "8", "--new-ids", "--repeat", str(total), "--retries", "40",
                               "--timeout", "20", "--rate", "400", "--outcomes", env.path("outcomes.txt")])
    wait_until(lambda: stored_count(db) >= 500, "500 messages stored")
    # 11 s: the commit in progress fails at the 5 s deadline, the one queued
    # behind it (the other connections' messages) at 10 s; the resends go in
    # once the lock is gone.
    locker = hold_write_lock(db, 11)
    check(locker.stdout.readline().strip() == "locked", "another process holds the database's write lock")
    locked_at = stored_count(db)
    time.sleep(2)
    check(stored_count(db) == locked_at, "nothing is stored while the lock is held")
    locker.wait(30)
    rc = loader.wait()
    print(loader.text().strip().splitlines()[-1], flush=True)
    failures = read_failures(rec)
    check(len(failures) >= 2, "the receiver logged the messages it could not store (%d lines)" % len(failures))
    check(all("locked" in why or "busy" in why for _, why in failures),
          "the log says why: " + (failures[0][1] if failures else ""))
    check(all("closed the connection without an ACK" in why for _, why in failures),
          "and that it answered nothing (the sender resends)")
    check(rec.stop() == 0, "the receiver stops cleanly")
    outcomes = read_outcomes(env.path("outcomes.txt"))
    counts = control_id_counts(db)
    acked = check_acks_stored(outcomes, counts, total)
    failed_ids = {c for c, _ in failures}
    check(all(counts.get(c, 0) <= 1 for c in failed_ids), "a message that failed to store was not stored then")
    check(len(acked) == total and rc == 0,
          "the receiver recovered by itself: every message was stored and acknowledged in the end")
    print("counts: %d sent, %d AA, %d store failures logged, stored before the lock %d"
          % (total, len(acked), len(failures), locked_at), flush=True)

    # --store-failure nak: AE naming the cause, the connection stays.
    nak, nport = env.receiver(env.path("nak.db"), extra=["--store-failure", "nak"], log="nak.log")
    write_messages(env.path("one.hl7"), [("LAB", "NORTH")], 1, prefix="NAK")
    check(env.sender(nport, ["--loose", env.path("one.hl7")], log="nak-first.log").wait() == 0, "a first message is AA'd")
    locker = hold_write_lock(env.path("nak.db"), 8)
    locker.stdout.readline()
    write_messages(env.path("two.hl7"), [("LAB", "NORTH")], 1, prefix="NAK2")
    s = env.sender(nport, ["--loose", "--outcomes", env.path("nak-outcomes.txt"), env.path("two.hl7")],
                   log="nak-second.log")
    check(s.wait() == 3, "with the database locked, --store-failure nak answers AE (hl7_sender exit 3)")
    check("message not stored" in s.text(), "the AE says why: " + s.text().strip().splitlines()[0])
    check(read_outcomes(env.path("nak-outcomes.txt"))[0][2] == "AE", "the outcome is AE")
    check(control_id_counts(env.path("nak.db")).get("NAK2LABNORTH00000", 0) == 0, "and the message is not stored")
    locker.wait(30)
    check(env.sender(nport, ["--loose", env.path("two.hl7")], log="nak-third.log").wait() == 0,
          "once the lock is gone, the resend is stored and AA'd")
    check(nak.stop() == 0, "the nak receiver stopped")

    # A full store: --store-max-size refuses what does not fit (AE, as the
    # receiver is told to answer), AA for what did.
    full_db = env.path("full.db")
    full, fport = env.receiver(full_db, extra=["--store-max-size", "256K", "--store-failure", "nak"], log="full.log")
    s = env.sender(fport, ["--new-ids", "--repeat", "1500", "--outcomes", env.path("full-outcomes.txt")],
                   log="full-sender.log")
    check(s.wait() == 3, "a full store: the sender got AE for some messages")
    line = re.search(r"Could not store message [^\n]*", full.text())
    check(line is not None and "full" in line.group(0), "the log says the store is full: " + (line.group(0) if line else ""))
    full_out = read_outcomes(env.path("full-outcomes.txt"))
    counts = control_id_counts(full_db)
    acked = check_acks_stored(full_out, counts, 1500)
    refused = [c for c, fate, code, _ in full_out if code == "AE"]
    check(acked and refused and all(c not in counts for c in refused),
          "%d fitted and were AA'd; the %d AE'd are not stored" % (len(acked), len(refused)))
    check(full.stop() == 0, "the full receiver stopped")
    # Room again (a larger limit): the refused messages, resent, are stored.
    full, fport = env.receiver(full_db, extra=["--store-max-size", "64M"], log="full.log")
    with open(env.path("resend.hl7"), "w", newline="") as f:
        f.write("\n\n".join(MESSAGE.format(app="X", fac="Y", cid=c) for c in refused[:50]) + "\n")
    check(env.sender(fport, ["--loose", env.path("resend.hl7")], log="full-resend.log").wait() == 0,
          "with room again, resent messages are AA'd")
    counts = control_id_counts(full_db)
    check(all(counts.get(c) == 1 for c in refused[:50]), "and stored once")
    check(full.stop() == 0, "the receiver stopped")


def duplicates(env):
    db = env.path("in.db")
    rec, port = env.receiver(db, extra=["--dedup-window", "3s"], quiet=False)
    write_messages(env.path("batch.hl7"), [("LAB", "NORTH"), ("LAB", "SOUTH")], 50)
    args = ["--loose", "--connections", "2", env.path("batch.hl7")]
    check(env.sender(port, args, log="s1.log").wait() == 0, "100 messages AA'd")
    check(env.sender(port, args, log="s2.log").wait() == 0, "the same 100 resent: AA'd again")
    counts = control_id_counts(db)
    check(len(counts) == 100 and set(counts.values()) == {1}, "each stored once (%d rows)" % sum(counts.values()))
    check(rec.text().count("not stored again") == 100, "the receiver logged 100 duplicates")
    # The same MSH-10 from another sender (MSH-3/MSH-4) is another message.
    write_messages(env.path("other.hl7"), [("RAD", "NORTH")], 1)
    with open(env.path("other.hl7")) as f:
        text = f.read().replace("MRADNORTH00000", "MLABNORTH00000")
    with open(env.path("other.hl7"), "w", newline="") as f:
        f.write(text)
    check(env.sender(port, ["--loose", env.path("other.hl7")], log="s-other.log").wait() == 0, "another sender's message AA'd")
    check(control_id_counts(db)["MLABNORTH00000"] == 2, "and stored, though its MSH-10 is one already stored")
    time.sleep(3.5)  # past the window
    check(env.sender(port, args, log="s3.log").wait() == 0, "the 100 resent after the window: AA'd")
    counts = control_id_counts(db)
    check(sum(counts.values()) == 201, "after the window, a resend is a new message (stored again)")
    check(rec.stop() == 0, "the receiver stopped")
    print(rec.text().strip().splitlines()[-1], flush=True)
    stats = subprocess.run([env.exe("hl7_store"), "stats", "--store", "sqlite:" + db], capture_output=True, text=True)
    print(stats.stdout, flush=True)
    check(re.search(r"duplicates\s+100\b", stats.stdout) is not None, "hl7_store stats counts the 100 duplicates")


def exchange(port, payloads, answers, timeout=TIMEOUT):
    """Sends `payloads` (text, one frame each) on one connection and reads `answers` frames;
    returns them as lists of segments (each a list of fields), then checks nothing else came."""
    import socket
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(b"".join(frame(p.encode()) for p in payloads))
        buf = b""
        frames = []
        while len(frames) < answers:
            end = buf.find(b"\x1c\r")
            if end >= 0:
                frames.append(buf[:end].lstrip(b"\x0b"))
                buf = buf[end + 2:]
                continue
            data = sock.recv(65536)
            if not data:
                raise Failure("the receiver closed the connection after %d of %d answers" % (len(frames), answers))
            buf += data
        sock.settimeout(0.5)
        try:
            extra = buf or sock.recv(65536)
        except socket.timeout:
            extra = b""
        check(not extra, "no answer beyond the %d expected (got %r)" % (answers, extra[:80]))
    finally:
        sock.close()
    return [[seg.split("|") for seg in f.decode().split("\r") if seg] for f in frames]


def msa(ack):
    """MSA-1, MSA-2, MSA-3 of a parsed answer, and its MSH-10."""
    seg = next(s for s in ack if s[0] == "MSA") + ["", "", ""]
    return seg[1], seg[2], seg[3], ack[0][9]


def acknowledgements(env):
    bare = "MSH|^~\\&|"
    full = MESSAGE.format(app="LAB", fac="NORTH", cid="{cid}").split("\r", 1)[0] + "\rPID|1\r"
    enhanced = full.replace("|P|2.5\r", "|P|2.5|||AL|AL\r")

    # Without a store: original mode, the header checked.
    rec, port = env.receiver(None, quiet=False, log="plain.log")
    answers = exchange(port, [bare, full.format(cid="PLAIN-1")], 2)
    code, cid, text, _ = msa(answers[0])
    check(code == "AR" and "MSH-9" in text, "no store: MSH|^~\\&| is answered AR naming MSH-9 (%s %s)" % (code, text))
    check(msa(answers[1])[:2] == ("AA", "PLAIN-1"), "no store: a full header is answered AA")
    check(rec.stop() == 0, "the receiver stopped")
    check("message type (MSH-9) is missing; sent NAK AR" in rec.text(), "the refusal is logged with its cause")

    rec, port = env.receiver(None, extra=["--lenient-header"], log="lenient.log")
    only_id = "MSH|^~\\&|LAB|NORTH|HIS|MAIN|20260101120000|||LENIENT-1\rPID|1\r"
    answers = exchange(port, [only_id, bare], 2)
    check(msa(answers[0])[:2] == ("AA", "LENIENT-1"), "--lenient-header: a header with only MSH-10 is answered AA")
    check(msa(answers[1])[0] == "AR" and "MSH-10" in msa(answers[1])[2],
          "--lenient-header: a header without MSH-10 is still answered AR naming it")
    check(rec.stop() == 0, "the receiver stopped")

    # With a store: refused frames are not stored; enhanced mode gets CA, then AA.
    db = env.path("in.db")
    rec, port = env.receiver(db, quiet=False)
    answers = exchange(port, [bare], 1)
    check(msa(answers[0])[0] == "AR" and "MSH-9" in msa(answers[0])[2], "--store: MSH|^~\\&| is answered AR naming MSH-9")
    check(stored_count(db) == 0, "and not stored")
    answers = exchange(port, [enhanced.format(cid="ENH-1")], 2)
    ca, aa = msa(answers[0]), msa(answers[1])
    check(ca[:2] == ("CA", "ENH-1"), "--store, MSH-15/16 AL: the commit ACK CA comes first (%s)" % (ca,))
    check(aa[:2] == ("AA", "ENH-1") and aa[3] != ca[3], "then the application ACK AA, a message of its own")
    check(control_id_counts(db) == {"ENH-1": 1}, "the message is stored once")
    answers = exchange(port, [full.format(cid="ORIG-1")], 1)
    check(msa(answers[0])[:2] == ("AA", "ORIG-1"), "--store, MSH-15/16 empty: one AA, as before")
    silent = full.replace("|P|2.5\r", "|P|2.5|||ER|ER\r")
    exchange(port, [silent.format(cid="SILENT-1")], 0)
    wait_until(lambda: control_id_counts(db).get("SILENT-1") == 1, "--store, MSH-15/16 ER/ER: stored, with no answer")
    check(rec.stop() == 0, "the receiver stopped")
    log = rec.text()
    check("stored as 1; sent CA AA" in log and "not stored; sent NAK AR" in log, "the log says what was sent")

    # The forwarder's reliable client waits past the CA for the application
    # ACK, and cannot confirm the ER/ER message at all: a dead letter at once.
    down = ScriptedReceiver(verdicts)
    try:
        fwd = env.forwarder(db, down.port, ["--max-attempts", "3", "--retry-delay", "100ms", "--exit-when-idle"])
        check(fwd.wait(60) == 0, "the forwarder settled everything and exited (--exit-when-idle)")
    finally:
        down.stop()
    check(sorted(cid for _, cid in down.arrivals) == ["ENH-1", "ORIG-1"],
          "downstream got ENH-1 and ORIG-1, never SILENT-1 (%s)" % down.arrivals)
    states = dict(rows(db, "SELECT control_id, state FROM messages"))
    check(states == {"ENH-1": 1, "ORIG-1": 1, "SILENT-1": 2}, "two delivered, SILENT-1 a dead letter (%s)" % states)
    check(re.search(r"Gave up on id \d+ \(control id SILENT-1\): not sent to .*no acknowledgement of success",
                    fwd.text()) is not None, "the forwarder says why")
    check(re.search(r"Not delivered id \d+ \(control id SILENT-1\)", fwd.text()) is None,
          "and gave it up at the first attempt, without retries")

    rec, port = env.receiver(env.path("orig.db"), extra=["--ack-mode", "original"], log="original.log")
    answers = exchange(port, [enhanced.format(cid="ENH-2")], 1)
    check(msa(answers[0])[:2] == ("AA", "ENH-2"), "--ack-mode original: one AA whatever MSH-15/16 ask")
    check(rec.stop() == 0, "the receiver stopped")

    usage = subprocess.run([env.exe("hl7_receiver"), "--ack-mode", "original"], capture_output=True, text=True)
    check(usage.returncode == 2 and "need --store" in usage.stderr, "--ack-mode without --store is a usage error")


def free_ports(n):
    import socket
    socks = []
    for _ in range(n):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        socks.append(sock)
    ports = [sock.getsockname()[1] for sock in socks]
    for sock in socks:
        sock.close()
    return ports


class Kit:
    """The scale-out kit (examples/scale-out/scale-out.sh) for one scenario:
    its run directory in the scenario's, every port free, `receivers`
    receivers behind HAProxy (0: the cluster, the stream and HAProxy only).
    `extra` adds settings (HL7_FORWARDER_CMD...)."""

    def __init__(self, env, receivers=2, extra=None):
        check(env.kit and os.path.exists(env.kit), "the kit script is given (--kit)")
        check(env.dump and os.path.exists(env.dump), "hl7_stream_dump is given (--dump)")
        self.script = env.kit
        self.dump = env.dump
        ports = free_ports(8 + receivers)
        self.lb_port = ports[6]
        self.env = dict(os.environ)
        self.env.update({
            "HL7_SCALE_RUN_DIR": env.path("run"),
            "HL7_BIN_DIR": env.bin,
            "HL7_NATS_PORTS": "%d %d %d" % tuple(ports[0:3]),
            "HL7_NATS_ROUTE_PORTS": "%d %d %d" % tuple(ports[3:6]),
            "HL7_LB_PORT": str(ports[6]),
            "HL7_LB_STATS_PORT": str(ports[7]),
            # A blank list (not empty: that means the default ports) starts none.
            "HL7_RECEIVER_PORTS": " ".join(str(p) for p in ports[8:]) or " ",
            "HL7_RECEIVER_CMD": "%s --host {host} --port {port} --store {store} -q" % env.exe("hl7_receiver"),
        })
        self.env.update(extra or {})
        self.servers = ",".join("nats://127.0.0.1:%d" % p for p in ports[0:3])

    def cmd(self, *args, timeout=150):
        """Runs `scale-out.sh ARGS`; returns (exit code, output)."""
        r = subprocess.run(["bash", self.script] + list(args), env=self.env, capture_output=True, text=True,
                           timeout=timeout)
        return r.returncode, r.stdout + r.stderr

    def stream_ids(self):
        """The Nats-Msg-Id (MSH-3|MSH-4|MSH-10) of every message in the stream, oldest first."""
        r = subprocess.run([self.dump, self.servers, "HL7", "hl7.in.>"], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise Failure("hl7_stream_dump failed: " + r.stderr)
        return [line.split("\t", 1)[1] for line in r.stdout.splitlines() if "\t" in line]

    def stream_counts(self):
        """Control id -> copies in the stream, the health checks' probes left out."""
        counts = {}
        for i in self.stream_ids():
            if not i.startswith("HL7PROBE|"):
                cid = i.rsplit("|", 1)[1]
                counts[cid] = counts.get(cid, 0) + 1
        return counts


def kit_kill(env):
    total = 20000
    window = 16
    down_port = free_ports(1)[0]
    kit = Kit(env, extra={
        # Order is not what this test is about: deliver in parallel.
        "HL7_MAX_ACK_PENDING": str(window * 2),
        "HL7_FORWARDER_CMD": "%s --store {store} --to 127.0.0.1:%d --drop-sender HL7PROBE/HAPROXY -q --window %d"
                             % (env.exe("hl7_forwarder"), down_port, window),
    })

    down_db = env.path("down.db")
    drec, _ = env.receiver(down_db, port=down_port, extra=["--dedup-window", "0"], log="downstream.log")
    try:
        rc, out = kit.cmd("up")
        check(rc == 0, "scale-out.sh up (3 NATS servers, 2 receivers --store nats://, HAProxy, a forwarder)\n" + out)

        # At most 1,500/s: the run lasts at least 13 s, so the kills below
        # (at 3 s and 6 s) land while it sends, however fast the machine.
        loader = env.sender(kit.lb_port, ["--connections", "8", "--new-ids", "--repeat", str(total), "--retries", "60",
                                          "--rate", "1500",
                                          "--timeout", "10", "--outcomes", env.path("outcomes.txt")])
        # By time (the loader outruns the forwarder, so the downstream count
        # would come too late): receiver 1 after 3 s, NATS server 2 (a stream
        # or consumer leader, maybe) 3 s later.
        time.sleep(3)
        check(loader.running(), "the loader is still sending when receiver 1 is killed")
        rc, out = kit.cmd("receiver", "1", "kill")
        check(rc == 0, "receiver 1 SIGKILLed " + out.strip())
        time.sleep(1)
        kit.cmd("receiver", "1", "start")
        time.sleep(2)
        check(loader.running(), "the loader is still sending when NATS server 2 is killed")
        rc, out = kit.cmd("nats", "2", "kill")
        check(rc == 0, "NATS server 2 SIGKILLed " + out.strip())
        time.sleep(3)
        kit.cmd("nats", "2", "start")
        lrc = loader.wait(timeout=240)
        print("loader exit code", lrc, "\n" + loader.text().strip().splitlines()[-1], flush=True)

        outcomes = read_outcomes(env.path("outcomes.txt"))
        acked = {c for c, fate, code, _ in outcomes if fate == "acked" and code == "AA"}
        sent = {c for c, fate, _, _ in outcomes if fate != "not_sent"}
        check(len(outcomes) == total, "an outcome for each of the %d messages" % total)
        # The forwarder drains the stream into the downstream store.
        data = kit.stream_counts()
        wait_until(lambda: len(set(c for c, in rows(down_db, "SELECT control_id FROM messages"))) >= len(data),
                   "the forwarder to deliver all %d stored messages" % len(data), timeout=180, step=0.5)
        stream = kit.stream_counts()
    finally:
        rc, out = kit.cmd("down")
    check(rc == 0, "scale-out.sh down")
    check(drec.stop() == 0, "the downstream receiver stopped")

    wrong = [c for c in acked if stream.get(c) != 1]
    check(not wrong, "every AA'd message is in the stream exactly once (%d AA'd; wrong: %s)" % (len(acked), wrong[:5]))
    strangers = [c for c in stream if c not in sent]
    check(not strangers, "nothing in the stream was not sent (%d in the stream; strangers %s)" % (len(stream), strangers[:5]))
    twice = [c for c, n in stream.items() if n > 1]
    check(not twice, "no message is in the stream twice (%s)" % twice[:5])
    down = {}
    for c, in rows(down_db, "SELECT control_id FROM messages"):
        down[c] = down.get(c, 0) + 1
    missing = [c for c in stream if c not in down]
    check(not missing, "downstream got every message of the stream (missing %s)" % missing[:5])
    check(all(c in stream for c in down), "and nothing else")
    copies = sum(n - 1 for n in down.values())
    resent = sum(1 for o in outcomes if o[3] > 1)
    print("counts: %d sent, %d AA, %d in the stream, %d resent by the loader, %d delivered downstream (%d extra copies)"
          % (total, len(acked), len(stream), resent, sum(down.values()), copies), flush=True)
    check(len(acked) == total, "with resends every message was acknowledged in the end")
    # Copies come from deliveries whose settling was lost with the NATS server
    # (redelivered by the consumer): at most the messages out at that moment.
    check(copies <= 2 * window, "extra copies downstream (%d) are at most the messages in flight (%d)" % (copies, 2 * window))


def nats_outage(env):
    """The receiver started before any NATS server, then the whole cluster
    stopped under load: no AA for anything unstored, recovery each time."""
    kit = Kit(env, receivers=0)
    # With the cluster down the store opens anyway (it keeps connecting in
    # the background) and the receiver listens; every put fails with
    # `unavailable`: the default answers nothing and closes the connection,
    # --store-failure nak answers AE.
    rec, port = env.receiver(kit.servers, log="receiver.log")
    nak, nak_port = env.receiver(kit.servers, extra=["--store-failure", "nak"], log="nak.log")
    senders = [("LAB", "NORTH"), ("RAD", "SOUTH")]
    # Few messages, one resend each: every connection closed without an ACK
    # doubles the sender's back-off.
    write_messages(env.path("early.hl7"), senders, 2, prefix="EARLY")
    early = env.sender(port, ["--loose", "--connections", "2", "--retries", "1", "--timeout", "5",
                              "--outcomes", env.path("early-outcomes.txt"), env.path("early.hl7")], log="early.log")
    check(early.wait() == 8, "with no NATS server, the sender got no ACK (hl7_sender exit 8, unknown fate)")
    early_out = read_outcomes(env.path("early-outcomes.txt"))
    fates = {}
    for _, fate, code, attempts in early_out:
        fates[(fate, code, attempts)] = fates.get((fate, code, attempts), 0) + 1
    print("with no NATS server (fate, ACK code, attempts): count", fates, flush=True)
    check(len(early_out) == 4 and all(code == "" and fate != "acked" for _, fate, code, _ in early_out),
          "no answer at all to any of the 4 messages")
    failures = read_failures(rec)
    check(len(failures) >= 4 and all("not connected" in why for _, why in failures),
          "the receiver logged each failed message and why (%d lines): %s" % (len(failures), failures[:1]))
    write_messages(env.path("early-nak.hl7"), senders, 1, prefix="NAKEARLY")
    s = env.sender(nak_port, ["--loose", "--outcomes", env.path("nak-outcomes.txt"), env.path("early-nak.hl7")],
                   log="early-nak.log")
    check(s.wait() == 3, "--store-failure nak: AE instead (hl7_sender exit 3)")
    check("message not stored" in s.text(), "the AE says why: " + s.text().strip().splitlines()[0])
    check({code for _, _, code, _ in read_outcomes(env.path("nak-outcomes.txt"))} == {"AE"}, "both answered AE")
    check(rec.running() and nak.running(), "both receivers are still running")

    load_total = 3000
    try:
        started = time.monotonic()
        rc, out = kit.cmd("up")
        check(rc == 0, "scale-out.sh up (3 NATS servers, the stream, no receivers of its own)\n" + out)
        stream = kit.stream_counts()
        check(not stream, "nothing reached the stream while the cluster was down (%d there)" % len(stream))
        # The same messages again: the receivers' stores connect by themselves.
        again = env.sender(port, ["--loose", "--connections", "2", "--retries", "30", "--timeout", "10",
                                  "--outcomes", env.path("again-outcomes.txt"), env.path("early.hl7")],
                           log="again.log")
        check(again.wait() == 0, "once the cluster is up, the same receiver AA's every resend")
        s = env.sender(nak_port, ["--loose", "--retries", "30", env.path("early-nak.hl7")], log="again-nak.log")
        check(s.wait() == 0, "and so does the nak receiver")
        recovered = time.monotonic() - started
        stream = kit.stream_counts()
        early_ids = {c for c, _, _, _ in early_out} | {"NAKEARLYLABNORTH00000", "NAKEARLYRADSOUTH00000"}
        check(all(stream.get(c) == 1 for c in early_ids) and set(stream) == early_ids,
              "each of the 6 is in the stream exactly once, and nothing else (%s)" % sorted(stream.items())[:3])

        # The whole cluster stopped under load. At most 300/s over 8
        # connections: the run lasts at least 10 s, the cluster goes at 3 s
        # and comes back 4 s later.
        loader = env.sender(port, ["--connections", "8", "--new-ids", "--repeat", str(load_total), "--rate", "300",
                                   "--retries", "60", "--timeout", "10",
                                   "--outcomes", env.path("outcomes.txt")], log="loader.log")
        time.sleep(3)
        check(loader.running(), "the loader is still sending when the cluster is stopped")
        before_outage = len(read_failures(rec))
        for i in (1, 2, 3):
            rc, out = kit.cmd("nats", str(i), "kill")
            check(rc == 0, "NATS server %d SIGKILLed %s" % (i, out.strip()))
        time.sleep(4)
        check(loader.running() and rec.running(), "the loader and the receiver are running with the cluster down")
        for i in (1, 2, 3):
            rc, out = kit.cmd("nats", str(i), "start")
            check(rc == 0, "NATS server %d restarted %s" % (i, out.strip()))
        lrc = loader.wait(timeout=180)
        summary = loader.text().strip().splitlines()[-1]
        print("loader exit code", lrc, "\n" + summary, flush=True)
        # A fresh message after the recovery: the receiver did not hang.
        write_messages(env.path("fresh.hl7"), senders[:1], 1, prefix="FRESH")
        check(env.sender(port, ["--loose", "--timeout", "10", env.path("fresh.hl7")], log="fresh.log").wait() == 0,
              "after the recovery a fresh message is AA'd")
        stream = kit.stream_counts()
    finally:
        rc, out = kit.cmd("down")
    check(rc == 0, "scale-out.sh down")
    check(rec.running(), "the receiver never exited")
    check(rec.stop() == 0 and nak.stop() == 0, "the receivers stop cleanly on SIGTERM")

    outcomes = read_outcomes(env.path("outcomes.txt"))
    check(len(outcomes) == load_total, "an outcome for each of the %d messages" % load_total)
    acked = {c for c, fate, code, _ in outcomes if fate == "acked" and code == "AA"}
    sent = {c for c, fate, _, _ in outcomes if fate != "not_sent"} | early_ids | {"FRESHLABNORTH00000"}
    wrong = [c for c in acked | {"FRESHLABNORTH00000"} if stream.get(c) != 1]
    check(not wrong, "every AA'd message is in the stream exactly once (%d AA'd; wrong: %s)" % (len(acked), wrong[:5]))
    strangers = [c for c in stream if c not in sent]
    check(not strangers, "nothing in the stream was not sent (%s)" % strangers[:5])
    twice = [c for c, n in stream.items() if n > 1]
    check(not twice, "no message is in the stream twice (%s)" % twice[:5])
    codes = {}
    for _, fate, code, _ in outcomes:
        if code != "AA":
            codes[code or fate] = codes.get(code or fate, 0) + 1
    outage_failures = len(read_failures(rec)) - before_outage
    resends = sum(o[3] - 1 for o in outcomes)
    print("counts: with no server at start, 4 messages unanswered (%d store failures logged), 2 AE with "
          "--store-failure nak; %.1f s from `scale-out.sh up` to every resend AA'd" % (before_outage, recovered),
          flush=True)
    print("counts: cluster stopped for 4 s under load: %d sent, %d AA, non-AA final answers %s, %d resends, "
          "%d messages resent, %d store failures logged (connection closed without an ACK), %d in the stream"
          % (load_total, len(acked), codes or "none", resends, sum(1 for o in outcomes if o[3] > 1),
             outage_failures, len(stream)), flush=True)
    check(outage_failures > 0 and resends > 0, "the outage hit messages in flight (failures logged, resends)")
    check(len(acked) == load_total and lrc == 0, "with resends every message was AA'd in the end")


SCENARIOS = {f.__name__: f for f in (receiver_crash, forwarder_crash, forwarder_verdicts, store_failure, duplicates,
                                      acknowledgements, kit_kill, nats_outage)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work")
    ap.add_argument("--kit", help="examples/scale-out/scale-out.sh (kit_kill, nats_outage)")
    ap.add_argument("--dump", help="hl7_stream_dump (kit_kill, nats_outage)")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="hl7-durable-")
    if a.work:
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
    env = Env(a.bin, work)
    env.kit = a.kit
    env.dump = a.dump
    start = time.monotonic()
    try:
        SCENARIOS[a.scenario](env)
    except Failure as e:
        print("FAILED:", e, "\n(logs in %s)" % work, flush=True)
        return 1
    finally:
        env.cleanup()
    print("%s passed in %.1f s" % (a.scenario, time.monotonic() - start), flush=True)
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
