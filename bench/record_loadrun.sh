#!/usr/bin/env bash
# Records a long WebRTC-shaped load run from real network stacks for bench/run.sh
# (the recorded capture beside the synthetic one): the samples' approach (two network
# namespaces joined by a veth pair, MTU 1500, offloads off, tcpdump on the server's
# veth), with bench/loadrun_lab.py as client and server: per call a `websockets`
# signalling connection with SDP, a STUN Binding exchange and consent checks, 50 pps PCMU
# RTP each way with RTCP sender reports, calls of MIN_S..MAX_S seconds, a server that
# sheds calls beyond CAP (close 1013, every 7th reset).
#
#   sudo bash bench/record_loadrun.sh        # about 3 minutes of recording
#
# Output: $OUT (default /tmp/teardown-bench/recorded.pcap): COPIES time-shifted copies
# of the one recording merged (mergecap), each copy with its own client address
# (10.99.0.1 becomes 10.(99-k).0.(1+k) in copy k: the two 16-bit words change by +k and
# -k, so the IP, TCP and UDP checksums stay valid), so the copies' connections are
# distinct and overlap in time. The single recording is kept as $OUT.one.pcap and the
# client's outcome counts as $OUT.outcomes.json.
#
# Environment: OUT, CALLS (200), INTERVAL_S (0.5: one new call every ...), MIN_S (15),
# MAX_S (60), CAP (50), COPIES (4), SHIFT_S (9: copy k starts k*SHIFT_S later), SEED (7).
# Needs root, iproute2, tcpdump, mergecap, capinfos, python3 with websockets >= 14,
# ethtool (offloads off).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/teardown-bench/recorded.pcap}
CALLS=${CALLS:-200}
INTERVAL_S=${INTERVAL_S:-0.5}
MIN_S=${MIN_S:-15}
MAX_S=${MAX_S:-60}
CAP=${CAP:-50}
COPIES=${COPIES:-4}
SHIFT_S=${SHIFT_S:-9}
SEED=${SEED:-7}
LAB="$HERE/loadrun_lab.py"
CLI=tdb-cli
SRV=tdb-srv
TMP=$(mktemp -d /tmp/td-bench-record.XXXXXX)
SERVER_PID=""
TCPDUMP_PID=""

log() { printf '[record_loadrun] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
for t in ip tcpdump mergecap capinfos python3 ethtool; do
  command -v "$t" >/dev/null || die "$t is not installed"
done
python3 -c 'import websockets.asyncio.server' || die "python3 needs websockets >= 14"

stop_pid() { # pid signal: signal one process this script started, wait (bounded)
  local pid=$1 sig=$2 i
  [ -n "$pid" ] || return 0
  kill "-$sig" "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$TCPDUMP_PID" INT
  stop_pid "$SERVER_PID" TERM
  ip netns del "$CLI" 2>/dev/null || true
  ip netns del "$SRV" 2>/dev/null || true
  mkdir -p /tmp/td-bench-record-logs
  cp "$TMP"/*.log /tmp/td-bench-record-logs/ 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

ip netns del "$CLI" 2>/dev/null || true
ip netns del "$SRV" 2>/dev/null || true
ip netns add "$CLI"
ip netns add "$SRV"
ip link add tdb-c netns "$CLI" mtu 1500 type veth peer name tdb-s netns "$SRV" mtu 1500
for ns in "$CLI" "$SRV"; do ip -n "$ns" link set lo up; done
ip -n "$CLI" addr add 10.99.0.1/24 dev tdb-c
ip -n "$SRV" addr add 10.99.0.2/24 dev tdb-s
ip netns exec "$CLI" ethtool -K tdb-c tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
ip netns exec "$SRV" ethtool -K tdb-s tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
ip -n "$CLI" link set tdb-c up
ip -n "$SRV" link set tdb-s up
# Hundreds of sockets and a burst of datagrams every 20 ms: larger socket buffers.
for ns in "$CLI" "$SRV"; do
  ip netns exec "$ns" sysctl -qw net.core.rmem_default=1048576 net.core.wmem_default=1048576 \
    >/dev/null 2>&1 || true
done

ip netns exec "$SRV" tcpdump -i tdb-s -s 0 -B 65536 --immediate-mode -w "$TMP/one.pcap" \
  2>"$TMP/tcpdump.log" &
TCPDUMP_PID=$!
sleep 1
ip netns exec "$SRV" python3 "$LAB" server 10.99.0.2 8080 3478 "$CAP" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
sleep 1
log "recording: $CALLS calls, one every ${INTERVAL_S}s, ${MIN_S}-${MAX_S}s each, cap $CAP"
ip netns exec "$CLI" python3 "$LAB" client 10.99.0.2 8080 3478 "$CALLS" "$INTERVAL_S" \
  "$MIN_S" "$MAX_S" "$SEED" >"$TMP/client.log" 2>&1 || { cat "$TMP/client.log" >&2; die "client failed"; }
sleep 1
stop_pid "$TCPDUMP_PID" INT
TCPDUMP_PID=""
stop_pid "$SERVER_PID" TERM
SERVER_PID=""
cat "$TMP/tcpdump.log" >&2
grep -q '^0 packets dropped by kernel' "$TMP/tcpdump.log" || log "WARNING: tcpdump dropped packets"
mkdir -p "$(dirname "$OUT")"
tail -1 "$TMP/client.log" >"$OUT.outcomes.json"
log "client: $(cat "$OUT.outcomes.json")"
cp "$TMP/one.pcap" "$OUT.one.pcap"

# COPIES time-shifted copies with distinct client addresses, merged by timestamp.
python3 - "$TMP/one.pcap" "$TMP" "$COPIES" "$SHIFT_S" <<'EOF'
import struct, sys
src, tmp, copies, shift = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
data = open(src, "rb").read()
magic = struct.unpack_from("<I", data)[0]
assert magic in (0xA1B2C3D4, 0xA1B23C4D), "little-endian pcap expected"
per_s = 1_000_000 if magic == 0xA1B2C3D4 else 1_000_000_000
client = bytes([10, 99, 0, 1])
for k in range(copies):
    w = bytearray(data[:24])
    new = bytes([10, 99 - k, 0, 1 + k])
    dt = int(round(shift * k * per_s))
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack_from("<IIII", data, off)
        rec = bytearray(data[off + 16:off + 16 + incl])
        t = sec * per_s + frac + dt
        w += struct.pack("<IIII", t // per_s, t % per_s, incl, orig)
        if k and len(rec) >= 34 and rec[12:14] == b"\x08\x00":
            for at in (26, 30):
                if rec[at:at + 4] == client:
                    rec[at:at + 4] = new
        w += rec
        off += 16 + incl
    open(f"{tmp}/copy{k}.pcap", "wb").write(w)
EOF
mergecap -F pcap -w "$OUT.tmp" "$TMP"/copy*.pcap
mv "$OUT.tmp" "$OUT"
capinfos -c -s -d -u "$OUT" >&2
log "wrote $OUT"
