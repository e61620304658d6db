#!/usr/bin/env bash
# Side-by-side benchmark: teardown against tshark computing the same facts (the first
# WebSocket close frame of each connection and its code; RTP streams, packets and losses)
# on two load-run captures: the synthetic generator's and a recorded one
# (bench/record_loadrun.sh). For each: `cat` (the floor), `teardown sessions --format csv`
# (the whole job: every session with its media columns, written as CSV) on 1 and on all
# threads, tshark; wall and CPU time, peak RSS, MB/s and packets/s.
#
#   bench/run.sh                                  # both captures
#   SESSIONS=200 MINUTES=2 RECORDED= bench/run.sh # a quick look, synthetic only
#
# Environment: BENCH_DIR (default /tmp/teardown-bench: captures and outputs),
# SESSIONS, MINUTES, SEED, CODEC (the synthetic capture: 800 sessions, 10 minutes, seed 7,
# opus), RECORDED (default $BENCH_DIR/recorded.pcap; empty: skip; if missing, record it
# first with `sudo bash bench/record_loadrun.sh`), REPEAT (teardown and cat runs, the
# median is reported; default 3), TSHARK=0 to skip tshark (minutes and gigabytes).
# Needs: cargo, tshark, capinfos, python3, GNU time (/usr/bin/time). Run it on an idle
# machine: the figures are wall-clock times. Results go in BENCHMARKS.md.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
DIR=${BENCH_DIR:-/tmp/teardown-bench}
SESSIONS=${SESSIONS:-800}
MINUTES=${MINUTES:-10}
SEED=${SEED:-7}
CODEC=${CODEC:-opus}
RECORDED=${RECORDED-$DIR/recorded.pcap}
REPEAT=${REPEAT:-3}
TSHARK=${TSHARK:-1}
SYNTH="$DIR/run-s$SESSIONS-m$MINUTES-seed$SEED-$CODEC.pcap"
mkdir -p "$DIR"

log() { printf '[bench] %s\n' "$*" >&2; }
for t in cargo capinfos python3 /usr/bin/time; do
  command -v "$t" >/dev/null || { log "$t is not installed"; exit 1; }
done
[ "$TSHARK" = 1 ] && { command -v tshark >/dev/null || { log "tshark is not installed"; exit 1; }; }

log "building (release)"
(cd "$ROOT" && cargo build --release --quiet --bin teardown --example synth)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
TD="$TARGET/release/teardown"

if [ ! -s "$SYNTH" ]; then
  log "generating $SYNTH ($SESSIONS sessions, $MINUTES min, seed $SEED, $CODEC)"
  "$TARGET/release/examples/synth" --sessions "$SESSIONS" --minutes "$MINUTES" \
    --seed "$SEED" --codec "$CODEC" -o "$SYNTH.tmp"
  mv "$SYNTH.tmp" "$SYNTH"
  mv "$SYNTH.tmp.truth.csv" "$SYNTH.truth.csv" 2>/dev/null || true
  mv "$SYNTH.tmp.rtp.csv" "$SYNTH.rtp.csv" 2>/dev/null || true
fi
CAPS=("synthetic:$SYNTH")
if [ -n "$RECORDED" ]; then
  [ -s "$RECORDED" ] || { log "$RECORDED is missing: sudo bash bench/record_loadrun.sh"; exit 1; }
  CAPS+=("recorded:$RECORDED")
fi

# run NAME CMD... : times one run into $DIR/NAME.time (wall user sys maxrss_kb), stdout
# into $DIR/NAME.out.
run() {
  local name=$1; shift
  /usr/bin/time -f '%e %U %S %M' -o "$DIR/$name.time" "$@" >"$DIR/$name.out" 2>"$DIR/$name.err"
}

# median NAME : of the runs NAME.1 .. NAME.$REPEAT, keeps the one with the median wall time
# as NAME.
median() {
  local name=$1 best
  best=$(for i in $(seq 1 "$REPEAT"); do echo "$(cut -d' ' -f1 "$DIR/$name.$i.time") $i"; done |
    sort -n | awk -v n="$REPEAT" 'NR == int((n + 1) / 2) {print $2}')
  cp "$DIR/$name.$best.time" "$DIR/$name.time"
  cp "$DIR/$name.$best.out" "$DIR/$name.out"
}

# repeat NAME CMD... : REPEAT runs, keeps the one with the median wall time.
repeat() {
  local name=$1; shift
  for i in $(seq 1 "$REPEAT"); do
    run "$name.$i" "$@"
  done
  median "$name"
}

NPROC=$(nproc)
for entry in "${CAPS[@]}"; do
  label=${entry%%:*} cap=${entry#*:}
  echo "$(stat -L -c %s "$cap") $(capinfos -c -M "$cap" |
    awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}')" >"$DIR/$label.size"
  cat "$cap" >/dev/null # into the page cache
  log "$label: cat (the floor)"
  repeat "$label-cat" sh -c 'cat "$1" >/dev/null' cat "$cap"
  # One thread and all threads alternate, so that both see the same spells of a noisy
  # host and their ratio is the scaling, not the host's drift.
  log "$label: teardown sessions --format csv, 1 and $NPROC threads, alternating"
  for i in $(seq 1 "$REPEAT"); do
    for threads in 1 "$NPROC"; do
      run "$label-teardown-$threads.$i" "$TD" sessions "$cap" --format csv --threads "$threads"
    done
  done
  for threads in 1 "$NPROC"; do
    median "$label-teardown-$threads"
  done
  if [ "$TSHARK" = 1 ]; then
    log "$label: tshark (one pass: close frames per TCP stream, RTP streams)"
    run "$label-tshark" tshark -n -r "$cap" -o rtp.heuristic_rtp:TRUE \
      -o tcp.reassemble_out_of_order:TRUE -z rtp,streams \
      -Y 'websocket.opcode == 8' -T fields -E occurrence=f \
      -e tcp.stream -e ip.src -e ipv6.src -e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport \
      -e websocket.payload.close.status_code
  fi
done

python3 - "$DIR" "$NPROC" "$TSHARK" "${CAPS[@]}" <<'EOF'
import csv, sys, os, collections, io
d, nproc, tshark = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
caps = [c.split(":", 1) for c in sys.argv[4:]]

def timing(name):
    wall, user, sys_, rss = open(os.path.join(d, name + ".time")).read().split()
    return float(wall), float(user) + float(sys_), int(rss) / 1024

rows = [("cat (floor)", "cat"), ("teardown, 1 thread", "teardown-1"),
        (f"teardown, {nproc} threads", f"teardown-{nproc}")]
if tshark:
    rows.append(("tshark", "tshark"))
print("| capture | run | wall s | CPU s | peak RSS MB | MB/s | packets/s |")
print("|---|---|---|---|---|---|---|")
notes = []
for label, path in caps:
    size, packets = map(int, open(os.path.join(d, label + ".size")).read().split())
    t = {}
    for what, name in rows:
        wall, cpu, rss = timing(f"{label}-{name}")
        t[name] = wall
        print(f"| {label} ({size / 1e6:.0f} MB, {packets:,} packets) | {what} | {wall:.2f} | "
              f"{cpu:.2f} | {rss:.0f} | {size / 1e6 / wall:,.0f} | {packets / wall:,.0f} |")
    n = f"teardown-{nproc}"
    notes.append(f"{label}: {os.path.basename(path)}, {size / packets:.0f} bytes a packet; "
                 f"scaling 1 -> {nproc} threads {t['teardown-1'] / t[n]:.2f}x"
                 + (f"; {t['tshark'] / t[n]:.1f}x tshark's throughput" if tshark else ""))

    # The same facts? First close frame per connection (by code); RTP streams/packets/lost.
    def sessions(threads):
        return list(csv.DictReader(open(os.path.join(d, f"{label}-teardown-{threads}.out"))))
    ours_s = sessions(nproc)
    assert sessions(1) == ours_s, f"{label}: 1 and {nproc} threads give different sessions"
    ours = collections.Counter(s["close_code"] for s in ours_s if s["close_code"])
    ours_rtp = tuple(sum(int(s[c] or 0) for s in ours_s) for c in ("rtp_streams", "rtp_packets", "rtp_lost"))
    if not tshark:
        notes.append(f"  close codes {dict(sorted(ours.items()))}; RTP streams/packets/lost {ours_rtp}")
        continue
    first, rtp_lines, in_rtp = {}, [], False
    for line in open(os.path.join(d, f"{label}-tshark.out")):
        f = line.rstrip("\n").split("\t")
        if line.startswith("===") or in_rtp:
            in_rtp = True
            rtp_lines.append(line)
            continue
        if len(f) == 8:
            first.setdefault(f[0], f[7] or "1005")
    theirs = collections.Counter(first.values())
    th = [0, 0, 0]
    for s in (l.split() for l in rtp_lines):
        if not s or not s[0][0].isdigit() or not any("0x" in x for x in s):
            continue
        i = next(k for k, v in enumerate(s) if v.startswith("("))  # "(n%)" follows lost
        th[0] += 1
        th[1] += int(s[i - 2])
        th[2] += int(s[i - 1])
    notes.append(f"  first close frame per connection, by code: teardown {dict(sorted(ours.items()))}, "
                 f"tshark {dict(sorted(theirs.items()))}: {'agree' if ours == theirs else 'DIFFER'}")
    notes.append(f"  RTP streams/packets/lost (sessions' media columns): teardown {ours_rtp}, "
                 f"tshark {tuple(th)}: {'agree' if ours_rtp == tuple(th) else 'DIFFER'}")
print()
print("\n".join(notes))
EOF
