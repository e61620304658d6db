#!/usr/bin/env python3
"""Checks a capture against its ground truth using only tshark's decoding.

    check_wire.py CAPTURE TRUTH.tsv [-v]

For every TCP connection in CAPTURE, tshark's dissection gives the first teardown event
on the wire, and from it the verdict by the rules the samples follow:

* the client's SYN answered by a RST -> connect_refused; never answered -> syn_unanswered;
* the upgrade answered with an HTTP status other than 101 -> handshake_rejected;
* a completed TCP handshake that never carried a byte -> not_websocket;
* otherwise the first of {close frame, FIN, RST}, in capture order, decides: a close frame
  with 1000/1001 or no code -> clean_close_<sender>, any other code -> <sender>_close_error;
  a FIN/RST before any close frame -> <side>_fin_no_close / <side>_rst_no_close.

It also checks the truth's observed close code against the wire: the code of the first
close frame the server sent (1005 when it had none), else 1006.
Exit status 0 when every connection agrees with the truth file and the truth file has no
connection that the capture lacks.
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys

FIELDS = [
    "frame.number", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport",
    "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset", "tcp.len",
    "websocket.opcode", "websocket.payload.close.status_code", "http.response.code",
    "http.request.uri", "tcp.analysis.retransmission", "tcp.analysis.out_of_order",
]


def norm(ip: str) -> str:
    return str(ipaddress.ip_address(ip.strip()))


def tshark_rows(path: str):
    cmd = ["tshark", "-n", "-r", path, "-o", "tcp.reassemble_out_of_order:TRUE", "-Y", "tcp",
           "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        v = dict(zip(FIELDS, line.split("\t")))
        v["src"] = norm(v["ip.src"] or v["ipv6.src"])
        v["dst"] = norm(v["ip.dst"] or v["ipv6.dst"])
        yield v


def flag(v: dict, k: str) -> bool:
    return v.get(k, "") in ("1", "True")


class Conn:
    def __init__(self) -> None:
        self.client = None
        self.server = None
        self.synack = False
        self.rst_from = []
        self.http_status = []
        self.uri = ""
        self.payload = 0
        self.first = None  # (kind, side, code)
        self.server_close_codes = []
        self.client_close_codes = []
        self.retrans = 0
        self.ooo = 0
        self.ws_frames = 0

    def verdict(self) -> str:
        if not self.synack:
            return "connect_refused" if "server" in self.rst_from else "syn_unanswered"
        if self.http_status and self.http_status[0] != "101":
            return "handshake_rejected"
        if self.payload == 0:
            return "not_websocket"
        if self.first is None:
            return "open"
        kind, side, code = self.first
        if kind == "close":
            return f"clean_close_{side}" if code in ("", "1000", "1001") else f"{side}_close_error"
        return f"{side}_{kind}_no_close"

    def observed(self) -> int:
        if self.server_close_codes:
            c = self.server_close_codes[0]
            return int(c) if c else 1005
        return 1006


def analyse(path: str) -> dict:
    conns: dict[tuple, Conn] = {}
    for v in tshark_rows(path):
        a = (v["src"], int(v["tcp.srcport"]))
        b = (v["dst"], int(v["tcp.dstport"]))
        key = tuple(sorted([a, b]))
        c = conns.setdefault(key, Conn())
        syn, ack = flag(v, "tcp.flags.syn"), flag(v, "tcp.flags.ack")
        if syn and not ack and c.client is None:
            c.client, c.server = a, b
        if c.client is None:
            continue  # joined mid-stream: not expected in these samples
        side = "client" if a == c.client else "server"
        if syn and ack:
            c.synack = True
        if v["tcp.analysis.retransmission"]:
            c.retrans += 1
        if v["tcp.analysis.out_of_order"]:
            c.ooo += 1
        if v["http.response.code"]:
            c.http_status.append(v["http.response.code"])
        if v["http.request.uri"]:
            c.uri = v["http.request.uri"]
        c.payload += int(v["tcp.len"] or 0)
        ops = [o for o in v["websocket.opcode"].split(",") if o]
        c.ws_frames += len(ops)
        codes = v["websocket.payload.close.status_code"].split(",") if v["websocket.payload.close.status_code"] else []
        if "8" in ops:
            # Close frames in this packet, in order; a frame without code has no field.
            n_close = ops.count("8")
            codes = codes + [""] * (n_close - len(codes))
            (c.server_close_codes if side == "server" else c.client_close_codes).extend(codes[:n_close])
            if c.first is None:
                c.first = ("close", side, codes[0])
        fin, rst = flag(v, "tcp.flags.fin"), flag(v, "tcp.flags.reset")
        if rst:
            c.rst_from.append(side)
        if c.first is None and (fin or rst) and c.synack:
            c.first = ("rst" if rst else "fin", side, None)
    return {(c.client, c.server): c for c in conns.values() if c.client is not None}


def main() -> int:
    path, truth_path = sys.argv[1], sys.argv[2]
    verbose = "-v" in sys.argv
    conns = analyse(path)
    truth = {}
    for line in open(truth_path):
        if not line.strip() or line.startswith("scenario") or line.startswith("#"):
            continue
        f = line.rstrip("\n").split("\t")
        key = ((norm(f[1]), int(f[2])), (norm(f[3]), int(f[4])))
        truth[key] = f
    bad = 0
    for key, f in truth.items():
        scenario, verdict, observed = f[0], f[5], f[6]
        c = conns.get(key)
        if c is None:
            print(f"  MISSING {scenario} {key}: not in the capture")
            bad += 1
            continue
        wire = c.verdict()
        ok = wire == verdict
        if verdict != "not_websocket" and str(c.observed()) != observed:
            ok = False
        if not ok:
            bad += 1
        if verbose or not ok:
            print(f"  {'ok ' if ok else 'BAD'} {scenario:24s} {key[0][0]}:{key[0][1]:<5} -> "
                  f"{key[1][0]}:{key[1][1]:<5} truth={verdict}/{observed} wire={wire}/"
                  f"{c.observed() if verdict != 'not_websocket' else ''} first={c.first} "
                  f"uri={c.uri} http={','.join(c.http_status)} ws_frames={c.ws_frames} "
                  f"close c->s={c.client_close_codes} s->c={c.server_close_codes} "
                  f"rst_from={c.rst_from} retrans={c.retrans} ooo={c.ooo}")
    extra = [k for k in conns if k not in truth]
    for k in extra:
        print(f"  EXTRA connection on the wire, not in the truth: {k} {conns[k].verdict()}")
    bad += len(extra)
    by = {}
    for f in truth.values():
        by[f[5]] = by.get(f[5], 0) + 1
    print(f"{path}: {len(truth)} truth rows, {len(conns)} connections on the wire, "
          f"{bad} disagreement(s); verdicts {dict(sorted(by.items()))}; "
          f"retransmissions {sum(c.retrans for c in conns.values())}, "
          f"out-of-order {sum(c.ooo for c in conns.values())}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
