#!/usr/bin/python3
"""python-hl7's asyncio MLLP client or server over Python's ssl module: a
TLS peer nobody here wrote, for hl7_tls_tests.

    python_tls_peer.py client PORT CA_FILE [CERT KEY]
        Connects to 127.0.0.1:PORT verifying the server as "localhost"
        against CA_FILE (mutual TLS with CERT/KEY), sends one message with
        MSH-10 "PY-TLS", prints "ACK <MSA-1> <MSA-2>".
    python_tls_peer.py server CERT KEY [CLIENT_CA]
        Listens on 127.0.0.1, port 0, prints "PORT <port>", requires client
        certificates signed by CLIENT_CA if given; answers one message,
        prints "GOT <MSH-10> <client certificate subject CN or ->", exits.

Exits 77 when python-hl7 is missing. Run it with python3 -u.
"""

import asyncio
import ssl
import sys

try:
    import hl7
    from hl7.mllp import open_hl7_connection, start_hl7_server
except ImportError:
    sys.exit(77)

MESSAGE = (
    "MSH|^~\\&|PY|TLS|HL7|CPP|202401010000||ADT^A01|PY-TLS|P|2.5\r"
    "PID|1||12345^^^HOSP^MR||DOE^JANE\r"
)


def subject_cn(cert):
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return "-"


async def client(port, ca, cert=None, key=None):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    reader, writer = await asyncio.wait_for(
        open_hl7_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost"), 20
    )
    writer.writemessage(hl7.parse(MESSAGE))
    await writer.drain()
    ack = await asyncio.wait_for(reader.readmessage(), 20)
    print(f"ACK {ack.segment('MSA')[1]} {ack.segment('MSA')[2]}", flush=True)
    writer.close()
    try:
        await writer.wait_closed()
    except (ssl.SSLError, ConnectionError):
        pass


async def server(cert, key, client_ca=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    done = asyncio.Event()

    async def handle(reader, writer):
        try:
            msg = await reader.readmessage()
            peer = subject_cn(writer.get_extra_info("peercert"))
            print(f"GOT {msg.segment('MSH')[10]} {peer}", flush=True)
            writer.writemessage(msg.create_ack())
            await writer.drain()
            done.set()
        except asyncio.IncompleteReadError:
            pass

    srv = await start_hl7_server(handle, "127.0.0.1", 0, ssl=ctx)
    print(f"PORT {srv.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.wait_for(done.wait(), 30)
    await asyncio.sleep(0.2)  # let the ACK go out before the loop ends
    srv.close()


def main():
    mode = sys.argv[1]
    if mode == "client":
        asyncio.run(client(int(sys.argv[2]), *sys.argv[3:]))
    else:
        asyncio.run(server(*sys.argv[2:]))


if __name__ == "__main__":
    main()
