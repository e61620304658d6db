#!/usr/bin/env bash
# Regenerates the secure WebSocket samples in samples/tls/ from real network stacks, as
# samples/record.sh does for plain ws://: two network namespaces (td-tls-cli, td-tls-srv) joined
# by a veth pair (MTU 1500, offloads off), Python `websockets` over `ssl` (OpenSSL) on both
# sides (wss_lab.py, which reuses ../ws_lab.py's scenarios), tcpdump on the server's veth.
#
#   sudo bash samples/tls/record_tls.sh
#
# Writes, in samples/tls/:
#   wss12.pcap wss12.keylog wss12.truth.tsv   TLS 1.2 (ECDHE-RSA, AES-128-GCM, AES-256-GCM,
#                                             ChaCha20-Poly1305)
#   wss13.pcap wss13.keylog wss13.truth.tsv   TLS 1.3 (AES-256-GCM, ChaCha20-Poly1305,
#                                             AES-128-GCM)
#   ws.pcap ws.truth.tsv                      the same scenarios over plain ws://
#   wssload12.* wssload13.*                   a small wss load run per TLS version (40
#                                             sessions ramped to 10.99.0.2 and 10.99.0.3,
#                                             which sheds those above a cap of 6)
# With ONLY=load, only the load runs are recorded and installed (about 25 s).
# The server certificate is a throwaway self-signed one made with openssl at record time
# (the key log is all that decryption needs, so it is not kept).
#
# Needs: root, iproute2, tcpdump, tshark, openssl, python3 with websockets >= 14, ethtool.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
LAB="$HERE/wss_lab.py"
CLI=td-tls-cli
SRV=td-tls-srv
VC=td-tc
VS=td-ts
TMP=$(mktemp -d /tmp/td-record-tls.XXXXXX)
SERVER_PID=""
TCPDUMP_PID=""

log() { printf '[record_tls] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (sudo bash samples/tls/record_tls.sh)"
for t in ip tcpdump tshark openssl "$PY"; do
  command -v "$t" >/dev/null || die "$t is not installed"
done

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
}

cleanup() {
  stop_pid "$TCPDUMP_PID" INT
  stop_pid "$SERVER_PID" TERM
  ns_down
  mkdir -p /tmp/td-record-tls-logs
  cp "$TMP"/*.log "$TMP"/tcpdump.err /tmp/td-record-tls-logs/ 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

ns_up() { # fresh namespaces: td-tls-cli[td-tc 10.99.0.1] <-veth-> [td-ts 10.99.0.2]td-tls-srv
  local ns i
  ns_down
  ip netns add "$CLI"
  ip netns add "$SRV"
  ip link add "$VC" netns "$CLI" mtu 1500 type veth peer name "$VS" netns "$SRV" mtu 1500
  for ns in "$CLI" "$SRV"; do ip -n "$ns" link set lo up; done
  ip -n "$CLI" addr add 10.99.0.1/24 dev "$VC"
  ip -n "$SRV" addr add 10.99.0.2/24 dev "$VS"
  ip -n "$SRV" addr add 10.99.0.3/24 dev "$VS"
  if command -v ethtool >/dev/null; then
    ip netns exec "$CLI" ethtool -K "$VC" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
    ip netns exec "$SRV" ethtool -K "$VS" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
  fi
  ip -n "$CLI" link set "$VC" up
  ip -n "$SRV" link set "$VS" up
  for i in $(seq 1 50); do
    ip netns exec "$CLI" ping -c1 -W1 10.99.0.2 >/dev/null 2>&1 && break
    sleep 0.1
  done
}

start_server() { # server args...
  rm -f "$TMP/ready"
  ip netns exec "$SRV" "$PY" "$LAB" server --cert "$TMP/cert.pem" --key "$TMP/key.pem" \
    --ready-file "$TMP/ready" --max-seconds 150 "$@" 2>>"$TMP/server.log" &
  SERVER_PID=$!
  local i
  for i in $(seq 1 50); do [ -f "$TMP/ready" ] && return 0; sleep 0.1; done
  die "server did not start (see $TMP/server.log)"
}

start_tcpdump() { # output file
  : >"$TMP/tcpdump.err"
  ip netns exec "$SRV" tcpdump -n -Z root -B 8192 --immediate-mode -i "$VS" -w "$1" \
    2>"$TMP/tcpdump.err" &
  TCPDUMP_PID=$!
  local i
  for i in $(seq 1 50); do grep -q "listening on" "$TMP/tcpdump.err" && return 0; sleep 0.1; done
  die "tcpdump did not start: $(cat "$TMP/tcpdump.err")"
}

finish_capture() { # label
  sleep 1
  stop_pid "$TCPDUMP_PID" INT
  TCPDUMP_PID=""
  stop_pid "$SERVER_PID" TERM
  SERVER_PID=""
  local dropped
  dropped=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$TMP/tcpdump.err")
  log "$1: $(grep -E 'captured|dropped' "$TMP/tcpdump.err" | tr '\n' ' ')"
  [ "${dropped:-0}" = 0 ] || die "$1: tcpdump dropped $dropped packets"
}

client() { # [ENV=VALUE...] -- client args...
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  timeout 150 ip netns exec "$CLI" env "${envs[@]}" "$PY" "$LAB" client "$@" 2>>"$TMP/client.log"
}

# OpenSSL offers TLS 1.3 suites from its configuration only (Python's ssl has no call for
# them): a config per suite makes the client offer just that one.
tls13_conf() { # suite -> path of an OpenSSL config offering only it
  local f="$TMP/$1.cnf"
  cat >"$f" <<EOF
openssl_conf = default_conf
[default_conf]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
Ciphersuites = $1
EOF
  echo "$f"
}

ONLY=${ONLY:-all}
[ "$ONLY" = all ] || [ "$ONLY" = load ] || die "ONLY is all or load"

SCENARIOS=clean_client_close,clean_server_close,server_close_1011,server_close_1013
SCENARIOS+=,server_rst_no_close,server_fin_no_close,client_abort,client_fin_no_close
SCENARIOS+=,handshake_503,ping_pong,fragmented,large_messages

OUT="$TMP/out"
mkdir -p "$OUT"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=wss.teardown.test" \
  -addext "subjectAltName=DNS:wss.teardown.test" \
  -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>"$TMP/openssl.log"

if [ "$ONLY" = all ]; then
# 1. wss12.pcap: TLS 1.2, ECDHE-RSA; AES-128-GCM for every scenario, then AES-256-GCM
#    (SHA-384 PRF) and ChaCha20-Poly1305 for a few.
log "recording wss12.pcap"
ns_up
start_server --tls 1.2 --listen 10.99.0.2:8443
start_tcpdump "$OUT/wss12.pcap"
C12=(--truth "$OUT/wss12.truth.tsv" --tls 1.2 --port 8443 --ca "$TMP/cert.pem" --keylog "$OUT/wss12.keylog")
client -- "${C12[@]}" --ciphers ECDHE-RSA-AES128-GCM-SHA256 --scenarios "$SCENARIOS,tls_untrusted_cert"
client -- "${C12[@]}" --ciphers ECDHE-RSA-AES256-GCM-SHA384 --scenarios clean_client_close,server_close_1011
client -- "${C12[@]}" --ciphers ECDHE-RSA-CHACHA20-POLY1305 --scenarios clean_server_close,server_rst_no_close
finish_capture wss12.pcap

# 2. wss13.pcap: TLS 1.3; OpenSSL's default suite (AES-256-GCM) for every scenario and the
#    two handshake failures, then ChaCha20-Poly1305 and AES-128-GCM for a few.
log "recording wss13.pcap"
ns_up
start_server --tls 1.3 --listen 10.99.0.2:8443
start_tcpdump "$OUT/wss13.pcap"
C13=(--truth "$OUT/wss13.truth.tsv" --tls 1.3 --port 8443 --ca "$TMP/cert.pem" --keylog "$OUT/wss13.keylog")
client -- "${C13[@]}" --scenarios "$SCENARIOS,tls_untrusted_cert,tls_version_mismatch"
client "OPENSSL_CONF=$(tls13_conf TLS_CHACHA20_POLY1305_SHA256)" -- "${C13[@]}" \
  --scenarios clean_client_close,server_fin_no_close,large_messages
client "OPENSSL_CONF=$(tls13_conf TLS_AES_128_GCM_SHA256)" -- "${C13[@]}" \
  --scenarios clean_server_close,client_abort
finish_capture wss13.pcap

# 3. ws.pcap: the same scenarios over plain ws:// (the comparison).
log "recording ws.pcap"
ns_up
start_server --tls 1.3 --plain-listen 10.99.0.2:8080
start_tcpdump "$OUT/ws.pcap"
client -- --truth "$OUT/ws.truth.tsv" --tls none --port 8080 --scenarios "$SCENARIOS"
finish_capture ws.pcap

# Verify and complete the truth with tshark's reading of the wire.
log "verifying with tshark"
"$PY" "$HERE/wire_truth.py" "$OUT/wss12.pcap" "$OUT/wss12.truth.tsv" "$OUT/wss12.keylog"
"$PY" "$HERE/wire_truth.py" "$OUT/wss13.pcap" "$OUT/wss13.truth.tsv" "$OUT/wss13.keylog"
"$PY" "$HERE/../check_wire.py" "$OUT/ws.pcap" "$OUT/ws.truth.tsv"
for f in wss12 wss13; do
  n=$(grep -c . "$OUT/$f.truth.tsv")
  k=$(grep -c '^CLIENT_RANDOM\|^CLIENT_TRAFFIC_SECRET_0' "$OUT/$f.keylog")
  log "$f: $((n - 1)) connections, $k sessions in the key log"
done
fi

# 4. wssload12.pcap, wssload13.pcap: ws_lab.py's load run over wss://, per TLS version.
for v in 12 13; do
  log "recording wssload$v.pcap"
  ns_up
  start_server --tls "1.${v#1}" --listen 10.99.0.2:8443 --listen 10.99.0.3:8443 \
    --capped 10.99.0.3 --cap 6
  start_tcpdump "$OUT/wssload$v.pcap"
  timeout 60 ip netns exec "$CLI" "$PY" "$LAB" load --truth "$OUT/wssload$v.truth.tsv" \
    --tls "1.${v#1}" --ca "$TMP/cert.pem" --keylog "$OUT/wssload$v.keylog" \
    --targets 10.99.0.2:8443,10.99.0.3:8443 --sessions 40 --interval 0.06 --life 4 \
    --pad 100 2>>"$TMP/client.log"
  finish_capture "wssload$v.pcap"
  "$PY" "$HERE/wire_truth.py" "$OUT/wssload$v.pcap" "$OUT/wssload$v.truth.tsv" \
    "$OUT/wssload$v.keylog"
  log "wssload$v: $(($(grep -c . "$OUT/wssload$v.truth.tsv") - 1)) sessions"
done
cp "$OUT"/*.pcap "$OUT"/*.keylog "$OUT"/*.truth.tsv "$HERE/"
chmod 644 "$HERE"/*.pcap "$HERE"/*.keylog "$HERE"/*.tsv
log "done"
