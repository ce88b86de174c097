#!/usr/bin/python3
"""python-hl7's asyncio receiver (the seed document's "HL7 Receiver"), run with
asyncio.run, as the reference peer of hl7_bench_mllp.

Run with Debian's interpreter (/usr/bin/python3, which has python3-hl7).
Binds 127.0.0.1 on the given port (0: any free port) and prints the bound
port on stdout, then serves until killed.

Differences from the document, each needed to measure it at all:
  * encoding="utf-8": the corpus holds UTF-8 names, and the default "ascii"
    makes readmessage() raise UnicodeDecodeError (python-hl7 issue #54);
  * limit=64 MiB: the default 64 KiB frame limit rejects the 1 MiB messages;
  * no print() of every message (our receiver does not log messages either);
    connections are still logged, to stderr, with --verbose.
"""
import argparse
import asyncio
import sys

import hl7
from hl7.mllp import start_hl7_server

VERBOSE = False


async def process_hl7_messages(hl7_reader, hl7_writer):
    peername = hl7_writer.get_extra_info("peername")
    if VERBOSE:
        print(f"Connection established {peername}", file=sys.stderr)
    try:
        while not hl7_writer.is_closing():
            hl7_message = await hl7_reader.readmessage()
            hl7_writer.writemessage(hl7_message.create_ack())
            await hl7_writer.drain()
    except asyncio.IncompleteReadError:
        if not hl7_writer.is_closing():
            hl7_writer.close()
            await hl7_writer.wait_closed()
    except Exception as e:  # keep serving other connections, as the document's server does
        print(f"handler error {peername}: {e!r}", file=sys.stderr)
        if not hl7_writer.is_closing():
            hl7_writer.close()
    if VERBOSE:
        print(f"Connection closed {peername}", file=sys.stderr)


async def main(port: int) -> None:
    async with await start_hl7_server(
        process_hl7_messages, host="127.0.0.1", port=port, encoding="utf-8", limit=64 << 20
    ) as hl7_server:
        print(hl7_server.sockets[0].getsockname()[1], flush=True)
        await hl7_server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.verbose
    try:
        asyncio.run(main(args.port))
    except KeyboardInterrupt:
        pass
