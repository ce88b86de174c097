"""What the Python test drivers share: a failed check, MLLP framing, and a
scripted MLLP receiver whose answers the test decides per message.

    sys.path.insert(0, <tests/support>)
    from mllp_script import Failure, check, frame, ScriptedReceiver, CLOSE
"""

import asyncio
import threading


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)
    print(f"ok: {what}", flush=True)


def frame(payload):
    return b"\x0b" + payload + b"\x1c\r"


# An answer that closes the connection instead of answering.
CLOSE = object()


class ScriptedReceiver:
    """An MLLP receiver on its own event-loop thread. For every message,
    `answer(msh, n)` (msh: the MSH fields as text; n: how many times this
    control id has arrived, this one included) returns the payload to send
    back (bytes, framed here), None to stay silent, or CLOSE. It records the
    control ids in arrival order (`received`), per id (`counts`), with their
    sender MSH-3/MSH-4 (`arrivals`), and the connections made."""

    def __init__(self, answer):
        self.answer = answer
        self.received = []
        self.counts = {}
        self.arrivals = []
        self.connections = 0
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise Failure("scripted receiver did not start")

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)

        async def start():
            self.server = await asyncio.start_server(self._session, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def stop(self):
        def close():
            self.server.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(close)
        self.thread.join(10)

    def reset(self):
        with self.lock:
            self.received.clear()
            self.counts.clear()
            self.arrivals.clear()

    async def _session(self, reader, writer):
        with self.lock:
            self.connections += 1
        try:
            while True:
                data = await reader.readuntil(b"\x1c\r")
                payload = data[data.find(b"\x0b") + 1:-2]
                msh = payload.split(b"\r", 1)[0].decode("utf-8", "replace").split("|")
                cid = msh[9] if len(msh) > 9 else ""
                with self.lock:
                    self.received.append(cid)
                    self.arrivals.append(((msh[2] if len(msh) > 3 else "") + "/" + (msh[3] if len(msh) > 3 else ""), cid))
                    n = self.counts[cid] = self.counts.get(cid, 0) + 1
                reply = self.answer(msh, n)
                if reply is CLOSE:
                    return
                if reply is not None:
                    writer.write(frame(reply))
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
