#!/usr/bin/python3
"""Distributed training and prediction under Open MPI (issue 20), called by bench/scale.sh.

Training: the bag of n-grams on --rows products (fashion's training titles repeated, new
ids), defaults: one process with --threads 1 and --threads 2, and `mpirun -np 1` and
`-np 2` with --threads 1 in each rank; products/s = rows / wall seconds of the command
(reading, vocabulary, epochs, writing); test accuracy on fashion's test split. The bytes the
ranks exchange: the labels and the vocabulary's counts once, then the parameters averaged
after every epoch. On paper, an epoch on 8 and 64 machines at 10 and 100 Gb/s: the measured
one-rank epoch's compute divided by the machines, plus the ring all-reduce of the
parameters, 2 (p - 1) / p times their bytes over the link.

Prediction:
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


def info_of(shelf, model):
    out = subprocess.run([shelf, "info", "--model", model, "--labels", "0"], capture_output=True,
                         text=True).stdout
    rows = labels = epochs = None
    for line in out.splitlines():
        if "sparse linear" in line:
            w = line.split()
            rows, labels = int(w[3]), int(w[6])
        if line.startswith("training"):
            epochs = int(line.split()[1])
    return rows, labels, epochs


def accuracy(shelf, model, data):
    p = subprocess.run([shelf, "eval", "--model", model, "--data", data, "--json"], capture_output=True,
                       text=True)
    return json.loads(p.stdout)["accuracy"]


def read_rows(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path, header, rows):
    """A CSV of header and rows (lists), as shelf reads it."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def titles_repeated(src, n):
    """n products: src's titles and categories over and over, ids r0, r1, ..."""
    return (["r%d" % i, src[i % len(src)]["title"], src[i % len(src)]["category"]] for i in range(n))


def images_absolute(src, d):
    """src's products with their image paths made absolute (the CSV is written elsewhere)."""
    return ([r["id"], os.path.abspath(os.path.join(d, r["image"])), r["category"]] for r in src)


def bench_training(a, shelf, d, tmp):
    big = write_csv(os.path.join(tmp, "train-big.csv"), ["id", "title", "category"],
                    titles_repeated(read_rows(os.path.join(d, "train.csv")), a.train_rows))
    test = os.path.join(d, "test.csv")
    runs = [("one process, --threads 1", [shelf, "train", "--threads", "1"]),
            ("one process, --threads 2", [shelf, "train", "--threads", "2"]),
            ("mpirun -np 1, --threads 1", mpirun() + ["-np", "1", shelf, "train", "--threads", "1"]),
            ("mpirun -np 2, --threads 1 each", mpirun() + ["-np", "2", shelf, "train", "--threads", "1"])]
    recs = []
    for name, cmd in runs:
        model = os.path.join(tmp, "t%d.shelf" % len(recs))
        secs = timed(cmd + ["--train", big, "--out", model, "--quiet"])
        nrows, labels, epochs = info_of(shelf, model)
        recs.append(dict(kind="train", run=name, rows=a.train_rows, seconds=round(secs, 2),
                         per_s=round(a.train_rows / secs), accuracy=accuracy(shelf, model, test),
                         feature_rows=nrows, labels=labels, epochs=epochs))
        os.remove(model)
    base = recs[2]
    md = ["# Distributed training (mpirun), the bag on %d products, fashion test split" % a.train_rows, "",
          "| run | wall s | products/s | vs mpirun -np 1 | test accuracy | vs mpirun -np 1 (points) |",
          "|---|---|---|---|---|---|"]
    for r in recs:
        r["vs_one_rank"] = round(r["per_s"] / base["per_s"], 3)
        md.append("| %s | %.1f | %d | %.2fx | %.4f | %+.2f |" % (r["run"], r["seconds"], r["per_s"], r["vs_one_rank"],
                                                              r["accuracy"], 100 * (r["accuracy"] - base["accuracy"])))
    params = base["feature_rows"] * base["labels"] + base["labels"]
    pbytes = params * 4
    once = 2000000 * 4 * 2  # the default 2,000,000 buckets: counts and word flags, u32 each
    epoch_compute = base["seconds"] / max(1, base["epochs"])  # an upper bound: the whole run per epoch
    md += ["", "Bytes exchanged by each rank: %.1f MB once (the vocabulary's counts), then %.1f MB of "
           "parameters (%d feature rows x %d labels, float) averaged after each of %d epochs." %
           (once / 1e6, pbytes / 1e6, base["feature_rows"], base["labels"], base["epochs"]), "",
           "On paper, one epoch (the one-rank run's %.1f s per epoch, all of it counted as compute, divided "
           "by the machines, plus a ring all-reduce of the parameters):" % epoch_compute, "",
           "| machines | 10 Gb/s | 100 Gb/s |", "|---|---|---|"]
    for p in (8, 64):
        cells = []
        for gbps in (10, 100):
            comm = 2 * (p - 1) / p * pbytes * 8 / (gbps * 1e9)
            cells.append("%.2f s (%.2f compute + %.3f all-reduce)" % (epoch_compute / p + comm, epoch_compute / p, comm))
        md.append("| %d | %s | %s |" % (p, cells[0], cells[1]))
    with open(os.path.join(a.out, "scale-train.jsonl"), "w") as jl:
        for r in recs:
            jl.write(json.dumps(r) + "\n")
    return md + ["", ""]


def bench_cnn(a, shelf, d, tmp):
    """The CNN on the first --cnn-images training images of fashion (paths made absolute),
    one epoch at the reference settings, one rank against two, --threads 1 each."""
    head = ["id", "image", "category"]
    sub = write_csv(os.path.join(tmp, "cnn-train.csv"), head,
                    images_absolute(read_rows(os.path.join(d, "train.csv"))[:a.cnn_images], d))
    test = write_csv(os.path.join(tmp, "cnn-test.csv"), head,
                     images_absolute(read_rows(os.path.join(d, "test.csv")), d))
    opts = ["--modality", "image", "--epochs", str(a.cnn_epochs), "--seed", "1", "--quiet"]
    runs = [("mpirun -np 1, --threads 1", mpirun() + ["-np", "1", shelf, "train", "--threads", "1"]),
            ("mpirun -np 2, --threads 1 each", mpirun() + ["-np", "2", shelf, "train", "--threads", "1"])]
    recs = []
    for name, cmd in runs:
        model = os.path.join(tmp, "c%d.shelf" % len(recs))
        secs = timed(cmd + ["--train", sub, "--out", model] + opts)
        recs.append(dict(kind="cnn", run=name, images=a.cnn_images, epochs=a.cnn_epochs, seconds=round(secs, 1),
                         per_s=round(a.cnn_images * a.cnn_epochs / secs, 1),
                         accuracy=accuracy(shelf, model, test)))
    base = recs[0]
    md = ["# Distributed training of the CNN (mpirun), fashion's first %d training images, %d epoch(s)" %
          (a.cnn_images, a.cnn_epochs), "",
          "| run | wall s | images/s (wall, everything included) | vs one rank | test accuracy | vs one rank (points) |",
          "|---|---|---|---|---|---|"]
    for r in recs:
        r["vs_one_rank"] = round(r["per_s"] / base["per_s"], 3)
        md.append("| %s | %.1f | %.1f | %.2fx | %.4f | %+.2f |" % (r["run"], r["seconds"], r["per_s"], r["vs_one_rank"],
                                                                r["accuracy"], 100 * (r["accuracy"] - base["accuracy"])))
    with open(os.path.join(a.out, "scale-cnn.jsonl"), "w") as jl:
        for r in recs:
            jl.write(json.dumps(r) + "\n")
    return md + ["", ""]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--shelf", default="./shelf")
    ap.add_argument("--rows", type=int, default=2000000)
    ap.add_argument("--train-rows", type=int, default=2000000)
    ap.add_argument("--cnn-images", type=int, default=6000)
    ap.add_argument("--cnn-epochs", type=int, default=1)
    ap.add_argument("--no-cnn", action="store_true")
    ap.add_argument("--cnn-only", action="store_true", help="only the CNN (for a full-length run)")
    ap.add_argument("--out", default="bench/out")
    ap.add_argument("--tmp", default=os.environ.get("TMPDIR", "/tmp"))
    a = ap.parse_args()
    shelf = os.path.abspath(a.shelf)
    tmp = tempfile.mkdtemp(prefix="shelf-scale-", dir=a.tmp)
    try:
        d = os.path.join(a.data, "fashion")
        if a.cnn_only:
            text = "\n".join(bench_cnn(a, shelf, d, tmp))
            with open(os.path.join(a.out, "scale-cnn.md"), "w") as f:
                f.write(text)
            print(text)
            return
        model = os.path.join(tmp, "m.shelf")
        subprocess.run([shelf, "train", "--train", os.path.join(d, "train.csv"), "--out", model,
                        "--threads", "2", "--quiet"], check=True, stderr=subprocess.DEVNULL)
        big = write_csv(os.path.join(tmp, "big.csv"), ["id", "title", "category"],
                        titles_repeated(read_rows(os.path.join(d, "test.csv")), a.rows))
        size_mb = os.path.getsize(big) / 1e6
        train_md = bench_training(a, shelf, d, tmp)
        if not a.no_cnn:
            train_md += bench_cnn(a, shelf, d, tmp)
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
        md = train_md + ["# Distributed prediction (mpirun), %d products (%.0f MB CSV), fashion bag model" % (a.rows, size_mb), "",
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
