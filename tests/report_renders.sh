#!/usr/bin/env bash
# report_renders.sh SHELF MODEL DATA NAME: shelf report of MODEL on DATA opens in headless
# Chromium (Debian's chromium; as root it needs --no-sandbox) with no console message, and
# its DOM holds every section, with an SVG in each drawn one. Prints one ok/FAIL line;
# exit status 1 on failure.
set -uo pipefail
SHELF=$1 MODEL=$2 DATA=$3 NAME=$4
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if ! "$SHELF" report --model "$MODEL" --data "$DATA" --out "$T/report.html" 2>"$T/err"; then
  echo "  FAIL report of $NAME: $(head -c 300 "$T/err")"; exit 1
fi
# a profile of its own, so that parallel runs do not share one
timeout 120 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$T/profile" \
  --enable-logging=stderr --v=0 --dump-dom "file://$T/report.html" >"$T/dom" 2>"$T/log"
if grep -q ":CONSOLE" "$T/log"; then
  echo "  FAIL report of $NAME: console messages: $(grep ':CONSOLE' "$T/log" | head -c 400)"; exit 1
fi
python3 - "$T/dom" "$(stat -c %s "$T/report.html")" <<'PY' || exit 1
import re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
size = int(sys.argv[2])
want = ["summary", "classes", "confusions", "calibration", "backoff", "training", "mistakes",
        "hygiene"]
drawn = ["confusions", "calibration", "backoff"]
sections = dict(re.findall(r'<section id="([a-z]+)">(.*?)</section>', dom, re.S))
missing = [s for s in want if s not in sections]
# a model without mistakes has no confusion to draw, and says so
blank = [s for s in drawn if s in sections and "<svg" not in sections[s] and
         not (s == "confusions" and "No mistakes to show" in sections[s])]
sortable = "<table class=\"sortable\"" in dom and 'class="sort"' in dom  # the script ran
if missing or blank or not sortable or size > 5 << 20:
    print("  FAIL report: missing %s, without a drawing %s, sortable %s, %d bytes" %
          (missing, blank, sortable, size))
    sys.exit(1)
PY
echo "  ok   report of $NAME renders in Chromium with no console message, every section drawn"
