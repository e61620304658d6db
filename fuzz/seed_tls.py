#!/usr/bin/env python3
"""Seeds fuzz/corpus/tls/ from the TCP streams of samples/tls/*.pcap (read with tshark).

Each seed is the `tls` target's input: a keys byte, then `[ctrl][len u16 BE][payload]`
chunks in capture order, side 0 being the stream's first sender. For every connection:
its first 12 KB with the matching key log, the same without keys, the same with the
cut-delivery comparison on, and a window from its middle (records after the handshake,
framing found by the reader's search). The plain ws.pcap gives a few non-TLS streams.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "corpus", "tls")
LIMIT = 12 * 1024


def streams(pcap):
    rows = subprocess.run(
        ["tshark", "-r", pcap, "-Y", "tcp.len>0 && !tcp.analysis.retransmission",
         "-T", "fields", "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.payload"],
        check=True, capture_output=True, text=True).stdout
    by = {}
    for line in rows.splitlines():
        s, port, hexp = (line.split("\t") + ["", ""])[:3]
        if not hexp:
            continue
        first, chunks = by.setdefault(s, [port, []])
        chunks.append((0 if port == first else 1, bytes.fromhex(hexp.replace(":", ""))))
    return by


def encode(keys, chunks, limit=LIMIT):
    out = bytearray([keys])
    for side, p in chunks:
        if len(out) + 3 + len(p) > limit:
            p = p[: max(0, limit - len(out) - 3)]
        out += bytes([side]) + len(p).to_bytes(2, "big") + p
        if len(out) >= limit:
            break
    return bytes(out)


def main():
    os.makedirs(OUT, exist_ok=True)
    n = 0
    for name, keys in [("wss12", 1), ("wss13", 2), ("ws", 0)]:
        for s, (_, chunks) in streams(os.path.join(ROOT, "samples", "tls", name + ".pcap")).items():
            if name == "ws" and int(s) > 3:
                continue
            seeds = {"k": encode(keys, chunks), "nokeys": encode(0, chunks),
                     "cut": encode(keys | 4, chunks, 4096)}
            if len(chunks) > 12:
                seeds["mid"] = encode(keys, chunks[len(chunks) // 2:])
            for tag, data in seeds.items():
                with open(os.path.join(OUT, f"{name}-{s}-{tag}"), "wb") as f:
                    f.write(data)
                n += 1
    print(f"{n} seeds in {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
