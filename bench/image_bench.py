#!/usr/bin/python3
"""Runs shelf and the PyTorch peer on the same image job and prints their ratios (see image.sh)."""
import csv, json, os, re, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "fashion"))
PEER = os.path.normpath(os.path.join(ROOT, "..", "shared", "peers", "baseline_cnn.py"))
OUT = os.path.join(ROOT, "bench", "out")
SHELF = os.path.join(ROOT, "shelf")
THREADS = "2"
SETTINGS = ["--image-size", "64", "--width", "32", "--batch", "64", "--optimizer", "adamw",
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


def run_peer(epochs, limit):
    cmd = ["/usr/bin/python3", PEER, DATA, "--epochs", str(epochs), "--threads", THREADS]
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
                                  "--quiet"] + SETTINGS)
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
    if not os.path.exists(exe):
        return None
    out = subprocess.run([exe], capture_output=True, text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


# PyTorch's 8-epoch run on the full split, from ../shared/peers/RESULTS.md (40 minutes to
# repeat: --with-peer does).
PEER_FULL = {"wall_s": 40 * 60, "peak_mb": float("nan"), "train_img_per_s": 115.0,
             "infer_img_per_s": 272.0, "accuracy": 0.8489, "macro_f1": 0.5127}


def compare(name, epochs, limit, peer=None):
    peer = peer or run_peer(epochs, limit)
    shelf = run_shelf(epochs, limit)
    res = {"job": name, "shelf": shelf, "pytorch": peer,
           "ratios": {"wall (lower is better)": shelf["wall_s"] / peer["wall_s"],
                      "peak memory (lower is better)": shelf["peak_mb"] / peer["peak_mb"],
                      "train images/s": shelf["train_img_per_s"] / peer["train_img_per_s"],
                      "inference images/s": shelf["infer_img_per_s"] / peer["infer_img_per_s"]},
           "accuracy_gap_points": 100 * (shelf["accuracy"] - peer["accuracy"])}
    with open(os.path.join(OUT, "image-%s.json" % name), "w") as f:
        json.dump(res, f, indent=1)
    print("\n## %s" % name)
    print("| system | wall s | peak MB | train img/s | inference img/s | accuracy | macro-F1 |")
    print("|---|---|---|---|---|---|---|")
    for sysname, r in [("shelf", shelf), ("PyTorch", peer)]:
        print("| %s | %.1f | %.0f | %.1f | %.1f | %.4f | %.4f |" % (
            sysname, r["wall_s"], r["peak_mb"], r["train_img_per_s"], r["infer_img_per_s"],
            r["accuracy"], r["macro_f1"]))
    print("| shelf / PyTorch | %.2f | %.2f | %.2f | %.2f | %+.2f pt | |" % (
        res["ratios"]["wall (lower is better)"], res["ratios"]["peak memory (lower is better)"],
        res["ratios"]["train images/s"], res["ratios"]["inference images/s"],
        res["accuracy_gap_points"]))
    sys.stdout.flush()


def main():
    os.makedirs(OUT, exist_ok=True)
    g = gflops()
    if g:
        print("convolutions:", json.dumps(g))
    compare("2ep-8000", 2, 8000)
    if "--full" in sys.argv:
        compare("8ep-full", 8, 0, None if "--with-peer" in sys.argv else PEER_FULL)


if __name__ == "__main__":
    main()
