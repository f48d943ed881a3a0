#!/usr/bin/env bash
# Class balance on the five text datasets (issue 18): shelf's bag of n-grams trained with
# --balance none, weight and adjust (the logit adjustment, its strength fitted on the
# validation split), test accuracy and macro-F1 of each, beside the best peer's figures from
# ../shared/peers/RESULTS.md (scikit-learn TF-IDF + LinearSVC, measured on the same splits).
#   bash bench/balance.sh [DATASET...]
set -euo pipefail
cd "$(dirname "$0")/.."
make -s shelf
exec /usr/bin/python3 - "$@" <<'PY'
import json, os, subprocess, sys, time

DATA = os.path.normpath(os.path.join("..", "shared", "data"))
OUT = os.path.join("bench", "out", "balance")
PEER = {  # best peer per dataset: accuracy, macro-F1 (../shared/peers/RESULTS.md)
    "flipkart-9k": (0.8705, 0.5647), "amazon-uk-toys-9k": (0.7402, 0.4421),
    "fashion": (0.9703, 0.8729), "zh-online-shopping-10cats": (0.9040, 0.8943),
    "zh-jd-suning-13k": (0.9916, 0.9812)}
os.makedirs(OUT, exist_ok=True)

def split(name, part):
    for ext in ("csv", "tsv"):
        p = os.path.join(DATA, name, "%s.%s" % (part, ext))
        if os.path.exists(p):
            return p
    sys.exit("no %s split in %s" % (part, name))

names = sys.argv[1:] or list(PEER)
print("| dataset | balance | accuracy | macro-F1 | vs best peer (acc / macro-F1) | train s | tau |")
print("|---|---|---|---|---|---|---|")
for name in names:
    for bal in ("none", "weight", "adjust"):
        model = os.path.join(OUT, "%s-%s.shelf" % (name, bal))
        t0 = time.time()
        subprocess.run(["./shelf", "train", "--train", split(name, "train"), "--valid",
                        split(name, "valid"), "--out", model, "--threads", "2", "--seed", "1",
                        "--balance", bal, "--quiet"], check=True, stderr=subprocess.DEVNULL)
        secs = time.time() - t0
        ev = subprocess.run(["./shelf", "eval", "--model", model, "--data", split(name, "test"),
                             "--json"], check=True, capture_output=True, text=True)
        r = json.loads(ev.stdout)
        info = subprocess.run(["./shelf", "info", "--model", model], check=True,
                              capture_output=True, text=True).stdout
        tau = next((l.split("less ")[1].split(" ")[0] for l in info.splitlines()
                    if l.startswith("balance")), "-")
        pa, pf = PEER[name]
        print("| %s | %s | %.4f | %.4f | %+.4f / %+.4f | %.1f | %s |" % (
            name, bal, r["accuracy"], r["macro_f1"], r["accuracy"] - pa, r["macro_f1"] - pf,
            secs, tau), flush=True)
PY
