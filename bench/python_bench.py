#!/usr/bin/python3
"""The Python package against the command line, predicting fashion's test split (issue 21).

  /usr/bin/python3 bench/python_bench.py [--model M] [--repeat R] [--runs N]

The model: shelf train on fashion's train split (--threads 2 --seed 1), or --model. The
products: the test split's titles, repeated R times (default 20: 71,480 products) so that
neither side is measured on its start alone. Both on 2 threads, N runs each (median),
alternating:
 * CLI: `shelf predict --model M --data test-R.csv --k 3 --output-format jsonl > /dev/null`,
   wall clock (process start, model load, CSV reading, JSON writing included).
 * Python: Model.load, then model.predict(titles=..., k=3) in one call, wall clock; the
   titles read from the CSV beforehand (as a notebook holds them), and separately with the
   CSV reading included.
Writes bench/out/python-results.md (also printed) and .jsonl."""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
os.environ.setdefault("SHELF_LIB", os.path.join(ROOT, "build", "rel", "libshelf.so.0"))
import shelf  # noqa: E402

SHELF = os.path.join(ROOT, "shelf")


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "fashion"))
    ap.add_argument("--model")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="shelf-python-")
    model = a.model or os.path.join(tmp, "m.shelf")
    if not a.model:
        subprocess.run([SHELF, "train", "--train", os.path.join(a.data, "train.csv"), "--out", model,
                        "--threads", "2", "--seed", "1", "--quiet"], check=True, capture_output=True)
    with open(os.path.join(a.data, "test.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    big = os.path.join(tmp, "test-big.csv")
    with open(big, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["id", "title", "category"])
        w.writeheader()
        for r in range(a.repeat):
            for x in rows:
                w.writerow({"id": "%s-%d" % (x["id"], r), "title": x["title"], "category": x["category"]})
    n = len(rows) * a.repeat
    cli, py, py_csv = [], [], []
    same = None
    for _ in range(a.runs):
        t = time.perf_counter()
        out = subprocess.run([SHELF, "predict", "--model", model, "--data", big, "--k", "3", "--threads", "2",
                              "--output-format", "jsonl"], check=True, capture_output=True, text=True).stdout
        cli.append(time.perf_counter() - t)
        t0 = time.perf_counter()
        with open(big, newline="", encoding="utf-8") as f:
            titles = [r["title"] for r in csv.DictReader(f)]
        t1 = time.perf_counter()
        m = shelf.Model.load(model)
        got = m.predict(titles=titles, k=3, threads=2)
        t2 = time.perf_counter()
        m.close()
        py.append(t2 - t1)
        py_csv.append(t2 - t0)
        if same is None:
            lines = out.splitlines()
            same = len(lines) == len(got) and all(
                json.loads(l)["labels"] == g["labels"] for l, g in zip(lines[:2000], got[:2000]))
    rec = dict(products=n, cli_s=median(cli), python_s=median(py), python_with_csv_s=median(py_csv),
               cli_per_s=n / median(cli), python_per_s=n / median(py),
               python_with_csv_per_s=n / median(py_csv), same_labels=same)
    with open(os.path.join(a.out, "python-results.jsonl"), "w") as f:
        f.write(json.dumps(rec) + "\n")
    md = "\n".join([
        "# The Python package against the command line (fashion's test split x%d, %d products, 2 threads, median of %d)" % (a.repeat, n, a.runs),
        "",
        "| run | s | products/s | vs the CLI |",
        "|---|---|---|---|",
        "| `shelf predict` (start, load, read CSV, write JSON lines) | %.3f | %.0f | 1.00x |" % (rec["cli_s"], rec["cli_per_s"]),
        "| Python: `Model.load` + one `predict` (titles in memory) | %.3f | %.0f | %.2fx |" % (rec["python_s"], rec["python_per_s"], rec["python_per_s"] / rec["cli_per_s"]),
        "| Python, reading the CSV with `csv` too | %.3f | %.0f | %.2fx |" % (rec["python_with_csv_s"], rec["python_with_csv_per_s"], rec["python_with_csv_per_s"] / rec["cli_per_s"]),
        "",
        "The first 2,000 products' labels identical: %s." % same, ""])
    with open(os.path.join(a.out, "python-results.md"), "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
