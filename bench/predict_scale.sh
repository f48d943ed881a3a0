#!/usr/bin/env bash
# Catalog-scale batch prediction: shelf predict against fastText's predict and predict-prob
# on the same rows (1,000,000 by default), made by repeating and varying the fashion titles
# (seeded: neighbouring words swapped, a word dropped, the words shuffled, sizes, colours,
# pack counts and SKU codes appended; every 100,000th row gets a byte that is not UTF-8, a
# bad row for --skip-bad). fastText reads the same rows lower-cased and split into tokens as
# ../shared/peers/baseline_text.py prepares them (not timed). Both models are trained on the
# fashion training split: shelf with its defaults and --valid, fastText with its defaults
# and with the tuned settings of the peers (--no-tuned leaves those out: the model is 800 MB).
# Peak memory from /usr/bin/time -v; "beyond the model" subtracts the peak of the same
# command on one row. Checks: every good row answered once, in input order, the bad rows
# counted at the end, a progress line on a terminal (through script(1)).
#
#   bash bench/predict_scale.sh [--rows 1000000] [--seed 1] [--threads 2] [--no-tuned]
#
# Everything goes to bench/out/predict-scale/ (rows, models, outputs, logs; never committed);
# the results to bench/out/predict-scale/results.md and stdout.
# Environment: SHELF_DATA (default ../shared/data), SHELF_BIN (default ./shelf).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHELF=${SHELF_BIN:-$ROOT/shelf}
DATA=${SHELF_DATA:-$ROOT/../shared/data}/fashion
OUT=$ROOT/bench/out/predict-scale
PY=/usr/bin/python3
ROWS=1000000 SEED=1 THREADS=2 TUNED=1
while [ $# -gt 0 ]; do
  case $1 in
    --rows) ROWS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --no-tuned) TUNED=0; shift ;;
    *) echo "bench/predict_scale.sh: unknown option $1 (see the comment at the top)" >&2; exit 2 ;;
  esac
done
for tool in fasttext /usr/bin/time "$PY"; do
  command -v "$tool" >/dev/null || { echo "bench/predict_scale.sh: $tool is missing (bash scripts/install-deps.sh --bench)" >&2; exit 1; }
done
[ -x "$SHELF" ] || { echo "bench/predict_scale.sh: no $SHELF (make)" >&2; exit 1; }
[ -f "$DATA/train.csv" ] || { echo "bench/predict_scale.sh: no $DATA/train.csv (SHELF_DATA)" >&2; exit 1; }
mkdir -p "$OUT/logs"

# ---- the rows: CSV for shelf, the same text tokenized for fastText ----------------------
STAMP="rows=$ROWS seed=$SEED"
if [ "$(cat "$OUT/rows.stamp" 2>/dev/null)" != "$STAMP" ]; then
  echo "generating $ROWS rows (seed $SEED)" >&2
  "$PY" - "$DATA" "$OUT" "$ROWS" "$SEED" <<'PY'
import csv, os, random, re, sys
data, out, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
BAD_EVERY = 100000
def ft_text(t):  # as ../shared/peers/baseline_text.py
    return " ".join(re.findall(r"\w+|[^\w\s]", t.lower())).replace("\r", " ")
def rows(name):
    with open(os.path.join(data, name), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
titles = [r["title"] for name in ("train.csv", "valid.csv", "test.csv") for r in rows(name)
          if r["title"].strip()]
with open(os.path.join(out, "train.ft.txt"), "w", encoding="utf-8") as f:
    for r in rows("train.csv"):
        f.write("__label__" + r["category"].replace(" ", "_") + " " +
                ft_text(r["title"] + " " + r["description"]) + "\n")
rng = random.Random(seed)
SIZES = ["S", "M", "L", "XL", "XXL", "Size 8", "UK 9", "Free Size", "32", "34"]
COLOURS = ["Black", "White", "Navy Blue", "Red", "Grey", "Olive", "Maroon", "Beige"]
EXTRA = ["Pack of 2", "Set of 3", "New", "2024", "Combo", "Slim Fit", "Regular Fit", "Cotton"]
with open(os.path.join(out, "rows.csv"), "w", newline="", encoding="utf-8",
          errors="surrogateescape") as fc, \
     open(os.path.join(out, "rows.ft.txt"), "w", encoding="utf-8", errors="surrogateescape") as ff:
    w = csv.writer(fc, lineterminator="\n")
    w.writerow(["id", "title"])
    for i in range(n):
        words = rng.choice(titles).split()
        r = rng.random()
        if r < 0.3 and len(words) > 2:
            j = rng.randrange(len(words) - 1)
            words[j], words[j + 1] = words[j + 1], words[j]
        elif r < 0.45 and len(words) > 3:
            del words[rng.randrange(len(words))]
        elif r < 0.55:
            rng.shuffle(words)
        for _ in range(rng.randrange(3)):
            words.append(rng.choice(rng.choice((SIZES, COLOURS, EXTRA))))
        if rng.random() < 0.2:
            words.append("SKU%06d" % rng.randrange(10 ** 6))
        title = " ".join(words)
        if i % BAD_EVERY == BAD_EVERY - 1:
            title += " \udcff"  # the byte 0xFF: not UTF-8
        w.writerow(["p%07d" % i, title])
        ff.write(ft_text(title) + "\n")
PY
  echo "$STAMP" > "$OUT/rows.stamp"
fi
BAD=$((ROWS / 100000))
head -n 2 "$OUT/rows.csv" > "$OUT/one.csv"
head -n 1 "$OUT/rows.ft.txt" > "$OUT/one.ft.txt"

# ---- models ------------------------------------------------------------------------------
if [ ! -f "$OUT/shelf-text.shelf" ]; then
  echo "training shelf on $DATA/train.csv" >&2
  "$SHELF" train --train "$DATA/train.csv" --valid "$DATA/valid.csv" --out "$OUT/shelf-text.shelf" \
    --threads "$THREADS" --quiet 2> "$OUT/logs/shelf-train.txt"
fi
FT_TUNED_ARGS=(-epoch 25 -lr 0.5 -wordNgrams 2 -minn 2 -maxn 5 -bucket 2000000)
if [ ! -f "$OUT/ft-default.bin" ]; then
  echo "training fastText (defaults)" >&2
  fasttext supervised -input "$OUT/train.ft.txt" -output "$OUT/ft-default" -thread "$THREADS" > "$OUT/logs/ft-default-train.txt" 2>&1
fi
if [ "$TUNED" = 1 ] && [ ! -f "$OUT/ft-tuned.bin" ]; then
  echo "training fastText (tuned: ${FT_TUNED_ARGS[*]})" >&2
  fasttext supervised -input "$OUT/train.ft.txt" -output "$OUT/ft-tuned" -thread "$THREADS" "${FT_TUNED_ARGS[@]}" > "$OUT/logs/ft-tuned-train.txt" 2>&1
fi
rm -f "$OUT"/ft-*.vec

# ---- timed runs --------------------------------------------------------------------------
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
BUSY=$(ps -eo pcpu=,args= --sort=-pcpu | awk '$1 > 20 && $2 != "ps" { printf "%s`%s` (%s%% CPU)", n++ ? ", " : "", substr($0, index($0, $2), 60), $1 }')
# timed NAME CMD...: stdout to $OUT/NAME.out, /usr/bin/time -v and stderr to logs/NAME.txt
timed() {
  local name=$1; shift
  echo "running $name" >&2
  /usr/bin/time -v -o "$OUT/logs/$name.time" "$@" > "$OUT/$name.out" 2> "$OUT/logs/$name.txt"
}
TEXT_MODEL=$OUT/shelf-text.shelf
timed shelf-one "$SHELF" predict --model "$TEXT_MODEL" --data "$OUT/one.csv" --threads "$THREADS"
timed shelf-jsonl "$SHELF" predict --model "$TEXT_MODEL" --data "$OUT/rows.csv" --threads "$THREADS" --skip-bad
timed shelf-tsv "$SHELF" predict --model "$TEXT_MODEL" --data "$OUT/rows.csv" --threads "$THREADS" --skip-bad --output-format tsv
timed shelf-1thread "$SHELF" predict --model "$TEXT_MODEL" --data "$OUT/rows.csv" --threads 1 --skip-bad
FT_MODELS=(default)
[ "$TUNED" = 1 ] && FT_MODELS+=(tuned)
for ft in "${FT_MODELS[@]}"; do
  timed "ft-$ft-one" fasttext predict "$OUT/ft-$ft.bin" "$OUT/one.ft.txt"
  timed "ft-$ft-predict" fasttext predict "$OUT/ft-$ft.bin" "$OUT/rows.ft.txt"
  timed "ft-$ft-predict-prob" fasttext predict-prob "$OUT/ft-$ft.bin" "$OUT/rows.ft.txt"
done
# The progress line, on a pseudo-terminal: the first 100,000 rows.
PROGRESS="not checked (no script(1))"
if command -v script >/dev/null; then
  head -n 100001 "$OUT/rows.csv" > "$OUT/head.csv"
  script -qc "'$SHELF' predict --model '$TEXT_MODEL' --data '$OUT/head.csv' --threads $THREADS --skip-bad > /dev/null" /dev/null \
    | tr '\r' '\n' > "$OUT/logs/progress.txt" || true
  PROGRESS="$(grep -c 'products/s' "$OUT/logs/progress.txt") progress lines; the last: \`$(grep 'products/s' "$OUT/logs/progress.txt" | tail -1 | tr -d '\n')\`"
fi

# ---- checks and the report ---------------------------------------------------------------
"$PY" - "$OUT" "$ROWS" "$BAD" "$THREADS" "$LOAD" "${BUSY:-none}" "$PROGRESS" "$TUNED" \
  "$(stat -c %s "$TEXT_MODEL")" <<'PY'
import json, os, re, sys, time
out, rows, bad, threads, load, busy, progress, tuned, model_bytes = sys.argv[1:]
rows, bad, model_bytes = int(rows), int(bad), int(model_bytes)
def timing(name):
    t = open(os.path.join(out, "logs", name + ".time")).read()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1)
    s = 0.0
    for part in wall.split(":"):
        s = s * 60 + float(part)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
    cpu = re.search(r"Percent of CPU this job got: (\d+)%", t).group(1)
    status = int(re.search(r"Exit status: (\d+)", t).group(1))
    return s, rss, int(cpu), status
checks = []
def check(name, ok, detail=""):
    checks.append(("ok  " if ok else "FAIL") + "  " + name + (f" ({detail})" if detail and not ok else ""))
good = rows - bad
for name in ("shelf-jsonl", "shelf-tsv", "shelf-1thread"):
    lines = open(os.path.join(out, name + ".out"), encoding="utf-8").read().splitlines()
    if name == "shelf-tsv":
        lines = lines[1:]  # the header
    ids = [json.loads(l)["id"] if name != "shelf-tsv" else l.split("\t", 1)[0] for l in lines]
    check(f"{name}: {good:,} answers, one per good row", len(ids) == good, f"{len(ids):,}")
    check(f"{name}: in input order", all(a < b for a, b in zip(ids, ids[1:])))
    err = open(os.path.join(out, "logs", name + ".txt")).read()
    check(f"{name}: the {bad} bad rows counted at the end",
          f"skipped {bad} bad rows" in err if bad else "skipped" not in err, err[-300:])
    check(f"{name}: exit status 0", timing(name)[3] == 0)
shelf_labels = [json.loads(l)["labels"][0] for l in open(os.path.join(out, "shelf-jsonl.out"), encoding="utf-8")]
systems = [("shelf predict (JSONL: id, label, probability)", "shelf-jsonl", "shelf-one"),
           ("shelf predict --output-format tsv", "shelf-tsv", "shelf-one"),
           ("shelf predict --threads 1", "shelf-1thread", "shelf-one")]
fts = ["default"] + (["tuned"] if tuned == "1" else [])
for ft in fts:
    systems += [(f"fasttext predict ({ft})", f"ft-{ft}-predict", f"ft-{ft}-one"),
                (f"fasttext predict-prob ({ft})", f"ft-{ft}-predict-prob", f"ft-{ft}-one")]
    n = sum(1 for _ in open(os.path.join(out, f"ft-{ft}-predict.out"), encoding="utf-8", errors="replace"))
    check(f"fasttext {ft}: {rows:,} answers", n == rows, f"{n:,}")
    # agreement on the good rows (fastText answers the bad ones too)
    ft_labels = [l.strip().replace("__label__", "").replace("_", " ") for i, l in
                 enumerate(open(os.path.join(out, f"ft-{ft}-predict.out"), encoding="utf-8", errors="replace"))
                 if i % 100000 != 99999]
    same = sum(a == b for a, b in zip(shelf_labels, ft_labels))
    checks.append(f"info  shelf and fastText {ft} give the same label to {same / max(len(shelf_labels), 1):.1%} of the rows")
res = {}
table = ["| command | wall s | products/s | CPU % | peak RSS MB | RSS of one row MB | beyond one row MB |",
         "|---|---|---|---|---|---|---|"]
for label, name, one in systems:
    s, rss, cpu, st = timing(name)
    _, rss1, _, _ = timing(one)
    n = good if name.startswith("shelf") else rows
    res[name] = n / s
    table.append(f"| {label} | {s:.2f} | {n / s:,.0f} | {cpu} | {rss:.0f} | {rss1:.0f} | {rss - rss1:.0f} |")
ratios = [f"shelf (JSONL, {threads} threads) / fastText {ft} predict: **{res['shelf-jsonl'] / res[f'ft-{ft}-predict']:.2f}x**"
          f" (predict-prob {res['shelf-jsonl'] / res[f'ft-{ft}-predict-prob']:.2f}x; shelf --threads 1:"
          f" {res['shelf-1thread'] / res[f'ft-{ft}-predict']:.2f}x)" for ft in fts]
report = [f"# shelf predict at catalog scale ({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC)", "",
          f"{rows:,} rows ({bad} bad), {os.cpu_count()} cores, shelf --threads {threads}; shelf model file "
          f"{model_bytes / 1e6:.1f} MB. Load average before: {load}; busy before: {busy}.", "",
          *table, "", *[f"- {r}" for r in ratios], f"- progress on a terminal: {progress}", "",
          "Checks:", "", *[f"    {c}" for c in checks]]
text = "\n".join(report) + "\n"
open(os.path.join(out, "results.md"), "w").write(text)
print(text)
sys.exit(1 if any(c.startswith("FAIL") for c in checks) else 0)
PY
