#!/usr/bin/env python3
"""Adds the `encrypted_verdict` column to a wss truth file, from tshark's reading of the wire.

    wire_truth.py CAPTURE TRUTH.tsv [KEYLOG]

Without the session keys only TCP and the TLS record headers are visible, so the verdict
without keys is the first end of the connection and who sent it (`server_fin_encrypted`,
`client_rst_encrypted`, ...), or `tls_handshake_failed` where the client library saw the
handshake fail. An end is a FIN, an RST, or a TLS alert record (TLS 1.2 shows the record
type of its encrypted close_notify; an alert ends the sender's TLS like a FIN ends its
TCP). The first end comes from tshark's dissection (capture order), not from teardown. With KEYLOG, it also checks that tshark, decrypting,
finds a close frame in every connection whose truth has a close code other than 1006.
Exit status 0 when every truth row has its connection in the capture (and, with KEYLOG,
every expected close frame was found).
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys


def tshark(path: str, fields: list[str], extra: list[str] | None = None) -> list[list[str]]:
    cmd = ["tshark", "-n", "-r", path] + (extra or []) + ["-T", "fields", "-E", "separator=\t",
                                                          "-E", "occurrence=a",
                                                          "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def norm(ip: str) -> str:
    return str(ipaddress.ip_address(ip))


def main() -> int:
    path, truth_path = sys.argv[1], sys.argv[2]
    keylog = sys.argv[3] if len(sys.argv) > 3 else None
    first_end: dict[tuple, str] = {}
    stream_of: dict[tuple, str] = {}
    for src, sport, dst, dport, stream, fin, rst, types in tshark(
            path, ["ip.src", "tcp.srcport", "ip.dst", "tcp.dstport", "tcp.stream",
                   "tcp.flags.fin", "tcp.flags.reset", "tls.record.content_type"], ["-Y", "tcp"]):
        a, b = (norm(src), int(sport)), (norm(dst), int(dport))
        stream_of[(a, b)] = stream
        stream_of[(b, a)] = stream
        ended = fin in ("1", "True") or rst in ("1", "True") or "21" in types.split(",")
        if ended and stream not in first_end:
            first_end[stream] = f"{a[0]}:{a[1]}/{'rst' if rst in ('1', 'True') else 'fin'}"
    closes: set[str] = set()
    if keylog:
        for stream, _code in tshark(path, ["tcp.stream", "websocket.payload.close.status_code"],
                                    ["-o", f"tls.keylog_file:{keylog}", "-Y", "websocket.opcode==8"]):
            closes.add(stream)
    lines = open(truth_path).read().splitlines()
    header = lines[0].split("\t")
    if "encrypted_verdict" in header:  # recomputed
        header = header[: header.index("encrypted_verdict")]
    out = ["\t".join(header + ["encrypted_verdict"])]
    fail = 0
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t")))
        client = (norm(row["client_ip"]), int(row["client_port"]))
        server = (norm(row["server_ip"]), int(row["server_port"]))
        stream = stream_of.get((client, server))
        if stream is None:
            print(f"{row['scenario']} {client}: not in {path}", file=sys.stderr)
            fail = 1
            continue
        if row["expected_verdict"] == "tls_handshake_failed":
            enc = "tls_handshake_failed"
        else:
            end = first_end.get(stream)
            if end is None:
                enc = "open_at_capture_end"
            else:
                who, kind = end.split("/")
                side = "client" if who == f"{client[0]}:{client[1]}" else "server"
                enc = f"{side}_{kind}_encrypted"
        if keylog and row["observed_close_code"] not in ("", "1006") and stream not in closes:
            print(f"{row['scenario']} stream {stream}: tshark found no close frame", file=sys.stderr)
            fail = 1
        out.append("\t".join(line.split("\t")[: len(header)] + [enc]))
    with open(truth_path, "w") as f:
        f.write("\n".join(out) + "\n")
    return fail


if __name__ == "__main__":
    sys.exit(main())
