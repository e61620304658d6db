#!/usr/bin/env python3
"""A long WebRTC-shaped load run for the recorded benchmark (bench/record_loadrun.sh).

Each call is one `websockets` signalling connection (offer/answer JSON with SDP: ICE
ufrag, candidate, SSRC, PCMU rtpmap), then on one UDP 5-tuple (rtcp-mux, as WebRTC):
a STUN Binding request with USERNAME answered by the server (XOR-MAPPED-ADDRESS),
consent checks every 5 s, 50 packets a second of PCMU RTP each way (160-byte payload)
and an RTCP sender report every 5 s each way. The client keeps the signalling alive
with a JSON message every 2 s, echoed. At the end of its duration the client says bye
and closes with 1000.

The server has room for CAP calls; a call arriving while CAP are open is shed: closed
with 1013 "try again later" after its offer (no media), and every 7th shed call reset
(SO_LINGER 0 + abort) instead. A sender drops a packet with LOSS probability (it never
reaches the wire: the receiver sees a sequence gap) and sends a packet after its
successor with REORDER probability.

    python3 loadrun_lab.py server HOST PORT MEDIA_PORT CAP
    python3 loadrun_lab.py client HOST PORT MEDIA_PORT CALLS INTERVAL_S MIN_S MAX_S SEED

All timing is in the event loop: one 20 ms tick per side sends every open call's RTP.
"""

import asyncio
import json
import os
import random
import socket
import struct
import sys
import zlib

import websockets
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

MAGIC = 0x2112A442
LOSS = 0.002
REORDER = 0.001


def stun(msg_type, tid, attrs):
    body = b""
    for t, v in attrs:
        pad = (4 - len(v) % 4) % 4
        body += struct.pack("!HH", t, len(v)) + v + b"\0" * pad
    head = struct.pack("!HHI", msg_type, len(body) + 8, MAGIC) + tid
    crc = zlib.crc32(head + body) ^ 0x5354554E
    return head + body + struct.pack("!HHI", 0x8028, 4, crc)


def xor_addr(addr):
    ip, port = addr
    a = struct.unpack("!I", socket.inet_aton(ip))[0] ^ MAGIC
    return struct.pack("!BBHI", 0, 1, port ^ (MAGIC >> 16), a)


def sdp(ufrag, ip, port, ssrc):
    return (
        "v=0\r\no=- 1 2 IN IP4 {ip}\r\ns=-\r\nt=0 0\r\n"
        "m=audio {port} UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 {ip}\r\n"
        "a=rtcp-mux\r\na=ice-ufrag:{u}\r\na=ice-pwd:{pwd}\r\n"
        "a=candidate:1 1 udp 2130706431 {ip} {port} typ host\r\n"
        "a=rtpmap:0 PCMU/8000\r\na=ssrc:{ssrc} cname:lab\r\n"
    ).format(ip=ip, port=port, u=ufrag, pwd=ufrag * 6, ssrc=ssrc)


class Leg:
    """One direction of a call's RTP: sequence, timestamp, SSRC, counters."""

    def __init__(self, ssrc, rng):
        self.ssrc = ssrc
        self.seq = rng.randrange(65536)
        self.ts = rng.randrange(1 << 32)
        self.sent = 0
        self.octets = 0
        self.held = None  # a packet delayed behind its successor (reordering)
        self.rng = rng

    def packets(self):
        """The datagrams to send this tick (0, 1 or 2)."""
        pkt = struct.pack("!BBHII", 0x80, 0, self.seq & 0xFFFF, self.ts & 0xFFFFFFFF, self.ssrc)
        pkt += bytes([0xFF]) * 160
        self.seq += 1
        self.ts += 160
        out = []
        r = self.rng.random()
        if r < LOSS:
            return out
        self.sent += 1
        self.octets += 160
        if self.held is not None:
            out = [pkt, self.held]
            self.held = None
        elif r < LOSS + REORDER:
            self.held = pkt
        else:
            out = [pkt]
        return out

    def sender_report(self):
        return struct.pack(
            "!BBHIIIIII", 0x80, 200, 6, self.ssrc, 0, 0, self.ts & 0xFFFFFFFF, self.sent, self.octets
        )


class Media(asyncio.DatagramProtocol):
    """One UDP socket carrying every call's media on one side; `calls` maps the peer
    address to its leg. The server answers STUN requests; RTP/RTCP received is dropped."""

    def __init__(self, server):
        self.server = server
        self.calls = {}
        self.transport = None
        self.stun_seen = {}

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        if not data or data[0] >= 2:
            return
        if len(data) >= 20 and struct.unpack_from("!H", data)[0] == 0x0001 and self.server:
            tid = data[8:20]
            self.transport.sendto(stun(0x0101, tid, [(0x0020, xor_addr(addr))]), addr)


def tick_sender(media, legs_of):
    """Every 20 ms (absolute schedule): RTP for every open call; RTCP and consent every
    5 s per call."""

    async def run():
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        while True:
            n += 1
            for addr, call in list(legs_of().items()):
                for p in call["leg"].packets():
                    media.transport.sendto(p, addr)
                call["ticks"] += 1
                if call["ticks"] % 250 == 0:
                    media.transport.sendto(call["leg"].sender_report(), addr)
                    if call.get("ufrag"):
                        media.transport.sendto(
                            stun(0x0001, os.urandom(12), [(0x0006, call["ufrag"].encode())]), addr
                        )
            await asyncio.sleep(max(0.0, start + n * 0.02 - loop.time()))

    return run()


async def server(host, port, media_port, cap):
    loop = asyncio.get_running_loop()
    _, media = await loop.create_datagram_endpoint(
        lambda: Media(True), local_addr=(host, media_port)
    )
    rng = random.Random(1)
    state = {"open": 0, "shed": 0}

    async def handler(ws):
        offer = json.loads(await ws.recv())
        if state["open"] >= cap:
            state["shed"] += 1
            if state["shed"] % 7 == 0:
                sock = ws.transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                ws.transport.abort()
                return
            await ws.close(1013, "try again later")
            return
        state["open"] += 1
        addr = (offer["ip"], offer["port"])
        ufrag = "s%05d" % offer["call"]
        ssrc = rng.randrange(1, 1 << 32)
        try:
            await ws.send(
                json.dumps({"type": "answer", "sdp": sdp(ufrag, host, media_port, ssrc)})
            )
            media.calls[addr] = {"leg": Leg(ssrc, rng), "ticks": 0, "ufrag": None}
            async for msg in ws:
                if json.loads(msg).get("type") == "bye":
                    media.calls.pop(addr, None)
                await ws.send(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            media.calls.pop(addr, None)
            state["open"] -= 1

    asyncio.ensure_future(tick_sender(media, lambda: media.calls))
    async with serve(handler, host, port, compression=None, ping_interval=None,
                     max_queue=None):
        await asyncio.Future()


async def client(host, port, media_port, calls, interval, dmin, dmax, seed):
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    active = {}
    results = []

    async def one(n, duration):
        transport, proto = await loop.create_datagram_endpoint(
            lambda: Media(False), local_addr=("10.99.0.1", 0), remote_addr=(host, media_port)
        )
        mport = transport.get_extra_info("sockname")[1]
        ufrag = "c%05d" % n
        ssrc = rng.randrange(1, 1 << 32)
        outcome = "?"
        try:
            async with connect(f"ws://{host}:{port}/call/{n}", compression=None,
                               ping_interval=None, close_timeout=2) as ws:
                await ws.send(json.dumps({"type": "offer", "call": n, "ip": "10.99.0.1",
                                          "port": mport,
                                          "sdp": sdp(ufrag, "10.99.0.1", mport, ssrc)}))
                ans = json.loads(await ws.recv())
                srv_ufrag = ans["sdp"].split("a=ice-ufrag:")[1].split("\r\n")[0]
                user = f"{srv_ufrag}:{ufrag}"
                transport.sendto(stun(0x0001, os.urandom(12), [(0x0006, user.encode())]))
                key = (n, transport)
                active[key] = {"leg": Leg(ssrc, rng), "ticks": 0, "ufrag": user}
                end = loop.time() + duration
                i = 0
                while loop.time() < end:
                    await asyncio.sleep(min(2.0, max(0.0, end - loop.time())))
                    i += 1
                    await ws.send(json.dumps({"type": "keepalive", "n": i, "pad": "x" * 120}))
                    await ws.recv()
                active.pop(key, None)
                await ws.send(json.dumps({"type": "bye"}))
                await ws.recv()
                await ws.close(1000)
                outcome = "1000"
        except websockets.ConnectionClosed as e:
            outcome = str(e.rcvd.code) if e.rcvd else "1006"
        except OSError as e:
            outcome = "error " + e.__class__.__name__
        finally:
            active.pop((n, transport), None)
            transport.close()
        results.append((n, outcome))

    class Fan:
        """The client's tick sends through each call's own socket."""

        def __init__(self):
            self.transport = self

        def sendto(self, data, addr):
            addr.sendto(data)

    async def ticker():
        fan = Fan()
        await tick_sender(fan, lambda: {t: c for (n, t), c in active.items()})

    asyncio.ensure_future(ticker())
    tasks = []
    for n in range(1, calls + 1):
        tasks.append(asyncio.ensure_future(one(n, rng.uniform(dmin, dmax))))
        await asyncio.sleep(interval)
    await asyncio.gather(*tasks)
    counts = {}
    for _, o in results:
        counts[o] = counts.get(o, 0) + 1
    print(json.dumps({"calls": calls, "outcomes": counts}), flush=True)


def main():
    mode = sys.argv[1]
    if mode == "server":
        h, p, mp, cap = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        asyncio.run(server(h, p, mp, cap))
    elif mode == "client":
        a = sys.argv[2:]
        asyncio.run(client(a[0], int(a[1]), int(a[2]), int(a[3]), float(a[4]), float(a[5]),
                           float(a[6]), int(a[7])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
