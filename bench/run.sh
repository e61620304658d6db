#!/usr/bin/env bash
# Side-by-side benchmark: teardown against tshark on the same generated load-run capture,
# computing the same facts (WebSocket close frames and codes per connection, RTP stream
# statistics), plus teardown on 1 and on all threads, and `cat` as the floor.
#
#   bench/run.sh                      # 800 sessions, 10 minutes: about 1.8 GB
#   SESSIONS=200 MINUTES=2 bench/run.sh   # a quick look
#
# Environment: BENCH_DIR (default /tmp/teardown-bench: the capture and outputs),
# SESSIONS, MINUTES, SEED, REPEAT (teardown and cat runs, the median is reported; default 3),
# TSHARK=0 to skip tshark (it takes minutes and gigabytes on the full capture).
# Needs: cargo, tshark, capinfos, python3, GNU time (/usr/bin/time). Run it on an idle
# machine: the figures are wall-clock times. Results go in BENCHMARKS.md.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
DIR=${BENCH_DIR:-/tmp/teardown-bench}
SESSIONS=${SESSIONS:-800}
MINUTES=${MINUTES:-10}
SEED=${SEED:-7}
REPEAT=${REPEAT:-3}
TSHARK=${TSHARK:-1}
CAP="$DIR/run-s$SESSIONS-m$MINUTES-seed$SEED.pcap"
mkdir -p "$DIR"

log() { printf '[bench] %s\n' "$*" >&2; }
for t in cargo capinfos python3 /usr/bin/time; do
  command -v "$t" >/dev/null || { log "$t is not installed"; exit 1; }
done

log "building (release)"
(cd "$ROOT" && cargo build --release --quiet --bin teardown --example synth)
TD="$ROOT/target/release/teardown"

if [ ! -s "$CAP" ]; then
  log "generating $CAP ($SESSIONS sessions, $MINUTES min, seed $SEED)"
  "$ROOT/target/release/examples/synth" --sessions "$SESSIONS" --minutes "$MINUTES" \
    --seed "$SEED" -o "$CAP.tmp"
  mv "$CAP.tmp" "$CAP"
  mv "$CAP.tmp.truth.csv" "$CAP.truth.csv" 2>/dev/null || true
  mv "$CAP.tmp.rtp.csv" "$CAP.rtp.csv" 2>/dev/null || true
fi
BYTES=$(stat -c %s "$CAP")
PACKETS=$(capinfos -c -M "$CAP" | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}')
log "capture: $BYTES bytes, $PACKETS packets"

# run NAME CMD... : times one run into $DIR/NAME.time (wall user sys maxrss_kb), stdout
# into $DIR/NAME.out.
run() {
  local name=$1; shift
  /usr/bin/time -f '%e %U %S %M' -o "$DIR/$name.time" "$@" >"$DIR/$name.out" 2>"$DIR/$name.err"
}

# repeat NAME CMD... : REPEAT runs, keeps the one with the median wall time.
repeat() {
  local name=$1; shift
  for i in $(seq 1 "$REPEAT"); do
    run "$name.$i" "$@"
  done
  local best
  best=$(for i in $(seq 1 "$REPEAT"); do echo "$(cut -d' ' -f1 "$DIR/$name.$i.time") $i"; done |
    sort -n | awk -v n="$REPEAT" 'NR == int((n + 1) / 2) {print $2}')
  cp "$DIR/$name.$best.time" "$DIR/$name.time"
  cp "$DIR/$name.$best.out" "$DIR/$name.out"
}

cat "$CAP" >/dev/null # into the page cache
log "cat (the floor)"
repeat cat sh -c 'cat "$1" >/dev/null' cat "$CAP"
NPROC=$(nproc)
for threads in 1 "$NPROC"; do
  log "teardown export, $threads thread(s)"
  rm -rf "$DIR/export-$threads"
  repeat "teardown-$threads" "$TD" export "$CAP" --format csv --out "$DIR/export-$threads" \
    --name run --threads "$threads" --quiet
done

if [ "$TSHARK" = 1 ]; then
  command -v tshark >/dev/null || { log "tshark is not installed"; exit 1; }
  log "tshark (one pass: close frames per TCP stream, RTP streams)"
  run tshark tshark -n -r "$CAP" -o rtp.heuristic_rtp:TRUE \
    -o tcp.reassemble_out_of_order:TRUE -z rtp,streams \
    -Y 'websocket.opcode == 8' -T fields -E occurrence=f \
    -e tcp.stream -e ip.src -e ipv6.src -e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport \
    -e websocket.payload.close.status_code
fi

python3 - "$DIR" "$BYTES" "$PACKETS" "$NPROC" "$TSHARK" <<'EOF'
import csv, sys, os, collections
d, size, packets, nproc, tshark = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"

def timing(name):
    wall, user, sys_, rss = open(os.path.join(d, name + ".time")).read().split()
    return float(wall), float(user) + float(sys_), int(rss) / 1024

rows = [("cat (floor)", "cat")]
rows += [(f"teardown, 1 thread", "teardown-1"), (f"teardown, {nproc} threads", f"teardown-{nproc}")]
if tshark:
    rows.append(("tshark", "tshark"))
print(f"capture: {size / 1e9:.2f} GB, {packets} packets")
print(f"| run | wall s | CPU s | peak RSS MB | MB/s | packets/s |")
print(f"|---|---|---|---|---|---|")
t = {}
for label, name in rows:
    wall, cpu, rss = timing(name)
    t[name] = wall
    print(f"| {label} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | {size / 1e6 / wall:.0f} | {packets / wall:,.0f} |")
print()
print(f"scaling 1 -> {nproc} threads: {t['teardown-1'] / t[f'teardown-{nproc}']:.2f}x")
if tshark:
    print(f"teardown ({nproc} threads) vs tshark: {t['tshark'] / t[f'teardown-{nproc}']:.1f}x the throughput")

# The facts agree? First close frame per connection (by code) and RTP streams.
def table(threads, name):
    path = os.path.join(d, f"export-{threads}", name, "capture=run", "part-0.csv")
    return list(csv.DictReader(open(path)))

sessions = table(nproc, "sessions")
ours = collections.Counter(s["close_code"] for s in sessions if s["close_code"])
rtp = table(nproc, "rtp_streams")
ours_rtp = (len(rtp), sum(int(r["packets"]) for r in rtp), sum(int(r["lost"]) for r in rtp))
assert table(1, "sessions") == sessions, "1 and all threads give different sessions"
if tshark:
    first = {}
    rtp_lines = []
    in_rtp = False
    for line in open(os.path.join(d, "tshark.out")):
        f = line.rstrip("\n").split("\t")
        if line.startswith("===") or in_rtp:
            in_rtp = True
            rtp_lines.append(line)
            continue
        if len(f) == 8:
            first.setdefault(f[0], f[7] or "1005")
    theirs = collections.Counter(first.values())
    streams = [l.split() for l in rtp_lines if l.strip() and l.split()[0][0].isdigit() and "0x" in l]
    # columns: src, sport, dst, dport, ssrc, payload..., packets, lost (n%), ...
    th_rtp = [0, 0, 0]
    for s in streams:
        i = next(k for k, v in enumerate(s) if v.startswith("("))  # "(n%)" follows lost
        th_rtp[0] += 1
        th_rtp[1] += int(s[i - 2])
        th_rtp[2] += int(s[i - 1])
    print(f"first close frame per connection, by code: teardown {dict(sorted(ours.items()))}, "
          f"tshark {dict(sorted(theirs.items()))}: {'agree' if ours == theirs else 'DIFFER'}")
    print(f"RTP streams/packets/lost: teardown {ours_rtp}, tshark {tuple(th_rtp)}: "
          f"{'agree' if ours_rtp == tuple(th_rtp) else 'DIFFER'}")
else:
    print(f"first close frame per connection, by code: {dict(sorted(ours.items()))}")
    print(f"RTP streams/packets/lost: {ours_rtp}")
EOF
