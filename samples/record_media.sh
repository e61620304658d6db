#!/usr/bin/env bash
# Regenerate samples/media/: calls.pcap, turn.pcap, truth.tsv, stats.txt.
#
#   sudo bash samples/record_media.sh          (about 1 minute)
#
# Needs root, iproute2, ethtool, tcpdump, tshark, python3 with aiortc + websockets, and
# coturn's turnserver; missing aiortc / coturn are installed (pip / apt-get).
# Three network namespaces of its own (tdm-cli, tdm-srv, tdm-turn) on 10.77.0.0/24,
# nothing routed anywhere else; they are created fresh for each capture and removed on
# exit (trap). Every process is started with a time limit. The kernel here has no
# sch_netem, so media impairment (2 % loss, 20 ms +- 5 ms delay, each direction) comes
# from samples/media/tools/impair_tun.py (see there). Logs of the last run stay in
# $TMPDIR/tdm-record.*/ (path printed at the end).
#
# Idempotent: the outputs are replaced as a set, and only if the checks in
# samples/media/tools/verify.py pass (a failed recording is retried, 5 attempts at most: with 2 % loss an
# RTCP BYE the truth promises is sometimes dropped).

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$HERE/media"
TOOLS="$OUT/tools"
LAB="$HERE/webrtc_lab.py"
PY="${PYTHON:-python3}"
CLI=tdm-cli
SRV=tdm-srv
TURN=tdm-turn
NET=10.77.0
TMP="$(mktemp -d "${TMPDIR:-/tmp}/tdm-record.XXXXXX")"
PIDS=()

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

# ------------------------------------------------------------------ dependencies
if ! "$PY" -c 'import aiortc, websockets' 2>/dev/null; then
  echo "installing aiortc (pip)"
  "$PY" -m pip install -q aiortc websockets
fi
if ! command -v turnserver >/dev/null; then
  echo "installing coturn (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq coturn >/dev/null
fi
for t in ip ethtool tcpdump tshark; do
  command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }
done

# ------------------------------------------------------------------ namespaces
stop_pids() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  PIDS=()
}

del_netns() {
  local n
  for n in "$CLI" "$SRV" "$TURN"; do ip netns del "$n" 2>/dev/null || true; done
}

cleanup() {
  stop_pids
  del_netns
}
trap cleanup EXIT
trap 'exit 130' INT TERM

offloads_off() { # netns dev
  ip netns exec "$1" ethtool -K "$2" tso off gso off gro off tx off rx off >/dev/null 2>&1 \
    || ip netns exec "$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1 || true
}

make_netns() {
  del_netns
  local n
  for n in "$CLI" "$SRV" "$TURN"; do
    ip netns add "$n"
    ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
      net.ipv6.conf.default.disable_ipv6=1
    ip -n "$n" link set lo up
  done
  # tdm-srv holds a bridge joining the three; it is the signalling + media server's host,
  # and tcpdump on br0 (promiscuous) sees every frame between any two of them once.
  ip -n "$SRV" link add br0 type bridge forward_delay 0 stp_state 0
  ip -n "$SRV" link add pcli mtu 1500 type veth peer name eth0 netns "$CLI" mtu 1500
  ip -n "$SRV" link add pturn mtu 1500 type veth peer name eth0 netns "$TURN" mtu 1500
  for n in pcli pturn; do
    ip -n "$SRV" link set "$n" master br0
    ip -n "$SRV" link set "$n" up
    offloads_off "$SRV" "$n"
  done
  ip -n "$SRV" addr add "$NET.2/24" dev br0
  ip -n "$SRV" link set br0 up
  offloads_off "$SRV" br0
  ip -n "$CLI" addr add "$NET.1/24" dev eth0
  ip -n "$TURN" addr add "$NET.3/24" dev eth0
  for n in "$CLI" "$TURN"; do
    ip -n "$n" link set eth0 up
    offloads_off "$n" eth0
  done
  sleep 0.5
}

start_impair() { # netns seed
  local ready="$TMP/impair.$1.ready"
  rm -f "$ready"
  ip netns exec "$1" timeout 120 "$PY" "$TOOLS/impair_tun.py" --dev imp0 --loss 0.02 \
    --delay 0.020 --jitter 0.005 --seed "$2" --max-seconds 110 --ready "$ready" \
    --stats "$TMP/impair.$1.$PLAN.json" 2>"$TMP/impair.$1.err" &
  PIDS+=($!)
  for _ in $(seq 50); do [ -e "$ready" ] && break; sleep 0.1; done
  [ -e "$ready" ] || { echo "impair_tun.py did not start in $1" >&2; exit 1; }
  ip -n "$1" link set imp0 up
  ip -n "$1" route add "$NET.0/24" dev imp0 table 77
  ip -n "$1" rule add pref 100 fwmark 0x77 lookup main
  ip -n "$1" rule add pref 200 ipproto udp lookup 77
}

wait_listen() { # netns proto addr:port
  for _ in $(seq 100); do
    ip netns exec "$1" ss -ln"$2" | grep -q " $3 " && return 0
    sleep 0.1
  done
  echo "nothing listens on $3 in $1" >&2
  exit 1
}

record() { # plan pcap
  PLAN="$1"
  local pcap="$2" attempt_seed="$3"
  make_netns
  start_impair "$CLI" "$attempt_seed"
  start_impair "$SRV" "$((attempt_seed + 1))"

  ip netns exec "$SRV" timeout 100 tcpdump -n -i br0 -s 0 -B 8192 --immediate-mode -Z root \
    -w "$pcap" 2>"$TMP/tcpdump.$PLAN.err" &
  local tcpdump_pid=$!
  PIDS+=("$tcpdump_pid")
  for _ in $(seq 50); do grep -q "listening on" "$TMP/tcpdump.$PLAN.err" && break; sleep 0.1; done

  if [ "$PLAN" = turn ]; then
    # 2 allocations at most (user and total quota): the third concurrent call gets 486
    ip netns exec "$TURN" timeout 100 turnserver -n --listening-ip="$NET.3" \
      --relay-ip="$NET.3" --listening-port=3478 --min-port=49152 --max-port=49200 \
      --lt-cred-mech --user=test:secret --realm=td.test --no-tls --no-dtls --no-cli \
      --user-quota=2 --total-quota=2 --allowed-peer-ip="$NET.0-$NET.255" \
      --pidfile="$TMP/turnserver.pid" --log-file=stdout --simple-log \
      >"$TMP/turnserver.log" 2>&1 &
    PIDS+=($!)
    wait_listen "$TURN" u "$NET.3:3478"
  fi

  : >"$TMP/server.$PLAN.log"
  ip netns exec "$SRV" timeout 90 "$PY" "$LAB" server --host "$NET.2" --port 8080 \
    --log "$TMP/server.$PLAN.log" --max-seconds 80 2>"$TMP/server.$PLAN.err" &
  PIDS+=($!)
  wait_listen "$SRV" t "$NET.2:8080"

  : >"$TMP/client.$PLAN.jsonl"
  ip netns exec "$CLI" timeout 70 "$PY" "$LAB" client --plan "$PLAN" \
    --url "ws://$NET.2:8080" --turn "$NET.3:3478" --out "$TMP/client.$PLAN.jsonl" \
    --max-seconds 60 2>"$TMP/client.$PLAN.err" || true
  sleep 2
  stop_pids
  grep -q "^0 packets dropped by kernel" "$TMP/tcpdump.$PLAN.err" || {
    echo "tcpdump dropped packets or did not finish:" >&2
    cat "$TMP/tcpdump.$PLAN.err" >&2
    return 1
  }
  del_netns
}

mkdir -p "$OUT"
ok=0
for attempt in 1 2 3 4 5; do
  echo "recording (attempt $attempt) in $TMP"
  seed=$((attempt * 100))
  if record calls "$TMP/calls.pcap" "$seed" && record turn "$TMP/turn.pcap" "$((seed + 10))" \
    && "$PY" "$TOOLS/make_truth.py" --tmp "$TMP" --out "$TMP/truth.tsv" \
    && "$PY" "$TOOLS/verify.py" --truth "$TMP/truth.tsv" --dir "$TMP" \
         >"$TMP/stats.txt"; then
    ok=1
    break
  fi
  echo "attempt $attempt failed; see $TMP" >&2
  tail -5 "$TMP/stats.txt" 2>/dev/null >&2 || true
done
[ "$ok" = 1 ] || { echo "recording failed 5 times" >&2; exit 1; }

cp "$TMP/calls.pcap" "$TMP/turn.pcap" "$TMP/truth.tsv" "$TMP/stats.txt" "$OUT/"
chmod 644 "$OUT"/calls.pcap "$OUT"/turn.pcap "$OUT"/truth.tsv "$OUT"/stats.txt
cat "$OUT/stats.txt"
ls -l "$OUT"/*.pcap "$OUT"/truth.tsv
echo "logs: $TMP"
