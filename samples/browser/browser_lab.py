#!/usr/bin/env python3
"""Server, truth writer and wire check for the browser / JVM `wss://` samples.

    browser_lab.py server --tls 1.3 --cert cert.pem --key key.pem \
        --wss 10.99.0.2:8443 --https 10.99.0.2:8444 --page page.html \
        --conn-log conn.jsonl --results results.jsonl [--keylog server.keylog]
    browser_lab.py truth  --kind chromium --conn-log conn.jsonl --results results.jsonl \
        --out chromium13.truth.tsv
    browser_lab.py verify CAPTURE TRUTH.tsv KEYLOG

`server` runs the Python `websockets` server of ../ws_lab.py (the same scenario handlers,
chosen by the request path) over TLS, plus a small HTTPS/1.1 server that serves the test
page, receives the results the page POSTs, and answers plain requests (`/hello`). The
WebSocket path is `/<scenario>/<n>`, unique per socket; the server logs, for each upgrade
request and each HTTPS connection, the client's address and port and the negotiated TLS
version and suite (conn.jsonl). The clients (the page in Chromium, WsClient.java) report,
per path, what their WebSocket API told them (results.jsonl).

`truth` joins both into a truth file (the columns of ../tls/*.truth.tsv plus client_kind,
was_clean, on_error). `verify` checks the truth against tshark's decryption of the capture
with the key log and fails (exit 1) on any disagreement.

Meant to run only inside the network namespaces that record_browser.sh creates.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from http import HTTPStatus

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tls"))

TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}

# Scenario -> expected verdict by the samples' rules (first teardown event on the wire).
EXPECTED = {
    "clean_client_close": "clean_close_client",
    "clean_server_close": "clean_close_server",
    "server_close_1011": "server_close_error",
    "server_close_1013": "server_close_error",
    "server_rst_no_close": "server_rst_no_close",
    "server_fin_no_close": "server_fin_no_close",
    "handshake_503": "handshake_rejected",
    "ping_pong": "clean_close_client",
    "server_ping_pong": "clean_close_client",
    "fragmented": "clean_close_client",
    "large_messages": "clean_close_client",
    # The client's close 1000 is the first teardown event; the server holds its answer.
    "slow_close_ack": "clean_close_client",
    # java.net.http.WebSocket.abort(): the JDK closes its socket channel (a FIN).
    "client_abort": "client_fin_no_close",
}

SLOW_CLOSE_DELAY = 65.0  # Chromium gives up on the closing handshake after 60 s


def log(*a: object) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


def hostport(s: str) -> tuple[str, int]:
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def tls_info(ssl_object) -> tuple[str, str]:
    if ssl_object is None:
        return "", ""
    name = ssl_object.cipher()[0]
    cid = ""
    for c in ssl_object.context.get_ciphers():
        if c["name"] == name:
            cid = f"0x{c['id'] & 0xFFFF:04x}"
    if not cid:  # TLS 1.3 suites are not in get_ciphers() on every OpenSSL build
        cid = {"TLS_AES_128_GCM_SHA256": "0x1301", "TLS_AES_256_GCM_SHA384": "0x1302",
               "TLS_CHACHA20_POLY1305_SHA256": "0x1303"}.get(name, "")
    return ssl_object.version(), cid


# ----------------------------------------------------------------------------- server


class JsonLog:
    def __init__(self, path: str) -> None:
        self.f = open(path, "a")

    def write(self, **rec) -> None:
        rec["t"] = round(time.time(), 6)
        self.f.write(json.dumps(rec) + "\n")
        self.f.flush()


def server_context(args, alpn: list[str] | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    v = TLS_VERSIONS[args.tls]
    ctx.minimum_version = v
    ctx.maximum_version = v
    if args.tls == "1.2":
        ctx.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")  # AEAD suites only, as ../tls
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if args.keylog:
        # Server-side key log: the JVM writes none, and the secrets are the same on both ends.
        ctx.keylog_filename = args.keylog
    return ctx


def scenario_of(path: str) -> str:
    return path.strip("/").split("/")[0]


def hold_close_answer(ws, delay: float) -> None:
    """Delays everything the server writes once it has received the client's close frame
    (that is: its answering close frame) by `delay` seconds."""
    orig = ws.send_data
    state = {"scheduled": False}

    def send_data() -> None:
        if ws.protocol.close_rcvd is None:
            return orig()
        if not state["scheduled"]:
            state["scheduled"] = True
            log(f"server: close frame received, answering in {delay:.0f} s")

            def later() -> None:
                log("server: now answering the close frame")
                try:
                    orig()
                except Exception as e:  # the client may be gone by then
                    log(f"server: late close answer failed: {e!r}")

            ws.loop.call_later(delay, later)

    ws.send_data = send_data


async def ws_handler(ws, args) -> None:
    import ws_lab
    from websockets.exceptions import ConnectionClosed

    path = ws.request.path
    name = scenario_of(path)
    try:
        if name == "server_ping_pong":
            # Browsers cannot send pings from JavaScript: the server pings, the client pongs.
            await ws.recv()
            rtts = []
            for p in (b"s1", b"s2", b"s3"):
                waiter = await ws.ping(p)
                rtts.append(await asyncio.wait_for(waiter, 5))
            await ws.send("pinged " + ",".join(f"{r * 1000:.2f}" for r in rtts))
            await ws_lab.echo_until_closed(ws)
        elif name == "slow_close_ack":
            ws.close_timeout = SLOW_CLOSE_DELAY + 30
            hold_close_answer(ws, SLOW_CLOSE_DELAY)
            await ws_lab.echo_until_closed(ws)
            await asyncio.wait_for(ws.wait_closed(), SLOW_CLOSE_DELAY + 30)
        else:
            # ws_lab's handler picks the scenario from the path: give it `/<scenario>`.
            ws.request.path = "/" + name
            await ws_lab.handler(ws, args, {})
    except (ConnectionClosed, asyncio.TimeoutError):
        pass


def ws_process_request(conn_log: JsonLog):
    def process_request(connection, request):
        peer = connection.transport.get_extra_info("peername")
        ver, cid = tls_info(connection.transport.get_extra_info("ssl_object"))
        name = scenario_of(request.path)
        status = 503 if name == "handshake_503" else 101
        conn_log.write(kind="ws", path=request.path, client_ip=peer[0], client_port=peer[1],
                       server_port=connection.transport.get_extra_info("sockname")[1],
                       tls_version=ver, tls_cipher_id=cid, status=status,
                       user_agent=request.headers.get("User-Agent", ""),
                       extensions_offered=request.headers.get("Sec-WebSocket-Extensions", ""))
        log(f"server: {peer[0]}:{peer[1]} {request.path} -> {status}")
        if status == 503:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "overloaded, try later\n")
        return None
    return process_request


async def http_conn(sock, ctx, args, conn_log: JsonLog, results: JsonLog, page: bytes) -> None:
    """A minimal HTTP/1.1 server with keep-alive: the page, /result, /done, /hello."""
    peer = sock.getpeername()
    sport = sock.getsockname()[1]
    # TLS starts on the accepted socket, so that a connection whose TLS handshake never
    # finishes is logged too (Chromium abandons one: see README.md).
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    proto = asyncio.StreamReaderProtocol(reader)
    try:
        transport, _ = await asyncio.wait_for(
            loop.connect_accepted_socket(lambda: proto, sock, ssl=ctx, ssl_handshake_timeout=60), 62)
    except (ConnectionError, ssl.SSLError, OSError, asyncio.TimeoutError) as e:
        conn_log.write(kind="https_tls_failed", client_ip=peer[0], client_port=peer[1],
                       server_port=sport, error=f"{type(e).__name__}: {e}")
        log(f"server: https {peer[1]}: TLS handshake did not finish: {e!r}")
        sock.close()
        return
    writer = asyncio.StreamWriter(transport, proto, reader, loop)
    ver, cid = tls_info(writer.get_extra_info("ssl_object"))
    conn_log.write(kind="https", client_ip=peer[0], client_port=peer[1],
                   server_port=sport, tls_version=ver, tls_cipher_id=cid)
    try:
        while True:
            try:
                line = await asyncio.wait_for(reader.readline(), 120)
            except asyncio.TimeoutError:
                break
            if not line:
                break
            method, target, _ = line.decode("latin-1").split(" ", 2)
            headers = {}
            while True:
                h = (await reader.readline()).decode("latin-1")
                if h in ("\r\n", "\n", ""):
                    break
                k, _, v = h.partition(":")
                headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
            close = headers.get("connection", "").lower() == "close"
            status, ctype, out = 404, "text/plain", b"not found\n"
            if method == "GET" and target.split("?")[0] in ("/", "/index.html"):
                status, ctype, out = 200, "text/html; charset=utf-8", page
            elif method == "POST" and target == "/result":
                rec = json.loads(body)
                results.write(**rec)
                status, out = 200, b"ok\n"
            elif method == "GET" and target.startswith("/done"):
                with open(args.results + ".done", "w") as f:
                    f.write(target + "\n")
                status, out = 200, b"bye\n"
            elif method == "GET" and target.startswith("/hello"):
                status, out = 200, b"hello, this is not a websocket\n"
                close = True  # one request per connection: a distinct TCP connection each
            conn_log.write(kind="https_req", client_port=peer[1], method=method, target=target,
                           status=status, user_agent=headers.get("user-agent", ""))
            hdr = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: {ctype}\r\n"
                   f"Content-Length: {len(out)}\r\nCache-Control: no-store\r\n"
                   f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n")
            writer.write(hdr.encode() + (out if method != "HEAD" else b""))
            await writer.drain()
            if close:
                break
    except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, ValueError) as e:
        log(f"server: https {peer[1]}: {e!r}")
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 3)
        except Exception:
            pass


async def run_server(args) -> None:
    from websockets.asyncio.server import serve

    conn_log = JsonLog(args.conn_log)
    results = JsonLog(args.results)
    page = open(args.page, "rb").read() if args.page else b"no page\n"
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    host, port = hostport(args.wss)
    wss = await serve(lambda ws: ws_handler(ws, args), host, port,
                      ssl=server_context(args, ["http/1.1"]),
                      process_request=ws_process_request(conn_log),
                      compression="deflate", ping_interval=None, close_timeout=3,
                      reuse_address=True)
    log(f"server: wss TLS {args.tls} on {args.wss}")
    hhost, hport = hostport(args.https)
    hctx = server_context(args, ["http/1.1"])
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((hhost, hport))
    lsock.listen(16)
    lsock.setblocking(False)
    conn_tasks = set()

    async def accept_loop() -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(lsock)
            conn.setblocking(False)
            t = asyncio.create_task(http_conn(conn, hctx, args, conn_log, results, page))
            conn_tasks.add(t)
            t.add_done_callback(conn_tasks.discard)

    https = asyncio.create_task(accept_loop())
    log(f"server: https TLS {args.tls} on {args.https}")
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write("ready\n")
    try:
        await asyncio.wait_for(stop, timeout=args.max_seconds)
    except asyncio.TimeoutError:
        log("server: max lifetime reached")
    wss.close()
    https.cancel()
    lsock.close()
    try:
        await asyncio.wait_for(wss.wait_closed(), 3)
    except asyncio.TimeoutError:
        pass


# ----------------------------------------------------------------------------- truth


def read_jsonl(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip()]


def clean(s) -> str:
    return str(s).replace("\t", " ").replace("\n", " ")


def write_truth(args) -> int:
    conns = read_jsonl(args.conn_log)
    results = {r["path"]: r for r in read_jsonl(args.results)}
    header = ["scenario", "client_ip", "client_port", "server_ip", "server_port",
              "expected_verdict", "observed_close_code", "detail", "tls_version",
              "tls_cipher_id", "client_kind", "was_clean", "on_error"]
    rows = []
    seen_paths = set()
    bad = 0
    reqs_by_port: dict[int, list[str]] = {}
    for c in conns:
        if c["kind"] == "https_req":
            reqs_by_port.setdefault(c["client_port"], []).append(f"{c['method']} {c['target']} {c['status']}")
    for c in conns:
        if c["kind"] == "ws":
            path = c["path"]
            if path in seen_paths:
                log(f"truth: {path} requested twice")
                bad += 1
            seen_paths.add(path)
            sc = scenario_of(path)
            r = results.get(path)
            if r is None:
                log(f"truth: no client result for {path}")
                bad += 1
                continue
            if args.kind == "chromium":
                code = r["code"]
                was_clean = "true" if r["wasClean"] else "false"
                on_error = "true" if r["onerror"] else "false"
                detail = f"path={path}; reason={r.get('reason', '')}; extensions={r.get('extensions') or 'none'}"
                if r.get("note"):
                    detail += f"; {r['note']}"
                if r.get("elapsed_ms") is not None:
                    detail += f"; close_event_after_ms={r['elapsed_ms']}"
            else:
                code = r.get("status") if r.get("status") is not None else 1006
                was_clean = ""
                on_error = r.get("error_class", "") or ""
                detail = f"path={path}"
                if r.get("status") is not None:
                    detail += f"; onClose({r['status']}, {r.get('reason', '')!r})"
                if r.get("error_message"):
                    detail += f"; {r['error_message']}"
                if r.get("note"):
                    detail += f"; {r['note']}"
            ver, cid = c["tls_version"], c["tls_cipher_id"]
            rows.append([sc, c["client_ip"], c["client_port"], args.server_ip, c["server_port"],
                         EXPECTED[sc], code, clean(detail), ver, cid, args.kind, was_clean, clean(on_error)])
        elif c["kind"] == "https_tls_failed":
            who = ("Chromium ended the connection (FIN or RST, no alert) after the server's "
                   "handshake flight without finishing the handshake, and connected again; "
                   "an HTTPS connection of the page, not a WebSocket"
                   if args.kind == "chromium" else "TLS handshake did not finish")
            rows.append(["https_abandoned_handshake", c["client_ip"], c["client_port"], args.server_ip,
                         c["server_port"], "tls_handshake_failed", "",
                         clean(f"{who}; server: {c['error']}"), "", "", args.kind, "", ""])
        elif c["kind"] == "https":
            reqs = reqs_by_port.get(c["client_port"], [])
            sc = "https_request" if reqs else "https_no_request"
            detail = ("requests=" + ", ".join(reqs)) if reqs else "TLS handshake, no request"
            rows.append([sc, c["client_ip"], c["client_port"], args.server_ip, c["server_port"],
                         "not_websocket", "", clean(detail), c["tls_version"], c["tls_cipher_id"],
                         args.kind, "", ""])
    for path in results:
        if path not in seen_paths:
            log(f"truth: client result for {path} but the server saw no such request")
            bad += 1
    with open(args.out, "w") as f:
        f.write("\t".join(header) + "\n")
        for r in rows:
            f.write("\t".join(str(x) for x in r) + "\n")
    for r in rows:
        log("truth: " + " ".join(str(x) for x in r[:7]) + f" was_clean={r[11]} on_error={r[12]}")
    return 1 if bad else 0


# ----------------------------------------------------------------------------- verify

FIELDS = ["tcp.stream", "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport", "tcp.flags.syn",
          "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset", "websocket.opcode",
          "websocket.payload.close.status_code", "http.response.code", "http.request.uri",
          "tls.record.content_type", "tls.handshake.type", "tls.alert_message.desc"]


def on(v: str) -> bool:
    return v in ("1", "True")


def verify(args) -> int:
    cmd = ["tshark", "-n", "-r", args.capture, "-o", f"tls.keylog_file:{args.keylog}",
           "-o", "http.tls.port:443,8443,8444", "-Y", "tcp",
           "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    conns: dict[str, dict] = {}
    for line in out.splitlines():
        v = dict(zip(FIELDS, line.split("\t")))
        c = conns.setdefault(v["tcp.stream"], {"client": None, "first": None, "http": [], "uri": [],
                                               "frames": 0, "close": {"client": [], "server": []},
                                               "alerts": []})
        a = (str(ipaddress.ip_address(v["ip.src"])), int(v["tcp.srcport"]))
        if on(v["tcp.flags.syn"]) and not on(v["tcp.flags.ack"]) and c["client"] is None:
            c["client"] = a
        if c["client"] is None:
            continue
        side = "client" if a == c["client"] else "server"
        if v["http.response.code"]:
            c["http"] += v["http.response.code"].split("|")
        if v["http.request.uri"]:
            c["uri"] += v["http.request.uri"].split("|")
        ops = [o for o in v["websocket.opcode"].split("|") if o]
        c["frames"] += len(ops)
        if "8" in ops:
            n = ops.count("8")
            codes = [x for x in v["websocket.payload.close.status_code"].split("|") if x]
            codes = (codes + [""] * n)[:n]
            c["close"][side] += codes
            if c["first"] is None:
                c["first"] = ("close", side, codes[0])
        # A TLS alert after the handshake (close_notify; decrypted here) ends its sender's
        # TLS as a FIN ends its TCP: teardown counts it as that side's FIN, and so do we.
        alert = "21" in v["tls.record.content_type"].split("|")
        if alert:
            c["alerts"].append(f"{side}:{v['tls.alert_message.desc'] or '?'}")
        if c["first"] is None and (on(v["tcp.flags.fin"]) or on(v["tcp.flags.reset"]) or alert):
            c["first"] = ("rst" if on(v["tcp.flags.reset"]) else "fin", side, "")
    by_client = {c["client"]: (s, c) for s, c in conns.items() if c["client"]}
    bad = 0
    lines = open(args.truth).read().splitlines()
    header = lines[0].split("\t")
    seen = set()
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t")))
        key = (row["client_ip"], int(row["client_port"]))
        seen.add(key)
        got = by_client.get(key)
        if got is None:
            print(f"  MISSING {row['scenario']} {key}: not in {args.capture}")
            bad += 1
            continue
        stream, c = got
        problems = []
        if row["expected_verdict"] == "tls_handshake_failed":
            if c["uri"] or c["http"] or c["frames"]:
                problems.append("application data decrypted on a failed handshake")
            if c["first"] is None or c["first"][1] != "client":
                problems.append(f"first end {c['first']}, expected the client's FIN or RST")
            wire = "tls_handshake_failed"
        elif row["expected_verdict"] == "not_websocket":
            if c["frames"]:
                problems.append(f"{c['frames']} websocket frames on a plain HTTPS connection")
            if not c["uri"] and row["scenario"] == "https_request":
                problems.append("no HTTP request decrypted")
            if any(u and u.split("?")[0] not in ("/", "/index.html", "/result", "/favicon.ico")
                   and not u.startswith(("/done", "/hello")) for u in c["uri"]):
                problems.append(f"unexpected URIs {c['uri']}")
            wire = "not_websocket"
        else:
            path = row["detail"].split(";")[0].removeprefix("path=")
            if c["uri"][:1] != [path]:
                problems.append(f"upgrade URI {c['uri'][:1]} != {path}")
            want_status = "503" if row["expected_verdict"] == "handshake_rejected" else "101"
            if c["http"][:1] != [want_status]:
                problems.append(f"upgrade answered {c['http'][:1]}, expected {want_status}")
            if c["http"][:1] == ["101"]:
                if c["first"] is None:
                    wire = "open"
                else:
                    kind, side, code = c["first"]
                    if kind == "close":
                        wire = f"clean_close_{side}" if code in ("", "1000", "1001") else f"{side}_close_error"
                    else:
                        wire = f"{side}_{kind}_no_close"
            else:
                wire = "handshake_rejected"
            # What the client could have seen: the first close frame the server sent.
            srv = c["close"]["server"]
            wire_code = (int(srv[0]) if srv[0] else 1005) if srv else 1006
            if str(wire_code) != row["observed_close_code"]:
                problems.append(f"client reported {row['observed_close_code']}, the server's close frame "
                                f"on the wire says {wire_code}")
            if wire != row["expected_verdict"]:
                problems.append(f"wire verdict {wire} != {row['expected_verdict']}")
        status = "BAD" if problems else "ok "
        if problems or args.verbose:
            print(f"  {status} stream {stream:>3} {row['scenario']:20s} :{row['client_port']:<5} "
                  f"truth={row['expected_verdict']}/{row['observed_close_code']} wire={wire} "
                  f"http={','.join(c['http'])} close c->s={c['close']['client']} "
                  f"s->c={c['close']['server']} alerts={c['alerts']} {'; '.join(problems)}")
        bad += bool(problems)
    for key, (s, c) in by_client.items():
        if key not in seen:
            print(f"  EXTRA stream {s} {key}: on the wire, not in the truth (uri={c['uri']})")
            bad += 1
    print(f"{args.capture}: {len(lines) - 1} truth rows, {len(by_client)} TCP connections, "
          f"{bad} disagreement(s)")
    return 1 if bad else 0


# ----------------------------------------------------------------------------- main


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    sp = sub.add_parser("server")
    sp.add_argument("--tls", choices=sorted(TLS_VERSIONS), required=True)
    sp.add_argument("--cert", required=True)
    sp.add_argument("--key", required=True)
    sp.add_argument("--wss", default="10.99.0.2:8443")
    sp.add_argument("--https", default="10.99.0.2:8444")
    sp.add_argument("--page")
    sp.add_argument("--conn-log", required=True)
    sp.add_argument("--results", required=True)
    sp.add_argument("--keylog")
    sp.add_argument("--ready-file")
    sp.add_argument("--max-seconds", type=float, default=200)
    tp = sub.add_parser("truth")
    tp.add_argument("--kind", choices=["chromium", "jvm"], required=True)
    tp.add_argument("--conn-log", required=True)
    tp.add_argument("--results", required=True)
    tp.add_argument("--out", required=True)
    tp.add_argument("--server-ip", default="10.99.0.2")
    vp = sub.add_parser("verify")
    vp.add_argument("capture")
    vp.add_argument("truth")
    vp.add_argument("keylog")
    vp.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()
    if args.mode == "server":
        asyncio.run(run_server(args))
    elif args.mode == "truth":
        sys.exit(write_truth(args))
    else:
        sys.exit(verify(args))


if __name__ == "__main__":
    main()
