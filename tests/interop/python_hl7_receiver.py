#!/usr/bin/python3
"""python-hl7's documented asyncio HL7 receiver (docs/mllp.rst, "HL7
Receiver"), run with asyncio.run() instead of aiorun.

    python_hl7_receiver.py [--host 127.0.0.1] [--port 0]

Differences from the document, all for the test driver: the address is an
argument (port 0 picks a free port), the bound address is printed as
"Listening on HOST:PORT" once serving, and SIGTERM/SIGINT cancel the server
task, which the document's main() treats as a normal end (exit code 0).
Run it with `python3 -u` so its output is not buffered.
"""

import argparse
import asyncio
import signal

import hl7
from hl7.mllp import start_hl7_server


async def process_hl7_messages(hl7_reader, hl7_writer):
    """This will be called every time a socket connects
    with us.
    """
    peername = hl7_writer.get_extra_info("peername")
    print(f"Connection established {peername}")
    try:
        # We're going to keep listening until the writer
        # is closed. Only writers have closed status.
        while not hl7_writer.is_closing():
            hl7_message = await hl7_reader.readmessage()
            print(f"Received message\n {hl7_message}".replace("\r", "\n"))
            # Now let's send the ACK and wait for the
            # writer to drain
            hl7_writer.writemessage(hl7_message.create_ack())
            await hl7_writer.drain()
    except asyncio.IncompleteReadError:
        # Oops, something went wrong, if the writer is not
        # closed or closing, close it.
        if not hl7_writer.is_closing():
            hl7_writer.close()
            await hl7_writer.wait_closed()
    print(f"Connection closed {peername}")


async def main(host, port):
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        # Start the server in a with clause to make sure we
        # close it
        async with await start_hl7_server(
            process_hl7_messages, host=host, port=port
        ) as hl7_server:
            bound = hl7_server.sockets[0].getsockname()
            print(f"Listening on {bound[0]}:{bound[1]}", flush=True)
            # And now we server forever. Or until we are
            # cancelled...
            await hl7_server.serve_forever()
    except asyncio.CancelledError:
        # Cancelled errors are expected
        pass
    except Exception:
        print("Error occurred in main")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(main(args.host, args.port))
    except asyncio.CancelledError:
        # asyncio.run() re-raises the cancellation of the main task on
        # Python versions where the task ends cancelled; still a clean stop.
        pass
    print("Stopped", flush=True)
