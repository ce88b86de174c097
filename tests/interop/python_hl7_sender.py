#!/usr/bin/python3
"""python-hl7's documented asyncio HL7 sender (docs/mllp.rst, "HL7 Sender"),
run with asyncio.run() instead of aiorun and with the receiver's address,
the messages and the encoding as arguments.

    python_hl7_sender.py HOST PORT [--encoding utf-8] FILE...

Every FILE holds one message (CR, LF or CRLF line ends); all are sent over
one connection, each followed by awaiting its ACK, exactly as the document
does it. Besides the document's output, one line per message is printed for
the test driver:

    RESULT<TAB>sent=<MSH.10><TAB>ack=<MSA.1><TAB>ack_id=<MSA.2><TAB>ack_to=<ACK MSH.5><TAB>ack_to_facility=<ACK MSH.6>

Exit code 0 when every ACK arrived (whatever its code; the driver judges it).
"""

import argparse
import asyncio
import sys

import hl7
from hl7.mllp import open_hl7_connection


def load(path, encoding):
    with open(path, "rb") as f:
        text = f.read().decode(encoding)
    # python-hl7's parse() splits segments on CR only.
    return text.replace("\r\n", "\r").replace("\n", "\r")


async def main(args):
    messages = [load(p, args.encoding) for p in args.files]

    # Open the connection to the HL7 receiver.
    # Using wait_for is optional, but recommended so
    # a dead receiver won't block you for long
    hl7_reader, hl7_writer = await asyncio.wait_for(
        # python-hl7's streams default to ascii/strict; name the encoding so
        # non-ASCII messages (and ACKs echoing them) can be written and read.
        open_hl7_connection(args.host, args.port, encoding=args.encoding),
        timeout=10,
    )

    for message in messages:
        hl7_message = hl7.parse(message)

        # Write the HL7 message, and then wait for the writer
        # to drain to actually send the message
        hl7_writer.writemessage(hl7_message)
        await hl7_writer.drain()
        print(f"Sent message\n {hl7_message}".replace("\r", "\n"))

        # Now wait for the ACK message from the receiever
        hl7_ack = await asyncio.wait_for(hl7_reader.readmessage(), timeout=10)
        print(f"Received ACK\n {hl7_ack}".replace("\r", "\n"))
        print(
            f"RESULT\tsent={hl7_message['MSH.10']}\tack={hl7_ack['MSA.1']}"
            f"\tack_id={hl7_ack['MSA.2']}\tack_to={hl7_ack['MSH.5']}"
            f"\tack_to_facility={hl7_ack['MSH.6']}"
        )

    hl7_writer.close()
    await hl7_writer.wait_closed()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--encoding", default="utf-8")
    parser.add_argument("files", nargs="+")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
