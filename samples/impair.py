#!/usr/bin/env python3
"""A tiny userspace stand-in for `tc qdisc ... netem loss 3% delay 5ms reorder 10%`.

This machine's kernel has no sch_netem (CONFIG_NET_SCH_NETEM is not set), so record.sh
puts a third namespace between client and server and runs this script there: it moves
raw Ethernet frames between two interfaces with AF_PACKET sockets, like a bridge, and
on the way

* drops each frame with probability --loss (independently),
* delays every other frame by --delay seconds,
* sends a fraction --reorder of the frames at once instead, so that they overtake the
  frames still waiting in the delay line (netem's `reorder` semantics).

Both directions are impaired. The TCP stacks on either side are the kernel's, untouched.
It only forwards what arrives on its two interfaces and stops by itself after
--max-seconds (or on SIGTERM/SIGINT).

    impair.py IF_A IF_B [--loss 0.03] [--delay 0.005] [--reorder 0.10] [--seed N]
"""

from __future__ import annotations

import argparse
import heapq
import random
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("if_a")
    p.add_argument("if_b")
    p.add_argument("--loss", type=float, default=0.03)
    p.add_argument("--delay", type=float, default=0.005)
    p.add_argument("--reorder", type=float, default=0.10)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--max-seconds", type=float, default=120)
    p.add_argument("--ready-file")
    args = p.parse_args()
    rnd = random.Random(args.seed)

    socks = {}
    for name in (args.if_a, args.if_b):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((name, 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setblocking(False)
        socks[name] = s
    peer = {args.if_a: socks[args.if_b], args.if_b: socks[args.if_a]}
    by_fd = {s.fileno(): name for name, s in socks.items()}

    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write("ready\n")

    stats = {"in": 0, "dropped": 0, "reordered": 0, "delayed": 0}
    line: list[tuple[float, int, socket.socket, bytes]] = []  # the delay line
    seq = 0
    deadline = time.monotonic() + args.max_seconds
    while not stop and time.monotonic() < deadline:
        now = time.monotonic()
        while line and line[0][0] <= now:
            _, _, out, frame = heapq.heappop(line)
            out.send(frame)
        timeout = max(0.0, min(line[0][0] - now, 0.2)) if line else 0.2
        try:
            ready, _, _ = select.select(list(socks.values()), [], [], timeout)
        except InterruptedError:
            continue
        for s in ready:
            for _ in range(64):
                try:
                    frame, addr = s.recvfrom(65536)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue  # our own transmissions on this interface
                stats["in"] += 1
                out = peer[by_fd[s.fileno()]]
                if rnd.random() < args.loss:
                    stats["dropped"] += 1
                    continue
                if rnd.random() < args.reorder:
                    stats["reordered"] += 1
                    out.send(frame)
                    continue
                stats["delayed"] += 1
                seq += 1
                heapq.heappush(line, (time.monotonic() + args.delay, seq, out, frame))
    for _, _, out, frame in sorted(line):
        out.send(frame)
    print(f"impair: {stats}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
