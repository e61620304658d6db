#!/usr/bin/env bash
# Regenerates the sample captures in samples/ from real network stacks:
# two network namespaces (td-cli, td-srv) joined by a veth pair (MTU 1500), the Python
# `websockets` library on both sides (samples/ws_lab.py) and tcpdump on the server's veth.
#
#   sudo bash samples/record.sh
#
# Needs: root, iproute2 (ip netns, veth), tcpdump, tshark, editcap, mergecap, capinfos,
# python3 with `websockets` >= 14 (new asyncio API). ethtool is used to switch off the
# veth offloads when it is installed (without it the capture shows GSO-sized segments).
# lossy.pcap uses `tc ... netem` when the kernel has it, else impair.py in a third
# namespace (td-mid) between the two.
#
# All traffic stays between the namespaces this script creates; every step is bounded
# in time. The namespaces are removed on exit (trap). Logs of the last run are left in
# /tmp/td-record-logs/.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
LAB="$HERE/ws_lab.py"
CLI=td-cli
SRV=td-srv
MID=td-mid  # only for lossy.pcap: the impairment "wire" between the two
VC=td-c   # client end of the veth (in td-cli)
VS=td-s   # server end of the veth (in td-srv)
VMC=td-mc # lossy.pcap: td-mid's end facing the client
VMS=td-ms # lossy.pcap: td-mid's end facing the server
TMP=$(mktemp -d /tmp/td-record.XXXXXX)
SERVER_PID=""
TCPDUMP_PID=""
IMPAIR_PID=""

log() { printf '[record] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (sudo bash samples/record.sh)"
for t in ip tcpdump tshark editcap mergecap capinfos "$PY"; do
  command -v "$t" >/dev/null || die "$t is not installed"
done
"$PY" -c 'import websockets.asyncio.server, websockets.asyncio.client' \
  || die "python3 needs the websockets library (pip install websockets)"

stop_pid() { # pid signal: signal one process we started and wait for it (bounded)
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

ns_down() {
  ip netns del "$CLI" 2>/dev/null || true
  ip netns del "$SRV" 2>/dev/null || true
  ip netns del "$MID" 2>/dev/null || true
}

cleanup() {
  stop_pid "$TCPDUMP_PID" INT
  stop_pid "$SERVER_PID" TERM
  stop_pid "$IMPAIR_PID" TERM
  TCPDUMP_PID="" SERVER_PID="" IMPAIR_PID=""
  ns_down
  # Keep the last run's logs for a look afterwards.
  mkdir -p /tmp/td-record-logs
  cp "$TMP"/*.log "$TMP"/tcpdump.err /tmp/td-record-logs/ 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

offloads_off() { # netns interface
  if command -v ethtool >/dev/null; then
    ip netns exec "$1" ethtool -K "$2" tso off gso off gro off tx off rx off >/dev/null 2>&1 \
      || ip netns exec "$1" ethtool -K "$2" tso off gso off gro off >/dev/null
  else
    log "WARNING: ethtool missing: offloads stay on, segments may be larger than the MTU"
  fi
}

# Fresh namespaces for every capture, so no TCP metrics or ports carry over.
#   ns_up direct    td-cli[td-c] <-veth-> [td-s]td-srv
#   ns_up impaired  td-cli[td-c] <-veth-> [td-mc]td-mid[td-ms] <-veth-> [td-s]td-srv
#                   with impair.py moving frames across td-mid (loss, delay, reorder)
ns_up() {
  local mode=$1 ns i
  ns_down
  ip netns add "$CLI"
  ip netns add "$SRV"
  if [ "$mode" = impaired ]; then
    ip netns add "$MID"
    # td-mid has no addresses and must not talk itself: no IPv6 (ND/MLD) either.
    ip netns exec "$MID" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
      net.ipv6.conf.default.disable_ipv6=1 >/dev/null
    ip link add "$VC" netns "$CLI" mtu 1500 type veth peer name "$VMC" netns "$MID" mtu 1500
    ip link add "$VS" netns "$SRV" mtu 1500 type veth peer name "$VMS" netns "$MID" mtu 1500
    for i in "$VMC" "$VMS"; do
      offloads_off "$MID" "$i"
      ip -n "$MID" link set "$i" promisc on up
    done
  else
    ip link add "$VC" netns "$CLI" mtu 1500 type veth peer name "$VS" netns "$SRV" mtu 1500
  fi
  for ns in "$CLI" "$SRV"; do
    ip -n "$ns" link set lo up
  done
  ip -n "$CLI" addr add 10.99.0.1/24 dev "$VC"
  ip -n "$CLI" addr add fd00:99::1/64 dev "$VC" nodad
  ip -n "$SRV" addr add 10.99.0.2/24 dev "$VS"
  ip -n "$SRV" addr add 10.99.0.3/24 dev "$VS"
  ip -n "$SRV" addr add fd00:99::2/64 dev "$VS" nodad
  offloads_off "$CLI" "$VC"
  offloads_off "$SRV" "$VS"
  ip -n "$CLI" link set "$VC" up
  ip -n "$SRV" link set "$VS" up
  if [ "$mode" = impaired ]; then
    rm -f "$TMP/impair.ready"
    ip netns exec "$MID" "$PY" "$HERE/impair.py" "$VMC" "$VMS" --loss 0.03 --delay 0.005 \
      --reorder 0.10 --max-seconds 120 --ready-file "$TMP/impair.ready" 2>>"$TMP/impair.log" &
    IMPAIR_PID=$!
    for i in $(seq 1 50); do [ -f "$TMP/impair.ready" ] && break; sleep 0.1; done
  fi
  for i in $(seq 1 50); do
    ip netns exec "$CLI" ping -c1 -W1 10.99.0.2 >/dev/null 2>&1 && break
    sleep 0.1
  done
}

start_server() { # extra server args...
  rm -f "$TMP/ready"
  ip netns exec "$SRV" "$PY" "$LAB" server \
    --listen 10.99.0.2:8080 --listen 10.99.0.3:8080 --listen '[fd00:99::2]:8080' \
    --plain-listen 10.99.0.2:8081 --ready-file "$TMP/ready" --max-seconds 120 "$@" \
    2>>"$TMP/server.log" &
  SERVER_PID=$!
  local i
  for i in $(seq 1 50); do
    [ -f "$TMP/ready" ] && return 0
    sleep 0.1
  done
  die "server did not start (see $TMP/server.log)"
}

start_tcpdump() { # tcpdump args (interface, -w ...)
  : >"$TMP/tcpdump.err"
  ip netns exec "$SRV" tcpdump -n -Z root -B 8192 --immediate-mode "$@" 2>"$TMP/tcpdump.err" &
  TCPDUMP_PID=$!
  local i
  for i in $(seq 1 50); do
    grep -q "listening on" "$TMP/tcpdump.err" && return 0
    sleep 0.1
  done
  die "tcpdump did not start: $(cat "$TMP/tcpdump.err")"
}

finish_capture() { # label
  sleep 1     # let the last FIN/ACKs reach the capture
  stop_pid "$TCPDUMP_PID" INT
  TCPDUMP_PID=""
  stop_pid "$SERVER_PID" TERM
  SERVER_PID=""
  stop_pid "$IMPAIR_PID" TERM
  IMPAIR_PID=""
  local dropped
  dropped=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$TMP/tcpdump.err")
  log "$1: $(grep -E 'captured|dropped' "$TMP/tcpdump.err" | tr '\n' ' ')"
  [ "${dropped:-0}" = 0 ] || die "$1: tcpdump dropped $dropped packets"
}

client() { # truth-file client args...
  local truth=$1; shift
  rm -f "$truth"
  timeout 150 ip netns exec "$CLI" "$PY" "$LAB" client --truth "$truth" "$@" 2>>"$TMP/client.log"
}

SCENARIOS=clean_client_close,clean_server_close,server_close_1011,server_close_1013
SCENARIOS+=,server_rst_no_close,server_fin_no_close,client_abort,client_fin_no_close
SCENARIOS+=,handshake_503,connect_refused,ping_pong,fragmented,large_messages
SCENARIOS+=,clean_server_close_v6,syn_unanswered

OUT="$TMP/out"
mkdir -p "$OUT/loadrun"

# 1. scenarios.pcap: every single scenario once, no loss, microsecond timestamps.
log "recording scenarios.pcap"
ns_up direct
start_server
start_tcpdump -i "$VS" -w "$OUT/scenarios.pcap"
client "$OUT/scenarios.truth.tsv" --scenarios "$SCENARIOS"
finish_capture scenarios.pcap
editcap -F pcapng "$OUT/scenarios.pcap" "$OUT/scenarios.pcapng"

# 2. lossy.pcap: netem loss/delay/reorder on both veth ends, nanosecond timestamps.
log "recording lossy.pcap"
# Kernel netem on both veth ends when the kernel has it; otherwise (as on the machine
# these samples were recorded on: CONFIG_NET_SCH_NETEM is not set) impair.py in a middle
# namespace plays `netem loss 3% delay 5ms reorder 10%` on both directions.
NETEM="loss 3% delay 5ms reorder 10% 50%"
ns_up direct
# shellcheck disable=SC2086
if command -v tc >/dev/null \
   && ip netns exec "$CLI" tc qdisc add dev "$VC" root netem $NETEM 2>/dev/null \
   && ip netns exec "$SRV" tc qdisc add dev "$VS" root netem $NETEM; then
  log "lossy.pcap: kernel netem $NETEM on both veth ends"
else
  log "lossy.pcap: no sch_netem in this kernel: impair.py in td-mid instead"
  ns_up impaired
fi
start_server
start_tcpdump -i "$VS" --time-stamp-precision=nano -w "$OUT/lossy.pcap"
client "$OUT/lossy.truth.tsv" --scenarios large_messages,fragmented,ping_pong --repeat 2
finish_capture lossy.pcap

# 3. loadrun/: ~100 ramped sessions to two addresses, rotated every ~1 MB.
log "recording loadrun/"
ns_up direct
start_server --capped 10.99.0.3 --cap 25
start_tcpdump -i "$VS" -C 1 -w "$OUT/loadrun/load.pcap"
rm -f "$OUT/loadrun.truth.tsv"
timeout 60 ip netns exec "$CLI" "$PY" "$LAB" load --truth "$OUT/loadrun.truth.tsv" \
  --targets 10.99.0.2:8080,10.99.0.3:8080 --sessions 100 --interval 0.06 --life 4 \
  2>>"$TMP/client.log"
finish_capture loadrun
[ "$(ls "$OUT/loadrun" | wc -l)" -ge 2 ] || die "loadrun: rotation produced fewer than 2 files"

# 4. sll2.pcap: `tcpdump -i any` writes Linux cooked v2 headers.
log "recording sll2.pcap"
ns_up direct
start_server
start_tcpdump -i any -y LINUX_SLL2 -w "$OUT/sll2.pcap"
client "$OUT/sll2.truth.tsv" --scenarios clean_client_close,server_rst_no_close
finish_capture sll2.pcap

# Install the results.
rm -rf "$HERE/loadrun"
mkdir -p "$HERE/loadrun"
cp "$OUT"/loadrun/* "$HERE/loadrun/"
cp "$OUT"/scenarios.pcap "$OUT"/scenarios.pcapng "$OUT"/lossy.pcap "$OUT"/sll2.pcap \
   "$OUT"/*.truth.tsv "$HERE/"
chmod 644 "$HERE"/*.pcap "$HERE"/*.pcapng "$HERE"/*.tsv "$HERE"/loadrun/*

# Verify: tshark decodes every capture, and the wire agrees with the ground truth.
log "verifying with tshark"
fail=0
count() { tshark -n -r "$1" -Y "$2" 2>/dev/null | wc -l; }
for f in scenarios.pcap scenarios.pcapng lossy.pcap sll2.pcap; do
  p="$HERE/$f"
  printf '%-18s %-32s packets=%-6s ws_frames=%-5s close_frames=%-3s rst=%-3s retrans=%s\n' \
    "$f" "$(capinfos -t "$p" | sed -n 's/^File type: *//p' | cut -c1-32)" \
    "$(count "$p" "")" "$(count "$p" websocket)" "$(count "$p" websocket.opcode==8)" \
    "$(count "$p" tcp.flags.reset==1)" "$(count "$p" tcp.analysis.retransmission)"
  [ "$(count "$p" websocket.opcode==8)" -gt 0 ] || { log "$f: no close frame decoded"; fail=1; }
done
mergecap -w "$TMP/loadrun-merged.pcap" "$HERE"/loadrun/*
printf '%-18s files=%s packets=%s ws_frames=%s close_frames=%s rst=%s\n' loadrun/ \
  "$(ls "$HERE/loadrun" | wc -l)" "$(count "$TMP/loadrun-merged.pcap" "")" \
  "$(count "$TMP/loadrun-merged.pcap" websocket)" \
  "$(count "$TMP/loadrun-merged.pcap" websocket.opcode==8)" \
  "$(count "$TMP/loadrun-merged.pcap" tcp.flags.reset==1)"
[ "$(count "$HERE/lossy.pcap" tcp.analysis.retransmission)" -gt 0 ] \
  || { log "lossy.pcap: no retransmission"; fail=1; }

"$PY" "$HERE/check_wire.py" "$HERE/scenarios.pcap" "$HERE/scenarios.truth.tsv" || fail=1
"$PY" "$HERE/check_wire.py" "$HERE/scenarios.pcapng" "$HERE/scenarios.truth.tsv" || fail=1
"$PY" "$HERE/check_wire.py" "$HERE/lossy.pcap" "$HERE/lossy.truth.tsv" || fail=1
"$PY" "$HERE/check_wire.py" "$TMP/loadrun-merged.pcap" "$HERE/loadrun.truth.tsv" || fail=1
"$PY" "$HERE/check_wire.py" "$HERE/sll2.pcap" "$HERE/sll2.truth.tsv" || fail=1

du -ch "$HERE"/*.pcap "$HERE"/*.pcapng "$HERE"/*.tsv "$HERE"/loadrun/* | tail -1 | sed 's/^/samples total: /'
[ "$fail" = 0 ] || die "verification failed"
log "done"
