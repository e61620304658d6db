#!/usr/bin/env python3
"""Userspace stand-in for `tc qdisc add dev X root netem loss 2% delay 20ms 5ms` (egress).

This machine's kernel has no sch_netem (CONFIG_NET_SCH_NETEM is not set; no act_gact
either), so record_media.sh routes every outgoing UDP packet of a namespace into a TUN
device (`imp0`) with a policy rule:

    ip rule add pref 100 fwmark 0x77 lookup main     # what this relay re-injects
    ip rule add pref 200 ipproto udp lookup 77       # all other UDP ...
    ip route add 10.77.0.0/24 dev imp0 table 77      # ... goes to the relay first

This relay reads each IP packet from the TUN device, drops it with probability --loss,
otherwise holds it for a delay drawn uniformly from [delay-jitter, delay+jitter] and
writes it out unchanged (IP_HDRINCL raw socket, SO_MARK 0x77), so the kernel routes it
out of the real interface, where tcpdump sees it. The packets (addresses, ports, UDP
checksums) are exactly what the application's socket produced. TCP (the WebSocket
signalling) is not impaired. Bounded: exits after --max-seconds, on SIGTERM or SIGINT.

    impair_tun.py [--dev imp0] [--loss 0.02] [--delay 0.020] [--jitter 0.005]
                  [--seed N] [--max-seconds 300] [--stats FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import random
import signal
import socket
import struct

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
SO_MARK = 36
MARK = 0x77


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


async def run(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    fd = open_tun(args.dev)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    raw.setsockopt(socket.SOL_SOCKET, SO_MARK, MARK)
    raw.setblocking(False)
    loop = asyncio.get_running_loop()
    stats = {"read": 0, "dropped": 0, "sent": 0, "send_errors": 0, "non_ipv4": 0}
    stop = asyncio.Event()

    def send(pkt: bytes, dst: str) -> None:
        try:
            raw.sendto(pkt, (dst, 0))
            stats["sent"] += 1
        except OSError:
            stats["send_errors"] += 1

    def on_readable() -> None:
        for _ in range(256):  # bounded batch per wake-up
            try:
                pkt = os.read(fd, 65535)
            except BlockingIOError:
                return
            stats["read"] += 1
            if len(pkt) < 20 or pkt[0] >> 4 != 4:
                stats["non_ipv4"] += 1
                continue
            if rng.random() < args.loss:
                stats["dropped"] += 1
                continue
            dst = socket.inet_ntoa(pkt[16:20])
            d = args.delay + rng.uniform(-args.jitter, args.jitter)
            loop.call_later(max(0.0, d), send, pkt, dst)

    loop.add_reader(fd, on_readable)
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    # signal readiness to the caller (the device exists now)
    if args.ready:
        open(args.ready, "w").close()
    try:
        await asyncio.wait_for(stop.wait(), timeout=args.max_seconds)
    except asyncio.TimeoutError:
        pass
    loop.remove_reader(fd)
    await asyncio.sleep(args.delay + args.jitter + 0.01)  # flush the delay line
    os.close(fd)
    raw.close()
    return stats


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--dev", default="imp0")
    p.add_argument("--loss", type=float, default=0.02)
    p.add_argument("--delay", type=float, default=0.020)
    p.add_argument("--jitter", type=float, default=0.005)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--max-seconds", type=float, default=300)
    p.add_argument("--stats", default=None)
    p.add_argument("--ready", default=None)
    args = p.parse_args()
    stats = asyncio.run(run(args))
    if args.stats:
        with open(args.stats, "w") as f:
            json.dump(stats, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
