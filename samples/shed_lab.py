#!/usr/bin/env python3
"""A server that sheds load, and a ramp of long calls against it (samples/record_shed.sh).

server: Python `websockets` on HOST:PORT. It counts the sessions it has established (its
101 sent, no teardown started: a client's close frame ends one, as does the server's own
drop). Once more than --cap are established, for each session established over the cap
it drops a random established one 0.3-2 s later, the kinds in turn: RST (SO_LINGER 0),
FIN without a close frame, close 1011, close 1013. While --cap or more are established it
answers every other upgrade with HTTP 503. Its upgrade answer waits --delay-per-session
seconds per established session. Every drop and rejection goes to the --log TSV with the
number of sessions established at that moment (the dropped one included): the truth the
test checks `established_at_teardown` against.

client: --sessions calls in steps of --step every --every seconds, each lasting
--life-min..--life-max seconds (a message every --message-every seconds, default 1.5,
echoed), then a close 1000.

With --cert/--key (server) and --ca/--keylog (client) the same run goes over wss://, the
client writing its TLS secrets to the key log (NSS format).
"""

import argparse
import asyncio
import random
import socket
import ssl
import struct
import sys
import time
from http import HTTPStatus

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

KINDS = ["rst", "fin", "close 1011", "close 1013"]


def log(*a: object) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


class Shedder:
    def __init__(self, args) -> None:
        self.args = args
        self.established: dict[int, object] = {}  # client port -> connection
        self.shed = 0
        self.rejects = 0
        self.rng = random.Random(args.seed)
        self.out = open(args.log, "w", encoding="utf-8")
        self.out.write("client_port\tkind\testablished\ttime\n")

    def row(self, port: int, kind: str, established: int) -> None:
        self.out.write(f"{port}\t{kind}\t{established}\t{time.time():.6f}\n")
        self.out.flush()

    async def process_request(self, connection, request):
        n = len(self.established)
        if n >= self.args.cap:
            self.rejects += 1
            if self.rejects % 2 == 1:
                port = connection.remote_address[1]
                self.row(port, "http 503", n)
                return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "overloaded\n")
        await asyncio.sleep(self.args.delay_per_session * n)
        return None

    async def drop(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if not self.established:
            return
        port = self.rng.choice(list(self.established))
        ws = self.established[port]
        kind = KINDS[self.shed % len(KINDS)]
        self.shed += 1
        # The count at the drop, the dropped session included; then it is torn down.
        self.row(port, kind, len(self.established))
        del self.established[port]
        try:
            if kind == "rst":
                sock = ws.transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                ws.transport.abort()
            elif kind == "fin":
                ws.transport.close()
            else:
                code = int(kind.split()[1])
                await ws.close(code, "internal error" if code == 1011 else "try again later")
        except Exception as e:  # noqa: BLE001 - the connection may be gone already
            log(f"drop of {port}: {e!r}")

    async def handler(self, ws) -> None:
        port = ws.remote_address[1]
        self.established[port] = ws
        if len(self.established) > self.args.cap:
            asyncio.get_running_loop().create_task(self.drop(self.rng.uniform(0.3, 2.0)))
        try:
            async for msg in ws:
                await ws.send(msg)
        except ConnectionClosed:
            pass
        finally:
            # A client close (or a drop, already counted out).
            self.established.pop(port, None)


async def run_server(args) -> None:
    s = Shedder(args)
    tls = None
    if args.cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.cert, args.key)
        if args.tls_max == "1.2":
            tls.maximum_version = ssl.TLSVersion.TLSv1_2
    async with serve(s.handler, args.host, args.port, process_request=s.process_request,
                     ping_interval=None, max_queue=None, backlog=1024, ssl=tls):
        log(f"server: shedding above {args.cap} on {args.host}:{args.port}")
        await asyncio.sleep(args.max_seconds)


def client_tls(args):
    if not args.ca:
        return None
    tls = ssl.create_default_context(cafile=args.ca)
    tls.check_hostname = False
    tls.keylog_filename = args.keylog
    return tls


async def call(n: int, args, stats: dict) -> None:
    life = random.uniform(args.life_min, args.life_max)
    scheme = "wss" if args.tls else "ws"
    try:
        async with connect(f"{scheme}://{args.host}:{args.port}/call/{n}", open_timeout=20,
                           ping_interval=None, close_timeout=5, ssl=args.tls) as ws:
            end = time.monotonic() + life
            while time.monotonic() < end:
                await ws.send(f"call {n} at {time.time():.3f}")
                await ws.recv()
                pause = min(args.message_every, max(0.0, end - time.monotonic()))
                await asyncio.sleep(pause)
            await ws.close(1000)
            stats["clean"] += 1
    except InvalidStatus:
        stats["rejected"] += 1
    except (ConnectionClosed, OSError) as e:
        stats["dropped"] += 1
        log(f"call {n}: {e!r}")


async def run_client(args) -> None:
    random.seed(args.seed)
    args.tls = client_tls(args)
    stats = {"clean": 0, "rejected": 0, "dropped": 0}
    tasks = []
    for n in range(args.sessions):
        step, k = divmod(n, args.step)
        at = (step + k / args.step) * args.every
        delay = at - (time.monotonic() - args.t0)
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(call(n + 1, args, stats)))
    await asyncio.gather(*tasks)
    log(f"client: {stats}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("--host", default="10.99.0.2")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--cap", type=int, default=60)
    p.add_argument("--delay-per-session", type=float, default=0.002)
    p.add_argument("--log", default="shed.truth.tsv")
    p.add_argument("--max-seconds", type=float, default=120)
    p.add_argument("--sessions", type=int, default=150)
    p.add_argument("--step", type=int, default=15)
    p.add_argument("--every", type=float, default=2.0)
    p.add_argument("--life-min", type=float, default=15.0)
    p.add_argument("--life-max", type=float, default=30.0)
    p.add_argument("--message-every", type=float, default=1.5)
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--cert", help="server: certificate (PEM) for wss://")
    p.add_argument("--key", help="server: its private key (PEM)")
    p.add_argument("--tls-max", choices=["1.2", "1.3"], default="1.3",
                   help="server: the highest TLS version it accepts")
    p.add_argument("--ca", help="client: the certificate to trust, for wss://")
    p.add_argument("--keylog", help="client: write the TLS secrets here")
    args = p.parse_args()
    args.t0 = time.monotonic()
    asyncio.run(run_server(args) if args.role == "server" else run_client(args))


if __name__ == "__main__":
    main()
