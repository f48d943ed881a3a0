#!/usr/bin/python3
"""Runs shelf and the PyTorch peer on the same image job and prints their ratios (see image.sh).

The two alternate (PyTorch, shelf, PyTorch, shelf, ...) --rounds times (3 by default), and each
ratio is the median of the rounds' ratios, so that one slow or fast run of either does not
decide the verdict."""
import argparse, csv, json, os, re, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "fashion"))
PEER = os.path.normpath(os.path.join(ROOT, "..", "shared", "peers", "baseline_cnn.py"))
OUT = os.path.join(ROOT, "bench", "out")
SHELF = os.path.join(ROOT, "shelf")
THREADS = "2"
WIDTH = "32"  # --width


def settings():
    return ["--image-size", "64", "--width", WIDTH, "--batch", "64", "--optimizer", "adamw",
            "--lr", "0.002", "--weight-decay", "0.0005", "--schedule", "onecycle",
            "--augment", "flip", "--threads", THREADS]


def timed(cmd):
    """Runs cmd under GNU time: (stdout, stderr, wall seconds, peak RSS in MB)."""
    t0 = time.time()
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    wall = time.time() - t0
    if p.returncode:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), p.stderr[-3000:]))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
    return p.stdout, p.stderr, wall, rss


def subset(limit):
    """A training file with the first `limit` rows of fashion's, beside links to its images."""
    d = os.path.join(OUT, "fashion-%d" % limit if limit else "fashion-full")
    os.makedirs(d, exist_ok=True)
    for name in ["images", "test.csv"]:
        link = os.path.join(d, name)
        if not os.path.lexists(link):
            os.symlink(os.path.join(DATA, name), link)
    with open(os.path.join(DATA, "train.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    rows = rows[:limit + 1] if limit else rows
    with open(os.path.join(d, "train.csv"), "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return d


def need_peer():
    """PyTorch and numpy, from Debian's python3-torch and python3-numpy."""
    probe = subprocess.run(["/usr/bin/python3", "-c", "import numpy, torch"], capture_output=True)
    if probe.returncode:
        sys.exit("bench/image.sh: the PyTorch peer needs python3-torch and python3-numpy: "
                 "bash scripts/install-deps.sh --bench")


def run_peer(epochs, limit):
    need_peer()
    cmd = ["/usr/bin/python3", PEER, DATA, "--epochs", str(epochs), "--threads", THREADS,
           "--width", WIDTH]
    if limit:
        cmd += ["--limit", str(limit)]
    out, _, wall, rss = timed(cmd)
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    epochs_ = [l for l in lines if "epoch" in l]
    final = [l for l in lines if "test_accuracy" in l][0]
    rates = sorted(l["train_img_per_s"] for l in epochs_)
    return {"wall_s": wall, "peak_mb": rss, "train_img_per_s": rates[len(rates) // 2],
            "infer_img_per_s": final["infer_img_per_s"], "accuracy": final["test_accuracy"],
            "macro_f1": final["macro_f1"]}


def run_shelf(epochs, limit):
    d = subset(limit)
    model = os.path.join(OUT, "image-%s.model" % (limit or "full"))
    _, terr, twall, trss = timed([SHELF, "train", "--train", os.path.join(d, "train.csv"),
                                  "--out", model, "--modality", "image", "--epochs", str(epochs),
                                  "--quiet"] + settings())
    train_rate = float(re.search(r"([\d.]+) training images/s", terr).group(1))  # train tells it
    out, eerr, ewall, erss = timed([SHELF, "eval", "--model", model, "--data",
                                    os.path.join(d, "test.csv"), "--json", "--threads", THREADS])
    ev = json.loads(out)
    infer_rate = float(re.search(r"\(([\d.]+) images/s\)", eerr).group(1))
    return {"wall_s": twall + ewall, "train_wall_s": twall, "eval_wall_s": ewall,
            "peak_mb": max(trss, erss), "train_img_per_s": train_rate,
            "infer_img_per_s": infer_rate, "accuracy": ev["accuracy"], "macro_f1": ev["macro_f1"]}


def gflops():
    """GFLOP/s of the convolutions against sgemm, from bench/conv_speed (built by make)."""
    exe = os.path.join(ROOT, "build", "bench", "conv_speed")
    if subprocess.run(["make", "-s", "-C", ROOT, "build/bench/conv_speed"]).returncode:
        return None
    out = subprocess.run([exe], capture_output=True, text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


# PyTorch's 8-epoch run on the full split, from ../shared/peers/RESULTS.md (40 minutes to
# repeat: --with-peer does).
PEER_FULL = {"wall_s": 40 * 60, "peak_mb": float("nan"), "train_img_per_s": 115.0,
             "infer_img_per_s": 272.0, "accuracy": 0.8489, "macro_f1": 0.5127}


RATIOS = [("wall (lower is better)", "wall_s"), ("peak memory (lower is better)", "peak_mb"),
          ("train images/s", "train_img_per_s"), ("inference images/s", "infer_img_per_s")]


def compare(name, epochs, limit, rounds, peer=None):
    """rounds alternations of the peer and shelf (or shelf alone against fixed peer figures);
    the medians of the ratios."""
    runs = []
    for r in range(rounds):
        p = peer or run_peer(epochs, limit)
        sh = run_shelf(epochs, limit)
        runs.append({"shelf": sh, "pytorch": p,
                     "ratios": {k: sh[f] / p[f] for k, f in RATIOS},
                     "accuracy_gap_points": 100 * (sh["accuracy"] - p["accuracy"])})
        print("round %d: %s" % (r + 1, json.dumps({k: round(v, 3) for k, v in
                                                   runs[-1]["ratios"].items()})), flush=True)
    med = {k: statistics.median(run["ratios"][k] for run in runs) for k, _ in RATIOS}
    res = {"job": name, "width": WIDTH, "rounds": runs, "median_ratios": med}
    with open(os.path.join(OUT, "image-%s-w%s.json" % (name, WIDTH)), "w") as f:
        json.dump(res, f, indent=1)
    print("\n## %s, width %s, %d round%s" % (name, WIDTH, rounds, "s" * (rounds > 1)))
    print("| round | system | wall s | peak MB | train img/s | inference img/s | accuracy | macro-F1 |")
    print("|---|---|---|---|---|---|---|---|")
    for i, run in enumerate(runs):
        for sysname in ["shelf", "pytorch"]:
            r = run[sysname]
            print("| %d | %s | %.1f | %.0f | %.1f | %.1f | %.4f | %.4f |" % (
                i + 1, "shelf" if sysname == "shelf" else "PyTorch", r["wall_s"], r["peak_mb"],
                r["train_img_per_s"], r["infer_img_per_s"], r["accuracy"], r["macro_f1"]))
    print("| **median of the rounds' ratios** | **shelf / PyTorch** | **%.2f** | **%.2f** | "
          "**%.2f** | **%.2f** | %+.2f pt | |" % (
              med["wall (lower is better)"], med["peak memory (lower is better)"],
              med["train images/s"], med["inference images/s"],
              statistics.median(run["accuracy_gap_points"] for run in runs)))
    sys.stdout.flush()


def epochs_check(limit=2600):
    """Issue 15: the default number of epochs on a small photo catalog (the first `limit`
    training images, validation on fashion's valid split) against 8 (the old default) and
    15 epochs; test accuracy of each, and shelf's training time."""
    d = subset(limit)
    valid = os.path.join(DATA, "valid.csv")
    rows = []
    for epochs in [None, 8, 15]:
        model = os.path.join(OUT, "image-%d-%s.model" % (limit, epochs or "default"))
        cmd = [SHELF, "train", "--train", os.path.join(d, "train.csv"), "--valid", valid,
               "--out", model, "--modality", "image", "--quiet"] + settings()
        if epochs:
            cmd += ["--epochs", str(epochs)]
        _, _, twall, _ = timed(cmd)
        info, _, _, _ = timed([SHELF, "info", "--model", model])
        ran = re.search(r"(\d+) of (\d+) epochs", info)
        out, _, _, _ = timed([SHELF, "eval", "--model", model, "--data",
                              os.path.join(d, "test.csv"), "--json", "--threads", THREADS])
        ev = json.loads(out)
        rows.append((epochs or "default", ran.group(2) if ran else "?",
                     ran.group(1) if ran else "?", twall, ev["accuracy"], ev["macro_f1"]))
    print("\n## default epochs, first %d training images, width %s" % (limit, WIDTH))
    print("| --epochs | epochs planned | best epoch (kept) | train s | test accuracy | macro-F1 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %s | %s | %.1f | %.4f | %.4f |" % (r[0], r[1], r[2], r[3], r[4], r[5]))
    with open(os.path.join(OUT, "image-epochs-%d.json" % limit), "w") as f:
        json.dump(rows, f)


def main():
    global WIDTH
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--with-peer", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--width", default="32")
    ap.add_argument("--epochs-check", action="store_true",
                    help="only the default epochs on 2,600 images against 8 and 15")
    args = ap.parse_args()
    WIDTH = args.width
    os.makedirs(OUT, exist_ok=True)
    if args.epochs_check:
        return epochs_check()
    g = gflops()
    if g:
        print("convolutions:", json.dumps(g))
    compare("2ep-8000", 2, 8000, args.rounds)
    if args.full:
        compare("8ep-full", 8, 0, 1, None if args.with_peer else PEER_FULL)


if __name__ == "__main__":
    main()
