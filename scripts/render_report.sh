#!/usr/bin/env bash
# Renders a `teardown report` page in headless Chromium (Debian's `chromium`), fails when
# the page logs anything to the console (a script error, a blocked load of anything
# outside the file) or did not render its findings and charts, and takes a screenshot.
#
#   scripts/render_report.sh                    # report on samples/loadrun -> docs/report.png
#   scripts/render_report.sh REPORT.html OUT.png  # check and screenshot an existing report
#
# Exit status: 0 rendered cleanly; 1 console messages or missing content; 3 chromium is
# not installed (apt-get install chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

html=${1:-}
png=${2:-docs/report.png}
if [[ -z $html ]]; then
  cargo build --release --quiet
  mkdir -p target/report
  html=target/report/loadrun.html
  target/release/teardown report samples/loadrun -o "$html" --quiet
fi

chrome=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $chrome ]]; then
  echo "render_report: chromium not found (apt-get install chromium)" >&2
  exit 3
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
url="file://$(realpath "$html")"
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
  --disable-component-update --disable-sync --no-first-run --hide-scrollbars
  --user-data-dir="$work/profile")

# The DOM after loading, with the console on stderr.
timeout 120 "$chrome" "${flags[@]}" --enable-logging=stderr --v=0 --dump-dom "$url" \
  >"$work/dom.html" 2>"$work/console.log"

status=0
# The page has no scripts: any console message from it is a failure (an error, or a load
# the Content-Security-Policy blocked because it would leave the file).
if grep -E "Uncaught|ERROR:CONSOLE|:CONSOLE[:(].*source: file://" "$work/console.log" >&2; then
  echo "render_report: the page logged to the console (above)" >&2
  status=1
fi
for want in 'id="findings"' '<svg' 'id="concurrency"'; do
  if ! grep -q "$want" "$work/dom.html"; then
    echo "render_report: rendered page lacks $want" >&2
    status=1
  fi
done
if grep -qi '<script' "$work/dom.html"; then
  echo "render_report: the rendered page holds a <script> element" >&2
  status=1
fi

mkdir -p "$(dirname "$png")"
timeout 120 "$chrome" "${flags[@]}" --window-size=1280,2400 --screenshot="$(realpath -m "$png")" \
  "$url" >/dev/null 2>&1
if [[ ! -s $png ]]; then
  echo "render_report: no screenshot written" >&2
  status=1
fi
[[ $status -eq 0 ]] && echo "render_report: $html rendered cleanly; screenshot $png"
exit $status
