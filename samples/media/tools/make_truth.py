#!/usr/bin/env python3
"""Build samples/media/truth.tsv from what webrtc_lab.py logged while recording.

    make_truth.py --tmp DIR --out truth.tsv

Reads DIR/client.<plan>.jsonl (one JSON line per call, written by the client) and
DIR/server.<plan>.log (JSON events of the server) for the plans `calls` and `turn`, and
writes one line per call. Fails (exit 1) when a call did not do what its mode planned
(e.g. the client observed another close code), so record_media.sh records again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CAPTURE = {"calls": "calls.pcap", "turn": "turn.pcap"}

# mode -> (expected WebSocket verdict, close code the client observes, media outcome)
EXPECTED = {
    "client_hangup": ("clean_close_client", 1000, "clean_bye"),
    "server_rst": ("server_rst_no_close", 1006, "media_after_signalling"),
    "media_timeout": ("server_close_error", 1011, "media_stopped_first"),
    "server_hangup": ("clean_close_server", 1000, "clean_bye"),
    "turn_refused": ("client_close_error", 4001, "no_media"),
}

COLUMNS = [
    "capture", "call", "mode",
    "client_ip", "client_port", "server_ip", "server_port", "ws_path",
    "client_ufrag", "server_ufrag",
    "ssrc_client_to_server", "ssrc_server_to_client",
    "client_cname", "server_cname",
    "client_media", "server_media", "relayed", "turn_relay_addr", "turn_allocate",
    "expected_verdict", "client_observed_code", "close_code_sent_by_client",
    "media", "rtcp_bye_expected_from",
    "t_ws_open", "t_media_connected", "t_ws_teardown", "t_media_stop",
    "media_after_ws_teardown_s", "notes",
]

NOTES = {
    "client_hangup": "client sent {type:hangup}, closed its RTCPeerConnection (RTCP BYE, "
                     "DTLS close_notify), then WebSocket close 1000; server closed its "
                     "peer connection on the hangup message (its BYE too)",
    "server_rst": "server reset the signalling TCP connection (SO_LINGER 0, no close "
                  "frame); media went on both ways; the client closed its peer "
                  "connection 3 s after it saw the WebSocket die (RTCP BYE, DTLS "
                  "close_notify), which also ended the server's media",
    "media_timeout": "client went silent on its ICE socket (no RTP/RTCP, no answers to "
                     "consent checks, no BYE); server saw no audio for 7 s and closed the "
                     "WebSocket with 1011 'media timeout', then closed its peer "
                     "connection (BYE to a silent peer)",
    "server_hangup": "server sent {type:hangup}, closed its peer connection (RTCP BYE, "
                     "DTLS close_notify), then WebSocket close 1000 'call ended'; the "
                     "client closed its peer connection on the hangup message (its BYE "
                     "too, before the server's delayed close_notify reached it)",
    "turn_refused": "TURN Allocate answered 401 then 486 Allocation Quota Reached (two "
                    "allocations already held), so the relay-only client had no "
                    "candidate; it sent {type:error} and closed the WebSocket with 4001",
}


def fmt_t(x: float | None) -> str:
    return "-" if x is None else f"{x:.6f}"


def server_events(path: Path) -> dict[str, dict[str, float]]:
    ev: dict[str, dict[str, float]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            e = json.loads(line)
            ev.setdefault(e["call"], {}).setdefault(e["ev"], e["t"])
    return ev


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    tmp = Path(args.tmp)
    rows, problems = [], []
    for plan, capture in CAPTURE.items():
        sev = server_events(tmp / f"server.{plan}.log")
        recs = [json.loads(x) for x in (tmp / f"client.{plan}.jsonl").read_text().splitlines()]
        recs.sort(key=lambda r: r["call"])
        for r in recs:
            name, mode = r["call"], r["mode"]
            verdict, code, media = EXPECTED[mode]
            s = sev.get(name, {})
            cs, ss = r.get("client_sdp", {}), r.get("server_sdp", {})
            pair = r.get("pair", {})
            if r.get("errors"):
                problems.append(f"{name}: errors {r['errors']}")
            if r.get("close_code_rcvd") != code:
                problems.append(f"{name}: client observed {r.get('close_code_rcvd')}, "
                                f"expected {code}")
            relayed = r["relayed"]
            if mode == "turn_refused":
                if cs.get("candidates"):
                    problems.append(f"{name}: got candidates {cs['candidates']}")
            elif not pair:
                problems.append(f"{name}: no ICE pair")
            elif relayed != pair["local"].endswith(" relay"):
                problems.append(f"{name}: pair {pair} relayed={relayed}")

            t_ws = {
                "client_hangup": r.get("t_ws_close"),
                "server_rst": s.get("rst_start"),
                "media_timeout": s.get("ws_close_start"),
                "server_hangup": s.get("ws_close_start"),
                "turn_refused": r.get("t_ws_close"),
            }[mode]
            t_media = {
                "client_hangup": r.get("t_pc_closed"),
                "server_rst": r.get("t_pc_closed"),
                "media_timeout": r.get("t_media_frozen"),
                "server_hangup": s.get("hangup_sent"),
                "turn_refused": None,
            }[mode]
            bye = {
                "client_hangup": "both",
                "server_rst": "client",
                "media_timeout": "server",
                "server_hangup": "both",
                "turn_refused": "none",
            }[mode]
            if mode != "turn_refused" and (t_ws is None or t_media is None):
                problems.append(f"{name}: missing event times")
            ci, cp = r["client_ws"].rsplit(":", 1)
            si, sp = r["server_ws"].rsplit(":", 1)

            def media_addr(side: str) -> str:
                v = pair.get(side, "")
                return v.split(" ")[0] if v else "-"

            client_media = pair.get("turn_client_socket") or media_addr("local")
            if mode == "turn_refused":
                cs = {}  # the offer was never sent: its ufrag/SSRC are nowhere on the wire
            row = {
                "capture": capture,
                "call": name,
                "mode": mode,
                "client_ip": ci, "client_port": cp, "server_ip": si, "server_port": sp,
                "ws_path": r["path"],
                "client_ufrag": cs.get("ufrag") or "-",
                "server_ufrag": ss.get("ufrag") or "-",
                "ssrc_client_to_server": cs.get("ssrc") or "-",
                "ssrc_server_to_client": ss.get("ssrc") or "-",
                "client_cname": cs.get("cname") or "-",
                "server_cname": ss.get("cname") or "-",
                "client_media": client_media,
                "server_media": media_addr("remote"),
                "relayed": "yes" if relayed else "no",
                "turn_relay_addr": media_addr("local") if relayed and pair else "-",
                "turn_allocate": ("486" if mode == "turn_refused" else "success")
                if relayed else "-",
                "expected_verdict": verdict,
                "client_observed_code": str(r.get("close_code_rcvd")),
                "close_code_sent_by_client": str(r.get("close_sent") or "-"),
                "media": media,
                "rtcp_bye_expected_from": bye,
                "t_ws_open": fmt_t(r.get("t_start")),
                "t_media_connected": fmt_t(r.get("t_media_connected")),
                "t_ws_teardown": fmt_t(t_ws),
                "t_media_stop": fmt_t(t_media),
                "media_after_ws_teardown_s": "-" if (t_ws is None or t_media is None)
                else f"{t_media - t_ws:.3f}",
                "notes": NOTES[mode],
            }
            rows.append(row)
    with open(args.out, "w") as f:
        f.write("\t".join(COLUMNS) + "\n")
        for row in rows:
            f.write("\t".join(row[c] for c in COLUMNS) + "\n")
    for p in problems:
        print("make_truth:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
