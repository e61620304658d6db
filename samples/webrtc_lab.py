#!/usr/bin/env python3
"""WebRTC-style calls for samples/media/: WebSocket signalling + aiortc (ICE, DTLS-SRTP, RTCP).

Two roles, run by samples/record_media.sh in their own network namespaces:

    webrtc_lab.py server --host 10.77.0.2 --port 8080 [--log FILE] [--max-seconds N]
    webrtc_lab.py client --url ws://10.77.0.2:8080 --plan calls|turn --out FILE.jsonl
                         [--turn 10.77.0.3:3478 --turn-user test --turn-pass secret]
                         [--max-seconds N]

One call = one WebSocket connection to /call/<NAME>?mode=<MODE>&media=<SECONDS>.
The client sends {"type": "offer", "sdp": ...} (aiortc gathers all candidates first, so the
SDP carries every a=candidate), the server answers {"type": "answer", "sdp": ...} from
its own RTCPeerConnection, and both peers then send a sine tone as Opus over DTLS-SRTP
(ICE host candidates, or relayed through TURN when the plan says so). Modes:

    client_hangup   client sends {"type":"hangup"}, closes its peer connection (RTCP BYE,
                    DTLS close_notify), then closes the WebSocket with 1000.
    server_rst      after MEDIA seconds the server resets the TCP connection (SO_LINGER 0,
                    no close frame); media goes on both ways; 3 s after the client saw
                    the WebSocket die it closes its peer connection (RTCP BYE, DTLS
                    close_notify), which ends the server's media too.
    media_timeout   after MEDIA seconds the client's media goes silent: it stops sending
                    anything on its ICE socket and ignores what arrives (no RTP, no RTCP,
                    no answers to the server's ICE consent checks, no BYE). The server
                    notices that no audio arrived for 7 s and closes the WebSocket with
                    1011 "media timeout".
    server_hangup   server sends {"type":"hangup"}, closes its peer connection, then the
                    WebSocket with 1000.
    turn_refused    (plan turn, third call) the client's TURN Allocate is refused (486,
                    quota), so it has no candidate; it sends {"type":"error"} and closes
                    the WebSocket with 4001 without sending an offer.

The client writes one JSON line per call (addresses, ICE ufrags, SSRCs, close codes,
event times) to --out; record_media.sh turns them into samples/media/truth.tsv.
Everything is bounded: each call has a deadline and each process exits after
--max-seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import logging
import math
import re
import socket
import struct
import sys
import time
from urllib.parse import parse_qs, urlsplit

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.codecs import CODECS
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

# Browsers put Opus on payload type 111; aiortc's default is 96. Same codec, browser number.
for _i, _c in enumerate(CODECS["audio"]):
    if _c.mimeType.lower() == "audio/opus":
        CODECS["audio"][_i] = RTCRtpCodecParameters(
            mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111
        )

RATE = 48000
FRAME = 960  # 20 ms
MEDIA_TIMEOUT = 7.0


def now() -> float:
    return time.time()


class SineTrack(MediaStreamTrack):
    """A mono sine tone, 20 ms frames, paced in real time."""

    kind = "audio"

    def __init__(self, freq: int) -> None:
        super().__init__()
        amp = 6000
        self._pcm = b"".join(
            struct.pack("<h", int(amp * math.sin(2 * math.pi * freq * i / RATE)))
            for i in range(FRAME)
        )  # 400 Hz and 600 Hz: 960 samples hold whole periods, so the frame repeats
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.time()
        else:
            wait = self._start + self._pts / RATE - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(self._pcm)
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += FRAME
        return frame


def sdp_info(sdp: str) -> dict:
    def first(pat: str) -> str:
        m = re.search(pat, sdp, re.M)
        return m.group(1) if m else ""

    return {
        "ufrag": first(r"^a=ice-ufrag:(\S+)"),
        "pwd": first(r"^a=ice-pwd:(\S+)"),
        "ssrc": first(r"^a=ssrc:(\d+) cname:"),
        "cname": first(r"^a=ssrc:\d+ cname:(\S+)"),
        "m_audio_port": first(r"^m=audio (\d+) "),
        "candidates": re.findall(r"^a=candidate:(.*?)\r?$", sdp, re.M),
    }


def ice_connection(pc: RTCPeerConnection):
    for t in pc.getTransceivers():
        if t.sender.transport is not None:
            return t.sender.transport.transport._connection  # aioice.Connection
    return None


def selected_pair(pc: RTCPeerConnection) -> dict:
    conn = ice_connection(pc)
    out: dict = {}
    if conn is None:
        return out
    pair = conn._nominated.get(1)
    if pair is None:
        return out
    lc, rc = pair.local_candidate, pair.remote_candidate
    out["local"] = f"{lc.host}:{lc.port} {lc.type}"
    out["remote"] = f"{rc.host}:{rc.port} {rc.type}"
    inner = getattr(pair.protocol.transport, "_TurnTransport__inner_protocol", None)
    if inner is not None and getattr(inner, "transport", None) is not None:
        s = inner.transport.get_extra_info("sockname")
        if s:
            out["turn_client_socket"] = f"{s[0]}:{s[1]}"
        out["turn_server"] = "%s:%d" % tuple(inner.server)
    return out


def freeze_media(pc: RTCPeerConnection) -> None:
    """Make the peer go silent on its ICE sockets: send nothing, ignore everything."""
    conn = ice_connection(pc)
    if conn is None:
        return

    async def no_send(data, addr):  # noqa: ANN001
        return None

    for proto in list(conn._protocols):
        proto.datagram_received = lambda data, addr: None
        proto.send_stun = lambda message, addr: None
        proto.send_data = no_send


async def drain(track: MediaStreamTrack, state: dict) -> None:
    """Consume received audio; remember when the last frame came."""
    while True:
        try:
            await track.recv()
        except MediaStreamError:
            return
        state["last_rx"] = now()
        state.setdefault("first_rx", state["last_rx"])


def make_pc(state: dict, cfg: RTCConfiguration) -> RTCPeerConnection:
    pc = RTCPeerConnection(cfg)
    state["connected"] = asyncio.Event()

    @pc.on("connectionstatechange")
    async def _on_state() -> None:
        state.setdefault("states", []).append([round(now(), 6), pc.connectionState])
        if pc.connectionState == "connected":
            state["connected"].set()

    @pc.on("track")
    def _on_track(track: MediaStreamTrack) -> None:
        state["drain"] = asyncio.ensure_future(drain(track, state))

    return pc


async def close_pc(pc: RTCPeerConnection, state: dict, key: str) -> None:
    state[key] = now()
    try:
        await asyncio.wait_for(pc.close(), 10)
    except Exception as exc:  # pragma: no cover - logged, not fatal
        state.setdefault("errors", []).append(f"pc.close: {exc!r}")
    if state.get("drain"):
        state["drain"].cancel()


# ---------------------------------------------------------------- server


def log_event(logf, **kw) -> None:  # noqa: ANN001
    if logf:
        kw["t"] = round(now(), 6)
        logf.write(json.dumps(kw) + "\n")
        logf.flush()


async def server_handler(ws, logf) -> None:  # noqa: ANN001
    url = urlsplit(ws.request.path)
    name = url.path.rsplit("/", 1)[-1]
    q = parse_qs(url.query)
    mode = q.get("mode", ["client_hangup"])[0]
    media = float(q.get("media", ["8"])[0])
    state: dict = {}
    peer = "%s:%d" % ws.remote_address[:2]
    log_event(logf, call=name, ev="accepted", mode=mode, peer=peer)
    pc = make_pc(state, RTCConfiguration(iceServers=[]))
    try:
        try:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 20))
        except (ConnectionClosed, asyncio.TimeoutError) as exc:
            log_event(logf, call=name, ev="closed_before_offer", why=repr(exc),
                      code=ws.close_code)
            return
        if msg.get("type") != "offer":
            # the client gave up (e.g. no ICE candidate); it closes the WebSocket itself
            log_event(logf, call=name, ev="no_offer", msg=msg)
            try:
                await asyncio.wait_for(ws.wait_closed(), 10)
            except asyncio.TimeoutError:
                await ws.close(1000)
            log_event(logf, call=name, ev="ws_closed_by_peer", code=ws.close_code)
            return
        await pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "offer"))
        pc.addTrack(SineTrack(600))
        await pc.setLocalDescription(await pc.createAnswer())
        await ws.send(json.dumps({"type": "answer", "sdp": pc.localDescription.sdp}))
        log_event(logf, call=name, ev="answered")
        await asyncio.wait_for(state["connected"].wait(), 20)
        t_conn = now()
        log_event(logf, call=name, ev="media_connected", pair=selected_pair(pc))

        if mode == "server_rst":
            await asyncio.sleep(media)
            sock = ws.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            log_event(logf, call=name, ev="rst_start")
            ws.transport.abort()
            log_event(logf, call=name, ev="rst_sent")
            # keep sending media; the client hangs up its peer connection ~3 s after it
            # saw the WebSocket die (RTCP BYE + DTLS close_notify); clean up after that
            await asyncio.sleep(4.5)
            await close_pc(pc, state, "pc_closed")
            log_event(logf, call=name, ev="pc_closed")
            return

        if mode == "server_hangup":
            await asyncio.sleep(media)
            log_event(logf, call=name, ev="hangup_sent")
            await ws.send(json.dumps({"type": "hangup", "reason": "agent ended call"}))
            await close_pc(pc, state, "pc_closed")
            log_event(logf, call=name, ev="pc_closed")
            log_event(logf, call=name, ev="ws_close_start", code=1000)
            await ws.close(1000, "call ended")
            log_event(logf, call=name, ev="ws_closed", code=1000)
            return

        # client_hangup / media_timeout: wait for the client's messages while watching
        # the received audio; the deadline bounds everything.
        deadline = t_conn + 60
        while now() < deadline:
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except asyncio.TimeoutError:
                last = state.get("last_rx", t_conn)
                if now() - last > MEDIA_TIMEOUT:
                    log_event(logf, call=name, ev="media_timeout",
                              silent_for=round(now() - last, 3))
                    log_event(logf, call=name, ev="ws_close_start", code=1011)
                    await ws.close(1011, "media timeout")
                    log_event(logf, call=name, ev="ws_closed", code=1011)
                    await close_pc(pc, state, "pc_closed")
                    log_event(logf, call=name, ev="pc_closed")
                    return
                continue
            except ConnectionClosed as exc:
                log_event(logf, call=name, ev="ws_closed_by_peer",
                          code=ws.close_code, why=repr(exc))
                break
            m = json.loads(raw)
            log_event(logf, call=name, ev="rx", msg=m)
            if m.get("type") == "hangup":
                await close_pc(pc, state, "pc_closed")
                log_event(logf, call=name, ev="pc_closed")
        try:
            await asyncio.wait_for(ws.wait_closed(), 10)
        except asyncio.TimeoutError:
            pass
    except Exception as exc:
        log_event(logf, call=name, ev="error", why=repr(exc))
        raise
    finally:
        if pc.connectionState != "closed":
            await close_pc(pc, state, "pc_closed_final")


async def run_server(args: argparse.Namespace) -> None:
    logf = open(args.log, "a") if args.log else None
    async with serve(
        lambda ws: server_handler(ws, logf),
        args.host,
        args.port,
        ping_interval=None,
        compression=None,
    ):
        await asyncio.sleep(args.max_seconds)


# ---------------------------------------------------------------- client

PLANS = {
    # name, start offset (s), mode, media seconds, relayed
    "calls": [
        ("A", 0.0, "client_hangup", 8.0, False),
        ("B", 1.5, "server_rst", 6.0, False),
        ("C", 3.0, "media_timeout", 5.0, False),
    ],
    "turn": [
        ("T1", 0.0, "client_hangup", 9.0, True),
        ("T2", 1.0, "server_hangup", 7.0, True),
        ("T3", 4.0, "turn_refused", 0.0, True),
    ],
}


async def client_call(args, name, offset, mode, media, relayed, out) -> None:  # noqa: ANN001
    await asyncio.sleep(offset)
    rec: dict = {"call": name, "mode": mode, "relayed": relayed, "t_start": now()}
    state: dict = {}
    if relayed:
        host, port = args.turn.rsplit(":", 1)
        cfg = RTCConfiguration(
            iceServers=[
                RTCIceServer(
                    urls=f"turn:{host}:{port}?transport=udp",
                    username=args.turn_user,
                    credential=args.turn_pass,
                )
            ],
            iceTransportPolicy=RTCIceTransportPolicy.RELAY,
        )
    else:
        cfg = RTCConfiguration(iceServers=[])
    url = f"{args.url}/call/{name}?mode={mode}&media={media:g}"
    pc = make_pc(state, cfg)
    ws = await connect(url, ping_interval=None, compression=None, open_timeout=10)
    rec["client_ws"] = "%s:%d" % ws.local_address[:2]
    rec["server_ws"] = "%s:%d" % ws.remote_address[:2]
    rec["path"] = urlsplit(url).path + "?" + urlsplit(url).query
    try:
        pc.addTrack(SineTrack(400))
        await pc.setLocalDescription(await pc.createOffer())
        local = sdp_info(pc.localDescription.sdp)
        rec["client_sdp"] = local
        if mode == "turn_refused" or not local["candidates"]:
            rec["note"] = "no ICE candidate gathered (TURN allocation refused)"
            await ws.send(json.dumps({"type": "error", "reason": "ice gathering failed"}))
            rec["t_ws_close"] = now()
            await ws.close(4001, "ice gathering failed")
            return
        await ws.send(json.dumps({"type": "offer", "sdp": pc.localDescription.sdp}))
        ans = json.loads(await asyncio.wait_for(ws.recv(), 20))
        await pc.setRemoteDescription(RTCSessionDescription(ans["sdp"], "answer"))
        rec["server_sdp"] = sdp_info(ans["sdp"])
        await asyncio.wait_for(state["connected"].wait(), 20)
        rec["t_media_connected"] = now()
        rec["pair"] = selected_pair(pc)

        if mode == "client_hangup":
            await asyncio.sleep(media)
            await ws.send(json.dumps({"type": "hangup", "reason": "caller hung up"}))
            await close_pc(pc, state, "t_pc_closed")
            rec["t_ws_close"] = now()
            await ws.close(1000, "bye")
        elif mode == "server_rst":
            try:
                await asyncio.wait_for(ws.recv(), media + 15)
            except ConnectionClosed:
                pass
            rec["t_ws_lost"] = now()
            await asyncio.sleep(3.0)
            await close_pc(pc, state, "t_pc_closed")
        elif mode == "media_timeout":
            await asyncio.sleep(media)
            freeze_media(pc)
            rec["t_media_frozen"] = now()
            try:
                await asyncio.wait_for(ws.recv(), MEDIA_TIMEOUT + 15)
            except ConnectionClosed:
                pass
            rec["t_ws_lost"] = now()
            # the frozen sockets stay open a little longer, so the server's late BYE and
            # DTLS alert are swallowed instead of drawing ICMP port-unreachable
            await asyncio.sleep(2.0)
            await close_pc(pc, state, "t_pc_closed")  # silent: the sockets are frozen
        elif mode == "server_hangup":
            try:
                m = json.loads(await asyncio.wait_for(ws.recv(), media + 15))
                rec["rx"] = m
            except ConnectionClosed:
                pass
            await close_pc(pc, state, "t_pc_closed")
            try:
                await asyncio.wait_for(ws.recv(), 10)
            except ConnectionClosed:
                pass
    except Exception as exc:
        rec.setdefault("errors", []).append(repr(exc))
        await ws.close(1011, "client error")
    finally:
        try:
            await asyncio.wait_for(ws.wait_closed(), 10)
        except asyncio.TimeoutError:
            rec.setdefault("errors", []).append("websocket not closed after 10 s")
        if pc.connectionState != "closed":
            await close_pc(pc, state, "t_pc_closed")
        rec.update({k: v for k, v in state.items() if k in ("t_pc_closed", "first_rx",
                                                            "last_rx", "states", "errors")})
        rec["close_code_rcvd"] = ws.close_code  # what the client observes (1006: no frame)
        rec["close_reason_rcvd"] = ws.close_reason
        rec["close_rcvd"] = ws.protocol.close_rcvd.code if ws.protocol.close_rcvd else None
        rec["close_sent"] = ws.protocol.close_sent.code if ws.protocol.close_sent else None
        rec["t_end"] = now()
        out.write(json.dumps(rec) + "\n")
        out.flush()


async def run_client(args: argparse.Namespace) -> None:
    with open(args.out, "a") as out:
        calls = [
            client_call(args, *spec, out) for spec in PLANS[args.plan]
        ]
        await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True),
                               args.max_seconds)


def main() -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="role", required=True)
    s = sub.add_parser("server")
    s.add_argument("--host", default="10.77.0.2")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--log")
    s.add_argument("--max-seconds", type=float, default=120)
    c = sub.add_parser("client")
    c.add_argument("--url", default="ws://10.77.0.2:8080")
    c.add_argument("--plan", choices=sorted(PLANS), required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--turn", default="10.77.0.3:3478")
    c.add_argument("--turn-user", default="test")
    c.add_argument("--turn-pass", default="secret")
    c.add_argument("--max-seconds", type=float, default=90)
    c.add_argument("--debug", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.role == "server":
        asyncio.run(run_server(args))
    else:
        asyncio.run(run_client(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
