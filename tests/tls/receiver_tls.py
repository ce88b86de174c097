#!/usr/bin/python3
"""The bundled hl7_receiver over TLS, driven with Python's ssl module:

    receiver_tls.py RECEIVER MAKE_CERTS [SENDER]

mutual TLS with the version and cipher logged per connection, a client
without a certificate refused and logged, certificate reload on SIGHUP
(new connections see the new certificate; files that do not load keep the
current one), a clean stop on SIGTERM, and exit code 4 for a missing file. With SENDER, the bundled hl7_sender
over TLS against it: mutual TLS accepted (exit 0), a receiver whose CA it
does not trust refused at once without retrying (exit 6, a certificate error
named).
"""

import hashlib
import os
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

MESSAGE = "MSH|^~\\&|PY|TLS|HL7|CPP|202401010000||ADT^A01|RCV-TLS|P|2.5\rPID|1||42\r"


def fail(text):
    print("FAIL: " + text, flush=True)
    sys.exit(1)


def pem_sha256(path):
    der = ssl.PEM_cert_to_DER_cert(open(path).read())
    return hashlib.sha256(der).hexdigest()


class Receiver:
    def __init__(self, args):
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = queue.Queue()
        self.log = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.log.append(line)
            if text in line:
                return line
        fail(f"no line with {text!r} in:\n" + "\n".join(self.log))


def exchange(port, ca, cert=None, key=None):
    """Sends MESSAGE; returns (MSA-1, server certificate SHA-256)."""
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            fp = hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()
            s.sendall(b"\x0b" + MESSAGE.encode() + b"\x1c\x0d")
            data = b""
            while b"\x1c\x0d" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    text = data.decode(errors="replace")
    for seg in text.strip("\x0b\x1c\x0d").split("\r"):
        if seg.startswith("MSA|"):
            return seg.split("|")[1], fp
    return None, fp


def main():
    receiver_path, make_certs = sys.argv[1], sys.argv[2]
    sender_path = sys.argv[3] if len(sys.argv) > 3 else None
    work = tempfile.mkdtemp(prefix="hl7-rcv-tls-")
    receiver = None
    try:
        certs = os.path.join(work, "certs")
        subprocess.run(["sh", make_certs, certs], check=True, stdout=subprocess.DEVNULL)
        c = lambda name: os.path.join(certs, name)
        cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
        shutil.copy(c("server.pem"), cert)
        shutil.copy(c("server.key"), key)

        rc = subprocess.run([receiver_path, "--port", "0", "--tls-cert", os.path.join(work, "nope.pem"),
                             "--tls-key", key], capture_output=True, text=True, timeout=30).returncode
        if rc != 4:
            fail(f"missing certificate file: exit {rc}, expected 4")

        receiver = Receiver([receiver_path, "--host", "127.0.0.1", "--port", "0", "--tls-cert", cert,
                             "--tls-key", key, "--tls-client-ca", c("ca.pem"), "--tls-require-client-cert",
                             "--tls-handshake-timeout", "5"])
        line = receiver.wait_for("Listening on")
        port = int(line.split("Listening on ")[1].split(" ")[0].rsplit(":", 1)[1])
        if "client certificates required" not in line:
            fail("listening line does not say client certificates are required: " + line)

        code, fp = exchange(port, c("ca.pem"), c("client.pem"), c("client.key"))
        if code != "AA" or fp != pem_sha256(c("server.pem")):
            fail(f"mutual TLS exchange: {code}, certificate {fp}")
        line = receiver.wait_for("Connection established")
        if "TLSv1.3" not in line or "TLS_" not in line or "CN=hl7-test-client" not in line:
            fail("connection line lacks version, cipher or client: " + line)

        if sender_path:
            base = [sender_path, "--host", "127.0.0.1", "--port", str(port), "--tls", "--timeout", "20"]
            r = subprocess.run(base + ["--tls-ca", c("ca.pem"), "--tls-cert", c("client.pem"),
                                       "--tls-key", c("client.key")], capture_output=True, text=True, timeout=60)
            if r.returncode != 0 or "MSA|AA" not in r.stdout:
                fail(f"hl7_sender --tls with a client certificate: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
            started = time.monotonic()
            r = subprocess.run(base + ["--retries", "8", "--tls-ca", c("other_ca.pem"), "--tls-cert", c("client.pem"),
                                       "--tls-key", c("client.key")], capture_output=True, text=True, timeout=60)
            if r.returncode != 6 or "certificate" not in r.stderr + r.stdout:
                fail(f"hl7_sender --tls trusting another CA: exit {r.returncode}, expected 6\n{r.stdout}\n{r.stderr}")
            if time.monotonic() - started > 15:  # 8 retries would back off 25 s
                fail("hl7_sender retried a certificate failure instead of giving up at once")

        try:
            code, _ = exchange(port, c("ca.pem"))
        except (ssl.SSLError, ConnectionError, OSError):
            code = None
        if code is not None:
            fail(f"a client without a certificate got {code}")
        receiver.wait_for("no client certificate")

        shutil.copy(c("server2.pem"), cert)
        shutil.copy(c("server2.key"), key)
        receiver.proc.send_signal(signal.SIGHUP)
        receiver.wait_for("reloaded the TLS certificate")
        code, fp = exchange(port, c("ca.pem"), c("client.pem"), c("client.key"))
        if code != "AA" or fp != pem_sha256(c("server2.pem")):
            fail(f"after reload: {code}, certificate {fp}")

        with open(key, "w") as f:
            f.write("not a key\n")
        receiver.proc.send_signal(signal.SIGHUP)
        receiver.wait_for("reload failed, keeping the current certificate")
        code, fp = exchange(port, c("ca.pem"), c("client.pem"), c("client.key"))
        if code != "AA" or fp != pem_sha256(c("server2.pem")):
            fail(f"after a failed reload: {code}, certificate {fp}")

        receiver.proc.send_signal(signal.SIGTERM)
        rc = receiver.proc.wait(timeout=30)
        if rc != 0:
            fail(f"exit {rc} after SIGTERM")
        print("ok")
    finally:
        if receiver and receiver.proc.poll() is None:
            receiver.proc.kill()
            receiver.proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
