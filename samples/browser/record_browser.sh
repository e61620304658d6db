#!/usr/bin/env bash
# Records secure WebSocket (wss://) captures whose client is a real browser (headless
# Chromium) or a real JVM client (java.net.http.WebSocket), against the Python
# `websockets` server of ../ws_lab.py (through browser_lab.py), with truth files and key
# logs. Same setup as ../record.sh and ../tls/record_tls.sh: two fresh network namespaces
# (td-br-cli 10.99.0.1, td-br-srv 10.99.0.2) joined by a veth pair (MTU 1500, offloads
# off), tcpdump on the server's end, full snaplen, --immediate-mode, stopped with SIGINT.
#
#   sudo bash samples/browser/record_browser.sh            # everything (about 3 minutes)
#   SKIP_CLOSE_TIMEOUT=1 sudo bash samples/browser/record_browser.sh   # without the 65 s one
#
# Writes, in samples/browser/:
#   chromium12.pcap chromium12.keylog chromium12.truth.tsv   Chromium, TLS 1.2
#   chromium13.pcap chromium13.keylog chromium13.truth.tsv   Chromium, TLS 1.3
#   chromium_close_timeout.pcap .keylog .truth.tsv           the server answers Chromium's
#                                                            close frame after 65 s
#   jvm12.pcap jvm12.keylog jvm12.truth.tsv                  JDK 17 HttpClient, TLS 1.2
#   jvm13.pcap jvm13.keylog jvm13.truth.tsv                  JDK 17 HttpClient, TLS 1.3
# Chromium's key logs come from Chromium (SSLKEYLOGFILE); the JVM writes none, so the JVM
# key logs are the server's (Python ssl, SSLContext.keylog_filename): same secrets.
#
# Needs (checked, never installed here): root, iproute2, ping, tcpdump, tshark, ethtool,
# openssl, chromium, a JDK with javac/java/keytool (openjdk-17-jdk-headless), python3 with
# websockets >= 14. On Debian:
#   apt-get install chromium openjdk-17-jdk-headless tcpdump tshark ethtool iproute2 iputils-ping
#   pip install websockets
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1

HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
LAB="$HERE/browser_lab.py"
CLI=td-br-cli
SRV=td-br-srv
VC=td-bc
VS=td-bs
HOSTNAME_=wss.teardown.test
SERVER_IP=10.99.0.2
TMP=$(mktemp -d /tmp/td-record-browser.XXXXXX)
SERVER_PID=""
TCPDUMP_PID=""
CLIENT_PID=""

log() { printf '[record_browser] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (sudo bash samples/browser/record_browser.sh)"

# --- tools: named when missing, never installed from here
CHROMIUM=${CHROMIUM:-}
if [ -z "$CHROMIUM" ]; then
  if [ -x /usr/lib/chromium/chromium ]; then CHROMIUM=/usr/lib/chromium/chromium  # without Debian's wrapper flags
  else CHROMIUM=$(command -v chromium || command -v chromium-browser || true); fi
fi
JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}
[ -x "$JAVA_HOME/bin/javac" ] || JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v javac || echo /x/x/javac)")")")
missing=()
for t in ip ping tcpdump tshark ethtool openssl "$PY"; do
  command -v "$t" >/dev/null || missing+=("$t")
done
[ -n "$CHROMIUM" ] && [ -x "$CHROMIUM" ] || missing+=("chromium (apt-get install chromium)")
for t in javac java keytool; do
  [ -x "$JAVA_HOME/bin/$t" ] || missing+=("$t (apt-get install openjdk-17-jdk-headless)")
done
"$PY" -c 'import websockets, sys; sys.exit(int(websockets.__version__.split(".")[0]) < 14)' 2>/dev/null \
  || missing+=("python websockets >= 14 (pip install websockets)")
[ ${#missing[@]} = 0 ] || die "missing: ${missing[*]} (apt-get install chromium openjdk-17-jdk-headless tcpdump tshark ethtool iproute2 iputils-ping; pip install websockets)"
log "chromium: $("$CHROMIUM" --version 2>/dev/null | head -1)"
log "java: $("$JAVA_HOME/bin/java" -version 2>&1 | head -2 | tr '\n' ' ')"
log "websockets: $("$PY" -c 'import websockets; print(websockets.__version__)'), tshark: $(tshark --version | head -1)"

stop_pid() { # pid signal [group]: signal one process we started (or its process group) and wait
  local pid=$1 sig=$2 group=${3:-} i
  [ -n "$pid" ] || return 0
  if [ -n "$group" ]; then kill "-$sig" -- "-$pid" 2>/dev/null || return 0
  else kill "-$sig" "$pid" 2>/dev/null || return 0; fi
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    if [ -n "$group" ]; then kill -KILL -- "-$pid" 2>/dev/null || true
    else kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  wait "$pid" 2>/dev/null || true
}

ns_down() {
  ip netns del "$CLI" 2>/dev/null || true
  ip netns del "$SRV" 2>/dev/null || true
}

cleanup() {
  stop_pid "$CLIENT_PID" TERM group
  stop_pid "$TCPDUMP_PID" INT
  stop_pid "$SERVER_PID" TERM
  ns_down
  mkdir -p /tmp/td-record-browser-logs
  cp "$TMP"/*.log "$TMP"/*.jsonl "$TMP"/tcpdump.err /tmp/td-record-browser-logs/ 2>/dev/null || true
  cp -r "$TMP/out" /tmp/td-record-browser-logs/ 2>/dev/null || true  # for a look after a failure
  rm -rf "$TMP"
}
trap cleanup EXIT

ns_up() { # fresh namespaces: td-br-cli[td-bc 10.99.0.1] <-veth-> [td-bs 10.99.0.2]td-br-srv
  local ns i
  ns_down
  ip netns add "$CLI"
  ip netns add "$SRV"
  ip link add "$VC" netns "$CLI" mtu 1500 type veth peer name "$VS" netns "$SRV" mtu 1500
  for ns in "$CLI" "$SRV"; do ip -n "$ns" link set lo up; done
  ip -n "$CLI" addr add 10.99.0.1/24 dev "$VC"
  ip -n "$SRV" addr add "$SERVER_IP/24" dev "$VS"
  ip netns exec "$CLI" ethtool -K "$VC" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
  ip netns exec "$SRV" ethtool -K "$VS" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
  ip -n "$CLI" link set "$VC" up
  ip -n "$SRV" link set "$VS" up
  for i in $(seq 1 50); do
    ip netns exec "$CLI" ping -c1 -W1 "$SERVER_IP" >/dev/null 2>&1 && break
    sleep 0.1
  done
}

start_server() { # name tls [extra server args...]
  local name=$1 tls=$2
  shift 2
  rm -f "$TMP/ready"
  : >"$TMP/$name.conn.jsonl"
  : >"$TMP/$name.results.jsonl"
  rm -f "$TMP/$name.results.jsonl.done"
  ip netns exec "$SRV" "$PY" "$LAB" server --tls "$tls" --cert "$TMP/cert.pem" --key "$TMP/key.pem" \
    --wss "$SERVER_IP:8443" --https "$SERVER_IP:8444" --page "$HERE/page.html" \
    --conn-log "$TMP/$name.conn.jsonl" --results "$TMP/$name.results.jsonl" \
    --ready-file "$TMP/ready" --max-seconds 200 "$@" 2>>"$TMP/server.log" &
  SERVER_PID=$!
  local i
  for i in $(seq 1 50); do [ -f "$TMP/ready" ] && return 0; sleep 0.1; done
  die "server did not start (see $TMP/server.log)"
}

start_tcpdump() { # output file
  : >"$TMP/tcpdump.err"
  ip netns exec "$SRV" tcpdump -n -Z root -s 0 -B 8192 --immediate-mode -i "$VS" -w "$1" \
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

# Chromium, headless, in the client namespace; the page runs the scenarios and POSTs what
# the browser reported; we wait for its /done, then end Chromium (its process group).
run_chromium() { # name scenarios https_fetches timeout_s
  local name=$1 scenarios=$2 hellos=$3 limit=$4 i
  local prof="$TMP/profile-$name"
  rm -rf "$prof"
  mkdir -p "$prof/home"
  ip netns exec "$CLI" setsid env HOME="$prof/home" SSLKEYLOGFILE="$OUT/$name.keylog" \
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --disable-extensions --no-default-browser-check \
    --ignore-certificate-errors --user-data-dir="$prof" \
    --host-resolver-rules="MAP $HOSTNAME_ $SERVER_IP" \
    --enable-logging=stderr --v=0 \
    "https://$HOSTNAME_:8444/?s=$scenarios&https=$hellos" \
    >"$TMP/chromium-$name.log" 2>&1 &
  CLIENT_PID=$!
  for i in $(seq 1 $((limit * 10))); do
    [ -f "$TMP/$name.results.jsonl.done" ] && break
    kill -0 "$CLIENT_PID" 2>/dev/null || die "chromium exited early (see $TMP/chromium-$name.log)"
    sleep 0.1
  done
  [ -f "$TMP/$name.results.jsonl.done" ] || die "$name: the page did not finish within $limit s"
  sleep 1
  stop_pid "$CLIENT_PID" TERM group
  CLIENT_PID=""
}

run_jvm() { # name tls(TLSv1.2|TLSv1.3) scenarios
  local name=$1 tls=$2 scenarios=$3
  timeout 180 ip netns exec "$CLI" "$JAVA_HOME/bin/java" \
    -Djavax.net.ssl.trustStore="$TMP/trust.p12" -Djavax.net.ssl.trustStorePassword=changeit \
    -Djavax.net.ssl.trustStoreType=PKCS12 \
    -Djdk.net.hosts.file="$TMP/hosts" -Djdk.tls.client.protocols="$tls" \
    -Xshare:auto -XX:TieredStopAtLevel=1 -cp "$TMP/classes" WsClient \
    "$TMP/$name.results.jsonl" "$HOSTNAME_" 8443 8444 "$tls" "$scenarios" \
    2>>"$TMP/jvm-$name.log"
}

make_truth() { # name kind
  "$PY" "$LAB" truth --kind "$2" --conn-log "$TMP/$1.conn.jsonl" \
    --results "$TMP/$1.results.jsonl" --out "$OUT/$1.truth.tsv" 2>>"$TMP/truth.log" \
    || die "$1: truth incomplete (see $TMP/truth.log)"
}

OUT="$TMP/out"
mkdir -p "$OUT" "$TMP/classes"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$HOSTNAME_" \
  -addext "subjectAltName=DNS:$HOSTNAME_,IP:$SERVER_IP" \
  -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>"$TMP/openssl.log"
"$JAVA_HOME/bin/keytool" -importcert -noprompt -alias teardown-lab -file "$TMP/cert.pem" \
  -keystore "$TMP/trust.p12" -storetype PKCS12 -storepass changeit >"$TMP/keytool.log" 2>&1
printf '%s %s\n' "$SERVER_IP" "$HOSTNAME_" >"$TMP/hosts"
"$JAVA_HOME/bin/javac" -d "$TMP/classes" "$HERE/WsClient.java" 2>"$TMP/javac.log" \
  || die "javac failed: $(cat "$TMP/javac.log")"

SCEN=clean_client_close,clean_server_close,server_close_1011,server_close_1013
SCEN+=,server_rst_no_close,server_fin_no_close,handshake_503
JVM_SCEN="$SCEN,ping_pong,server_ping_pong,fragmented,large_messages,client_abort"
CHROMIUM_SCEN="$SCEN,server_ping_pong,fragmented,large_messages"

for v in 12 13; do
  name=chromium$v
  log "recording $name.pcap"
  ns_up
  start_server "$name" "1.${v#1}"
  start_tcpdump "$OUT/$name.pcap"
  run_chromium "$name" "$CHROMIUM_SCEN" 2 120
  finish_capture "$name.pcap"
  make_truth "$name" chromium
done

for v in 12 13; do
  name=jvm$v
  log "recording $name.pcap"
  ns_up
  start_server "$name" "1.${v#1}" --keylog "$OUT/$name.keylog"
  start_tcpdump "$OUT/$name.pcap"
  run_jvm "$name" "TLSv1.${v#1}" "$JVM_SCEN" || die "$name: the JVM client failed (see $TMP/jvm-$name.log)"
  finish_capture "$name.pcap"
  make_truth "$name" jvm
done

if [ -z "${SKIP_CLOSE_TIMEOUT:-}" ]; then
  name=chromium_close_timeout
  log "recording $name.pcap (about 70 s: Chromium waits 60 s for the server's close frame)"
  ns_up
  start_server "$name" 1.3
  start_tcpdump "$OUT/$name.pcap"
  run_chromium "$name" slow_close_ack 0 100
  sleep 7  # let the server's late (65 s) answer happen inside the capture
  finish_capture "$name.pcap"
  make_truth "$name" chromium
fi

# Check every truth file against tshark's decryption of its capture, and add the
# encrypted_verdict column (../tls/wire_truth.py: what is visible without the keys).
log "verifying with tshark"
for f in "$OUT"/*.truth.tsv; do
  name=$(basename "$f" .truth.tsv)
  "$PY" "$LAB" verify "$OUT/$name.pcap" "$f" "$OUT/$name.keylog" -v || die "$name: capture and truth disagree"
  "$PY" "$HERE/../tls/wire_truth.py" "$OUT/$name.pcap" "$f" "$OUT/$name.keylog" \
    || die "$name: wire_truth.py disagrees"
  n=$(($(grep -c . "$f") - 1))
  k=$(grep -c '^CLIENT_RANDOM\|^CLIENT_TRAFFIC_SECRET_0' "$OUT/$name.keylog" || true)
  log "$name: $n connections in the truth, $k TLS sessions in the key log"
done
cp "$OUT"/*.pcap "$OUT"/*.keylog "$OUT"/*.truth.tsv "$HERE/"
chmod 644 "$HERE"/*.pcap "$HERE"/*.keylog "$HERE"/*.truth.tsv
log "done"
