#!/usr/bin/env python3
"""The shape of a capture, for comparing recorded and synthetic load runs (BENCHMARKS.md):
packets, bytes a packet, the RTP/RTCP/STUN/TCP mix, 5-tuples, addresses and timestamps
earlier than a predecessor. Classic little-endian microsecond pcap, Ethernet only.

    python3 bench/shape.py recorded.pcap run.pcap ...
"""
import struct, sys, collections
for path in sys.argv[1:]:
    d = open(path, 'rb').read()
    off = 24; n = 0; tot = 0; prev = 0; back = 0
    kinds = collections.Counter(); flows = set(); ips = set(); tcp_pay = 0; tcp_pure = 0
    while off + 16 <= len(d):
        s, us, incl, orig = struct.unpack_from('<IIII', d, off)
        t = s * 1000000 + us
        if t < prev: back += 1
        prev = max(prev, t)
        p = d[off+16:off+16+incl]; off += 16 + incl; n += 1; tot += incl
        et = p[12:14]
        if et == b'\x08\x00':
            ihl = (p[14] & 15) * 4; proto = p[23]; l4 = 14 + ihl; src = p[26:30]; dst = p[30:34]
        elif et == b'\x86\xdd':
            proto = p[20]; l4 = 54; src = p[22:38]; dst = p[38:54]
        else:
            kinds['other'] += 1; continue
        sp, dp = struct.unpack_from('!HH', p, l4)
        flows.add((proto,) + tuple(sorted([(src, sp), (dst, dp)])))
        ips.add(src); ips.add(dst)
        if proto == 17:
            u = p[l4+8:]
            if u and u[0] >> 6 == 2:
                kinds['rtcp' if len(u) > 1 and 192 <= u[1] <= 223 else 'rtp'] += 1
            elif u and u[0] < 2: kinds['stun'] += 1
            else: kinds['udp other'] += 1
        elif proto == 6:
            doff = (p[l4+12] >> 4) * 4
            if len(p) > l4 + doff: kinds['tcp data'] += 1
            else: kinds['tcp no payload'] += 1
        else: kinds['ip other'] += 1
    print(f"{path}: {n} packets, {tot/n:.0f} B/packet (incl. headers), {len(flows)} flows (5-tuples), {len(ips)} IP addresses, {back} timestamps earlier than a predecessor")
    print("   " + ", ".join(f"{k} {100*v/n:.2f}%" for k, v in kinds.most_common()))
