#!/usr/bin/env python3
"""Secure WebSocket lab: the teardown scenarios of ../ws_lab.py over TLS (`wss://`).

    wss_lab.py server --cert cert.pem --key key.pem --listen 10.99.0.2:8443 \
                      --tls 1.3 [--plain-listen 10.99.0.2:8080]
    wss_lab.py client --truth out.tsv --scenarios clean_client_close,... \
                      --port 8443 --tls 1.3 --ca cert.pem --keylog out.keylog \
                      [--ciphers ECDHE-RSA-AES128-GCM-SHA256]
    wss_lab.py load --truth out.tsv --targets 10.99.0.2:8443,10.99.0.3:8443 \
                    --tls 1.3 --ca cert.pem --keylog out.keylog [--sessions 40 ...]

`load` is ws_lab.py's load run over wss:// (sessions ramped to two addresses, one of
which, `--capped` on the server, sheds the sessions above `--cap` by a reset after a
timeout or a 1013 close).

The server reuses ws_lab.py's handler, so every scenario behaves exactly as over plain
`ws://`; only the transport is TLS (Python's `ssl`, OpenSSL). The client writes the TLS
session keys in the NSS key log format (SSLContext.keylog_filename) and one line of
ground truth per TCP connection:

    scenario client_ip client_port server_ip server_port expected_verdict
    observed_close_code detail tls_version tls_cipher_id

`expected_verdict` and `observed_close_code` are what the websockets client library saw
(as in ws_lab.py); `tls_version` is OpenSSL's name of the negotiated version and
`tls_cipher_id` the IANA code of the cipher suite (hex), both empty when no handshake
completed. Two scenarios exist only here:

* `tls_untrusted_cert`: the client does not trust the server's certificate and aborts
  the handshake with an alert (`tls_handshake_failed`);
* `tls_version_mismatch`: the client offers only TLS 1.2 to a TLS 1.3-only server, which
  answers with a protocol_version alert (`tls_handshake_failed`).

With `--tls none` the client speaks plain `ws://` (the comparison run).

Meant to run only inside the network namespaces that record_tls.sh creates.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import ws_lab  # noqa: E402  (the plain lab: handler, scenarios, truth writer)
from websockets.asyncio.client import connect  # noqa: E402
from websockets.asyncio.server import serve  # noqa: E402
from websockets.exceptions import InvalidStatus  # noqa: E402

TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
SERVER_NAME = "wss.teardown.test"


def server_context(args) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    v = TLS_VERSIONS[args.tls]
    ctx.minimum_version = v
    ctx.maximum_version = v
    if args.tls == "1.2":
        # ECDHE with AEAD only: the suites teardown decrypts.
        ctx.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    return ctx


def client_context(args, scenario: str) -> ssl.SSLContext:
    if scenario.startswith("tls_untrusted_cert"):
        ctx = ssl.create_default_context()  # system CAs only: our certificate fails
    else:
        ctx = ssl.create_default_context(cafile=args.ca)
    if scenario.startswith("tls_version_mismatch"):
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif args.tls in TLS_VERSIONS:
        ctx.minimum_version = TLS_VERSIONS[args.tls]
        ctx.maximum_version = TLS_VERSIONS[args.tls]
    if args.ciphers:
        ctx.set_ciphers(args.ciphers)
    ctx.keylog_filename = args.keylog
    return ctx


def cipher_id(ctx: ssl.SSLContext, name: str) -> str:
    for c in ctx.get_ciphers():
        if c["name"] == name:
            return f"0x{c['id'] & 0xFFFF:04x}"
    return ""


async def run_server(args) -> None:
    states: dict = {}
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    servers = []
    specs = [(s, server_context(args)) for s in args.listen]
    specs += [(s, None) for s in args.plain_listen or []]
    for spec, ctx in specs:
        host, port = ws_lab.hostport(spec)
        servers.append(await serve(
            lambda ws: ws_lab.handler(ws, args, states),
            host, port, ssl=ctx,
            process_request=ws_lab.process_request,
            compression="deflate", ping_interval=None, close_timeout=3, reuse_address=True,
        ))
        ws_lab.log(f"server: {'wss TLS ' + args.tls if ctx else 'ws'} on {spec}")
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write("ready\n")
    try:
        await asyncio.wait_for(stop, timeout=args.max_seconds)
    except asyncio.TimeoutError:
        ws_lab.log("server: max lifetime reached")
    for srv in servers:
        srv.close()
    for srv in servers:
        try:
            await asyncio.wait_for(srv.wait_closed(), 3)
        except asyncio.TimeoutError:
            pass


class Truth(ws_lab.Truth):
    """ws_lab's truth file with the negotiated TLS version and cipher suite appended."""

    def __init__(self, path: str) -> None:
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        self.f = open(path, "a")
        if new:
            self.f.write("scenario\tclient_ip\tclient_port\tserver_ip\tserver_port\t"
                         "expected_verdict\tobserved_close_code\tdetail\ttls_version\ttls_cipher_id\n")
        self.tls = ("", "")

    def row(self, scenario, cip, cport, sip, sport, verdict, observed, detail="") -> None:
        super().row(scenario, cip, cport, sip, sport, verdict, observed, detail.replace("\t", " ")
                    + f"\t{self.tls[0]}\t{self.tls[1]}")
        self.tls = ("", "")


async def run_scenario(scenario: str, args, truth: Truth) -> None:
    cip, sip, port = args.client_ip, args.server_ip, args.port
    s, cport, err = await ws_lab.open_socket(cip, sip, port, timeout=3.5)
    if s is None:
        truth.row(scenario, cip, cport, sip, port, "connect_failed_unexpectedly", 1006, repr(err))
        return
    kw = ws_lab.ws_kwargs(scenario)
    if args.tls == "none":
        uri = f"ws://{sip}:{port}/{scenario}"
    else:
        ctx = client_context(args, scenario)
        kw.update(ssl=ctx, server_hostname=SERVER_NAME)
        uri = f"wss://{SERVER_NAME}:{port}/{scenario}"
    try:
        async with connect(uri, sock=s, **kw) as ws:
            tls = ws.transport.get_extra_info("ssl_object")
            if tls is not None:
                truth.tls = (tls.version(), cipher_id(ctx, tls.cipher()[0]))
            verdict, code, detail = await asyncio.wait_for(
                ws_lab.client_session(scenario, ws), ws_lab.HARD_DEADLINE)
    except InvalidStatus as e:
        truth.row(scenario, cip, cport, sip, port, "handshake_rejected", 1006,
                  f"HTTP {e.response.status_code}")
        return
    except (ssl.SSLError, ConnectionResetError) as e:
        if not scenario.startswith("tls_"):
            raise
        truth.row(scenario, cip, cport, sip, port, "tls_handshake_failed", 1006,
                  f"{type(e).__name__}: {getattr(e, 'reason', '') or e}")
        return
    truth.row(scenario, cip, cport, sip, port, verdict, code, detail)


class LoadTruth(Truth):
    """The truth of concurrent sessions: TLS facts by client port, not the last one."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.by_port: dict[int, tuple[str, str]] = {}

    def row(self, scenario, cip, cport, sip, sport, verdict, observed, detail="") -> None:
        self.tls = self.by_port.pop(cport, ("", ""))
        super().row(scenario, cip, cport, sip, sport, verdict, observed, detail)


async def run_load(args) -> None:
    truth = LoadTruth(args.truth)
    ctx = client_context(args, "load")

    def opened(ws) -> None:
        tls = ws.transport.get_extra_info("ssl_object")
        port = ws.transport.get_extra_info("sockname")[1]
        truth.by_port[port] = (tls.version(), cipher_id(ctx, tls.cipher()[0]))

    await ws_lab.run_load(args, truth, (SERVER_NAME, {"ssl": ctx, "server_hostname": SERVER_NAME}, opened))


async def run_client(args) -> None:
    truth = Truth(args.truth)
    for sc in [s for s in args.scenarios.split(",") if s]:
        ws_lab.log(f"client: --- {sc} (tls {args.tls}, ciphers {args.ciphers or 'default'})")
        await asyncio.wait_for(run_scenario(sc, args, truth), ws_lab.HARD_DEADLINE + 5)
        await asyncio.sleep(args.gap)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    sp = sub.add_parser("server")
    sp.add_argument("--listen", action="append", default=[], help="host:port of a wss listener")
    sp.add_argument("--plain-listen", action="append", help="host:port of a plain ws listener")
    sp.add_argument("--tls", choices=sorted(TLS_VERSIONS), required=True)
    sp.add_argument("--cert", required=True)
    sp.add_argument("--key", required=True)
    sp.add_argument("--ready-file")
    sp.add_argument("--max-seconds", type=float, default=120)
    sp.add_argument("--capped", action="append", default=[], help="server IP that enforces the load cap")
    sp.add_argument("--cap", type=int, default=ws_lab.LOAD_CAP)
    cp = sub.add_parser("client")
    cp.add_argument("--truth", required=True)
    cp.add_argument("--scenarios", required=True)
    cp.add_argument("--tls", choices=sorted(TLS_VERSIONS) + ["none"], required=True)
    cp.add_argument("--port", type=int, required=True)
    cp.add_argument("--ca")
    cp.add_argument("--keylog")
    cp.add_argument("--ciphers", help="OpenSSL cipher list (TLS 1.2 suites)")
    cp.add_argument("--client-ip", default="10.99.0.1")
    cp.add_argument("--server-ip", default="10.99.0.2")
    cp.add_argument("--gap", type=float, default=0.1)
    lp = sub.add_parser("load")
    lp.add_argument("--truth", required=True)
    lp.add_argument("--targets", default="10.99.0.2:8443,10.99.0.3:8443")
    lp.add_argument("--tls", choices=sorted(TLS_VERSIONS), required=True)
    lp.add_argument("--ca", required=True)
    lp.add_argument("--keylog")
    lp.add_argument("--ciphers", help="OpenSSL cipher list (TLS 1.2 suites)")
    lp.add_argument("--client-ip", default="10.99.0.1")
    lp.add_argument("--sessions", type=int, default=40)
    lp.add_argument("--interval", type=float, default=0.06)
    lp.add_argument("--life", type=float, default=4.0)
    lp.add_argument("--every", type=float, default=0.2)
    lp.add_argument("--pad", type=int, default=100, help="padding bytes per JSON message")
    args = p.parse_args()
    if args.mode == "server":
        asyncio.run(run_server(args))
    elif args.mode == "client":
        asyncio.run(asyncio.wait_for(run_client(args), 120))
    else:
        asyncio.run(asyncio.wait_for(run_load(args), 30))


if __name__ == "__main__":
    main()
