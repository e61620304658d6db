#!/usr/bin/env python3
"""WebSocket teardown lab: a real `websockets` server and client that act out named
teardown scenarios, so that tcpdump can record what real network stacks put on the wire.

    ws_lab.py server --listen 10.99.0.2:8080 --listen 10.99.0.3:8080 \
                     --listen [fd00:99::2]:8080 --plain-listen 10.99.0.2:8081
    ws_lab.py client --truth out.tsv --scenarios clean_client_close,ping_pong ...
    ws_lab.py load   --truth load.tsv --targets 10.99.0.2:8080,10.99.0.3:8080

Every client connection asks for the URL path `/<scenario>` (the load run: `/load/<n>`);
the server picks its behaviour from that path. The client writes one line of ground
truth per TCP connection it opened:

    scenario client_ip client_port server_ip server_port expected_verdict observed_close_code detail

`observed_close_code` is what the websockets client library reported when the
connection ended: the code of the close frame it received (1005 when that frame had no
code), or 1006 when it received none (including a refused, unanswered or rejected
opening handshake, as browsers report). `detail` is free text for humans.

Meant to run only inside the network namespaces that `record.sh` creates: it talks to
the addresses it is given and nothing else, and every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import struct
import sys
import time
from http import HTTPStatus

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

# Ports used by the lab (server side).
WS_PORT = 8080
PLAIN_PORT = 8081  # plain TCP listener that never accepts (syn_unanswered)
REFUSED_PORT = 9999  # nothing listens there (connect_refused)

# Load run: the concurrency cap of the "overloaded proxy" address and its timings.
LOAD_CAP = 25
LOAD_DROP_AFTER = 1.5  # seconds after the handshake an over-cap session is reset
LOAD_HARD_PENDING = 4  # this many over-cap sessions waiting for their reset = "hit hard"
LOAD_MAX_1013 = 3  # at most this many sessions get a 1013 close instead

HARD_DEADLINE = 15.0  # no single scenario may take longer than this


def log(*a: object) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


def hostport(s: str) -> tuple[str, int]:
    """'10.99.0.2:8080' or '[fd00:99::2]:8080' -> (host, port)."""
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def linger0(sock_like: object) -> None:
    """SO_LINGER {on, 0}: close() then sends a RST instead of a FIN."""
    sock_like.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# ----------------------------------------------------------------------------- server


class LoadState:
    """Per-server-address bookkeeping of the load run."""

    def __init__(self) -> None:
        self.admitted = 0  # sessions open and within the cap
        self.pending_reset = 0  # over-cap sessions waiting for their reset
        self.sent_1013 = 0


async def echo_until_closed(ws) -> None:
    try:
        async for msg in ws:
            await ws.send(msg)
    except ConnectionClosed:
        pass


async def recv_n(ws, n: int) -> list:
    out = []
    for _ in range(n):
        out.append(await ws.recv())
    return out


async def server_close_with(ws, code: int, reason: str) -> None:
    msg = await ws.recv()
    await ws.send(f"ack {msg}")
    await ws.close(code, reason)


async def load_handler(ws, n: int, args, states: dict[str, LoadState]) -> None:
    local_ip = ws.transport.get_extra_info("sockname")[0]
    capped = local_ip in args.capped
    st = states.setdefault(local_ip, LoadState())
    t0 = time.monotonic()
    action = "serve"
    if capped and st.admitted >= args.cap:
        if st.pending_reset >= LOAD_HARD_PENDING and st.sent_1013 < LOAD_MAX_1013:
            action = "close_1013"
            st.sent_1013 += 1
        else:
            action = "reset_after_timeout"
            st.pending_reset += 1
    elif capped:
        st.admitted += 1
    log(f"load/{n} on {local_ip}: {action} (admitted={st.admitted} "
        f"pending_reset={st.pending_reset} sent_1013={st.sent_1013})")

    async def server_pings() -> None:
        # The server pings now and then, like a keepalive would.
        for i in range(10):
            await asyncio.sleep(1.3)
            await ws.ping(f"srv{i}".encode())

    pinger = asyncio.create_task(server_pings())
    try:
        if action == "serve":
            await echo_until_closed(ws)
        elif action == "close_1013":
            # Read the first message, then refuse to go on.
            await ws.recv()
            await ws.close(1013, "try again later")
        else:
            # Keep echoing until the proxy's fixed timeout, then drop the session.
            echo = asyncio.create_task(echo_until_closed(ws))
            await asyncio.sleep(max(0.0, LOAD_DROP_AFTER - (time.monotonic() - t0)))
            echo.cancel()
            if ws.transport is not None and not ws.transport.is_closing():
                linger0(ws.transport.get_extra_info("socket"))
                ws.transport.abort()
            await ws.wait_closed()
    except ConnectionClosed:
        pass
    finally:
        pinger.cancel()
        if action == "serve" and capped:
            st.admitted -= 1
        elif action == "reset_after_timeout":
            st.pending_reset -= 1


async def handler(ws, args, states) -> None:
    path = ws.request.path
    name = path.strip("/")
    peer = ws.transport.get_extra_info("peername")
    log(f"server: {peer[0]}:{peer[1]} {path}")
    if name.startswith("load/"):
        return await load_handler(ws, int(name.split("/")[1]), args, states)
    if name.endswith("_v6"):
        name = name[: -len("_v6")]
    try:
        if name in ("clean_client_close", "ping_pong", "large_messages",
                    "client_abort", "client_fin_no_close"):
            await echo_until_closed(ws)
        elif name == "fragmented":
            got = await recv_n(ws, 2)
            log(f"server: fragmented got {[type(m).__name__ for m in got]}")
            # One fragmented text message back: an iterable of str.
            await ws.send(["server ", "fragmented ", "reply"])
            await echo_until_closed(ws)
        elif name == "clean_server_close":
            await server_close_with(ws, 1001, "going away")
        elif name == "server_close_1011":
            await server_close_with(ws, 1011, "internal error")
        elif name == "server_close_1013":
            await server_close_with(ws, 1013, "try again later")
        elif name == "server_rst_no_close":
            msg = await ws.recv()
            await ws.send(f"ack {msg}")
            await asyncio.sleep(0.05)
            linger0(ws.transport.get_extra_info("socket"))
            ws.transport.abort()
            await ws.wait_closed()
        elif name == "server_fin_no_close":
            msg = await ws.recv()
            await ws.send(f"ack {msg}")
            await asyncio.sleep(0.05)
            ws.transport.close()
            await ws.wait_closed()
        else:
            await echo_until_closed(ws)
    except ConnectionClosed:
        pass


def process_request(connection, request):
    if request.path.strip("/") == "handshake_503":
        return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "overloaded, try later\n")
    return None


async def run_server(args) -> None:
    states: dict[str, LoadState] = {}
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))

    servers = []
    for spec in args.listen:
        host, port = hostport(spec)
        srv = await serve(
            lambda ws: handler(ws, args, states),
            host, port,
            process_request=process_request,
            # Compression is negotiated only if the client offers it; the client
            # offers it only in clean_client_close.
            compression="deflate",
            ping_interval=None,
            close_timeout=3,
            reuse_address=True,
        )
        servers.append(srv)
        log(f"server: websockets on {spec}")

    plain = []
    for spec in args.plain_listen or []:
        host, port = hostport(spec)
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(args.plain_backlog)  # never accept(): the accept queue fills up
        plain.append(s)
        log(f"server: plain listener on {spec}, backlog {args.plain_backlog}, never accepts")

    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write("ready\n")
    try:
        await asyncio.wait_for(stop, timeout=args.max_seconds)
    except asyncio.TimeoutError:
        log("server: max lifetime reached")
    for srv in servers:
        srv.close()
    for srv in servers:
        try:
            await asyncio.wait_for(srv.wait_closed(), 3)
        except asyncio.TimeoutError:
            pass
    for s in plain:
        s.close()


# ----------------------------------------------------------------------------- client


class Truth:
    def __init__(self, path: str) -> None:
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        self.f = open(path, "a")
        if new:
            self.f.write("scenario\tclient_ip\tclient_port\tserver_ip\tserver_port\t"
                         "expected_verdict\tobserved_close_code\tdetail\n")

    def row(self, scenario, cip, cport, sip, sport, verdict, observed, detail="") -> None:
        self.f.write(f"{scenario}\t{cip}\t{cport}\t{sip}\t{sport}\t{verdict}\t{observed}\t{detail}\n")
        self.f.flush()
        log(f"truth: {scenario} {cip}:{cport} -> {sip}:{sport} {verdict} {observed} {detail}")


async def open_socket(client_ip: str, server_ip: str, port: int, timeout: float):
    """A TCP socket bound to a known local port, connected to server_ip:port.

    Returns (sock_or_None, client_port, error_or_None)."""
    fam = socket.AF_INET6 if ":" in server_ip else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setblocking(False)
    s.bind((client_ip, 0))
    cport = s.getsockname()[1]
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(s, (server_ip, port)), timeout)
    except (OSError, asyncio.TimeoutError) as e:
        s.close()
        return None, cport, e
    return s, cport, None


def observed_code(ws) -> int:
    """What the library reports: the received close frame's code, else 1006."""
    rcvd = ws.protocol.close_rcvd
    return 1006 if rcvd is None else int(rcvd.code)


def ws_kwargs(scenario: str) -> dict:
    kw = dict(proxy=None, ping_interval=None, open_timeout=5, close_timeout=3,
              max_size=2**20)
    if scenario != "clean_client_close":
        kw["compression"] = None  # only clean_client_close negotiates permessage-deflate
    return kw


async def client_session(scenario: str, a) -> tuple[str, int, str]:
    """Runs one scenario on an open ClientConnection `a`; returns (verdict, observed, detail)."""
    ws = a
    base = scenario[: -len("_v6")] if scenario.endswith("_v6") else scenario
    if base == "clean_client_close":
        for i in range(3):
            await ws.send(f"hello {i}")
            await ws.recv()
        await ws.close(1000)
        ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        return "clean_close_client", observed_code(ws), f"extensions={ext or 'none'}"
    if base in ("clean_server_close", "server_close_1011", "server_close_1013"):
        await ws.send("please close")
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass
        code = observed_code(ws)
        verdict = "clean_close_server" if code in (1000, 1001, 1005) else "server_close_error"
        return verdict, code, f"reason={ws.protocol.close_rcvd.reason if ws.protocol.close_rcvd else ''}"
    if base in ("server_rst_no_close", "server_fin_no_close"):
        await ws.send("please drop me")
        detail = ""
        try:
            async for _ in ws:
                pass
        except ConnectionClosed as e:
            detail = f"{type(e).__name__} cause={type(e.__cause__).__name__ if e.__cause__ else None}"
        return base, observed_code(ws), detail
    if base == "client_abort":
        await ws.send("bye")
        await ws.recv()
        linger0(ws.transport.get_extra_info("socket"))
        ws.transport.abort()
        await ws.wait_closed()
        return "client_rst_no_close", observed_code(ws), "client SO_LINGER 0 + abort"
    if base == "client_fin_no_close":
        await ws.send("bye")
        await ws.recv()
        ws.transport.close()
        await ws.wait_closed()
        return "client_fin_no_close", observed_code(ws), "client transport.close()"
    if base == "ping_pong":
        rtts = []
        for p in (b"p1", b"p2", b"p3"):
            waiter = await ws.ping(p)
            rtts.append(await asyncio.wait_for(waiter, 5))
        await ws.close(1000)
        return "clean_close_client", observed_code(ws), "rtt_ms=" + ",".join(f"{r*1000:.2f}" for r in rtts)
    if base == "fragmented":
        await ws.send(["frag", "mented ", "text ", "message"])
        await ws.send([b"\x00\x01" * 700, b"\x02\x03" * 700, b"\x04\x05" * 50])
        reply = await ws.recv()
        await ws.close(1000)
        return "clean_close_client", observed_code(ws), f"reply={reply!r}"
    if base == "large_messages":
        rnd = random.Random(20240601)
        sizes = []
        for size, kind in ((20_000, "text"), (45_000, "binary"), (60_000, "text")):
            if kind == "text":
                msg = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(size))
            else:
                msg = rnd.randbytes(size)
            await ws.send(msg)
            back = await asyncio.wait_for(ws.recv(), 10)
            assert back == msg, "echo differs"
            sizes.append(len(back))
        await ws.close(1000)
        return "clean_close_client", observed_code(ws), f"echoed sizes={sizes}"
    raise SystemExit(f"unknown scenario {scenario}")


async def run_ws_scenario(scenario, cip, sip, port, truth: Truth) -> None:
    s, cport, err = await open_socket(cip, sip, port, timeout=3.5)
    if s is None:
        truth.row(scenario, cip, cport, sip, port, "connect_failed_unexpectedly", 1006, repr(err))
        return
    uri = f"ws://{uri_host(sip)}:{port}/{scenario}"
    try:
        async with connect(uri, sock=s, **ws_kwargs(scenario)) as ws:
            verdict, code, detail = await asyncio.wait_for(client_session(scenario, ws), HARD_DEADLINE)
    except InvalidStatus as e:
        truth.row(scenario, cip, cport, sip, port, "handshake_rejected", 1006,
                  f"HTTP {e.response.status_code}")
        return
    truth.row(scenario, cip, cport, sip, port, verdict, code, detail)


async def run_connect_refused(scenario, cip, sip, truth: Truth) -> None:
    s, cport, err = await open_socket(cip, sip, REFUSED_PORT, timeout=3.5)
    if s is not None:
        s.close()
        raise SystemExit("connect_refused: something listens on the refused port")
    truth.row(scenario, cip, cport, sip, REFUSED_PORT, "connect_refused", 1006, type(err).__name__)


async def run_syn_unanswered(scenario, cip, sip, truth: Truth, fillers: int) -> list:
    """Fill the never-accepting listener's accept queue, then connect once more: the
    kernel drops that SYN (and its retransmissions) and the client gives up at 3.5 s.

    Linux counts the accept queue as full when it holds MORE than `backlog` connections,
    so listen(0) queues one connection and listen(1) two: the server uses backlog 1 for
    the two fillers."""
    held = []
    for i in range(fillers):
        s, cport, err = await open_socket(cip, sip, PLAIN_PORT, timeout=2.5)
        if s is None:
            # Makes check_wire.py (and record.sh) fail: the queue was smaller than planned.
            truth.row(f"{scenario}_filler", cip, cport, sip, PLAIN_PORT, "FILLER_FAILED", "",
                      f"filler {i} did not connect: {type(err).__name__}")
        else:
            truth.row(f"{scenario}_filler", cip, cport, sip, PLAIN_PORT, "not_websocket", "",
                      f"plain TCP filler {i}: sends nothing, open until the end of the run, then FIN")
            held.append(s)
    await asyncio.sleep(0.1)
    t0 = time.monotonic()
    s, cport, err = await open_socket(cip, sip, PLAIN_PORT, timeout=3.5)
    took = time.monotonic() - t0
    if s is not None:
        s.close()
        truth.row(scenario, cip, cport, sip, PLAIN_PORT, "UNEXPECTEDLY_CONNECTED", 1006, "")
    else:
        truth.row(scenario, cip, cport, sip, PLAIN_PORT, "syn_unanswered", 1006,
                  f"{type(err).__name__} after {took:.2f}s")
    return held


async def run_client(args) -> None:
    truth = Truth(args.truth)
    held: list[socket.socket] = []
    scenarios = [s for s in args.scenarios.split(",") if s]
    for rep in range(args.repeat):
        for sc in scenarios:
            v6 = sc.endswith("_v6")
            cip = args.client_ip6 if v6 else args.client_ip
            sip = args.server_ip6 if v6 else args.server_ip
            log(f"client: --- {sc} (run {rep + 1}/{args.repeat})")
            if sc == "connect_refused":
                await run_connect_refused(sc, cip, sip, truth)
            elif sc == "syn_unanswered":
                held += await run_syn_unanswered(sc, cip, sip, truth, args.fillers)
            else:
                await asyncio.wait_for(run_ws_scenario(sc, cip, sip, WS_PORT, truth), HARD_DEADLINE + 5)
            await asyncio.sleep(args.gap)
    # The filler connections stay open until the very end of the run.
    await asyncio.sleep(args.gap)
    for s in held:
        s.close()


# ----------------------------------------------------------------------------- load run


async def load_session(n: int, cip: str, sip: str, port: int, args, truth: Truth,
                       tls: tuple | None = None) -> None:
    """One load session; `tls` = (uri host, connect() keywords, callback given the open
    connection) makes it wss:// (../tls/wss_lab.py)."""
    s, cport, err = await open_socket(cip, sip, port, timeout=3.5)
    if s is None:
        truth.row("load", cip, cport, sip, port, "connect_failed_unexpectedly", 1006, repr(err))
        return
    uri = f"ws://{uri_host(sip)}:{port}/load/{n}"
    kw = ws_kwargs("load")
    if tls is not None:
        uri = f"wss://{tls[0]}:{port}/load/{n}"
        kw.update(tls[1])
    detail = ""
    pad = "x" * args.pad
    try:
        async with connect(uri, sock=s, **kw) as ws:
            if tls is not None:
                tls[2](ws)
            async def reader():
                try:
                    async for _ in ws:
                        pass
                except ConnectionClosed:
                    pass

            rd = asyncio.create_task(reader())
            t0 = time.monotonic()
            seq = 0
            try:
                while time.monotonic() - t0 < args.life and seq < 1000:
                    seq += 1
                    await ws.send(json.dumps({"session": n, "seq": seq,
                                              "t": round(time.time(), 3), "pad": pad}))
                    if seq % 7 == 3:
                        await ws.ping(f"c{n}.{seq}".encode())  # pong is awaited by nobody
                    await asyncio.sleep(args.every)
                await ws.close(1000)
            except ConnectionClosed as e:
                detail = f"{type(e).__name__} cause={type(e.__cause__).__name__ if e.__cause__ else None}"
            await asyncio.wait_for(ws.wait_closed(), 5)
            rd.cancel()
            code = observed_code(ws)
            cause = ws.connection_exc
            proto = ws.protocol
    except InvalidStatus as e:
        truth.row("load", cip, cport, sip, port, "handshake_rejected", 1006, f"HTTP {e.response.status_code}")
        return
    rcvd = proto.close_rcvd
    if rcvd is not None:
        # close_rcvd_then_sent is False when our close frame went out first.
        if proto.close_rcvd_then_sent is False:
            sent = proto.close_sent.code if proto.close_sent else 1005
            verdict = "clean_close_client" if sent in (1000, 1001, 1005) else "client_close_error"
        elif rcvd.code in (1000, 1001, 1005):
            verdict = "clean_close_server"
        else:
            verdict = "server_close_error"
        detail = f"close {rcvd.code} {rcvd.reason!r}" + (f" after {detail}" if detail else "")
    elif isinstance(cause, ConnectionResetError) or "ConnectionReset" in detail:
        verdict = "server_rst_no_close"
    else:
        verdict = "server_fin_no_close"
    truth.row("load", cip, cport, sip, port, verdict, code, detail)


async def run_load(args, truth: Truth | None = None, tls: tuple | None = None) -> None:
    truth = truth or Truth(args.truth)
    targets = [hostport(t) for t in args.targets.split(",")]
    tasks = []
    t_start = time.monotonic()
    for n in range(args.sessions):
        sip, port = targets[n % len(targets)]
        tasks.append(asyncio.create_task(
            load_session(n, args.client_ip, sip, port, args, truth, tls)))
        await asyncio.sleep(args.interval)
    done, pending = await asyncio.wait(tasks, timeout=args.life + 8)
    for t in pending:
        t.cancel()
    for t in done:
        if t.exception():
            log(f"load: session failed: {t.exception()!r}")
    log(f"load: {len(done)} sessions done, {len(pending)} cancelled, "
        f"{time.monotonic() - t_start:.1f}s")


# ----------------------------------------------------------------------------- main


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)

    sp = sub.add_parser("server")
    sp.add_argument("--listen", action="append", required=True, help="host:port, repeatable")
    sp.add_argument("--plain-listen", action="append", help="host:port of a never-accepting TCP listener")
    sp.add_argument("--plain-backlog", type=int, default=1,
                    help="listen() backlog; Linux queues backlog+1 connections before it drops SYNs")
    sp.add_argument("--capped", action="append", default=[], help="server IP that enforces the load cap")
    sp.add_argument("--cap", type=int, default=LOAD_CAP)
    sp.add_argument("--ready-file")
    sp.add_argument("--max-seconds", type=float, default=120)

    cp = sub.add_parser("client")
    cp.add_argument("--truth", required=True)
    cp.add_argument("--scenarios", required=True)
    cp.add_argument("--repeat", type=int, default=1)
    cp.add_argument("--client-ip", default="10.99.0.1")
    cp.add_argument("--server-ip", default="10.99.0.2")
    cp.add_argument("--client-ip6", default="fd00:99::1")
    cp.add_argument("--server-ip6", default="fd00:99::2")
    cp.add_argument("--fillers", type=int, default=2)
    cp.add_argument("--gap", type=float, default=0.1)

    lp = sub.add_parser("load")
    lp.add_argument("--truth", required=True)
    lp.add_argument("--targets", default="10.99.0.2:8080,10.99.0.3:8080")
    lp.add_argument("--client-ip", default="10.99.0.1")
    lp.add_argument("--sessions", type=int, default=100)
    lp.add_argument("--interval", type=float, default=0.06)
    lp.add_argument("--life", type=float, default=4.0)
    lp.add_argument("--every", type=float, default=0.2)
    lp.add_argument("--pad", type=int, default=400, help="padding bytes per JSON message")

    args = p.parse_args()
    if args.mode == "server":
        asyncio.run(run_server(args))
    elif args.mode == "client":
        asyncio.run(asyncio.wait_for(run_client(args), 120))
    else:
        asyncio.run(asyncio.wait_for(run_load(args), 30))


if __name__ == "__main__":
    main()
