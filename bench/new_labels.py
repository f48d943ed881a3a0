"""New categories without retraining (issue 19, part of bench/embed.sh), on fashion:

ten leaf categories held out of training (chosen at random, seeded, among those with at
least 40 training and 10 test products), a model trained on the rest (train and valid
splits without them), then `shelf labels add` with 5 and 20 training products of each held-out
category, with 1,000 training products of the model's own categories beside them, and
`shelf train --init` on the same examples, and the labels added by their names alone
(`--names`, beside the 1,000), against a full retrain on every category. Accuracy on the test split's products of the new
categories and of the old ones, and the time of each step.

usage: /usr/bin/python3 bench/new_labels.py [--held-out N] [--seed S] [--text-encoder E]
"""
import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "fashion"))
OUT = os.path.join(ROOT, "bench", "out", "embed", "new-labels")
SHELF = os.path.join(ROOT, "shelf")
CONTRAST = 1000


def rows(split):
    with open(os.path.join(DATA, split + ".csv"), encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def write(path, rs):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rs[0].keys()))
        w.writeheader()
        w.writerows(rs)
    return path


def sh(cmd):
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), p.stderr[-2000:]))
    return time.time() - t0, p


def train(train_csv, valid_csv, out, encoder):
    t, _ = sh([SHELF, "train", "--train", train_csv, "--valid", valid_csv, "--out", out,
               "--threads", "2", "--seed", "1", "--quiet", "--text-encoder", encoder])
    return t


def accuracy(model, test_csv, new):
    """Accuracy on the products of the new categories and on the others: on the test split,
    and as valid_new / valid_old on the validation split, where settings are chosen."""
    pred = os.path.join(OUT, "predictions.csv")
    valid = {}
    if test_csv.endswith("test.csv"):
        valid = accuracy(model, os.path.join(DATA, "valid.csv"), new)
        valid = {"valid_new": valid["new"], "valid_old": valid["old"]}
    sh([SHELF, "eval", "--model", model, "--data", test_csv, "--predictions", pred,
        "--threads", "2"])
    right = {True: [0, 0], False: [0, 0]}
    with open(pred, encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            k = r["true"] in new
            right[k][0] += r["correct"] == "1"
            right[k][1] += 1
    return dict({"new": round(right[True][0] / right[True][1], 4),
                 "old": round(right[False][0] / right[False][1], 4)}, **valid)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--held-out", type=int, default=10)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--text-encoder", default="bag", help="bag, gru or transformer")
    a = ap.parse_args()
    global OUT
    OUT = os.path.join(OUT, a.text_encoder)
    os.makedirs(OUT, exist_ok=True)
    rnd = random.Random(a.seed)
    tr, va, te = rows("train"), rows("valid"), rows("test")
    count = lambda rs: {c: sum(r["category"] == c for r in rs) for c in {r["category"] for r in rs}}
    ntr, nte = count(tr), count(te)
    eligible = sorted(c for c in ntr if ntr[c] >= 40 and nte.get(c, 0) >= 10)
    new = set(rnd.sample(eligible, a.held_out))
    base_train = write(os.path.join(OUT, "train-old.csv"), [r for r in tr if r["category"] not in new])
    base_valid = write(os.path.join(OUT, "valid-old.csv"), [r for r in va if r["category"] not in new])
    test = os.path.join(DATA, "test.csv")
    base = os.path.join(OUT, "old.shelf")
    results = []
    emit = lambda r: (results.append(dict(r, encoder=a.text_encoder)),
                      print(json.dumps(results[-1]), flush=True))
    t_base = train(base_train, base_valid, base, a.text_encoder)
    emit(dict({"system": "trained without the new categories", "seconds": round(t_base, 1),
               "categories": sorted(new)}, **accuracy(base, test, new)))
    full = os.path.join(OUT, "full.shelf")
    t_full = train(os.path.join(DATA, "train.csv"), os.path.join(DATA, "valid.csv"), full,
                   a.text_encoder)
    emit(dict({"system": "full retrain", "seconds": round(t_full, 1)}, **accuracy(full, test, new)))
    old_rows = [r for r in tr if r["category"] not in new]
    def against(system, t, out, log=None):
        """A row: out's accuracies, beside the model before and the full retrain."""
        acc = accuracy(out, test, new)
        row = {"system": system, "seconds": round(t, 3),
               "share of retrain time": round(t / t_full, 4),
               "new / retrain's new": round(acc["new"] / results[1]["new"], 3),
               "old - retrain's old": round(100 * (acc["old"] - results[1]["old"]), 2),
               "old - before": round(100 * (acc["old"] - results[0]["old"]), 2)}
        if log:
            row["log"] = log.strip().splitlines()[-2]
        emit(dict(row, **acc))

    # by their names alone: the labels' words stand for their products
    names = os.path.join(OUT, "names.txt")
    with open(names, "w", encoding="utf-8") as f:
        f.write("".join(c + "\n" for c in sorted(new)))
    data = write(os.path.join(OUT, "contrast.csv"), rnd.sample(old_rows, CONTRAST))
    out = os.path.join(OUT, "named.shelf")
    t, p = sh([SHELF, "labels", "add", "--model", base, "--names", names, "--data", data, "--out", out])
    against("labels add, by name alone", t, out, p.stderr)
    for n in (5, 20):
        ex = []
        for c in sorted(new):
            ex += rnd.sample([r for r in tr if r["category"] == c], n)
        ex += rnd.sample(old_rows, CONTRAST)  # a sample of the model's own catalog
        data = write(os.path.join(OUT, "examples-%d.csv" % n), ex)
        out = os.path.join(OUT, "added-%d.shelf" % n)
        t, p = sh([SHELF, "labels", "add", "--model", base, "--data", data, "--out", out])
        against("labels add, %d examples each" % n, t, out, p.stderr)
        if a.text_encoder != "bag":  # --init continues the sparse bag only
            continue
        # the same examples, training continued from the model (its defaults: epochs by size)
        out = os.path.join(OUT, "init-%d.shelf" % n)
        t, _ = sh([SHELF, "train", "--init", base, "--train", data, "--out", out, "--threads", "2",
                   "--seed", "1", "--quiet"])
        against("train --init, %d examples each" % n, t, out)
    with open(os.path.join(OUT, "results.jsonl"), "w") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
