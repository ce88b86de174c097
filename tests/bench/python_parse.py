#!/usr/bin/python3
"""python-hl7's hl7.parse rate on a records corpus (reference for hl7_bench_parse).

Run with Debian's interpreter (/usr/bin/python3, which has python3-hl7).
Reads a corpus written by corpus.py --format records (one message per line,
segments separated by CR), parses messages in order until the time budget of
one repetition is spent, and keeps the best of several repetitions. Prints
one JSON object on stdout.

Messages are decoded from UTF-8 before timing starts, so the figure is the
parser alone (python-hl7's asyncio reader also pays for the decode).
"""
import argparse
import json
import sys
import time

import hl7


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("corpus")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--budget", type=float, default=2.0, help="seconds per repetition")
    args = ap.parse_args()

    with open(args.corpus, "rb") as f:
        raw = f.read()
    messages = [m.decode("utf-8") for m in raw.split(b"\n") if m]
    sizes = [len(m.encode("utf-8")) for m in messages]

    # Sanity: python-hl7 must see the same segments we do.
    first = hl7.parse(messages[0])
    if str(first[0][0]) != "MSH":
        print(json.dumps({"error": "first message does not parse to MSH"}))
        return 1

    best = None
    for _ in range(max(1, args.reps)):
        done = 0
        nbytes = 0
        start = time.perf_counter()
        deadline = start + args.budget
        i = 0
        while True:
            hl7.parse(messages[i])
            nbytes += sizes[i]
            done += 1
            i += 1
            if i == len(messages):
                i = 0
            if (done & 7) == 0 and time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - start
        rate = nbytes / elapsed
        if best is None or rate > best["bytes"] / best["seconds"]:
            best = {"messages": done, "bytes": nbytes, "seconds": elapsed}

    best["msgs_per_s"] = best["messages"] / best["seconds"]
    best["mb_per_s"] = best["bytes"] / best["seconds"] / 1e6
    best["python"] = sys.version.split()[0]
    best["hl7"] = getattr(hl7, "__version__", "?")
    print(json.dumps(best))
    return 0


if __name__ == "__main__":
    sys.exit(main())
