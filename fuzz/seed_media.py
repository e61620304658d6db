#!/usr/bin/env python3
"""Seeds the media fuzz targets' corpora (fuzz/corpus/<target>/, git-ignored) from the
real captures in samples/media/*.pcap (UDP payloads and WebSocket text read with tshark)
and the RFC 5769 STUN test vectors.  Usage: python3 fuzz/seed_media.py"""
import hashlib, math, os, struct, subprocess, sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "..", "samples", "media")
COOKIE = bytes.fromhex("2112a442")

# RFC 5769 §2.1-2.4: request, IPv4 response, IPv6 response, long-term-credential request.
RFC5769 = [bytes.fromhex(h.replace(" ", "")) for h in [
    "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74"
    "002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020"
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf",
    "010100 3c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220"
    "002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96",
    "010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220"
    "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9"
    "00080014a382954e4be67bf11784c97c8292c275bfe3ed41 80280004c8fb0b4c",
    "000100602112a44278ad3433c6ad72c029da412e00060012e3839ee38388e383aae38383e382afe382b90000"
    "0015001c662f2f3439396b39353464364f4c33346f4c394653547679363473410014000b6578616d706c652e6f726700"
    "00080014f67024656dd64a3e02b8e0712e85c9a28ca89666",
]]


def kind(b):
    if not b:
        return "other"
    f = b[0]
    if f <= 3 and len(b) >= 20 and b[4:8] == COOKIE:
        return "stun"
    if 20 <= f <= 63 and len(b) >= 13:
        return "dtls"
    if 64 <= f <= 79 and len(b) >= 4:
        return "channel_data"
    if 128 <= f <= 191 and len(b) >= 8:
        return "rtcp" if 192 <= b[1] <= 223 else ("rtp" if len(b) >= 12 else "other")
    return "other"


def tshark(pcap, filt, fields):
    out = subprocess.run(["tshark", "-r", pcap, "-Y", filt, "-T", "fields"]
                         + sum([["-e", f] for f in fields], []),
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def save(target, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def update(seq, ts, arrival_us, marker, pt, length):
    """An `Update` of fuzz_targets/rtp_rtcp.rs as `arbitrary` reads it (little-endian)."""
    arrival_us = max(-2**31, min(2**31 - 1, arrival_us))
    return struct.pack("<HIiBBH", seq, ts, arrival_us, marker, pt, length)


def main():
    flows = defaultdict(list)  # unordered address pair -> [(ns, src, payload)]
    for pcap in sorted(os.path.join(SAMPLES, p) for p in os.listdir(SAMPLES) if p.endswith(".pcap")):
        for t, s, sp, d, dp, hexp in tshark(pcap, "udp", ["frame.time_epoch", "ip.src", "udp.srcport",
                                                          "ip.dst", "udp.dstport", "udp.payload"]):
            ns = int(round(float(t) * 1e9))
            src, dst = (s, sp), (d, dp)
            flows[tuple(sorted([src, dst]))].append((ns, src, bytes.fromhex(hexp)))
        for (text,) in tshark(pcap, "websocket.payload.text", ["websocket.payload.text"]):
            save("sdp", struct.pack("<IQ", 0, 1) + b"\x00" + text.encode())
    sip = ("INVITE sip:bob@example.com SIP/2.0\r\nCall-ID: a84b4c76e66710@example.com\r\n"
           "CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nc=IN IP4 192.0.2.5\r\n"
           "m=audio 5004 RTP/AVP 0\r\na=ice-ufrag:F7gI\r\n")
    save("sdp", struct.pack("<IQ", 0x55555556, 7) + b"\x00" + sip.encode())

    for m in RFC5769:
        save("stun", m)
        save("stun", struct.pack(">H", len(m)) + m)  # RFC 4571 framing (ICE-TCP)
        save("udp_flow", bytes([0]) + struct.pack(">H", len(m)) + m)
    for pairs in flows.values():
        first_src = pairs[0][1]
        by_kind = defaultdict(list)
        for _, _, p in pairs:
            by_kind[kind(p)].append(p)
        for p in by_kind["stun"][:20] + by_kind["channel_data"][:20]:
            save("stun", p)
        if by_kind["stun"]:
            save("stun", b"".join(struct.pack(">H", len(p)) + p for p in by_kind["stun"][:6]))
            save("stun", b"".join(by_kind["stun"][:6]))  # bare, TURN over TCP
        for p in by_kind["dtls"][:30]:
            save("dtls", p)
        # udp_flow: windows of the flow as it happened, up to ~4 KB each.
        for start in range(0, len(pairs), max(1, len(pairs) // 8)):
            rec, prev = b"", pairs[start][0]
            for ns, src, p in pairs[start:]:
                delta = ns - prev
                prev = ns
                n = 31 if delta < 0 else min(30, max(0, round(math.log2(delta)) if delta > 0 else 0))
                r = bytes([(n << 3) | (src != first_src)]) + struct.pack(">H", len(p)) + p
                if rec and len(rec) + len(r) > 4096:
                    break
                rec += r
            save("udp_flow", rec)
        # rtp_rtcp: each RTP stream's first packets as updates, a datagram of the flow last.
        streams = defaultdict(list)
        for ns, src, p in pairs:
            if kind(p) == "rtp":
                streams[(src, p[8:12])].append((ns, p))
        tails = by_kind["rtcp"][:4] + by_kind["rtp"][:2]
        for i, pkts in enumerate(streams.values()):
            for off in (0, len(pkts) // 2):
                chunk = pkts[off:off + 150]
                if not chunk:
                    continue
                def upd(k):
                    ns, p = chunk[k]
                    prev = chunk[k - 1][0] if k else ns
                    return update(struct.unpack(">H", p[2:4])[0], struct.unpack(">I", p[4:8])[0],
                                  (ns - prev) // 1000, p[1] >> 7, p[1] & 0x7f, len(p) - 12)
                body = upd(0) + b"\x00" + b"\x01" + struct.pack("<I", 48000) + b"\x00"
                body += b"".join(b"\x01" + upd(k) for k in range(1, len(chunk))) + b"\x00"
                save("rtp_rtcp", body + (tails[i % len(tails)] if tails else b""))
        for p in by_kind["rtcp"][:20]:
            save("rtp_rtcp", update(0, 0, 0, 0, 0, 0) + b"\x00\x00\x00\x00" + p)


if __name__ == "__main__":
    sys.exit(main())
