#!/usr/bin/env bash
# Records samples/shed/: a real load run against a server that sheds load (issue 14), and
# samples/shed.truth.tsv, the server's own log of every drop and rejection with the
# number of sessions established on it at that moment; then the same run over wss://
# (samples/shed_wss/: the capture and the client's key log; samples/shed_wss.truth.tsv).
#
#   sudo bash samples/record_shed.sh
#
# Two network namespaces (lr-cli, lr-srv) joined by a veth pair (MTU 1500, offloads off),
# samples/shed_lab.py on both sides (Python `websockets` >= 14), tcpdump on the server's
# veth. 150 calls, 15 every 2 s, lasting 15-30 s, against a server that sheds above 60
# established sessions (RST, FIN, close 1011, close 1013, HTTP 503) and slows its
# upgrade by 2 ms per established session. Bounded in time; namespaces removed on exit.
#
# Other runs (validation data kept out of the repository), all optional:
#   OUT=/tmp/unseen/a   write the recordings there instead of samples/
#   ONLY=shed_wss       record only this one (shed or shed_wss)
#   NAME=run1           file names: run1/run1.pcap and run1.truth.tsv (with ONLY)
#   NS=w2               network namespace and veth prefix (default lr)
#   LAB_ARGS="--seed 7 --cap 40"   more shed_lab.py options, both sides
#   TLS_MAX=1.2         the server's highest TLS version (default: 1.3)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
LAB="$HERE/shed_lab.py"
OUT=${OUT:-$HERE}
NS=${NS:-lr}
CLI=$NS-cli
SRV=$NS-srv
VC=$NS-c
VS=$NS-s
read -r -a LAB_EXTRA <<<"${LAB_ARGS:-}"
TMP=$(mktemp -d /tmp/lr-record.XXXXXX)
SERVER_PID=""
TCPDUMP_PID=""

log() { printf '[record_shed] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
for t in ip tcpdump openssl "$PY"; do command -v "$t" >/dev/null || die "$t is not installed"; done

stop_pid() { # pid signal
  local pid=$1 sig=$2 i
  [ -n "$pid" ] || return 0
  kill "-$sig" "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  stop_pid "$TCPDUMP_PID" INT
  stop_pid "$SERVER_PID" TERM
  ip netns del "$CLI" 2>/dev/null || true
  ip netns del "$SRV" 2>/dev/null || true
  mkdir -p /tmp/lr-record-logs
  cp "$TMP"/*.log /tmp/lr-record-logs/ 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

ip netns del "$CLI" 2>/dev/null || true
ip netns del "$SRV" 2>/dev/null || true
ip netns add "$CLI"
ip netns add "$SRV"
ip link add "$VC" netns "$CLI" mtu 1500 type veth peer name "$VS" netns "$SRV" mtu 1500
for ns in "$CLI" "$SRV"; do ip -n "$ns" link set lo up; done
ip -n "$CLI" addr add 10.99.0.1/24 dev "$VC"
ip -n "$SRV" addr add 10.99.0.2/24 dev "$VS"
if command -v ethtool >/dev/null; then
  ip netns exec "$CLI" ethtool -K "$VC" tso off gso off gro off >/dev/null
  ip netns exec "$SRV" ethtool -K "$VS" tso off gso off gro off >/dev/null
fi
ip -n "$CLI" link set "$VC" up
ip -n "$SRV" link set "$VS" up
for i in $(seq 1 50); do
  ip netns exec "$CLI" ping -c1 -W1 10.99.0.2 >/dev/null 2>&1 && break
  sleep 0.1
done

# A throwaway self-signed certificate for the wss:// run.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=shed.teardown.test" \
  -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>"$TMP/openssl.log"

record() { # name port [server and client TLS options...]
  local name=$1 port=$2
  shift 2
  if [ -n "${ONLY:-}" ] && [ "$ONLY" != "$name" ]; then return 0; fi
  name=${NAME:-$name}
  local srv_tls=() cli_tls=()
  if [ $# -gt 0 ]; then
    srv_tls=(--cert "$TMP/cert.pem" --key "$TMP/key.pem" --tls-max "${TLS_MAX:-1.3}")
    cli_tls=(--ca "$TMP/cert.pem" --keylog "$TMP/$name.keylog")
  fi
  ip netns exec "$SRV" tcpdump -i "$VS" -n -s 0 -U -w "$TMP/$name.pcap" 2>"$TMP/tcpdump-$name.log" &
  TCPDUMP_PID=$!
  sleep 1
  ip netns exec "$SRV" "$PY" "$LAB" server --port "$port" --log "$TMP/$name.truth.tsv" \
    --max-seconds 90 "${LAB_EXTRA[@]}" "${srv_tls[@]}" 2>"$TMP/server-$name.log" &
  SERVER_PID=$!
  sleep 1
  timeout 80 ip netns exec "$CLI" "$PY" "$LAB" client --port "$port" "${LAB_EXTRA[@]}" "${cli_tls[@]}" \
    2>"$TMP/client-$name.log" || die "$name: client failed (see /tmp/lr-record-logs/)"
  tail -1 "$TMP/client-$name.log" >&2
  sleep 1
  stop_pid "$TCPDUMP_PID" INT
  TCPDUMP_PID=""
  stop_pid "$SERVER_PID" TERM
  SERVER_PID=""
  rm -rf "${OUT:?}/$name"
  mkdir -p "$OUT/$name"
  cp "$TMP/$name.pcap" "$OUT/$name/"
  if [ -f "$TMP/$name.keylog" ]; then cp "$TMP/$name.keylog" "$OUT/$name/"; fi
  cp "$TMP/$name.truth.tsv" "$OUT/$name.truth.tsv"
  log "wrote $OUT/$name/ and $OUT/$name.truth.tsv ($(($(wc -l <"$OUT/$name.truth.tsv") - 1)) drops)"
}

record shed 8080
record shed_wss 8443 tls
