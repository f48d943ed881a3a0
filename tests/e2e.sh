#!/usr/bin/env bash
# End-to-end: train, eval, predict and info on a small catalog generated here, then every
# kind of bad input, which must give a clear error (FILE:LINE: ...) or a counted skip, never
# a crash. usage: tests/e2e.sh SHELF_BINARY
set -uo pipefail
SHELF=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
TESTS=$(cd "$(dirname "$0")" && pwd)
MAKE_IMAGES=$TESTS/../build/tools/make_images
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
fails=0
pass() { printf '  ok   %s\n' "$1"; }
fail() { printf '  FAIL %s\n' "$1"; fails=$((fails + 1)); }

# expect_error NAME PATTERN CMD...: the command must exit with status 1 (not crash) and
# print PATTERN on stderr.
expect_error() {
  local name=$1 pattern=$2; shift 2
  "$@" >out.txt 2>err.txt; local rc=$?
  if [ $rc -eq 1 ] && grep -qE -- "$pattern" err.txt; then pass "$name"; else
    fail "$name (exit $rc, stderr: $(head -c 300 err.txt))"; fi
}
# renders MODEL DATA NAME: shelf report's page opens in headless Chromium, every section there
renders() {
  if bash "$TESTS/report_renders.sh" "$SHELF" "$1" "$2" "$3" > render.txt; then
    pass "$(sed 's/^  ok   //' render.txt)"
  else
    fail "$(sed 's/^  FAIL //' render.txt)"
  fi
}

expect_ok() {
  local name=$1; shift
  if "$@" >out.txt 2>err.txt; then pass "$name"; else
    fail "$name (exit $?, stderr: $(head -c 300 err.txt))"; fi
}

# A catalog of 3 top-level categories, 6 leaves, English and Chinese titles.
bash "$TESTS/make_catalog.sh"
cp test.csv valid.csv

echo "end-to-end: train, eval, predict, info"
expect_ok "train with validation" "$SHELF" train --train train.csv --valid valid.csv --out m.shelf --seed 3 --threads 2
grep -q "accuracy" err.txt && pass "train prints validation metrics" || fail "train prints validation metrics"
expect_ok "eval --json" "$SHELF" eval --model m.shelf --data test.csv --json
python_free_json_check() { grep -q '"accuracy"' out.txt && grep -q '"levels"' out.txt && grep -q '"macro_f1"' out.txt && [ "$(grep -c . out.txt)" -ge 1 ]; }
python_free_json_check && pass "eval --json has the metrics" || fail "eval --json has the metrics"
acc=$(grep -o '"accuracy": *[0-9.]*' out.txt | head -1 | grep -o '[0-9.]*$')
awk -v a="$acc" 'BEGIN { exit !(a >= 0.9) }' && pass "accuracy $acc >= 0.9 on an easy catalog" || fail "accuracy $acc >= 0.9"
expect_ok "eval report with --per-class" "$SHELF" eval --model m.shelf --data test.csv --per-class
grep -q "Footwear > Sandals" out.txt && pass "per-class report lists labels" || fail "per-class report lists labels"
grep -q "level 2" out.txt && pass "report has per-level metrics" || fail "report has per-level metrics"
expect_ok "eval --predictions --confusion-matrix --target-precision" "$SHELF" eval --model m.shelf --data test.csv --json --predictions preds.csv --confusion-matrix cm.csv --target-precision 0.95
python3 - out.txt preds.csv cm.csv test.csv <<'EOF2' && pass "  per-product rows, the full matrix and the threshold agree with the report" || fail "  eval outputs ($(head -c 300 out.txt); $(head -3 preds.csv))"
import csv, json, sys
rep = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
test = list(csv.DictReader(open(sys.argv[4])))
assert [r["id"] for r in rows] == [t["id"] for t in test]
assert all(r["true"] == t["category"] for r, t in zip(rows, test))
assert all(r["correct"] == str(int(r["true"] == r["predicted"])) for r in rows)
assert abs(sum(int(r["correct"]) for r in rows) / len(rows) - rep["accuracy"]) < 1e-9
cm = list(csv.reader(open(sys.argv[3])))
labels = cm[0][1:]
assert sum(int(c) for row in cm[1:] for c in row[1:]) == len(rows)
assert sum(int(row[1 + labels.index(row[0])]) for row in cm[1:] if row[0] in labels) == sum(int(r["correct"]) for r in rows)
tp = rep["target_precision"]
assert tp["precision"] == 0.95 and (tp["min_confidence"] is None or tp["precision_at_it"] >= 0.95)
EOF2
expect_error "eval --predictions into a folder is refused before any work" "predictions" "$SHELF" eval --model m.shelf --data test.csv --predictions .
python3 - test.csv <<'EOF2'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
with open("keep.tsv", "w", encoding="utf-8") as f:
    f.write("id\ttitle\tdescription\tcategory\n")
    for r in rows:
        f.write("\t".join(r[k] for k in ("id", "title", "description", "category")) + "\n")
with open("keep.jsonl", "w", encoding="utf-8") as f:
    for i, r in enumerate(rows):  # a number and a missing key among the kept values
        o = {"id": r["id"], "title": r["title"], "category": r["category"], "rank": i}
        if i % 2 == 0:  # the first object names the kept keys, as it names the columns
            o["description"] = r["description"]
        f.write(json.dumps(o, ensure_ascii=False) + "\n")
EOF2
for kf in test.csv keep.tsv keep.jsonl; do
  case $kf in *.jsonl) cols="description, rank";; *) cols="description, title";; esac
  expect_ok "eval --keep $kf" "$SHELF" eval --model m.shelf --data $kf --predictions kept.csv --keep "$cols"
  python3 - kept.csv test.csv "$kf" <<'EOF2' && pass "  the kept columns are copied exactly, in input order" || fail "  --keep $kf ($(head -2 kept.csv))"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
test = list(csv.DictReader(open(sys.argv[2], newline="", encoding="utf-8")))
assert [r["id"] for r in rows] == [t["id"] for t in test]
if sys.argv[3].endswith(".jsonl"):
    assert list(rows[0]) == ["id", "true", "predicted", "probability", "correct", "description", "rank"]
    assert [r["description"] for r in rows] == [t["description"] if i % 2 == 0 else "" for i, t in enumerate(test)]
    assert [r["rank"] for r in rows] == [str(i) for i in range(len(test))]
else:
    assert list(rows[0]) == ["id", "true", "predicted", "probability", "correct", "description", "title"]
    assert [(r["description"], r["title"]) for r in rows] == [(t["description"], t["title"]) for t in test]
EOF2
done
expect_error "eval --keep of a column the catalog lacks names it and the columns" "no kept column 'brand' \\(columns: id, title, description, category\\)" "$SHELF" eval --model m.shelf --data test.csv --predictions kept.csv --keep brand
expect_error "eval --keep of a column --predictions writes itself is refused" "has a column 'id' of its own" "$SHELF" eval --model m.shelf --data test.csv --predictions kept.csv --keep title,id
expect_error "eval --keep of a column twice is refused" "names 'title' twice" "$SHELF" eval --model m.shelf --data test.csv --predictions kept.csv --keep "title, title"
expect_error "eval --keep naming no column is refused" "names no column" "$SHELF" eval --model m.shelf --data test.csv --predictions kept.csv --keep " , "
"$SHELF" eval --model m.shelf --data test.csv --keep title >/dev/null 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q -- "--predictions" err.txt && pass "eval --keep without --predictions is a usage error" || fail "--keep alone (exit $rc: $(cat err.txt))"
cp test.csv keep.csv
"$SHELF" eval --model m.shelf --data keep.csv --predictions keep.csv >/dev/null 2>err.txt; rc=$?
[ $rc -ne 0 ] && cmp -s keep.csv test.csv && pass "eval --predictions naming its --data is refused, the catalog kept" || fail "predictions over the data (exit $rc)"
expect_ok "predict jsonl" "$SHELF" predict --model m.shelf --data test.csv --k 3
[ "$(wc -l < out.txt)" -eq 100 ] && grep -q '"id":"p501"' out.txt && pass "one JSON line per product, with ids" || fail "one JSON line per product ($(head -2 out.txt))"
expect_ok "predict csv from stdin" sh -c "cut -d, -f1,2 test.csv | '$SHELF' predict --model m.shelf --output-format csv --k 2"
[ "$(wc -l < out.txt)" -eq 101 ] && pass "csv output has a header and 100 rows" || fail "csv output rows"
expect_ok "predict tsv with threshold" "$SHELF" predict --model m.shelf --data test.csv --output-format tsv --threshold 0.99
expect_ok "predict --explain" "$SHELF" predict --model m.shelf --data test.csv --explain
python3 - out.txt <<'EOF2' && pass "  each line explains its label: token weights and bias sum to the margin" || fail "  explanations ($(head -c 400 out.txt))"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 100
for d in lines:
    e = d["explanation"]
    assert e["label"] == d["labels"][0]
    t = e["text"]
    assert t["method"] == "exact" and t["tokens"]
    s = t["bias"] + sum(x["weight"] for x in t["tokens"])
    assert abs(s - t["margin"]) < 1e-4 * max(1, abs(t["margin"])) + 1e-5 * len(t["tokens"]), (s, t)
EOF2
expect_ok "predict --explain csv" "$SHELF" predict --model m.shelf --data test.csv --explain --output-format csv
head -1 out.txt | grep -q ',explanation$' && sed -n 2p out.txt | grep -q '"{""label"":' && pass "  the explanation is a CSV column of JSON" || fail "  csv explanation ($(head -2 out.txt))"
expect_ok "info" "$SHELF" info --model m.shelf
grep -q "train.csv" out.txt && grep -q "Home > Kitchen > Knives" out.txt && pass "info names data and labels" || fail "info names data and labels"
grep -Eq '^curve +epoch: loss, validation accuracy; 1: [0-9.]+, [0-9.]+; 2: ' out.txt && pass "info shows the training curve kept in the model" || fail "training curve ($(grep curve out.txt))"

renders m.shelf test.csv "a text model"
cut -d, -f1,2 test.csv > unlabelled.csv
expect_error "a report on a catalog without labels says it needs them" 'needs each product' "$SHELF" report --model m.shelf --data unlabelled.csv --out r.html
[ ! -e r.html ] && pass "  and writes nothing" || fail "  a page was written"
echo "reproducibility"
"$SHELF" train --train train.csv --out a.shelf --seed 5 --threads 1 2>/dev/null
"$SHELF" train --train train.csv --out b.shelf --seed 5 --threads 1 2>/dev/null
"$SHELF" predict --model a.shelf --data test.csv --k 3 > pa.txt
"$SHELF" predict --model b.shelf --data test.csv --k 3 > pb.txt
cmp -s pa.txt pb.txt && pass "same seed, one thread: same predictions" || fail "same seed gives same predictions"

echo "other formats"
printf '{"id": 1, "title": "cotton tee crew", "category": "Apparel > Topwear > Tshirts"}\n\n{"id": "x2", "title": "chef knife", "category": "Home > Kitchen > Knives"}\n' > t.jsonl
expect_ok "eval on jsonl" "$SHELF" eval --model m.shelf --data t.jsonl
printf 'id\ttitle\tcategory\n1\tdenim jeans\tApparel > Bottomwear > Jeans\n' > t.tsv
expect_ok "eval on tsv" "$SHELF" eval --model m.shelf --data t.tsv
printf '__label__Footwear_>_Sandals strap sandal summer\n' > t.txt
expect_ok "eval on fastText format" "$SHELF" eval --model m.shelf --data t.txt --format fasttext
grep -qE '"?accuracy"?[: ]+ *1' out.txt && pass "fastText labels map underscores to spaces" || fail "fastText labels ($(head -3 out.txt))"

echo "bad input: clear errors"
printf 'id,title,category\n1,"unterminated,Apparel\n' > bad_quote.csv
expect_error "unterminated quote" 'bad_quote.csv:2:.*quote' "$SHELF" train --train bad_quote.csv --out x.shelf
printf 'id,title,category\n1,a,b,c\n' > bad_count.csv
expect_error "wrong field count" 'bad_count.csv:2:.*field' "$SHELF" train --train bad_count.csv --out x.shelf
printf 'id,title,category\n1,ok,A\n2,bad \xff\xfe text,A\n' > bad_utf8.csv
expect_error "invalid UTF-8" "bad_utf8.csv:3:.*UTF-8.*title" "$SHELF" train --train bad_utf8.csv --out x.shelf
printf 'id,title,category\n1,ok,A\n2,no label,\n' > bad_label.csv
expect_error "empty label" 'bad_label.csv:3:.*label' "$SHELF" train --train bad_label.csv --out x.shelf
printf '{"id": 1, "title": "a", "category": "A"}\n{"id": 2, "title": "tr' > bad.jsonl
expect_error "truncated JSONL line" 'bad.jsonl:2:' "$SHELF" train --train bad.jsonl --out x.shelf
: > empty.csv
expect_error "empty file" 'empty.csv.*empty' "$SHELF" train --train empty.csv --out x.shelf
printf 'id,title,kind\n1,a,b\n' > nolabel.csv
expect_error "no label column" "nolabel.csv:1:.*category" "$SHELF" train --train nolabel.csv --out x.shelf
awk 'BEGIN { srand(11); for (i = 0; i < 4096; i++) printf "%c", int(rand() * 256) }' > binary.csv
expect_error "random binary bytes" 'binary.csv' "$SHELF" train --train binary.csv --out x.shelf
expect_error "unknown extension" 'format' "$SHELF" train --train data.xyz --out x.shelf
expect_error "missing file" 'nope.csv' "$SHELF" train --train nope.csv --out x.shelf

echo "bad input: counted skips"
cat train.csv > mixed.csv
printf '900,"unterminated\n' >> mixed.csv
expect_ok "skip-bad with an unterminated quote at the end" "$SHELF" train --train mixed.csv --out s.shelf --skip-bad --epochs 1
grep -q "skipped 1" err.txt && pass "the skip is counted" || fail "the skip is counted ($(cat err.txt | head -3))"
{ head -50 train.csv; printf '901,a,b,c,d,e\n902,x \xff,,Home\n903,empty label,,\n'; tail -n +51 train.csv; } > mixed2.csv
expect_ok "skip-bad with bad rows in the middle" "$SHELF" train --train mixed2.csv --out s.shelf --skip-bad --epochs 1
grep -q "skipped 3" err.txt && pass "three skips counted" || fail "three skips counted ($(head -3 err.txt))"
expect_ok "fix-utf8 replaces and counts" "$SHELF" train --train bad_utf8.csv --out s.shelf --fix-utf8 --epochs 1
grep -qi "replaced" err.txt && pass "replacement counted" || fail "replacement counted"

printf 'id,title,category\n1,a red shirt,Shirts\n2,a blue shirt,Shirts\n' > one_label.csv
expect_ok "a single label trains" "$SHELF" train --train one_label.csv --out s.shelf
grep -q "single label" err.txt && pass "with a warning" || fail "single-label warning"

echo "bad model files"
size=$(wc -c < m.shelf)
head -c $((size / 2)) m.shelf > trunc.shelf
expect_error "truncated model" 'trunc.shelf.*truncated' "$SHELF" info --model trunc.shelf
cp m.shelf corrupt.shelf
printf '\x55\x66\x77' | dd of=corrupt.shelf bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
expect_error "corrupted model" 'corrupt.shelf.*corrupt' "$SHELF" info --model corrupt.shelf
cp m.shelf newer.shelf
printf '\x63' | dd of=newer.shelf bs=1 seek=8 conv=notrunc 2>/dev/null
# a version byte changed without the checksum is damage (test_model checks a real newer one)
expect_error "a damaged version byte is corruption" 'newer.shelf.*corrupted \(checksum mismatch\)' "$SHELF" info --model newer.shelf
expect_error "not a model" 'not a shelf model' "$SHELF" info --model train.csv

echo "bad options"
"$SHELF" train --train train.csv --out x.shelf --epochs abc >/dev/null 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "epochs" err.txt && pass "bad option value: exit 2 with a message" || fail "bad option value (exit $rc)"
"$SHELF" frobnicate >/dev/null 2>&1; [ $? -eq 2 ] && pass "unknown command: exit 2" || fail "unknown command"
expect_error "negative epochs are refused" 'negative' "$SHELF" train --train train.csv --out x.shelf --epochs -5
"$SHELF" train --train train.csv --out x.shelf --lr nan >/dev/null 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "lr" err.txt && pass "--lr nan is refused" || fail "--lr nan is refused (exit $rc)"
"$SHELF" train --train train.csv --out x.shelf --quiet=0 >/dev/null 2>err.txt; rc=$?
[ $rc -eq 2 ] && pass "a flag given a value is refused" || fail "a flag given a value (exit $rc)"
"$SHELF" predict --model m.shelf --data test.csv --threads -1 >/dev/null 2>err.txt; rc=$?
[ $rc -eq 2 ] && pass "negative --threads is refused" || fail "negative --threads (exit $rc)"

echo "atomic save: a failed write leaves the old model"
cp m.shelf keep.shelf
mkdir ro && cp m.shelf ro/m.shelf && chmod 555 ro
if [ "$(id -u)" -ne 0 ]; then
  expect_error "write into a read-only folder fails cleanly" 'cannot' "$SHELF" train --train train.csv --out ro/m.shelf --epochs 1
  cmp -s ro/m.shelf keep.shelf && pass "old model intact" || fail "old model intact"
else
  pass "skipped (running as root)"
fi
chmod 755 ro
ls ro | grep -q tmp && fail "temporary file left behind" || pass "no temporary file left behind"

echo "taxonomy back-off, hierarchical metrics, class balance"
expect_ok "predict --min-confidence" "$SHELF" predict --model m.shelf --data test.csv --min-confidence 0.999
grep -q '"path":' out.txt && grep -q '"status":"' out.txt && ! grep -q '"backed_off"' out.txt && pass "back-off fields in JSONL" || fail "back-off fields ($(head -1 out.txt))"
expect_ok "predict --min-confidence csv" "$SHELF" predict --model m.shelf --data test.csv --min-confidence 0.9 --output-format csv
head -1 out.txt | grep -q "path,confidence,status" && pass "back-off columns in CSV" || fail "back-off columns ($(head -1 out.txt))"
expect_ok "eval --min-confidence --json" "$SHELF" eval --model m.shelf --data test.csv --min-confidence 0.9 --json
grep -q '"backoff":{"threshold":0.9,"coverage"' out.txt && grep -q '"hierarchical_f1":{"precision"' out.txt && pass "eval JSON has backoff and hierarchical_f1" || fail "eval JSON backoff ($(head -c 300 out.txt))"
"$SHELF" eval --model m.shelf --data test.csv --min-confidence 1.5 >/dev/null 2>err.txt; rc=$?
[ $rc -eq 2 ] && pass "--min-confidence above 1 is refused" || fail "--min-confidence 1.5 (exit $rc)"
expect_ok "--min-confidence auto: the threshold training kept" "$SHELF" predict --model m.shelf --data test.csv --min-confidence auto
grep -q '"status":"' out.txt && grep -q "min-confidence auto: 0\.[0-9]* (precision" err.txt && pass "  back-off at it, and a note of which" || fail "  auto ($(cat err.txt))"
"$SHELF" info --model m.shelf > info.txt && grep -q "^min-confidence    auto: " info.txt && pass "  info shows it" || fail "  info of auto ($(grep -i confidence info.txt))"
"$SHELF" train --train train.csv --out nv.shelf --epochs 2 --quiet 2>/dev/null
expect_error "--min-confidence auto of a model trained without --valid" 'keeps no threshold' "$SHELF" eval --model nv.shelf --data test.csv --min-confidence auto
for b in weight oversample undersample; do
  expect_ok "train --balance $b" "$SHELF" train --train train.csv --out b.shelf --balance $b --epochs 3 --quiet
done
expect_ok "train --label-smoothing 0.1" "$SHELF" train --train train.csv --out b.shelf --label-smoothing 0.1 --epochs 3 --quiet
{ head -1 test.csv; grep "Footwear" test.csv; } > fewer.csv # the other labels: none
expect_ok "train with a validation split that lacks some labels" "$SHELF" train --train train.csv --valid fewer.csv --out fw.shelf --epochs 2
grep -Eq "warning: fewer.csv has no product of [0-9]+ of the [0-9]+ training labels" err.txt && pass "  a warning gives the count" || fail "  missing labels warning ($(grep -i warn err.txt))"
expect_ok "train --balance adjust --valid" "$SHELF" train --train train.csv --valid valid.csv --out adj.shelf --balance adjust --epochs 3 --quiet
"$SHELF" info --model adj.shelf > out.txt 2>&1
grep -Eq "^balance +adjust: each label's logit less [0-9.]+ times" out.txt && pass "  info tells the logit adjustment's strength" || fail "  info of --balance adjust ($(grep balance out.txt))"
"$SHELF" predict --model adj.shelf --data test.csv > adj1.txt && "$SHELF" predict --model adj.shelf --data test.csv --threads 1 > adj2.txt &&
    cmp -s adj1.txt adj2.txt && [ "$(wc -l < adj1.txt)" -eq 100 ] && pass "  its model predicts, the same on 1 and 2 threads" || fail "  --balance adjust predictions"
"$SHELF" train --train train.csv --out b.shelf --balance adjust >/dev/null 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "give --valid" err.txt && pass "--balance adjust without --valid is refused before reading" || fail "--balance adjust alone (exit $rc: $(cat err.txt))"
"$SHELF" train --train train.csv --out b.shelf --balance always >/dev/null 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "undersample" err.txt && pass "a bad --balance is refused" || fail "a bad --balance (exit $rc)"
"$SHELF" train --train train.csv --out b.shelf --label-smoothing 1 >/dev/null 2>err.txt; rc=$?
[ $rc -eq 1 ] && grep -q "label-smoothing" err.txt && pass "--label-smoothing 1 is refused" || fail "--label-smoothing 1 (exit $rc)"

echo "autotune"
# a deliberately bad start (trial 0 is the settings given), then 3 trials the seed draws
"$SHELF" train --train train.csv --valid valid.csv --out bad.shelf --epochs 1 --lr 0.001 --quiet 2>/dev/null
expect_ok "train --autotune-trials 4 from a bad start" "$SHELF" train --train train.csv --valid valid.csv --out tuned.shelf --epochs 1 --lr 0.001 --autotune-trials 4 --autotune-log trials.jsonl --seed 5 --quiet
python3 - trials.jsonl <<'EOF2' && pass "  the log has each trial's settings and figures, then the choice" || fail "  --autotune-log ($(head -c 400 trials.jsonl))"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
trials = [r for r in rows if r.get("kind") == "bag"]
assert len(trials) == 4, rows
assert trials[0]["epochs"] == 1 and abs(trials[0]["lr"] - 0.001) < 1e-9, trials[0]
for r in trials:
    assert 0 <= r["accuracy"] <= 1 and 0 <= r["macro_f1"] <= 1 and 0 <= r["score"] <= 1
assert max(r["score"] for r in trials[1:]) > trials[0]["score"], trials
EOF2
acc() { "$SHELF" eval --model "$1" --data test.csv --json | grep -o '"accuracy": *[0-9.]*' | head -1 | grep -o '[0-9.]*$'; }
a_bad=$(acc bad.shelf) a_tuned=$(acc tuned.shelf)
awk -v b="$a_bad" -v t="$a_tuned" 'BEGIN { exit !(t > b + 0.1) }' && pass "  the tuned model beats the bad start on test ($a_tuned against $a_bad)" || fail "  tuned $a_tuned against bad $a_bad"
"$SHELF" info --model tuned.shelf > info.txt
grep -q '^autotune ' info.txt && [ "$(grep -c '^  {"trial"' info.txt)" -ge 4 ] && grep -q '^  {"chosen"' info.txt && pass "  info shows every trial and the choice" || fail "  info of a tuned model ($(grep -A3 autotune info.txt))"
"$SHELF" train --train train.csv --valid valid.csv --out t2.shelf --epochs 1 --lr 0.001 --autotune-trials 4 --autotune-log trials2.jsonl --seed 5 --threads 1 --quiet 2>/dev/null &&
"$SHELF" train --train train.csv --valid valid.csv --out t3.shelf --epochs 1 --lr 0.001 --autotune-trials 4 --autotune-log trials3.jsonl --seed 5 --threads 1 --quiet 2>/dev/null &&
    diff <(sed -E 's/"(seconds|[a-z_]*products_per_second)":[^,}]*//g' trials2.jsonl) <(sed -E 's/"(seconds|[a-z_]*products_per_second)":[^,}]*//g' trials3.jsonl) >/dev/null &&
    cmp -s t2.shelf t3.shelf &&
    pass "  --autotune-trials with --seed and one thread: the same trials, choice and model file" || fail "  autotune determinism"
expect_ok "an ensemble forced by --autotune-ensemble-margin -2" "$SHELF" train --train train.csv --valid valid.csv --out ens.shelf --autotune-trials 3 --autotune-ensemble-margin -2 --seed 2 --quiet
"$SHELF" info --model ens.shelf > info.txt
grep -q '^ensemble  ' info.txt && grep -q '^member 2 ' info.txt && grep -q '"kind":"ensemble"' info.txt && pass "  info shows its members and weights" || fail "  ensemble info ($(head -12 info.txt))"
"$SHELF" predict --model ens.shelf --data test.csv > e1.txt && "$SHELF" predict --model ens.shelf --data test.csv --threads 1 > e2.txt &&
    cmp -s e1.txt e2.txt && [ "$(wc -l < e1.txt)" -eq 100 ] && pass "  it predicts, the same on 1 and 2 threads" || fail "  ensemble predictions"
a_ens=$(acc ens.shelf)
awk -v t="$a_ens" 'BEGIN { exit !(t >= 0.9) }' && pass "  its accuracy $a_ens >= 0.9" || fail "  ensemble accuracy $a_ens"
expect_ok "  it explains (occlusion)" "$SHELF" predict --model ens.shelf --data test.csv --explain
grep -q '"method":"occlusion"' out.txt && [ "$(wc -l < out.txt)" -eq 100 ] && pass "  each product explained" || fail "  ensemble explanation ($(head -c 300 out.txt))"
"$SHELF" train --train train.csv --out b.shelf --autotune 10 >/dev/null 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "give --valid" err.txt && pass "--autotune without --valid is refused before reading" || fail "--autotune alone (exit $rc: $(cat err.txt))"
"$SHELF" train --train train.csv --valid valid.csv --out b.shelf --autotune 0 >/dev/null 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "autotune must be between 1" err.txt && pass "--autotune 0 is refused" || fail "--autotune 0 (exit $rc: $(cat err.txt))"
"$SHELF" train --train train.csv --valid valid.csv --out b.shelf --autotune 5 --autotune-metric speed >/dev/null 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "coverage@0.99" err.txt && pass "a bad --autotune-metric is refused" || fail "--autotune-metric speed (exit $rc: $(cat err.txt))"
expect_ok "--autotune with a validation split that lacks some labels" "$SHELF" train --train train.csv --valid fewer.csv --out fw.shelf --autotune-trials 2 --autotune-metric macro_f1
grep -Eq "warning: fewer.csv has no product of [0-9]+ of the [0-9]+ training labels" err.txt && pass "  a warning gives the count" || fail "  missing labels warning under autotune ($(grep -i warn err.txt))"
expect_ok "--autotune-metric coverage@0.99" "$SHELF" train --train train.csv --valid valid.csv --out cov.shelf --autotune-trials 2 --autotune-metric coverage@0.99 --quiet

printf 'id,title,category\n1,red tee,A > Tops > Tees\n2,red tee,A > Tops > Tees\n3,red tee,B > Tees\n4,blue jeans,A > Jeans\n5,green tee,A > Tops > Tees\n' > hyg.csv
expect_ok "train reports hygiene" "$SHELF" train --train hyg.csv --out h.shelf --epochs 1
grep -q "2 products repeat an earlier product's text; 1 groups of them have different labels" err.txt && pass "duplicates inside the training set are counted" || fail "duplicates counted ($(cat err.txt))"
grep -q "the leaf 'Tees' sits under two parents" err.txt && pass "a leaf under two parents is reported" || fail "leaf under two parents"

echo "image models: train, eval, predict, info, bad images"
"$MAKE_IMAGES" imgs 24 || fail "make_images"
IMG_OPTS=(--modality image --image-size 16 --width 4 --batch 16 --epochs 6 --seed 2 --threads 2 --quiet)
expect_ok "train an image model" "$SHELF" train --train imgs/train.csv --valid imgs/valid.csv --out img.shelf "${IMG_OPTS[@]}"
expect_ok "eval an image model" "$SHELF" eval --model img.shelf --data imgs/test.csv --json
acc=$(grep -o '"accuracy": *[0-9.]*' out.txt | head -1 | grep -o '[0-9.]*$')
awk -v a="$acc" 'BEGIN { exit !(a >= 0.8) }' && pass "image accuracy $acc >= 0.8 on easy pictures" || fail "image accuracy $acc >= 0.8"
# width 16: the CNN's oneDNN path where the CPU has AVX-512; ONEDNN_MAX_CPU_ISA=AVX2 keeps
# oneDNN below it, which sends the CNN to im2col: both learn the pictures, and one thread with
# a seed gives the same model twice
W16=(--modality image --image-size 16 --width 16 --batch 16 --epochs 6 --seed 2 --quiet)
for isa in ALL AVX2; do
    for run in 1 2; do
        ONEDNN_MAX_CPU_ISA=$isa "$SHELF" train --train imgs/train.csv --out "w16-$isa-$run.shelf" \
            "${W16[@]}" --threads 1 >out.txt 2>err.txt || fail "width 16 ($isa): $(cat err.txt)"
    done
    cmp -s "w16-$isa-1.shelf" "w16-$isa-2.shelf" && pass "width 16 ($isa): the same model twice" ||
        fail "width 16 ($isa): two runs differ"
    ONEDNN_MAX_CPU_ISA=$isa "$SHELF" eval --model "w16-$isa-1.shelf" --data imgs/test.csv --json >out.txt 2>err.txt
    acc=$(grep -o '"accuracy": *[0-9.]*' out.txt | head -1 | grep -o '[0-9.]*$')
    awk -v a="$acc" 'BEGIN { exit !(a >= 0.8) }' && pass "width 16 ($isa): accuracy $acc >= 0.8" ||
        fail "width 16 ($isa): accuracy $acc >= 0.8 ($(cat err.txt))"
done
expect_ok "predict by image" "$SHELF" predict --model img.shelf --data imgs/test.csv --k 2
[ "$(wc -l < out.txt)" -eq "$(($(wc -l < imgs/test.csv) - 1))" ] && pass "one line per product" || fail "one line per product"
expect_ok "predict --explain by image" "$SHELF" predict --model img.shelf --data imgs/test.csv --explain
python3 -c "
import json, sys
for l in open('out.txt'):
    e = json.loads(l)['explanation']
    assert 'text' not in e and len(e['image']['grid']) == 4 and all(len(r) == 4 for r in e['image']['grid'])
" && pass "  a 4 x 4 occlusion grid per photo" || fail "  image explanation ($(head -c 300 out.txt))"
mkdir -p overlays
expect_ok "predict --explain-dir" "$SHELF" predict --model img.shelf --data imgs/test.csv --explain-dir overlays
python3 -c "
import glob, sys
pngs = [open(f, 'rb').read(8) for f in glob.glob('overlays/*.png')]
sys.exit(not (len(pngs) == sum(1 for _ in open('out.txt')) and all(p == b'\\x89PNG\\r\\n\\x1a\\n' for p in pngs)))
" && pass "  a PNG with the grid laid over per photo" || fail "  overlays ($(ls overlays | head -3))"
expect_error "--explain-dir into a missing folder is refused before any work" 'explain-dir' "$SHELF" predict --model img.shelf --data imgs/test.csv --explain-dir nowhere/at/all
expect_ok "predict one image file" "$SHELF" predict --model img.shelf --photo imgs/img/0.jpg
grep -q '"id":"imgs/img/0.jpg"' out.txt && pass "the file is the id" || fail "the file is the id ($(cat out.txt))"
(cd imgs && "$SHELF" predict --model ../img.shelf --photo img/1.png >../out.txt 2>../err.txt) && pass "relative --photo from another folder" || fail "relative --photo"
expect_ok "info of an image model" "$SHELF" info --model img.shelf
renders img.shelf imgs/test.csv "an image model"
grep -q "image CNN" out.txt && pass "info describes the CNN" || fail "info describes the CNN"
expect_error "truncated image names file, line and path" 'bad.csv:2: img/truncated.jpg: ' "$SHELF" eval --model img.shelf --data imgs/bad.csv
expect_error "training refuses a bad image" 'bad.csv:2: img/truncated.jpg' "$SHELF" train --train imgs/bad.csv --out x.shelf "${IMG_OPTS[@]}"
expect_ok "--skip-bad skips bad images" "$SHELF" predict --model img.shelf --data imgs/bad.csv --skip-bad
[ "$(wc -l < out.txt)" -eq 1 ] && grep -q "skipped 3 products with a bad image" err.txt && pass "three skipped, counted" || fail "three skipped ($(cat err.txt))"
expect_ok "train with --skip-bad" "$SHELF" train --train imgs/bad.csv --out x.shelf "${IMG_OPTS[@]}" --skip-bad
expect_error "a missing image file" 'cannot open' "$SHELF" predict --model img.shelf --photo imgs/img/nope.jpg
! grep -q -- "--skip-bad" err.txt && pass "  with no --skip-bad advice for one photo" || fail "  --photo advice ($(cat err.txt))"
expect_error "a text model given an image" 'text' "$SHELF" predict --model m.shelf --photo imgs/img/0.jpg
expect_error "an image model on a catalog without images" 'no image' "$SHELF" eval --model img.shelf --data test.csv
"$SHELF" train --train imgs/train.csv --out x.shelf --modality image --augment flip,spin >/dev/null 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "spin" err.txt && pass "a bad --augment is refused" || fail "a bad --augment (exit $rc)"
"$SHELF" train --train imgs/train.csv --out x.shelf --modality video >/dev/null 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "image" err.txt && pass "a bad --modality is refused" || fail "a bad --modality (exit $rc)"
"$SHELF" train --train imgs/train.csv --out r1.shelf "${IMG_OPTS[@]}" --threads 1 --epochs 2 2>/dev/null
"$SHELF" train --train imgs/train.csv --out r2.shelf "${IMG_OPTS[@]}" --threads 1 --epochs 2 2>/dev/null
"$SHELF" predict --model r1.shelf --data imgs/test.csv --k 3 > p1.txt 2>/dev/null
"$SHELF" predict --model r2.shelf --data imgs/test.csv --k 3 > p2.txt 2>/dev/null
cmp -s p1.txt p2.txt && [ -s p1.txt ] && pass "--seed reproduces an image model on one thread" || fail "image reproducibility"
cut -d, -f1,3,4 imgs/train.csv > imgs/photos_only.csv
expect_ok "image training with --balance weight and --label-smoothing" "$SHELF" train --train imgs/train.csv --out ib.shelf "${IMG_OPTS[@]}" --epochs 2 --balance weight --label-smoothing 0.1
expect_ok "image training with --balance oversample" "$SHELF" train --train imgs/train.csv --out ib.shelf "${IMG_OPTS[@]}" --epochs 2 --balance oversample
echo "fused models (text and image)"
expect_ok "train a fused model" "$SHELF" train --train imgs/train.csv --valid imgs/valid.csv --out both.shelf --modality both --image-size 16 --width 4 --batch 16 --epochs 3 --seed 2 --threads 2 --quiet
awk -F, 'BEGIN { OFS = "," } NR > 1 && NR % 5 == 0 { $3 = "" } { print }' imgs/train.csv > imgs/some_missing.csv
expect_ok "fused training leaves products without an image to the text model" "$SHELF" train --train imgs/some_missing.csv --out sm.shelf --modality both --image-size 16 --width 4 --batch 16 --epochs 1 --threads 2
grep -q "only the text model learned from them" err.txt && pass "and says so" || fail "fused missing images note ($(cat err.txt))"
awk -F, 'BEGIN { OFS = "," } NR > 1 && NR % 10 == 0 { $2 = "" } { print }' imgs/some_missing.csv > imgs/some_empty.csv
expect_ok "fused training without --valid holds products out for its head" "$SHELF" train --train imgs/some_empty.csv --out se.shelf --modality both --image-size 16 --width 4 --batch 16 --epochs 1 --threads 2
grep -q "skipped 9 products with neither a text nor an image" err.txt && pass "products with neither text nor image are skipped and counted" || fail "neither text nor image ($(cat err.txt))"
expect_error "fused training still refuses a broken image" 'bad.csv:2: img/truncated.jpg: truncated' "$SHELF" train --train imgs/bad.csv --out x.shelf --modality both --image-size 16 --width 4 --epochs 1
expect_ok "eval a fused model" "$SHELF" eval --model both.shelf --data imgs/test.csv --json
grep -q '"accuracy"' out.txt && pass "fused eval reports" || fail "fused eval reports"
expect_ok "a product without a usable image falls back on its text" "$SHELF" predict --model both.shelf --data imgs/bad.csv
[ "$(wc -l < out.txt)" -eq 4 ] && grep -q "classified by their text alone" err.txt && pass "all four classified, three by text alone" || fail "text fallback ($(cat err.txt))"
[ "$(grep -c '"modalities":\["text"\]' out.txt)" -eq 3 ] && grep -q '"modalities":\["text","image"\]' out.txt && pass "the output says which modalities were used" || fail "modalities in the output ($(cat out.txt))"
[ "$(grep -c '"modalities":\["text"\],"fusion":{"text":1,"image":0}' out.txt)" -eq 3 ] &&
    grep '"modalities":\["text","image"\]' out.txt | grep -Eq '"fusion":\{"text":[0-9.e-]+,"image":[0-9.e-]+\}' &&
    pass "  and the fusion weights of text and image per product" || fail "  fusion weights ($(cat out.txt))"
expect_ok "predict --explain with a fused model" "$SHELF" predict --model both.shelf --data imgs/bad.csv --explain
python3 -c "
import json
for l in open('out.txt'):
    d = json.loads(l); e = d['explanation']
    assert ('image' in e) == ('image' in d['modalities'] and d['fusion']['image'] > 0), d
    assert 'text' in e, d
    assert e['fusion'] == d['fusion'], d
" && pass "  the sides each product had, and its fusion weights" || fail "  fused explanations ($(head -c 600 out.txt))"
awk -F, 'NR == 1 { print; next } NR == 2 { $2 = "" } NR == 3 { $2 = "zqxj vwkq" }
         NR == 4 { $2 = ""; $3 = "" } NR <= 5 { print }' OFS=, imgs/test.csv > imgs/notitle.csv
expect_ok "a product without a known word is classified by its image" "$SHELF" predict --model both.shelf --data imgs/notitle.csv --skip-bad
[ "$(grep -c '"modalities":\["image"\]' out.txt)" -eq 2 ] && [ "$(wc -l < out.txt)" -eq 3 ] &&
    grep -q "2 products classified by their image alone" err.txt && grep -q "skipped 1 products" err.txt &&
    pass "  two by their image alone, the one with neither skipped" || fail "  image alone ($(cat out.txt err.txt))"
[ "$(grep -c '"fusion":{"text":0,"image":1}' out.txt)" -eq 2 ] && pass "  their fusion weights: the image alone" || fail "  image-alone weights ($(cat out.txt))"
expect_error "a product with neither a known word nor an image is a bad row" 'no word the model knows' "$SHELF" predict --model both.shelf --data imgs/notitle.csv
expect_ok "info of a fused model" "$SHELF" info --model both.shelf
renders both.shelf imgs/test.csv "a fused model"
grep -q "image CNN" out.txt && grep -q "word n-grams" out.txt && pass "info describes both parts" || fail "info of a fused model"
grep -Eq "^fusion head +(gate: per product|branch: .* for 2 branches|the (text|image) side alone)" out.txt &&
    grep -Eq "^fusion choice +out of 5 folds of [0-9]+ validation products: branch .*, gate .*, text .*, image " out.txt &&
    pass "info describes the fusion head and what the choice measured" || fail "info of the fusion head ($(grep -A2 'fusion head' out.txt))"
# bad.csv's first three photos cannot be decoded: the fused model reads their titles, and
# those that are mistakes come without a thumbnail
expect_ok "a report whose mistakes have photos that cannot be decoded" "$SHELF" report --model both.shelf --data imgs/bad.csv --out rbad.html
grep -q "note: no thumbnail for line [234]: " err.txt && grep -q "<svg" rbad.html && ! grep -q "<img[^>]*src=\"\"" rbad.html &&
    pass "  their thumbnails are left out with a note, the page written" || fail "  report with bad photos ($(cat err.txt))"
expect_ok "a catalog of photos without text trains" "$SHELF" train --train imgs/photos_only.csv --out po.shelf "${IMG_OPTS[@]}" --epochs 1
expect_ok "and predicts" "$SHELF" predict --model po.shelf --data imgs/photos_only.csv
cut -d, -f1,2,4 imgs/train.csv > imgs/no_images.csv
expect_error "an image model needs the image column" "no image column 'image'" "$SHELF" train --train imgs/no_images.csv --out x.shelf "${IMG_OPTS[@]}"
"$SHELF" train --train imgs/train.csv --out x.shelf --modality image --weight-decay -0.1 >/dev/null 2>err.txt; rc=$?
[ $rc -eq 1 ] && grep -q "weight-decay" err.txt && pass "a negative --weight-decay is refused" || fail "a negative --weight-decay (exit $rc)"
"$SHELF" train --train imgs/train.csv --out x.shelf --modality image --image-size 8 --batch 1 >/dev/null 2>err.txt; rc=$?
[ $rc -eq 1 ] && grep -q "batch norm" err.txt && pass "--batch 1 at size 8 is refused" || fail "--batch 1 at size 8 (exit $rc)"
expect_error "an image model that would not fit in memory is refused" "memory" "$SHELF" train --train imgs/train.csv --out x.shelf --modality image --image-size 512 --width 256 --batch 1024

echo "sequence text encoders (gru, transformer)"
for enc in gru transformer; do
  heads=(); [ $enc = transformer ] && heads=(--heads 2) # --heads is the Transformer's alone
  expect_ok "train --text-encoder $enc" "$SHELF" train --train train.csv --valid valid.csv --out $enc.shelf --text-encoder $enc --epochs 2 --lr 0.01 --batch 16 --dim 32 --layers 1 "${heads[@]}" --max-tokens 16 --threads 2 --seed 3
  expect_ok "eval $enc" "$SHELF" eval --model $enc.shelf --data test.csv --json
  acc=$(grep -o '"accuracy": *[0-9.]*' out.txt | head -1 | grep -o '[0-9.]*$')
  awk -v a="$acc" 'BEGIN { exit !(a >= 0.8) }' && pass "$enc accuracy $acc >= 0.8 after 2 epochs" || fail "$enc accuracy $acc >= 0.8"
  expect_ok "predict $enc" "$SHELF" predict --model $enc.shelf --data test.csv --k 2
  [ "$(wc -l < out.txt)" -eq 100 ] && cp out.txt pred_$enc.txt && pass "$enc: one line per product" || fail "$enc: one line per product"
  expect_ok "predict --explain $enc" "$SHELF" predict --model $enc.shelf --data test.csv --explain
  grep -q '"method":"occlusion"' out.txt && [ "$(wc -l < out.txt)" -eq 100 ] && pass "  $enc: explained by occlusion" || fail "  $enc explanation ($(head -c 300 out.txt))"
  expect_ok "info $enc" "$SHELF" info --model $enc.shelf
  grep -qi "$enc" out.txt && grep -q "tokens in order" out.txt && pass "info describes the $enc encoder" || fail "info describes the $enc encoder ($(head -c 300 out.txt))"
  "$SHELF" train --train train.csv --valid valid.csv --out ${enc}2.shelf --text-encoder $enc --epochs 2 --lr 0.01 --batch 16 --dim 32 --layers 1 "${heads[@]}" --max-tokens 16 --threads 2 --seed 3 2>/dev/null
  "$SHELF" predict --model ${enc}2.shelf --data test.csv --k 2 > pred2_$enc.txt
  cmp -s pred_$enc.txt pred2_$enc.txt && pass "$enc: same seed, two threads: same predictions after reloading" || fail "$enc: reproducible"
done
expect_error "heads must divide dim" 'heads' "$SHELF" train --train train.csv --out x.shelf --text-encoder transformer --dim 30 --heads 4
SEQ_OPTS=(--epochs 2 --lr 0.01 --dim 32 --max-tokens 16 --threads 2 --seed 3)
for extra in "--buckets 4096" "--layers 2" "--hierarchy" "--balance weight" "--balance oversample" "--balance undersample"; do
  # shellcheck disable=SC2086
  expect_ok "gru with $extra trains" "$SHELF" train --train train.csv --valid valid.csv --out x.shelf --text-encoder gru "${SEQ_OPTS[@]}" --batch 16 $extra
  expect_ok "  and evaluates" "$SHELF" eval --model x.shelf --data test.csv --json --min-confidence 0.9
  acc=$(grep -o '"accuracy": *[0-9.]*' out.txt | head -1 | grep -o '[0-9.]*$')
  awk -v a="$acc" 'BEGIN { exit !(a >= 0.7) }' && grep -q '"backoff"' out.txt && pass "  accuracy $acc >= 0.7, with back-off figures" || fail "gru $extra: accuracy $acc >= 0.7"
done
expect_ok "a fused model with a gru text encoder trains" "$SHELF" train --train imgs/train.csv --valid imgs/valid.csv --out gb.shelf --modality both --text-encoder gru --dim 16 --max-tokens 16 --image-size 16 --width 4 --batch 16 --epochs 2 --seed 2 --threads 2 --quiet
expect_ok "  and predicts with both modalities" "$SHELF" predict --model gb.shelf --data imgs/test.csv
grep -q '"modalities":\["text","image"\]' out.txt && pass "  its output says text and image" || fail "gru fused: modalities ($(head -c 300 out.txt))"
expect_ok "  info" "$SHELF" info --model gb.shelf
grep -q "bidirectional GRU" out.txt && grep -q "image CNN" out.txt && pass "  info describes the GRU and the CNN" || fail "gru fused: info ($(head -c 400 out.txt))"
expect_error "a sequence encoder needs text" 'needs text' "$SHELF" train --train imgs/train.csv --out x.shelf --modality image --text-encoder gru
expect_error "--dropout 1 is refused" 'dropout' "$SHELF" train --train train.csv --out x.shelf --text-encoder gru --dropout 1
"$SHELF" train --train train.csv --out x.shelf --text-encoder lstm >/dev/null 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "text-encoder" err.txt && pass "an unknown --text-encoder: exit 2 with a message" || fail "unknown --text-encoder (exit $rc)"

echo "model files and outputs (issue 13)"
mkfifo fifo.shelf
timeout 10 "$SHELF" info --model fifo.shelf >out.txt 2>err.txt; rc=$?
[ $rc -eq 1 ] && grep -q "fifo.shelf: not a regular file" err.txt && pass "info refuses a FIFO without blocking" || fail "info on a FIFO (exit $rc, $(head -c 300 err.txt))"

# Write errors: every output is flushed and checked; a failure exits 1 naming it and why.
full_stdout() { # NAME CMD...: the command writes to a full device
  local name=$1; shift
  "$@" >/dev/full 2>err.txt; local rc=$?
  if [ $rc -eq 1 ] && grep -q "standard output: cannot write: No space left on device" err.txt; then
    pass "$name"; else fail "$name (exit $rc, stderr: $(head -c 300 err.txt))"; fi
}
full_stdout "eval > /dev/full fails" "$SHELF" eval --model m.shelf --data test.csv
full_stdout "eval --json > /dev/full fails" "$SHELF" eval --model m.shelf --data test.csv --json
full_stdout "info > /dev/full fails" "$SHELF" info --model m.shelf
full_stdout "predict > /dev/full fails" "$SHELF" predict --model m.shelf --data test.csv
full_stdout "predict csv > /dev/full fails" "$SHELF" predict --model m.shelf --data test.csv --output-format csv
# A file that cannot grow (ulimit -f: writes fail with "File too large") leaves the old file.
echo old > p.jsonl && cp m.shelf m_old.shelf
( trap '' XFSZ; ulimit -f 1; "$SHELF" predict --model m.shelf --data test.csv --k 3 --out p.jsonl ) >/dev/null 2>err.txt; rc=$?
[ $rc -eq 1 ] && grep -q "p.jsonl: cannot write: File too large" err.txt && [ "$(cat p.jsonl)" = old ] && pass "predict --out on a full disk fails and keeps the old file" || fail "predict --out full (exit $rc, $(head -c 300 err.txt))"
( trap '' XFSZ; ulimit -f 1; "$SHELF" train --train train.csv --out m.shelf --quiet ) >/dev/null 2>err.txt; rc=$?
[ $rc -eq 1 ] && grep -q "m.shelf: cannot write: File too large" err.txt && cmp -s m.shelf m_old.shelf && [ -z "$(ls m.shelf.tmp.* 2>/dev/null)" ] && pass "train --out on a full disk fails and keeps the old model" || fail "train --out full (exit $rc, $(head -c 300 err.txt))"
expect_ok "predict --out writes the file" "$SHELF" predict --model m.shelf --data test.csv --out p.jsonl
[ ! -s out.txt ] && [ "$(wc -l < p.jsonl)" -eq 100 ] && pass "  with every product, nothing on standard output" || fail "predict --out content"

# --out: only a regular file or a new name, checked before any work (the training file here
# does not exist: the --out error must come first).
ln -s m.shelf link.shelf; mkdir -p adir
for bad in "/dev/null:a device" "link.shelf:a symbolic link" "adir:a directory" "fifo.shelf:a FIFO" "nodir/m.shelf:cannot write in nodir: No such file"; do
  expect_error "train --out ${bad%%:*} is refused before training" "--out ${bad%%:*}: .*${bad#*:}" "$SHELF" train --train missing.csv --out "${bad%%:*}"
  expect_error "predict --out ${bad%%:*} is refused" "--out ${bad%%:*}: .*${bad#*:}" "$SHELF" predict --model missing.shelf --data test.csv --out "${bad%%:*}"
done
[ -L link.shelf ] && [ -c /dev/null ] && pass "the symbolic link and the device are left alone" || fail "a refused --out was replaced"

# Strings from files (labels, column names, paths in a model) reach the terminal escaped.
{ printf 'id,title,category\n'; for i in 1 2 3 4 5 6; do printf '%d,red shoe %d,"Shoes\033[2J"\n%d,blue cup %d,Cups\n' $i $i $((i + 10)) $i; done; } > esc.csv
expect_ok "train on a label with an escape sequence" "$SHELF" train --train esc.csv --out esc.shelf --quiet
expect_ok "  info" "$SHELF" info --model esc.shelf
grep -qF 'Shoes\x1b[2J' out.txt && ! grep -q $'\033' out.txt && pass "  info shows the label escaped, no raw ESC" || fail "info escapes labels ($(head -c 300 out.txt | od -c | head -5))"
expect_error "an error naming a column with an escape sequence" 'x1b\[2J' "$SHELF" eval --model esc.shelf --data esc.csv --label $'cat\033[2J'
! grep -q $'\033' err.txt && pass "  the error has no raw ESC" || fail "error escapes ($(od -c err.txt | head -5))"
expect_ok "  eval --per-class" "$SHELF" eval --model esc.shelf --data esc.csv --per-class
grep -qF 'Shoes\x1b[2J' out.txt && ! grep -q $'\033' out.txt && pass "  the report shows the label escaped" || fail "report escapes labels ($(od -c out.txt | grep 033 | head -3))"
{ printf 'id,title,category\n'; for i in 1 2 3; do printf '%d,tee %d,"A\033[2J > Tees"\n%d,top %d,B > Tees\n' $i $i $((i + 10)) $i; done; } > esc2.csv
expect_ok "  train on a leaf under two parents, one with ESC" "$SHELF" train --train esc2.csv --out esc2.shelf
grep -qF "A\x1b[2J > Tees" err.txt && ! grep -q $'\033' err.txt && pass "  the hygiene note shows the label escaped" || fail "hygiene escapes ($(od -c err.txt | grep 033 | head -3))"

# The same command with --seed and one thread writes the same bytes (no wall-clock times in
# the file): the CNNs r1 and r2 trained above, and bag, GRU, Transformer and fused models.
# Each encoder is given only the options that apply to it (others are refused).
for enc in bag gru transformer; do
  case $enc in bag) extra=() ;; gru) extra=(--layers 1 --max-tokens 8) ;; transformer) extra=(--heads 2 --layers 1 --max-tokens 8) ;; esac
  for i in 1 2; do "$SHELF" train --train train.csv --out same_$enc$i.shelf --text-encoder $enc --epochs 1 --dim 16 "${extra[@]}" --seed 7 --threads 1 --quiet 2>/dev/null; done
done
for i in 1 2; do "$SHELF" train --train imgs/train.csv --out same_both$i.shelf --modality both --image-size 16 --width 4 --batch 16 --epochs 1 --seed 7 --threads 1 --quiet 2>/dev/null; done
for pair in "same_bag1 same_bag2" "r1 r2" "same_gru1 same_gru2" "same_transformer1 same_transformer2" "same_both1 same_both2"; do
  set -- $pair
  [ -s "$1.shelf" ] && cmp -s "$1.shelf" "$2.shelf" && pass "same seed, one thread: $1.shelf and $2.shelf are byte for byte the same" || fail "$1.shelf and $2.shelf differ ($(cmp "$1.shelf" "$2.shelf" 2>&1 | head -c 200))"
done

# eval warns, with counts, about test labels the model never saw (they can only be errors).
{ head -1 test.csv; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do tail -n +2 test.csv; done; } | sed 's/Footwear > Sandals/Footwear > Sandalz/; s/Home > Kitchen > Knives/HOME|Knives/' > unknown.csv
expect_ok "eval with labels the model never saw" "$SHELF" eval --model m.shelf --data unknown.csv
n=$(grep -cE 'Sandalz|HOME\|Knives' unknown.csv)
grep -qF "of 1,200 test rows (2 labels) have labels the model never saw, e.g. 'Footwear > Sandalz', 'HOME|Knives'; they count as errors" err.txt && grep -q "^warning: unknown.csv: $n of 1,200" err.txt && pass "  the warning counts rows and labels" || fail "unknown labels warning ($(head -c 300 err.txt))"
expect_ok "eval with known labels" "$SHELF" eval --model m.shelf --data test.csv
! grep -q "never saw" err.txt && pass "  no warning when every label is known" || fail "a warning without unknown labels"

# Back-off in one vocabulary: JSONL keys and CSV columns path, confidence, status; a product
# sent to review has no path ("path":null), not an empty one.
{ echo id,title; for i in 1 2 3 4 5; do echo "u$i,qqq$i zzz"; done; } > unsure.csv
expect_ok "predict --min-confidence 0.999 on texts the model cannot place" "$SHELF" predict --model same_bag1.shelf --data unsure.csv --min-confidence 0.999
[ "$(grep -c '"path":null,"confidence":[0-9.e-]*,"status":"review"}' out.txt)" -eq 5 ] && ! grep -qE '"backed_off"|"review":' out.txt && pass "  JSONL: path null, status review" || fail "review in JSONL ($(head -1 out.txt))"
expect_ok "  as CSV" "$SHELF" predict --model same_bag1.shelf --data unsure.csv --min-confidence 0.999 --output-format csv
[ "$(grep -cE '^[^,]*,[^,]*,[0-9.e-]*,,[0-9.e-]*,review$' out.txt)" -eq 5 ] && pass "  CSV: empty path, status review" || fail "review in CSV ($(sed -n 2p out.txt))"
expect_ok "predict --min-confidence 0.01" "$SHELF" predict --model m.shelf --data test.csv --min-confidence 0.01
[ "$(grep -c '"status":"full"}' out.txt)" -eq 100 ] && pass "  JSONL: status full" || fail "full in JSONL ($(head -1 out.txt))"

# More threads than rows (UBSan once caught a memcpy from NULL in the vector cache).
printf 'id,title,category\n1,cotton tee,A\n2,denim jeans,B\n3,steel knife,A\n' > three.csv
expect_ok "train with --threads 8 on 3 rows" "$SHELF" train --train three.csv --out three.shelf --threads 8 --quiet

echo "catalog readers: what real users and attackers send"
# A quoted field over 16 MiB whose lines look like rows: skipped whole, nothing made up.
{ echo "id,title,category"; echo "1,cotton tee,Apparel > Topwear > Tshirts"
  printf '2,"'; awk 'BEGIN { for (i = 0; i < 1400000; i++) print "x,Fake,Made up" }'
  echo 'end",Home > Kitchen > Knives'; echo "3,chef knife,Home > Kitchen > Knives"; } > bigfield.csv
expect_ok "predict --skip-bad past an oversized quoted field" "$SHELF" predict --model m.shelf --data bigfield.csv --skip-bad
[ "$(wc -l < out.txt)" -eq 2 ] && grep -q '"id":"3"' out.txt && ! grep -q Fake out.txt && grep -q "skipped 1 bad rows" err.txt \
  && pass "  two products, row 3 kept, one bad row" || fail "  oversized quoted field ($(wc -l < out.txt) lines, $(head -c 300 err.txt))"
expect_error "input without line breaks fails at the line limit" '/dev/zero:1: .*longer than 16 MiB' "$SHELF" predict --model m.shelf --data /dev/zero --format jsonl
expect_error "  and under --skip-bad at the skip limit" '/dev/zero:1: .*longer than 64 MiB' "$SHELF" predict --model m.shelf --data /dev/zero --format csv --skip-bad

# A missing column names the columns found and the option that chooses it, in every command.
expect_error "predict: no such text column" "no text column 'colour' \(columns: id, title, description, category\); choose the text columns with --text" "$SHELF" predict --model m.shelf --data test.csv --text colour
expect_error "eval: no such label column" "no label column 'cat' .*; choose the label column with --label" "$SHELF" eval --model m.shelf --data test.csv --label cat
expect_error "train: no such id column" "no id column 'sku' .*; choose the id column with --id" "$SHELF" train --train train.csv --out x.shelf --id sku
expect_error "predict: no such image column" "no image column 'photo' .*; choose the image column with --image" "$SHELF" predict --model m.shelf --data test.csv --image photo
"$SHELF" predict --model m.shelf --data test.csv --image shoe.jpg >out.txt 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q -- "--image (or --image-column) names an image column; for one photo file use --photo" err.txt \
  && pass "predict --image with a photo file points to --photo" || fail "predict --image FILE (exit $rc, $(cat err.txt))"
mkdir -p image  # a folder named like the column is no photo
"$SHELF" predict --model m.shelf --data test.csv --image image >out.txt 2>err.txt; rc=$?
grep -q "no image column 'image'" err.txt && pass "  --image image beside a folder 'image' names the column" || fail "  --image with a folder 'image' (exit $rc, $(cat err.txt))"
rmdir image
"$SHELF" predict --model m.shelf --data test.csv --photo shoe.jpg >out.txt 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "give --data (a catalog) or --photo (one image), not both" err.txt && pass "predict --data with --photo is refused" || fail "predict --data --photo (exit $rc, $(cat err.txt))"

# --out never replaces what the command reads (caught when the issue's changes were probed).
cp test.csv same.csv; cp m.shelf same.shelf; cp train.csv same_train.csv
out_is_input() { # NAME PATTERN COMMAND...: exit 2 naming the input, the file untouched
  local name=$1 pattern=$2 file=$3; shift 3
  local before; before=$(cksum < "$file")
  "$@" >out.txt 2>err.txt; local rc=$?
  [ $rc -eq 2 ] && grep -q -- "$pattern" err.txt && [ "$(cksum < "$file")" = "$before" ] \
    && pass "$name" || fail "$name (exit $rc, $(head -c 300 err.txt))"
}
expect_ok "predict --out preds.csv writes CSV" "$SHELF" predict --model m.shelf --data test.csv --out preds.csv
head -1 preds.csv | grep -q '^id,' && pass "  its first line is a CSV header" || fail "  --out preds.csv ($(head -c 100 preds.csv))"
"$SHELF" predict --help > /dev/full 2>err.txt; rc=$?
[ $rc -eq 1 ] && grep -q "standard output: cannot write" err.txt && pass "--help > /dev/full fails" || fail "--help > /dev/full (exit $rc)"
printf 'id,title,category\n1,"broken,A\n' | "$SHELF" predict --model m.shelf --skip-bad > /dev/null 2>err.txt
grep -q "^standard input: skipped 1 bad rows" err.txt && pass "read counts name standard input" || fail "stdin in read counts ($(cat err.txt))"
out_is_input "predict --out the --data file is refused" "--out same.csv is the same.csv it reads (--data)" same.csv "$SHELF" predict --model m.shelf --data same.csv --out same.csv
out_is_input "predict --out the file on standard input is refused" "is the standard input it reads" same.csv sh -c '"$0" predict --model m.shelf --out same.csv < same.csv' "$SHELF"
out_is_input "predict --out the model is refused" "(--model)" same.shelf "$SHELF" predict --model same.shelf --data test.csv --out same.shelf
out_is_input "train --out the training catalog is refused" "(--train)" same_train.csv "$SHELF" train --train same_train.csv --out same_train.csv
out_is_input "train --out the validation catalog is refused" "(--valid)" same.csv "$SHELF" train --train train.csv --valid same.csv --out same.csv

# Deep taxonomies: --max-depth trains, evaluates and reads at the first N levels.
expect_ok "train --max-depth 1" "$SHELF" train --train train.csv --out depth1.shelf --max-depth 1 --seed 3
grep -q "3 labels" err.txt && pass "  three top-level labels" || fail "  --max-depth 1 labels ($(cat err.txt))"
expect_ok "eval --max-depth 1" "$SHELF" eval --model depth1.shelf --data test.csv --max-depth 1 --json
acc=$(grep -o '"accuracy": *[0-9.]*' out.txt | head -1 | grep -o '[0-9.]*$')
awk -v a="$acc" 'BEGIN { exit !(a >= 0.9) }' && pass "  top-level accuracy $acc >= 0.9" || fail "  --max-depth 1 accuracy $acc"
expect_ok "  eval without --max-depth: the model's depth applies" "$SHELF" eval --model depth1.shelf --data test.csv --json
acc2=$(grep -o '"accuracy": *[0-9.]*' out.txt | head -1 | grep -o '[0-9.]*$')
[ "$acc2" = "$acc" ] && pass "  the same accuracy ($acc2): the model records its depth" || fail "  eval without --max-depth: $acc2, with: $acc"
expect_ok "  eval --max-depth 2 on it" "$SHELF" eval --model depth1.shelf --data test.csv --max-depth 2
grep -q "warning: --max-depth 2 cuts the test labels at level 2, but the model predicts paths cut at level 1" err.txt && pass "  warns that the depths differ" || fail "  eval at another depth ($(cat err.txt))"
expect_ok "  info" "$SHELF" info --model depth1.shelf
grep -q "paths cut at level 1 (--max-depth)" out.txt && pass "  info says the paths were cut" || fail "  info on depth ($(grep labels out.txt))"
"$SHELF" train --train train.csv --out x.shelf --max-depth -1 >/dev/null 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "max-depth" err.txt && pass "  a negative --max-depth is refused" || fail "  negative --max-depth (exit $rc)"
# Empty labels: one line with the count, where, and --skip-bad.
awk 'NR > 1 && NR % 50 == 0 { sub(/,[^,]*$/, ",") } { print }' train.csv > some_unlabelled.csv
expect_error "empty labels are summed up" 'some_unlabelled.csv:50: 10 rows have an empty label in column .category. \(at lines 50, 100, 150, ...\); pass --skip-bad to skip them' "$SHELF" train --train some_unlabelled.csv --out x.shelf
[ "$(wc -l < err.txt)" -eq 1 ] && pass "  in one line" || fail "  in one line ($(cat err.txt))"

# gzip-compressed catalogs: by extension, and on standard input by their magic bytes.
gzip -c train.csv > train.csv.gz
expect_ok "train on train.csv.gz" "$SHELF" train --train train.csv.gz --out gz.shelf --seed 3
gzip -c test.csv | "$SHELF" predict --model gz.shelf >out.txt 2>err.txt && [ "$(wc -l < out.txt)" -eq 100 ] \
  && pass "  predict reads gzip on standard input" || fail "  gzip on standard input ($(head -c 300 err.txt))"
head -c 2000 train.csv.gz > cut.csv.gz
expect_error "  a truncated gzip file is a read error" 'cut.csv.gz:[0-9]+: read error: gzip data: unexpected end of file' "$SHELF" train --train cut.csv.gz --out x.shelf

# CSV without a header, columns by number; other delimiters; standard input that is not CSV.
tail -n +2 train.csv > nohead.csv
expect_ok "train --no-header --text 2 --label 4" "$SHELF" train --train nohead.csv --out nohead.shelf --no-header --text 2,3 --label 4 --id 1 --seed 3
expect_ok "  eval --no-header" "$SHELF" eval --model nohead.shelf --data nohead.csv --no-header --json
expect_error "  without --label: the columns by number and the option" "no label column 'category' \(columns: 1, 2, 3, 4\); choose the label column with --label" "$SHELF" train --train nohead.csv --out x.shelf --no-header --text 2
sed 's/,\([^,"]*\)$/;\1/; s/^\([^,]*\),\([^,"]*\),/\1;\2;/' train.csv > semi.csv
expect_ok "a .csv with ';' is read by its first line" "$SHELF" train --train semi.csv --out semi.shelf --seed 3
grep -q "6 labels" err.txt && pass "  six labels" || fail "  ';' guessed ($(head -c 300 err.txt))"
awk -F, '{ print $1 "|" $2 "|x|" $NF }' nohead.csv > pipe.txt
expect_ok "--delimiter '|' --format csv" "$SHELF" predict --model nohead.shelf --data pipe.txt --format csv --delimiter '|' --no-header
[ "$(wc -l < out.txt)" -eq 500 ] && pass "  one prediction per row" || fail "  --delimiter '|' ($(wc -l < out.txt) lines)"
"$SHELF" predict --model m.shelf --delimiter ab >/dev/null 2>err.txt </dev/null; rc=$?
[ $rc -eq 2 ] && grep -q -- "--delimiter" err.txt && pass "  a two-character --delimiter is refused" || fail "  --delimiter ab (exit $rc)"
printf '{"title": "cotton tee"}\n' | "$SHELF" predict --model m.shelf >out.txt 2>err.txt; rc=$?
[ $rc -eq 1 ] && grep -q "standard input does not look like CSV (it starts with '{'): pass --format jsonl" err.txt \
  && pass "standard input in JSONL asks for --format jsonl" || fail "stdin hint (exit $rc, $(cat err.txt))"

# A .json file holding an array of objects, gzip-compressed too, with category arrays.
awk -F, 'BEGIN { print "[" } { n = split($NF, lv, / > /); c = ""; for (i = 1; i <= n; i++) c = c (i > 1 ? ", " : "") "\"" lv[i] "\"";
  printf "%s{\"id\": \"%s\", \"title\": \"%s\", \"category\": [%s]}\n", (NR > 1 ? "," : ""), $1, $2, c } END { print "]" }' nohead.csv > train.json
gzip -c train.json > train.json.gz
expect_ok "train on a .json.gz array with category arrays" "$SHELF" train --train train.json.gz --out json.shelf --seed 3
grep -q "500 products, 6 labels" err.txt && pass "  500 products, 6 labels" || fail "  .json.gz ($(head -c 300 err.txt))"
expect_ok "  eval on the .json array" "$SHELF" eval --model json.shelf --data train.json --json
acc=$(grep -o '"accuracy": *[0-9.]*' out.txt | head -1 | grep -o '[0-9.]*$')
awk -v a="$acc" 'BEGIN { exit !(a >= 0.9) }' && pass "  accuracy $acc >= 0.9: the arrays are the paths' levels" || fail "  .json accuracy $acc"

echo "options as data: what does not apply is refused, --help from the tables"
# An option given for an encoder the model does not have is an error naming both.
expect_error "--dim with --modality image is refused" "--dim does not apply to an image model \(--modality image\)" "$SHELF" train --train imgs/train.csv --out x.shelf --modality image --dim 50
expect_error "--width with a text model is refused" "--width does not apply to a text model \(--text-encoder bag\): it is for the CNN" "$SHELF" train --train train.csv --out x.shelf --width 8
expect_error "--heads with --text-encoder gru is refused" "--heads does not apply to a text model \(--text-encoder gru\): it is for transformer" "$SHELF" train --train train.csv --out x.shelf --text-encoder gru --heads 4
expect_error "--ngrams with --text-encoder transformer is refused" "--ngrams does not apply to a text model \(--text-encoder transformer\): it is for bag" "$SHELF" train --train train.csv --out x.shelf --text-encoder transformer --ngrams 3
expect_error "--max-tokens with the bag is refused" "--max-tokens does not apply to a text model \(--text-encoder bag\)" "$SHELF" train --train train.csv --out x.shelf --max-tokens 8
expect_error "--heads in a fused model of bag and CNN is refused" "--heads does not apply to a fused model \(--modality both, --text-encoder bag\)" "$SHELF" train --train imgs/train.csv --out x.shelf --modality both --heads 2
expect_error "  before the catalog is read" "--heads does not apply" "$SHELF" train --train missing.csv --out x.shelf --text-encoder gru --heads 4
# --threads above what shelf runs is an error naming the limit, in every command.
expect_error "train --threads 500 names the limit" "--threads must be at most 64, not 500" "$SHELF" train --train train.csv --out x.shelf --threads 500
for cmd in eval predict; do
  "$SHELF" $cmd --model m.shelf --data test.csv --threads 500 >/dev/null 2>err.txt; rc=$?
  [ $rc -eq 2 ] && grep -q -- "--threads must be at most 64, not 500" err.txt && pass "$cmd --threads 500 names the limit" || fail "$cmd --threads 500 (exit $rc, $(cat err.txt))"
done
# eval and predict take the columns, label separator and depth from the model.
for opt in "--label-sep /" "--max-depth 2" "--label cat"; do
  "$SHELF" predict --model m.shelf --data test.csv $opt >/dev/null 2>err.txt; rc=$?
  [ $rc -eq 2 ] && grep -q "unknown option '${opt% *}'" err.txt && pass "predict refuses $opt: the model decides" || fail "predict $opt (exit $rc, $(cat err.txt))"
done
"$SHELF" eval --model m.shelf --data test.csv --label-sep / >/dev/null 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "unknown option '--label-sep'" err.txt && pass "eval refuses --label-sep: the model's separator splits the paths" || fail "eval --label-sep (exit $rc, $(cat err.txt))"
for cmd in train eval predict info serve; do
  expect_ok "$cmd --help" "$SHELF" $cmd --help
  grep -q "^usage: shelf $cmd" out.txt && [ ! -s err.txt ] && pass "  prints its usage on standard output" || fail "$cmd --help ($(head -3 out.txt))"
done
"$SHELF" train --help > help.txt
for g in "training, every model:" "text models (--modality text or both):" "text: the bag of n-grams" "text: sequence encoders" "image: the CNN"; do
  grep -qF "$g" help.txt && pass "train --help has the group '$g'" || fail "train --help group '$g'"
done
grep -q -- "--epochs, --lr and --batch are the CNN's" help.txt && pass "train --help says --epochs, --lr and --batch are the CNN's in a fused model" || fail "train --help fused note"
grep -qE -- "--dropout X .*\(0\.1\)$" help.txt && grep -qE -- "--ngrams N .*1 to 8 \(2\)$" help.txt && grep -qE -- "--threads N .*0 to 64 \(all cores\)$" help.txt \
  && pass "train --help shows defaults and ranges from the table" || fail "train --help defaults ($(grep -E -- '--(dropout|ngrams|threads) ' help.txt))"
for cmd in eval predict; do
  "$SHELF" $cmd --help > help.txt
  grep -q "its columns.*the model's (as given at training), unless these name others" help.txt && grep -qE -- "--text S .*\(the model's\)" help.txt && ! grep -q -- "--label-sep" help.txt \
    && pass "$cmd --help says the columns are the model's" || fail "$cmd --help columns ($(cat help.txt))"
done
"$SHELF" predict --help | grep -q -- "--max-depth" && fail "predict --help offers --max-depth" || pass "predict --help offers no --max-depth or --label"
"$SHELF" eval --help | grep -qE -- "--max-depth N .*\(the model's\)" && pass "eval --help: --max-depth defaults to the model's" || fail "eval --help --max-depth"

echo "embeddings (shelf embed)"
expect_ok "embed to .npy" "$SHELF" embed --model m.shelf --data test.csv --out e.npy
python3 - e.npy e.npy.ids test.csv <<'EOF2' && pass "  a float32 row per product, unit length, the ids beside in input order" || fail "  embed npy ($(head -c 300 err.txt))"
import ast, csv, math, struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x93NUMPY\x01\x00", b[:8]
hlen = struct.unpack("<H", b[8:10])[0]
h = ast.literal_eval(b[10:10 + hlen].decode())
n, d = h["shape"]
assert h["descr"] == "<f4" and not h["fortran_order"] and (10 + hlen) % 64 == 0
rows = list(csv.DictReader(open(sys.argv[3])))
assert n == len(rows) and len(b) == 10 + hlen + 4 * n * d, (n, len(rows))
v = struct.unpack("<%df" % (n * d), b[10 + hlen:])
for i in range(n):
    assert abs(math.sqrt(sum(x * x for x in v[i * d:(i + 1) * d])) - 1) < 1e-4
ids = open(sys.argv[2]).read().split("\n")[:-1]
assert ids == [r["id"] for r in rows], ids[:3]
# the nearest neighbour of most products shares its category
cat = [r["category"] for r in rows]
same = 0
for i in range(n):
    best = max((j for j in range(n) if j != i), key=lambda j: sum(a * b for a, b in zip(v[i * d:(i + 1) * d], v[j * d:(j + 1) * d])))
    same += cat[best] == cat[i]
assert same >= 0.8 * n, same
EOF2
expect_ok "embed to JSONL on standard output" "$SHELF" embed --model m.shelf --data test.csv
[ "$(grep -c '^{"id":"[^"]*","vector":\[' out.txt)" -eq 100 ] && pass "  one line per product with its id" || fail "  embed jsonl ($(head -c 200 out.txt))"
expect_ok "embed to .fvecs with --ids" "$SHELF" embed --model m.shelf --data test.csv --out e.fvecs --ids e.txt
d=$(python3 -c "import struct; print(struct.unpack('<i', open('e.fvecs','rb').read(4))[0])")
[ "$(stat -c %s e.fvecs)" -eq $((100 * (4 + 4 * d))) ] && [ "$(wc -l < e.txt)" -eq 100 ] && pass "  a count and the floats per product" || fail "  embed fvecs (d=$d)"
"$SHELF" embed --model m.shelf --data test.csv --output-format npy >out.txt 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "npy vectors need --out" err.txt && pass "npy to standard output is refused" || fail "npy to stdout (exit $rc, $(cat err.txt))"
"$SHELF" embed --model m.shelf --data test.csv --out e.npy --output-format parquet >out.txt 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "npy, fvecs or jsonl" err.txt && pass "an unknown --output-format is refused" || fail "embed --output-format (exit $rc, $(cat err.txt))"
out_is_input "embed --out the --data file is refused" "(--data)" same.csv "$SHELF" embed --model m.shelf --data same.csv --out same.csv
out_is_input "embed --ids the model is refused" "(--model)" same.shelf "$SHELF" embed --model same.shelf --data test.csv --out e2.npy --ids same.shelf
expect_error "embed without a model file" 'missing.shelf' "$SHELF" embed --model missing.shelf --data test.csv
printf 'id,title,category\n1,zqxj vwkq,x\n2,"broken,x\n' > unknown.csv
expect_error "embed names a broken row" 'unknown.csv:3' "$SHELF" embed --model m.shelf --data unknown.csv --out u.npy
[ ! -e u.npy ] && [ ! -e u.npy.ids ] && pass "  and writes nothing" || fail "  a failed embed left files"
expect_ok "embed a text of no known word" "$SHELF" embed --model m.shelf --data unknown.csv --out u.npy --skip-bad
grep -q "1 products have no word the model knows: their vectors are zeros (the first at line 2)" err.txt && [ "$(wc -l < u.npy.ids)" -eq 1 ] && pass "  a zero vector, counted with its line" || fail "  unknown words ($(cat err.txt))"
echo old > old.npy
( trap '' XFSZ; ulimit -f 1; "$SHELF" embed --model m.shelf --data test.csv --out old.npy ) >/dev/null 2>err.txt; rc=$?
[ $rc -eq 1 ] && grep -q "old.npy: cannot write: File too large" err.txt && [ "$(cat old.npy)" = old ] && pass "embed on a full disk fails and keeps the old file" || fail "embed full disk (exit $rc, $(cat err.txt))"
expect_ok "embed with an image model" "$SHELF" embed --model img.shelf --data imgs/test.csv --out i.jsonl
[ "$(wc -l < i.jsonl)" -eq "$(($(wc -l < imgs/test.csv) - 1))" ] && pass "  every photo" || fail "  image embed rows"
expect_error "embed stops at a bad photo, naming it" 'bad.csv:2: img/truncated.jpg' "$SHELF" embed --model img.shelf --data imgs/bad.csv
expect_ok "embed --skip-bad leaves out bad photos" "$SHELF" embed --model both.shelf --data imgs/notitle.csv --skip-bad
[ "$(wc -l < out.txt)" -eq 3 ] && grep -q "skipped 1 products with a bad image" err.txt && pass "  the product with neither a known word nor a photo skipped and counted" || fail "  fused embed skip ($(cat err.txt))"
echo "similar products and near-duplicates (shelf index, similar, duplicates)"
expect_ok "index a catalog" "$SHELF" index --model m.shelf --data train.csv --out c.idx
grep -q "exact search, the catalog's labels" err.txt && pass "  exact below 50,000 products, the catalog's labels" || fail "  index note ($(cat err.txt))"
expect_ok "similar products of a catalog's products" "$SHELF" similar --index c.idx --model m.shelf --data test.csv --k 5
python3 - out.txt test.csv <<'EOF2' && pass "  one line per product, five neighbours best first, mostly of its category" || fail "  similar output ($(head -c 300 out.txt))"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[2])))
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [l["id"] for l in lines] == [r["id"] for r in rows]
same = 0
for l, r in zip(lines, rows):
    n = l["neighbours"]
    assert len(n) == 5 and all(a["score"] >= b["score"] for a, b in zip(n, n[1:])), n
    same += sum(x["label"] == r["category"] for x in n)
assert same >= 0.8 * 5 * len(rows), same
EOF2
expect_ok "similar to a product of the index by id" "$SHELF" similar --index c.idx --id p1 --k 3
python3 -c "
import json; d = json.loads(open('out.txt').read())
assert d['id'] == 'p1' and len(d['neighbours']) == 3 and all(n['id'] != 'p1' for n in d['neighbours']), d
" && pass "  three others" || fail "  similar --id ($(cat out.txt))"
expect_ok "an approximate index" "$SHELF" index --model m.shelf --data train.csv --out h.idx --index-type hnsw
"$SHELF" similar --index h.idx --model m.shelf --data test.csv --k 5 > approx.txt 2>err.txt
"$SHELF" similar --index c.idx --model m.shelf --data test.csv --k 5 > exact.txt 2>>err.txt
python3 - approx.txt exact.txt <<'EOF2' && pass "  finds what exact search finds" || fail "  approximate recall ($(cat err.txt))"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
e = [json.loads(l) for l in open(sys.argv[2])]
hit = sum(len({x["id"] for x in p["neighbours"]} & {x["id"] for x in q["neighbours"]}) for p, q in zip(a, e))
assert hit >= 0.95 * 5 * len(e), hit
EOF2
head -40 train.csv > dups.csv; tail -n +2 train.csv | head -5 | sed 's/^\([^,]*\),/d\1,/' >> dups.csv
tail -n +2 train.csv | sed -n 6p | sed 's/^\([^,]*\),\(.*\),[^,]*$/x\1,\2,Footwear > Sandals/' >> dups.csv
expect_ok "index with repeated listings" "$SHELF" index --model m.shelf --data dups.csv --out d.idx
expect_ok "duplicates" "$SHELF" duplicates --index d.idx --threshold 0.99
python3 - out.txt <<'EOF2' && pass "  the repeated listings grouped, the one filed elsewhere flagged" || fail "  duplicates ($(cat out.txt err.txt))"
import json, sys
groups = [json.loads(l) for l in open(sys.argv[1])]
pairs = [g for g in groups if any(i.startswith("d") or i.startswith("x") for i in g["ids"])]
assert len(pairs) >= 6, groups
assert any(g["labels_differ"] and any(i.startswith("x") for i in g["ids"]) for g in groups), groups
assert all(g["score"] >= 0.99 for g in groups)
EOF2
grep -q "groups of near-duplicates" err.txt && grep -q "under different labels" err.txt && pass "  and counted" || fail "  duplicates summary ($(cat err.txt))"
expect_error "an index built by another model is refused" 'built by another model' "$SHELF" similar --index c.idx --model depth1.shelf --data test.csv
expect_error "an id not in the index" 'no product of the index has this id' "$SHELF" similar --index c.idx --id nope
expect_error "k larger than the index" 'the index holds' "$SHELF" similar --index d.idx --model m.shelf --data test.csv --k 900
"$SHELF" similar --index c.idx --model m.shelf --data test.csv --k 0 >out.txt 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q -- "--k" err.txt && pass "k of 0 is refused" || fail "k 0 (exit $rc, $(cat err.txt))"
"$SHELF" similar --index c.idx --data test.csv >out.txt 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "needs --index, and --model with --data, or --id" err.txt && pass "similar --data without --model is refused" || fail "similar without model (exit $rc)"
head -c 300 c.idx > short.idx
expect_error "a damaged index is refused" 'short.idx: .*(damaged|checksum)' "$SHELF" duplicates --index short.idx
expect_error "a model file is not an index" 'not a shelf index' "$SHELF" duplicates --index m.shelf
"$SHELF" index --model m.shelf --data train.csv --out x.idx --index-type ivf >out.txt 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "auto, exact or hnsw" err.txt && pass "an unknown --index-type is refused" || fail "index-type (exit $rc)"
out_is_input "index --out the model is refused" "(--model)" same.shelf "$SHELF" index --model same.shelf --data test.csv --out same.shelf
echo "near-duplicates without a model (shelf duplicates --data)"
{ head -7 imgs/train.csv; echo "x1,PRODUCT 1,img/1.png,Apparel > Topwear > Red stripes"; } > imgs/d.csv
expect_ok "duplicates --data" "$SHELF" duplicates --data imgs/d.csv
python3 - out.txt <<'EOF2' && pass "  the listing copied under another label found and flagged" || fail "  duplicates --data ($(cat out.txt err.txt))"
import json, sys
groups = [json.loads(l) for l in open(sys.argv[1])]
assert len(groups) == 1 and sorted(groups[0]["ids"]) == ["1", "x1"] and groups[0]["labels_differ"], groups
EOF2
expect_error "duplicates --data stops at a bad photo, naming it" 'bad.csv:2: img/truncated.jpg' "$SHELF" duplicates --data imgs/bad.csv
expect_ok "duplicates --data --skip-bad counts them" "$SHELF" duplicates --data imgs/bad.csv --skip-bad
grep -q "photos could not be read and were left out" err.txt && pass "  counted" || fail "  skip-bad count ($(cat err.txt))"
"$SHELF" duplicates --data imgs/d.csv --index c.idx >out.txt 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "not both" err.txt && pass "duplicates with --data and --index is refused" || fail "duplicates both (exit $rc)"
echo "new labels without retraining (shelf labels add, shelf train --init)"
# two new leaves, one under a branch the model has; 8 examples each, and 40 of its own products
python3 - <<'EOF2'
import random
rnd = random.Random(5)
new = {"Home > Candles": "scented wax candle jar wick soy", "Toys > Kites": "kite string flying tail nylon"}
old = open("train.csv", encoding="utf-8").read().splitlines()
with open("newlabels.csv", "w", encoding="utf-8") as f, open("newtest.csv", "w", encoding="utf-8") as t:
    f.write(old[0] + "\n"); t.write(old[0] + "\n")
    f.write("\n".join(old[1:41]) + "\n")
    for i in range(24):
        label = sorted(new)[i % 2]
        w = new[label].split()
        title = "Brand%d %s %s size %d" % (rnd.randrange(9), rnd.choice(w), rnd.choice(w), rnd.randrange(5))
        (f if i < 16 else t).write('n%d,%s,"",%s\n' % (i, title, label))
EOF2
expect_ok "labels add" "$SHELF" labels add --model m.shelf --data newlabels.csv --out added.shelf
grep -q "added 2 labels from 16 products (40 of the model's labels beside them)" err.txt && pass "  counted" || fail "  labels add summary ($(cat err.txt))"
"$SHELF" eval --model added.shelf --data newtest.csv --json > new.json 2>/dev/null
"$SHELF" eval --model added.shelf --data test.csv --json > old.json 2>/dev/null
"$SHELF" eval --model m.shelf --data test.csv --json > before.json 2>/dev/null
python3 - new.json old.json before.json <<'EOF2' && pass "  the new labels are predicted, the old ones kept" || fail "  labels add accuracy ($(head -c 200 new.json))"
import json, sys
new, old, before = (json.load(open(p))["accuracy"] for p in sys.argv[1:])
assert new >= 0.75 and old >= before - 0.02, (new, old, before)
EOF2
"$SHELF" info --model added.shelf | grep -q "Toys > Kites" && pass "  and listed by shelf info" || fail "  info of added labels"
expect_ok "train --init continues a model with new labels" "$SHELF" train --init m.shelf --train newlabels.csv --out init.shelf --seed 3 --threads 1 --quiet
"$SHELF" eval --model init.shelf --data newtest.csv --json > new.json 2>/dev/null
"$SHELF" eval --model init.shelf --data test.csv --json > old.json 2>/dev/null
python3 - new.json old.json before.json <<'EOF2' && pass "  the new labels learned, the old ones kept" || fail "  --init accuracy ($(head -c 200 new.json) $(head -c 100 old.json))"
import json, sys
new, old, before = (json.load(open(p))["accuracy"] for p in sys.argv[1:])
assert new >= 0.75 and old >= before - 0.05, (new, old, before)
EOF2
"$SHELF" train --init m.shelf --train newlabels.csv --out init2.shelf --seed 3 --threads 1 --quiet 2>/dev/null
cmp -s init.shelf init2.shelf && pass "  the same bytes twice with --seed and one thread" || fail "  --init is not reproducible"
printf 'Home > Candles\nToys > Kites\n' > names.txt
head -41 newlabels.csv > contrast.csv
expect_ok "labels add by names alone" "$SHELF" labels add --model m.shelf --names names.txt --data contrast.csv --out named.shelf
grep -q "2 by name alone" err.txt && "$SHELF" info --model named.shelf | grep -q "Home > Candles" && pass "  added and counted" || fail "  --names ($(cat err.txt))"
printf 'Footwear > Sandals\n' > oldname.txt
expect_error "a name the model has is refused" "'Footwear > Sandals', given by name, is one the model has" "$SHELF" labels add --model m.shelf --names oldname.txt --data newlabels.csv --out x.shelf
expect_error "a missing names file" '--names nope.txt: cannot open' "$SHELF" labels add --model m.shelf --names nope.txt --data newlabels.csv --out x.shelf
head -41 newlabels.csv > oldonly.csv
expect_error "labels add without a new label" 'oldonly.csv: every label in it is one the model has' "$SHELF" labels add --model m.shelf --data oldonly.csv --out x.shelf
(head -1 newlabels.csv; tail -n 16 newlabels.csv) > newonly.csv
expect_error "labels add without the model's own products" "newonly.csv: all its products have new labels" "$SHELF" labels add --model m.shelf --data newonly.csv --out x.shelf
expect_error "labels add to an image model" 'text model only' "$SHELF" labels add --model img.shelf --data newlabels.csv --out x.shelf
expect_error "labels add to an ensemble" 'is an ensemble' "$SHELF" labels add --model ens.shelf --data newlabels.csv --out x.shelf
expect_error "train --init from an image model" '--init continues a sparse bag' "$SHELF" train --init img.shelf --train newlabels.csv --out x.shelf
expect_error "train --init from a missing file" '--init .*nope.shelf' "$SHELF" train --init nope.shelf --train newlabels.csv --out x.shelf
expect_error "train --init keeps the model's settings" "--init keeps the model's settings: --dim" "$SHELF" train --init m.shelf --train newlabels.csv --out x.shelf --dim 16
"$SHELF" train --train train.csv --out hier.shelf --hierarchy --quiet 2>/dev/null
expect_error "train --init splits labels as the model did" "splits label paths on ' > ', not '/'" "$SHELF" train --init hier.shelf --train newlabels.csv --out x.shelf --label-sep /
"$SHELF" train --init m.shelf --train newlabels.csv --valid valid.csv --out x.shelf --autotune-trials 2 >out.txt 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "does not continue one" err.txt && pass "train --init with --autotune is refused" || fail "--init --autotune (exit $rc, $(cat err.txt))"
"$SHELF" labels >out.txt 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "the one action is add" err.txt && pass "labels without an action says which there is" || fail "labels (exit $rc)"
"$SHELF" labels add --model m.shelf --data newlabels.csv >out.txt 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "are required" err.txt && pass "labels add without --out" || fail "labels add without --out (exit $rc)"
out_is_input "labels add --out the examples is refused" "(--data)" newlabels.csv "$SHELF" labels add --model m.shelf --data newlabels.csv --out newlabels.csv
echo "int8 models (shelf quantize, shelf train --quantize)"
expect_ok "quantize" "$SHELF" quantize --model m.shelf --out m8.shelf
grep -q "features kept" err.txt && pass "  it says what it kept" || fail "  quantize summary ($(cat err.txt))"
[ "$(stat -c %s m8.shelf)" -lt "$(stat -c %s m.shelf)" ] && pass "  the file is smaller" || fail "  int8 size $(stat -c %s m8.shelf) vs $(stat -c %s m.shelf)"
"$SHELF" info --model m8.shelf 2>&1 | grep -q "^quantized *int8" && pass "  info says int8" || fail "  info of the int8 model"
"$SHELF" predict --model m.shelf --data test.csv --output-format jsonl > pf.jsonl 2>/dev/null
expect_ok "  it predicts" "$SHELF" predict --model m8.shelf --data test.csv --output-format jsonl
python3 - pf.jsonl out.txt <<'EOF2' && pass "  the same labels as the float model, probabilities within 0.03" || fail "  int8 predictions ($(head -c 200 out.txt))"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 100
for x, y in zip(a, b):
    assert x["labels"][0] == y["labels"][0], (x, y)
    assert abs(x["probs"][0] - y["probs"][0]) < 0.03, (x, y)
EOF2
expect_ok "  it explains" "$SHELF" predict --model m8.shelf --data test.csv --explain
python3 - out.txt <<'EOF2' && pass "  token weights and bias still sum to the margin" || fail "  int8 explanations ($(head -c 300 out.txt))"
import json, sys
for l in open(sys.argv[1]):
    t = json.loads(l)["explanation"]["text"]
    s = t["bias"] + sum(x["weight"] for x in t["tokens"])
    assert t["method"] == "exact" and abs(s - t["margin"]) < 1e-4 * max(1, abs(t["margin"])) + 1e-5 * len(t["tokens"]), t
EOF2
expect_ok "  it evaluates" "$SHELF" eval --model m8.shelf --data test.csv --json
expect_ok "  it embeds" "$SHELF" embed --model m8.shelf --data test.csv --out m8.npy
expect_error "quantizing a quantized model says so" 'already quantized' "$SHELF" quantize --model m8.shelf --out x.shelf
expect_error "quantizing an image model without --calibrate says what it needs" 'calibrate' "$SHELF" quantize --model w16-ALL-1.shelf --out x.shelf
# width 16: oneDNN's int8 kernels where the CPU has AVX-512 VNNI, the float path elsewhere
expect_ok "quantize the CNN, calibrated on its training images" "$SHELF" quantize --model w16-ALL-1.shelf --out w16-8.shelf --calibrate imgs/train.csv --images 40
grep -q "calibrated on 40 images" err.txt && pass "  it says what it calibrated on" || fail "  CNN quantize summary ($(cat err.txt))"
[ "$(stat -c %s w16-8.shelf)" -lt "$(stat -c %s w16-ALL-1.shelf)" ] && pass "  the file is smaller" || fail "  CNN int8 size"
"$SHELF" info --model w16-8.shelf 2>&1 | grep -q "image CNN.*int8" && pass "  info says int8" || fail "  info of the int8 CNN"
"$SHELF" predict --model w16-ALL-1.shelf --data imgs/test.csv --output-format jsonl > pf.jsonl 2>/dev/null
expect_ok "  it predicts" "$SHELF" predict --model w16-8.shelf --data imgs/test.csv --output-format jsonl
python3 - pf.jsonl out.txt <<'EOF2' && pass "  nearly every label as the float model's" || fail "  int8 CNN predictions ($(head -c 200 out.txt))"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) > 0
same = sum(x["labels"][0] == y["labels"][0] for x, y in zip(a, b))
assert same >= 0.9 * len(a), (same, len(a))
EOF2
ONEDNN_MAX_CPU_ISA=AVX2 "$SHELF" predict --model w16-8.shelf --data imgs/test.csv --output-format jsonl > pa.jsonl 2>/dev/null
python3 - out.txt pa.jsonl <<'EOF2' && pass "  without AVX-512 (the float path on its codes) nearly the same labels" || fail "  int8 CNN on AVX2"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) > 0 and sum(x["labels"][0] == y["labels"][0] for x, y in zip(a, b)) >= 0.9 * len(a)
EOF2
expect_ok "  it evaluates" "$SHELF" eval --model w16-8.shelf --data imgs/test.csv --json
expect_ok "  it explains" "$SHELF" predict --model w16-8.shelf --data imgs/test.csv --explain
expect_ok "  it embeds" "$SHELF" embed --model w16-8.shelf --data imgs/test.csv --out w16-8.npy
expect_error "  quantizing it again says so" 'already quantized' "$SHELF" quantize --model w16-8.shelf --out x.shelf --calibrate imgs/train.csv
printf 'id,image,category\n1,nowhere.png,A\n' > nophoto.csv
expect_error "  calibration without one readable image is refused" 'no.*usable image.*nowhere.png' "$SHELF" quantize --model w16-ALL-1.shelf --out x.shelf --calibrate nophoto.csv
expect_ok "train --quantize of a CNN" "$SHELF" train --train imgs/train.csv --out tq8.shelf "${W16[@]}" --threads 2 --quantize
"$SHELF" info --model tq8.shelf 2>&1 | grep -q "image CNN.*int8" && pass "  an int8 CNN" || fail "  train --quantize CNN ($("$SHELF" info --model tq8.shelf 2>&1 | head -4))"
expect_error "labels add to an int8 model is refused" 'quantized \(int8\)' "$SHELF" labels add --model m8.shelf --data newlabels.csv --out x.shelf
expect_ok "quantize --cutoff" "$SHELF" quantize --model m.shelf --out m8c.shelf --cutoff 300
grep -q "300 of [0-9]* features kept" err.txt && pass "  300 features kept" || fail "  cutoff ($(cat err.txt))"
expect_ok "train --quantize --cutoff" "$SHELF" train --train train.csv --out tq.shelf --quantize --cutoff 500 --quiet
"$SHELF" info --model tq.shelf 2>&1 | grep -q "sparse linear 500 features" && pass "  an int8 model of 500 features" || fail "  train --quantize ($("$SHELF" info --model tq.shelf 2>&1 | head -8))"
"$SHELF" train --train train.csv --out x.shelf --cutoff 5 >out.txt 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "give --quantize" err.txt && pass "train --cutoff without --quantize is refused" || fail "--cutoff alone (exit $rc)"
"$SHELF" train --train train.csv --out x.shelf --quantize --dim 4 >out.txt 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "sparse bag" err.txt && pass "train --quantize of the bag with --dim is refused before training" || fail "--quantize --dim (exit $rc)"
expect_ok "train --quantize of a GRU" "$SHELF" train --train train.csv --out gq.shelf --quantize --text-encoder gru --dim 16 --max-tokens 12 --epochs 2 --threads 2 --quiet
"$SHELF" info --model gq.shelf 2>&1 | grep -q "^quantized *int8 embedding table" && pass "  its embedding table is int8" || fail "  GRU int8 info ($("$SHELF" info --model gq.shelf 2>&1 | head -9))"
expect_ok "  it predicts" "$SHELF" predict --model gq.shelf --data test.csv --output-format jsonl
expect_ok "  it explains" "$SHELF" predict --model gq.shelf --data test.csv --explain
expect_ok "  it embeds" "$SHELF" embed --model gq.shelf --data test.csv --out gq.npy
out_is_input "quantize --out the model is refused" "(--model)" m.shelf "$SHELF" quantize --model m.shelf --out m.shelf
echo "distributed prediction (mpirun -np N shelf predict)"
# Open MPI's own allocations are never freed: leaks are checked in the runs without mpirun
MPIRUN=(env ASAN_OPTIONS=detect_leaks=0 timeout 120 mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && MPIRUN+=(--allow-run-as-root)
python3 - <<'EOF2'
import csv, random
rnd = random.Random(3)
rows = list(csv.DictReader(open("test.csv", encoding="utf-8")))
with open("multi.csv", "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "title", "image", "category"])
    for i in range(300):  # titles over several lines, quotes, commas, a 5" screen
        r = rows[i % len(rows)]
        t = r["title"]
        t = t + '\n"second" line, 5" screen' if i % 3 == 0 else t
        w.writerow(["m%d" % i, t, "", r["category"]])
EOF2
"$SHELF" predict --model m.shelf --data multi.csv --out one.csv 2>/dev/null
for n in 2 3; do
  expect_ok "mpirun -np $n predict" "${MPIRUN[@]}" -np $n "$SHELF" predict --model m.shelf --data multi.csv --out n$n.csv --threads 1
  cmp -s one.csv n$n.csv && pass "  the same file, byte for byte, as one process writes" || fail "  -np $n output differs from one process's"
  ls multi.csv.part* n$n.csv.part* >/dev/null 2>&1 && fail "  part files left behind" || pass "  no part file left"
done
"$SHELF" predict --model m.shelf --data test.csv --out one.jsonl 2>/dev/null
expect_ok "mpirun -np 2 predict, JSONL" "${MPIRUN[@]}" -np 2 "$SHELF" predict --model m.shelf --data test.csv --out two.jsonl --threads 1
cmp -s one.jsonl two.jsonl && pass "  identical" || fail "  JSONL output differs"
{ cat multi.csv; echo 'x1,"a title whose quote never ends,,Home'; } > mbad.csv
echo "old" > keep.csv
"${MPIRUN[@]}" -np 2 "$SHELF" predict --model m.shelf --data mbad.csv --out keep.csv --threads 1 >out.txt 2>err.txt; rc=$?
[ $rc -ne 0 ] && grep -q "mbad.csv:$(($(wc -l < multi.csv) + 1)): unterminated quote" err.txt && [ "$(cat keep.csv)" = old ] \
  && pass "a bad row in the last rank's part stops the job naming FILE:LINE, the old --out kept" || fail "mpirun bad row (exit $rc, $(head -c 300 err.txt))"
"${MPIRUN[@]}" -np 2 "$SHELF" predict --model m.shelf --data test.csv >out.txt 2>err.txt; rc=$?
[ $rc -ne 0 ] && grep -q "one --out FILE" err.txt && pass "mpirun predict without --out is refused" || fail "mpirun without --out (exit $rc)"
"${MPIRUN[@]}" -np 2 "$SHELF" predict --model nope.shelf --data test.csv --out x.csv >out.txt 2>err.txt; rc=$?
[ $rc -ne 0 ] && grep -q "nope.shelf" err.txt && pass "mpirun predict of a missing model stops every rank" || fail "mpirun missing model (exit $rc)"
gzip -c test.csv > t.csv.gz
"${MPIRUN[@]}" -np 2 "$SHELF" predict --model m.shelf --data t.csv.gz --out x.csv >out.txt 2>err.txt; rc=$?
[ $rc -ne 0 ] && grep -q "cannot be read in parts: it is compressed" err.txt && pass "mpirun predict of gzip input says why not" || fail "mpirun gzip (exit $rc, $(head -c 200 err.txt))"
"${MPIRUN[@]}" -np 2 "$SHELF" eval --model m.shelf --data test.csv >out.txt 2>err.txt; rc=$?
[ $rc -ne 0 ] && grep -q "runs in one process" err.txt && pass "commands not spread over ranks refuse mpirun" || fail "mpirun eval (exit $rc)"
echo "distributed training (mpirun -np N shelf train)"
"$SHELF" train --train train.csv --valid valid.csv --out d1.shelf --threads 1 --seed 3 --quiet 2>/dev/null
expect_ok "mpirun -np 2 train" "${MPIRUN[@]}" -np 2 "$SHELF" train --train train.csv --valid valid.csv --out d2.shelf --threads 1 --seed 3
grep -q "trained on 500 products (all ranks)" err.txt && pass "  every rank's products counted" || fail "  distributed train summary ($(head -c 300 err.txt))"
[ "$("$SHELF" info --model d1.shelf | grep 'sparse linear')" = "$("$SHELF" info --model d2.shelf | grep 'sparse linear')" ] \
  && pass "  the same feature rows and labels as one process" || fail "  rows differ: $("$SHELF" info --model d2.shelf | grep 'sparse linear')"
a1=$("$SHELF" eval --model d1.shelf --data test.csv --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')
a2=$("$SHELF" eval --model d2.shelf --data test.csv --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')
python3 -c "import sys; sys.exit(0 if $a2 >= $a1 - 0.03 else 1)" && pass "  accuracy $a2 against one process's $a1" || fail "  distributed accuracy $a2 vs $a1"
{ cat train.csv; echo 'x1,"a title whose quote never ends,,Home'; } > tbad.csv
"${MPIRUN[@]}" -np 2 "$SHELF" train --train tbad.csv --out x.shelf --threads 1 >out.txt 2>err.txt; rc=$?
[ $rc -ne 0 ] && grep -q "tbad.csv:$(($(wc -l < train.csv) + 1)): unterminated quote" err.txt \
  && pass "a rank that cannot read its part stops the job with its FILE:LINE" || fail "mpirun train bad part (exit $rc, $(head -c 300 err.txt))"
"$SHELF" train --train imgs/train.csv --valid imgs/valid.csv --out ci1.shelf --modality image --image-size 16 --width 4 --batch 16 --epochs 4 --seed 2 --threads 1 --quiet 2>/dev/null
expect_ok "mpirun -np 2 train --modality image" "${MPIRUN[@]}" -np 2 "$SHELF" train --train imgs/train.csv --valid imgs/valid.csv --out ci2.shelf --modality image --image-size 16 --width 4 --batch 16 --epochs 4 --seed 2 --threads 1
grep -q "(all ranks)" err.txt && pass "  every rank's images counted" || fail "  distributed CNN summary ($(head -c 300 err.txt))"
c1=$("$SHELF" eval --model ci1.shelf --data imgs/test.csv --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')
c2=$("$SHELF" eval --model ci2.shelf --data imgs/test.csv --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')
python3 -c "import sys; sys.exit(0 if $c2 >= $c1 - 0.2 else 1)" && pass "  accuracy $c2 against one process's $c1 (a tiny, noisy set)" || fail "  distributed CNN accuracy $c2 vs $c1"
GD=(--train train.csv --valid valid.csv --text-encoder gru --dim 16 --max-tokens 12 --epochs 3 --batch 16 --seed 3 --threads 1 --quiet)
"$SHELF" train "${GD[@]}" --out g1.shelf 2>/dev/null
expect_ok "mpirun -np 2 train --text-encoder gru" "${MPIRUN[@]}" -np 2 "$SHELF" train "${GD[@]}" --out g2.shelf
[ "$("$SHELF" info --model g1.shelf | grep -i 'vocabulary\|words')" = "$("$SHELF" info --model g2.shelf | grep -i 'vocabulary\|words')" ] \
  && pass "  the vocabulary one process learns" || fail "  GRU vocabulary differs: $("$SHELF" info --model g2.shelf | grep -i 'words')"
g1=$("$SHELF" eval --model g1.shelf --data test.csv --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')
g2=$("$SHELF" eval --model g2.shelf --data test.csv --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')
python3 -c "import sys; sys.exit(0 if $g2 >= $g1 - 0.05 else 1)" && pass "  accuracy $g2 against one process's $g1" || fail "  distributed GRU accuracy $g2 vs $g1"
"${MPIRUN[@]}" -np 2 "$SHELF" train --train imgs/train.csv --out x.shelf --modality both --epochs 1 >out.txt 2>err.txt; rc=$?
[ $rc -ne 0 ] && grep -q "without --valid" err.txt && pass "mpirun train of a fused model without --valid says why not" || fail "mpirun fused (exit $rc, $(head -c 300 err.txt))"
FD=(--train imgs/train.csv --valid imgs/valid.csv --modality both --image-size 16 --width 4 --batch 16 --epochs 3 --seed 2 --threads 1 --quiet)
"$SHELF" train "${FD[@]}" --out fd1.shelf 2>/dev/null
expect_ok "mpirun -np 2 train --modality both" "${MPIRUN[@]}" -np 2 "$SHELF" train "${FD[@]}" --out fd2.shelf
f1=$("$SHELF" eval --model fd1.shelf --data imgs/test.csv --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')
f2=$("$SHELF" eval --model fd2.shelf --data imgs/test.csv --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')
python3 -c "import sys; sys.exit(0 if $f2 >= $f1 - 0.2 else 1)" && pass "  accuracy $f2 against one process's $f1 (a tiny, noisy set)" || fail "  distributed fused accuracy $f2 vs $f1"
head -4 train.csv > three.csv
"${MPIRUN[@]}" -np 5 "$SHELF" train --train three.csv --out x.shelf --threads 1 >out.txt 2>err.txt; rc=$?
[ $rc -ne 0 ] && grep -q "too few products for 5 ranks" err.txt && pass "more ranks than products say so" || fail "mpirun -np 5 (exit $rc, $(head -c 300 err.txt))"
"${MPIRUN[@]}" -np 2 "$SHELF" train --train train.csv --valid valid.csv --out x.shelf --autotune-trials 2 >out.txt 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "run in one process" err.txt && pass "mpirun train --autotune is refused" || fail "mpirun autotune (exit $rc)"
echo "checkpoints: a run killed mid-epoch and resumed (shelf train --checkpoint, --resume)"
python3 - <<'EOF2'
rows = open("train.csv", encoding="utf-8").read().splitlines()
with open("big.csv", "w", encoding="utf-8") as f:
    f.write(rows[0] + "\n")
    for r in range(60):  # 30,000 products: epochs long enough to be killed in
        for line in rows[1:]:
            f.write("r%d-%s\n" % (r, line))
EOF2
CK=(--train big.csv --valid valid.csv --threads 1 --seed 5 --epochs 8 --quiet)
"$SHELF" train "${CK[@]}" --out whole.shelf 2>/dev/null
rm -rf ckdir killed.shelf
"$SHELF" train "${CK[@]}" --out killed.shelf --checkpoint ckdir 2>/dev/null &
pid=$!
for _ in $(seq 600); do [ -f ckdir/checkpoint.shelf ] && break; sleep 0.1; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; rc=$?
[ -f ckdir/checkpoint.shelf ] && [ ! -f killed.shelf ] && [ $rc -ne 0 ] \
  && pass "killed with SIGKILL after its first checkpoint, before writing the model" || fail "kill (exit $rc, $(ls ckdir killed.shelf 2>&1))"
"$SHELF" info --model ckdir/checkpoint.shelf 2>/dev/null | grep -q "^checkpoint *after epoch" && pass "  the checkpoint is a model file that says where the run stood" || fail "  checkpoint info"
expect_ok "  --resume goes on" "$SHELF" train "${CK[@]}" --out killed.shelf --resume ckdir
cmp -s whole.shelf killed.shelf && pass "  and writes the model of the run never killed, byte for byte" || fail "  resumed model differs from the whole run's"
"$SHELF" train --train test.csv --valid valid.csv --threads 1 --seed 5 --epochs 8 --quiet --out x.shelf --resume ckdir >out.txt 2>err.txt; rc=$?
[ $rc -eq 1 ] && grep -q "another training catalog" err.txt && pass "--resume on another catalog is refused" || fail "resume other catalog (exit $rc, $(cat err.txt))"
mkdir -p notck && cp m.shelf notck/checkpoint.shelf
expect_error "--resume of a model that is not a checkpoint" "not a checkpoint" "$SHELF" train "${CK[@]}" --out x.shelf --resume notck
CI_OPTS=(--train imgs/train.csv --valid imgs/valid.csv --modality image --image-size 16 --width 4 --batch 16 --epochs 3 --seed 2 --threads 1 --quiet)
expect_ok "the CNN checkpoints too" "$SHELF" train "${CI_OPTS[@]}" --out cw.shelf --checkpoint ckimg
expect_ok "  and resumes from its last one" "$SHELF" train "${CI_OPTS[@]}" --out cr.shelf --resume ckimg
cmp -s cw.shelf cr.shelf && pass "  to the same model" || fail "  CNN resumed from its last checkpoint differs"
GK=(--train train.csv --valid valid.csv --text-encoder gru --dim 8 --max-tokens 8 --epochs 2 --seed 3 --threads 1 --quiet)
expect_ok "the GRU checkpoints too" "$SHELF" train "${GK[@]}" --out gw.shelf --checkpoint ckgru
expect_ok "  and resumes from its last one" "$SHELF" train "${GK[@]}" --out gr.shelf --resume ckgru
cmp -s gw.shelf gr.shelf && pass "  to the same model" || fail "  GRU resumed from its last checkpoint differs"
FK=(--train imgs/train.csv --valid imgs/valid.csv --modality both --image-size 16 --width 4 --batch 16 --epochs 3 --seed 2 --threads 1 --quiet)
expect_ok "a fused model checkpoints too" "$SHELF" train "${FK[@]}" --out fkw.shelf --checkpoint ckfused
expect_error "  its checkpoint (no fusion head yet) does not predict" "fusion head" "$SHELF" predict --model ckfused/checkpoint.shelf --data imgs/test.csv
expect_ok "  and resumes from its last one" "$SHELF" train "${FK[@]}" --out fkr.shelf --resume ckfused
cmp -s fkw.shelf fkr.shelf && pass "  to the same model" || fail "  fused model resumed from its last checkpoint differs"
expect_error "  a Transformer does not resume a GRU's checkpoint" "not of a Transformer" "$SHELF" train --train train.csv --valid valid.csv --text-encoder transformer --dim 8 --max-tokens 8 --epochs 2 --seed 3 --threads 1 --quiet --out x.shelf --resume ckgru
"$SHELF" train --train big.csv --out x.shelf --checkpoint ckdir --autotune-trials 2 --valid valid.csv >out.txt 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "not with --autotune or --init" err.txt && pass "--checkpoint with --autotune is refused" || fail "checkpoint autotune (exit $rc)"
if [ $fails -ne 0 ]; then echo "e2e: $fails failed"; exit 1; fi
echo "e2e: all passed"
