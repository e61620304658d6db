#!/usr/bin/env python3
"""Check samples/media captures against truth.tsv and print their statistics.

    verify.py --truth truth.tsv --dir DIR      # DIR holds calls.pcap and turn.pcap

Uses tshark (4.x) for the TCP/WebSocket side, and parses the UDP payloads itself
(tshark -e udp.payload) for the media side: STUN (also inside TURN ChannelData), RTP
and RTCP headers (SRTP/SRTCP keep them in the clear), so that every leg is counted even
where Wireshark's heuristics give up. RTP statistics per (source, destination, SSRC):
packets, lost (expected from the sequence numbers minus received), max delta between
packets, RFC 3550 interarrival jitter with the Opus clock (48 kHz), in ms. Also prints
tshark's own `-z rtp,streams` table (its delta/jitter columns stay 0 for Opus, see
README; run with -2, two passes). Exit 1 if a check fails; the report goes to stdout.
"""

from __future__ import annotations

import argparse
import collections
import csv
import struct
import subprocess
import sys
from pathlib import Path

STUN_TYPES = {
    0x0001: "Binding Request", 0x0101: "Binding Success", 0x0111: "Binding Error",
    0x0011: "Binding Indication",
    0x0003: "Allocate Request", 0x0103: "Allocate Success", 0x0113: "Allocate Error",
    0x0004: "Refresh Request", 0x0104: "Refresh Success", 0x0114: "Refresh Error",
    0x0008: "CreatePermission Request", 0x0108: "CreatePermission Success",
    0x0118: "CreatePermission Error",
    0x0009: "ChannelBind Request", 0x0109: "ChannelBind Success",
    0x0119: "ChannelBind Error",
    0x0016: "Send Indication", 0x0017: "Data Indication",
}
RTCP_PT = {200: "SR", 201: "RR", 202: "SDES", 203: "BYE", 204: "APP", 205: "RTPFB",
           206: "PSFB"}


def tshark(pcap: Path, *args: str) -> str:
    return subprocess.run(["tshark", "-r", str(pcap), *args], check=True,
                          capture_output=True, text=True).stdout


def parse_stun(b: bytes):
    if len(b) < 20 or b[0] >> 6 != 0 or b[4:8] != b"\x21\x12\xa4\x42":
        return None
    mtype, mlen = struct.unpack("!HH", b[:4])
    attrs, off = {}, 20
    while off + 4 <= min(len(b), 20 + mlen):
        at, al = struct.unpack("!HH", b[off:off + 4])
        attrs.setdefault(at, b[off + 4:off + 4 + al])
        off += 4 + ((al + 3) & ~3)
    err = None
    if 0x0009 in attrs and len(attrs[0x0009]) >= 4:
        e = attrs[0x0009]
        err = (e[2] & 7) * 100 + e[3]
    user = attrs.get(0x0006, b"").decode("utf8", "replace") or None
    return mtype, err, user


def analyse_udp(pcap: Path):
    out = tshark(pcap, "-Y", "udp && !icmp", "-T", "fields", "-e", "frame.time_epoch", "-e",
                 "ip.src", "-e", "udp.srcport", "-e", "ip.dst", "-e", "udp.dstport",
                 "-e", "udp.payload")
    stun = collections.Counter()
    users = collections.Counter()
    rtcp = collections.Counter()
    byes = []  # (time, src, ssrc)
    legs: dict = {}
    chandata = collections.Counter()
    for line in out.splitlines():
        t, si, sp, di, dp, hx = (line.split("\t") + [""] * 6)[:6]
        b = bytes.fromhex(hx)
        t = float(t)
        src, dst = f"{si}:{sp}", f"{di}:{dp}"
        via = ""
        if len(b) >= 4 and 0x40 <= b[0] <= 0x4F:  # TURN ChannelData (RFC 8656 12.4)
            ln = struct.unpack("!H", b[2:4])[0]
            chandata[(src, dst)] += 1
            b = b[4:4 + ln]
            via = " (in ChannelData)"
        s = parse_stun(b)
        if s:
            mtype, err, user = s
            name = STUN_TYPES.get(mtype, f"0x{mtype:04x}")
            if err:
                name += f" {err}"
            stun[name + via] += 1
            if user and mtype == 0x0001:
                users[user] += 1
            continue
        if len(b) >= 12 and b[0] >> 6 == 2:
            pt = b[1] & 0x7F
            if 200 <= b[1] <= 206:  # RTCP (first packet of a compound)
                kind = RTCP_PT.get(b[1], str(b[1]))
                rtcp[(src, dst, kind)] += 1
                if b[1] == 203:
                    byes.append((t, src, struct.unpack("!I", b[4:8])[0]))
                continue
            seq, ts, ssrc = struct.unpack("!HII", b[2:12])
            key = (src, dst, ssrc)
            leg = legs.setdefault(key, {"pt": pt, "n": 0, "first": t, "pkts": []})
            leg["n"] += 1
            leg["last"] = t
            leg["pkts"].append((t, seq, ts))
    return stun, users, rtcp, byes, legs, chandata


def rtp_stats(pkts):
    # extended sequence numbers in arrival order
    ext, cycles, prev = [], 0, None
    for _, seq, _ in pkts:
        if prev is not None and seq < prev and prev - seq > 0x8000:
            cycles += 0x10000
        ext.append(seq + cycles)
        prev = seq
    expected = max(ext) - min(ext) + 1
    lost = expected - len(set(ext))
    max_delta = 0.0
    jitter, max_j, sum_j = 0.0, 0.0, 0.0
    for i in range(1, len(pkts)):
        (t0, _, ts0), (t1, _, ts1) = pkts[i - 1], pkts[i]
        max_delta = max(max_delta, t1 - t0)
        dts = ((ts1 - ts0 + 0x80000000) % 0x100000000) - 0x80000000  # signed 32-bit
        d = (t1 - t0) - dts / 48000.0
        jitter += (abs(d) - jitter) / 16
        max_j = max(max_j, jitter)
        sum_j += jitter
    mean_j = sum_j / max(1, len(pkts) - 1)
    return expected, lost, max_delta * 1000, max_j * 1000, mean_j * 1000


def analyse_ws(pcap: Path):
    out = tshark(pcap, "-Y", "tcp.port==8080", "-T", "fields", "-E", "occurrence=a",
                 "-E", "aggregator=|", "-e", "frame.time_epoch", "-e", "ip.src", "-e",
                 "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.flags.fin", "-e",
                 "tcp.flags.reset", "-e", "websocket.opcode", "-e",
                 "websocket.payload.close.status_code", "-e", "websocket.payload.text")
    conns: dict = {}
    for line in out.splitlines():
        t, ip, sp, dp, fin, rst, ops, codes, text = (line.split("\t") + [""] * 9)[:9]
        side = "server" if sp == "8080" else "client"
        cport = dp if side == "server" else sp
        c = conns.setdefault(cport, {"events": [], "sdp_frames": 0, "text_frames": 0})
        t = float(t)
        codes_l = [x for x in codes.split("|") if x]
        for op in [x for x in ops.split("|") if x]:
            op = int(op, 0)
            if op == 1:
                c["text_frames"] += 1
            if op == 8:
                c["events"].append((t, side, "close", int(codes_l.pop(0)) if codes_l else None))
        if "a=ice-ufrag" in text:
            c["sdp_frames"] += 1
        if rst in ("1", "True"):
            c["events"].append((t, side, "rst", None))
        if fin in ("1", "True"):
            c["events"].append((t, side, "fin", None))
    return conns


def ws_verdict(events):
    if not events:
        return "none", None
    events.sort(key=lambda e: e[0])
    t, side, kind, code = events[0]
    if kind == "close":
        clean = code in (1000, 1001, None)
        return f"{'clean' if clean else side}_close_{side if clean else 'error'}", t
    return f"{side}_{kind}_no_close", t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--truth", required=True)
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    rows = list(csv.DictReader(open(args.truth), delimiter="\t"))
    problems: list[str] = []
    by_cap = collections.defaultdict(list)
    for r in rows:
        by_cap[r["capture"]].append(r)

    for cap, calls in by_cap.items():
        pcap = Path(args.dir) / cap
        print(f"=== {cap}: {pcap.stat().st_size} bytes")
        print(subprocess.run(["capinfos", "-c", "-u", "-T", "-m", pcap.name],
                             cwd=pcap.parent, capture_output=True, text=True).stdout.strip())
        stun, users, rtcp, byes, legs, chandata = analyse_udp(pcap)
        conns = analyse_ws(pcap)

        print("\n-- STUN/TURN messages (own parser; ChannelData-wrapped ones marked)")
        for k, v in sorted(stun.items()):
            print(f"  {v:5d}  {k}")
        for (s, d), v in sorted(chandata.items()):
            print(f"  {v:5d}  ChannelData {s} -> {d}")

        print("\n-- RTP legs (own parser; jitter RFC 3550 at 48 kHz)")
        print(f"  {'src':>21} {'dst':>21} {'ssrc':>10} {'pkts':>5} {'lost':>4} "
              f"{'loss%':>5} {'maxΔms':>7} {'maxJms':>6} {'meanJms':>7}  span")
        total_lost, max_jit = 0, 0.0
        for (src, dst, ssrc), leg in sorted(legs.items(), key=lambda x: x[1]["first"]):
            exp, lost, mdelta, mj, aj = rtp_stats(leg["pkts"])
            total_lost += lost
            max_jit = max(max_jit, mj)
            leg.update(lost=lost)
            print(f"  {src:>21} {dst:>21} {ssrc:#010x} {leg['n']:5d} {lost:4d} "
                  f"{100 * lost / exp:5.1f} {mdelta:7.1f} {mj:6.2f} {aj:7.2f}  "
                  f"{leg['last'] - leg['first']:.1f}s")

        print("\n-- RTCP (first packet of each compound; SRTCP keeps it in the clear)")
        agg = collections.Counter()
        for (s, d, kind), v in rtcp.items():
            agg[kind] += v
        print("  " + ", ".join(f"{k} {v}" for k, v in sorted(agg.items())))
        for t, src, ssrc in byes:
            print(f"  BYE {t:.6f} from {src} ssrc {ssrc:#010x}")

        print("\n-- DTLS handshake messages (tshark)")
        dt = tshark(pcap, "-Y", "dtls.handshake.type", "-T", "fields", "-E",
                    "occurrence=a", "-E", "aggregator=,", "-e", "dtls.handshake.type")
        hs = collections.Counter(x for line in dt.split() for x in line.split(","))
        names = {"1": "ClientHello", "2": "ServerHello", "11": "Certificate",
                 "12": "ServerKeyExchange", "13": "CertificateRequest",
                 "14": "ServerHelloDone", "15": "CertificateVerify",
                 "16": "ClientKeyExchange", "20": "Finished"}
        print("  " + ", ".join(f"{names.get(k, k)} {v}" for k, v in
                               sorted(hs.items(), key=lambda x: int(x[0]))))

        # -2 (two passes): in one pass tshark 4.0 sometimes leaves a whole call's SRTP
        # out of the table (seen after a retransmitted DTLS flight), see README
        print("\n-- tshark -2 -q -z rtp,streams -o rtp.heuristic_rtp:TRUE")
        table = tshark(pcap, "-2", "-q", "-z", "rtp,streams", "-o",
                       "rtp.heuristic_rtp:TRUE").rstrip()
        print(table)
        tshark_ssrcs = {int(w, 16) for w in table.split() if w.startswith("0x")}

        print("\n-- calls")
        if total_lost == 0:
            problems.append(f"{cap}: no RTP loss at all")
        if max_jit == 0:
            problems.append(f"{cap}: no jitter")
        for r in calls:
            name = r["call"]
            c = conns.get(r["client_port"])
            if c is None:
                problems.append(f"{cap} {name}: no TCP connection from port {r['client_port']}")
                continue
            verdict, t_first = ws_verdict(c["events"])
            ok = verdict == r["expected_verdict"]
            if not ok:
                problems.append(f"{cap} {name}: wire verdict {verdict}, truth "
                                f"{r['expected_verdict']}")
            line = (f"  {name}: ws {r['client_port']}->{r['server_port']} verdict {verdict}"
                    f" ({'ok' if ok else 'MISMATCH'}), text frames {c['text_frames']}, "
                    f"SDP frames {c['sdp_frames']}")
            if r["mode"] == "turn_refused":
                if not any(k.startswith("Allocate Error 486") for k in stun):
                    problems.append(f"{cap} {name}: no Allocate 486")
                print(line + ", Allocate 486 seen")
                continue
            if c["sdp_frames"] < 2:
                problems.append(f"{cap} {name}: {c['sdp_frames']} SDP frames")
            cu, su = r["client_ufrag"], r["server_ufrag"]
            n_c2s, n_s2c = users.get(f"{su}:{cu}", 0), users.get(f"{cu}:{su}", 0)
            if not (n_c2s and n_s2c):
                problems.append(f"{cap} {name}: binding requests c->s {n_c2s} s->c {n_s2c}")
            for key in ("ssrc_client_to_server", "ssrc_server_to_client"):
                if int(r[key]) not in tshark_ssrcs:
                    problems.append(f"{cap} {name}: {key} {int(r[key]):#x} not in tshark's "
                                    "rtp,streams")
            tx = {}
            for dirn, key in (("c2s", "ssrc_client_to_server"), ("s2c", "ssrc_server_to_client")):
                ssrc = int(r[key])
                ls = [leg for (s, d, x), leg in legs.items() if x == ssrc]
                if not ls or max(leg["n"] for leg in ls) < 100:
                    problems.append(f"{cap} {name}: RTP {dirn} ssrc {ssrc:#x} missing/short")
                    continue
                # relayed calls: the same SSRC on two legs; report the longest one
                best = max(ls, key=lambda leg: leg["n"])
                tx[dirn] = (best["first"], best["last"], best["n"], best["lost"])
            line += (f", STUN checks c->s {n_c2s} s->c {n_s2c}, "
                     + ", ".join(f"RTP {k} {v[2]} pkts lost {v[3]} "
                                 f"{v[0] - (t_first or 0):+.2f}s..{v[1] - (t_first or 0):+.2f}s"
                                 for k, v in tx.items())
                     + " (relative to the first WebSocket teardown event)")
            # RTCP BYE from the expected sides
            ssrcs = {"client": int(r["ssrc_client_to_server"]),
                     "server": int(r["ssrc_server_to_client"])}
            got = {side for side, s in ssrcs.items() if any(b[2] == s for b in byes)}
            want = {"both": {"client", "server"}, "client": {"client"},
                    "server": {"server"}, "none": set()}[r["rtcp_bye_expected_from"]]
            if got != want:
                problems.append(f"{cap} {name}: RTCP BYE from {sorted(got)}, truth "
                                f"{sorted(want)}")
            line += f", BYE from {sorted(got) or 'nobody'}"
            # media versus signalling
            if t_first and "c2s" in tx and "s2c" in tx:
                last_c, last_s = tx["c2s"][1], tx["s2c"][1]
                m = r["media"]
                if m == "media_after_signalling" and not (last_c > t_first + 2
                                                          and last_s > t_first + 2):
                    problems.append(f"{cap} {name}: media did not outlive signalling")
                if m == "media_stopped_first" and not (last_c < t_first - 5):
                    problems.append(f"{cap} {name}: client media did not stop first")
                if m == "clean_bye" and not (abs(last_c - t_first) < 1):
                    problems.append(f"{cap} {name}: media end not near the hang-up")
            if r["relayed"] == "yes" and not chandata:
                problems.append(f"{cap} {name}: relayed but no ChannelData")
            print(line)
        print()

    if problems:
        print("PROBLEMS:")
        for p in problems:
            print("  " + p)
        for p in problems:
            print("verify:", p, file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
