#!/usr/bin/python3
"""Distributed prediction under Open MPI (issue 20), called by bench/scale.sh.

A catalog of --rows products (fashion's test titles repeated, new ids), the fashion bag
model trained with defaults on the train split, and its predictions written with --out:
 * one process, --threads 1 and --threads 2 (`shelf predict`);
 * `mpirun -np 1` and `mpirun -np 2` ranks with --threads 1 each.
Products/s = rows / wall seconds, everything included (mpirun's start, each rank loading the
model, rank 0's split pass and joining the parts). Every output is compared byte for byte
with the one-process file. Writes OUT/scale-results.md (also printed) and .jsonl.
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPEATS = 3


def mpirun():
    cmd = ["mpirun", "--oversubscribe"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd


def timed(cmd):
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("bench/scale: %s failed: %s" % (" ".join(cmd), p.stderr.decode()[-500:]))
    return dt


def same(a, b):
    with open(a, "rb") as x, open(b, "rb") as y:
        while True:
            p, q = x.read(1 << 20), y.read(1 << 20)
            if p != q:
                return False
            if not p:
                return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--shelf", default="./shelf")
    ap.add_argument("--rows", type=int, default=2000000)
    ap.add_argument("--out", default="bench/out")
    ap.add_argument("--tmp", default=os.environ.get("TMPDIR", "/tmp"))
    a = ap.parse_args()
    shelf = os.path.abspath(a.shelf)
    tmp = tempfile.mkdtemp(prefix="shelf-scale-", dir=a.tmp)
    try:
        d = os.path.join(a.data, "fashion")
        model = os.path.join(tmp, "m.shelf")
        subprocess.run([shelf, "train", "--train", os.path.join(d, "train.csv"), "--out", model,
                        "--threads", "2", "--quiet"], check=True, stderr=subprocess.DEVNULL)
        rows = list(csv.DictReader(open(os.path.join(d, "test.csv"), encoding="utf-8", newline="")))
        big = os.path.join(tmp, "big.csv")
        with open(big, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "title", "category"])
            for i in range(a.rows):
                r = rows[i % len(rows)]
                w.writerow(["r%d" % i, r["title"], r["category"]])
        size_mb = os.path.getsize(big) / 1e6
        runs = [("one process, --threads 1", [shelf, "predict", "--threads", "1"]),
                ("one process, --threads 2", [shelf, "predict", "--threads", "2"]),
                ("mpirun -np 1, --threads 1", mpirun() + ["-np", "1", shelf, "predict", "--threads", "1"]),
                ("mpirun -np 2, --threads 1 each", mpirun() + ["-np", "2", shelf, "predict", "--threads", "1"])]
        ref = os.path.join(tmp, "ref.jsonl")
        recs = []
        for name, cmd in runs:
            out = os.path.join(tmp, "out-%d.jsonl" % len(recs))
            full = cmd + ["--model", model, "--data", big, "--out", out]
            secs = sorted(timed(full) for _ in range(REPEATS))
            if not recs:
                shutil.copy(out, ref)
            recs.append(dict(kind="predict", run=name, rows=a.rows, seconds=secs, median_s=secs[1],
                             per_s=round(a.rows / secs[1]), identical=same(ref, out)))
            os.remove(out)
        base = next(r for r in recs if r["run"].startswith("mpirun -np 1"))
        with open(os.path.join(a.out, "scale-results.jsonl"), "w") as jl:
            for r in recs:
                r["vs_one_rank"] = round(r["per_s"] / base["per_s"], 3)
                jl.write(json.dumps(r) + "\n")
        md = ["# Distributed prediction (mpirun), %d products (%.0f MB CSV), fashion bag model" % (a.rows, size_mb), "",
              "| run | median s (of %d) | products/s | vs mpirun -np 1 | output identical to one process's |" % REPEATS,
              "|---|---|---|---|---|"]
        for r in recs:
            md.append("| %s | %.2f | %d | %.2fx | %s |" % (r["run"], r["median_s"], r["per_s"], r["vs_one_rank"],
                                                        "yes" if r["identical"] else "NO"))
        text = "\n".join(md) + "\n"
        with open(os.path.join(a.out, "scale-results.md"), "w") as f:
            f.write(text)
        print(text)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
