#!/usr/bin/python3
"""Two builds of shelf side by side, for a change that must not move accuracy or speed (a
redesign): the same jobs run alternately with each (base, new, new, base, ...), so that both
see the same machine, and the report gives each figure's median and new / base.

    bench/ab.py --base OLD_SHELF --new NEW_SHELF [--reps 2] [--only text,image,serve]
                [--datasets flipkart-9k,...] [--serve-seconds 20]

text    the five text datasets: `shelf train --train --valid --threads 2` (wall seconds),
        `shelf predict --threads 2` over the test split repeated to 50,000 products
        (products/s), test accuracy from `shelf eval --json`; and, with --threads 1 --seed 1,
        whether both builds' predictions are byte-identical.
image   bench/image.sh's 2-epoch job (the first 8,000 fashion training images, the reference
        CNN at 64x64, width 32, batch 64): training and inference images/s, test accuracy.
serve   bench/serve.sh against models trained once by the base build (files both read):
        requests/s of text and fused single-product requests.

Results: bench/out/ab-results.md (also printed) and bench/out/ab-results.json.
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import image_bench  # noqa: E402  (its subset and settings: the same job as bench/image.sh)

DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
OUT = os.path.join(ROOT, "bench", "out")
TEXT_SETS = ["flipkart-9k", "amazon-uk-toys-9k", "fashion", "zh-online-shopping-10cats",
             "zh-jd-suning-13k"]
PREDICT_ROWS = 50000


def timed(cmd, env=None):
    """(stdout, stderr, wall seconds, peak RSS MB); exits on failure."""
    t0 = time.time()
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=env)
    wall = time.time() - t0
    if p.returncode:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), p.stderr[-3000:]))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
    return p.stdout, p.stderr, wall, rss


def split(d, name):
    for ext in ("tsv", "csv"):
        p = os.path.join(DATA, d, "%s.%s" % (name, ext))
        if os.path.exists(p):
            return p
    sys.exit("no %s split in %s" % (name, d))


def repeated(test, tmp):
    """The test split repeated to at least PREDICT_ROWS products (one header)."""
    with open(test, encoding="utf-8") as f:
        header, rows = f.readline(), f.readlines()
    if test.endswith(".csv"):  # quoted fields may span lines: repeat the file's body whole
        body = "".join(rows)
        n = max(1, PREDICT_ROWS // max(1, len(rows)))
        out = os.path.join(tmp, "repeated.csv")
        with open(out, "w", encoding="utf-8") as f:
            f.write(header + body * n)
        return out
    out = os.path.join(tmp, "repeated.tsv")
    with open(out, "w", encoding="utf-8") as f:
        f.write(header)
        for i in range(max(1, PREDICT_ROWS // len(rows))):
            f.writelines(rows)
    return out


def order(reps):
    """base/new alternating, the first of each pair swapped every repetition."""
    for r in range(reps):
        yield from (("base", "new") if r % 2 == 0 else ("new", "base"))


def text_job(bins, d, reps, tmp):
    tr, va, te = split(d, "train"), split(d, "valid"), split(d, "test")
    rep = repeated(te, tmp)
    with open(rep, encoding="utf-8") as f:
        nrep = sum(1 for _ in f) - 1
    runs = {"base": [], "new": []}
    for b in order(reps):
        model = os.path.join(tmp, "%s-%s.shelf" % (d, b))
        _, _, twall, trss = timed([bins[b], "train", "--train", tr, "--valid", va, "--out", model,
                                   "--threads", "2", "--quiet"])
        out, _, _, _ = timed([bins[b], "eval", "--model", model, "--data", te, "--json"])
        _, _, pwall, prss = timed([bins[b], "predict", "--model", model, "--data", rep,
                                   "--threads", "2", "--out", os.path.join(tmp, "p.jsonl")])
        runs[b].append({"train_s": twall, "predict_per_s": nrep / pwall,
                        "accuracy": json.loads(out)["accuracy"], "train_mb": trss,
                        "predict_mb": prss})
    preds = {}
    for b in ("base", "new"):  # one thread, one seed: the same model, byte for byte
        model = os.path.join(tmp, "%s-%s-seed.shelf" % (d, b))
        timed([bins[b], "train", "--train", tr, "--valid", va, "--out", model, "--threads", "1",
               "--seed", "1", "--quiet"])
        preds[b], _, _, _ = timed([bins[b], "predict", "--model", model, "--data", te, "--k", "5"])
    return {"job": "text " + d, "runs": runs, "identical": preds["base"] == preds["new"]}


def image_job(bins, reps):
    d = image_bench.subset(8000)
    runs = {"base": [], "new": []}
    for b in order(reps):
        image_bench.SHELF = bins[b]
        r = image_bench.run_shelf(2, 8000)
        runs[b].append({"train_img_per_s": r["train_img_per_s"],
                        "infer_img_per_s": r["infer_img_per_s"], "accuracy": r["accuracy"],
                        "wall_s": r["wall_s"], "peak_mb": r["peak_mb"]})
    del d
    return {"job": "image 2-epoch", "runs": runs}


def serve_job(bins, reps, seconds):
    text_model = os.path.join(OUT, "ab-serve-text.shelf")
    fused_model = os.path.join(OUT, "ab-serve-fused.shelf")
    fashion = os.path.join(DATA, "fashion")
    if not os.path.exists(text_model):
        timed([bins["base"], "train", "--train", os.path.join(fashion, "train.csv"), "--valid",
               os.path.join(fashion, "valid.csv"), "--out", text_model, "--quiet"])
    runs = {"base": [], "new": []}
    for b in order(reps):
        env = dict(os.environ, SHELF_BIN=bins[b])
        args = ["bash", os.path.join(ROOT, "bench", "serve.sh"), "--seconds", str(seconds),
                "--no-reload", "--text", text_model]
        if os.path.exists(fused_model):
            args += ["--fused", fused_model]
        p = subprocess.run(args, capture_output=True, text=True, env=env)
        if p.returncode:
            sys.exit("serve.sh failed:\n" + p.stderr[-3000:])
        rec = {}
        for line in p.stderr.splitlines():
            m = re.match(r"(.*?): RESULT .*?rps=([\d.]+)", line)
            if m:  # "text, single product: RESULT rps=..."
                rec[m.group(1).split(",")[0] + "_rps"] = float(m.group(2))
        runs[b].append(rec)
        if not os.path.exists(fused_model):  # serve.sh trained its stand-in: keep it for both
            made = [f for f in os.listdir(OUT) if f.startswith("serve-fused-")]
            if made:
                shutil.copy(os.path.join(OUT, sorted(made)[0]), fused_model)
    return {"job": "serve", "runs": runs}


def medians(runs):
    keys = sorted({k for r in runs for k in r})
    return {k: statistics.median(r[k] for r in runs if k in r) for k in keys}


def report(results):
    lines = ["| job | figure | base | new | new / base |", "|---|---|---|---|---|"]
    for res in results:
        mb, mn = medians(res["runs"]["base"]), medians(res["runs"]["new"])
        for k in mb:
            if k in mn:
                ratio = mn[k] / mb[k] if mb[k] else float("nan")
                lines.append("| %s | %s | %.4g | %.4g | %.3f |" % (res["job"], k, mb[k], mn[k], ratio))
        if "identical" in res:
            lines.append("| %s | --threads 1 --seed 1 predictions | | | %s |" % (
                res["job"], "identical" if res["identical"] else "DIFFER"))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--only", default="text,image,serve")
    ap.add_argument("--datasets", default=",".join(TEXT_SETS))
    ap.add_argument("--serve-seconds", type=int, default=20)
    a = ap.parse_args()
    bins = {"base": os.path.abspath(a.base), "new": os.path.abspath(a.new)}
    os.makedirs(OUT, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        jobs = a.only.split(",")
        if "text" in jobs:
            for d in a.datasets.split(","):
                results.append(text_job(bins, d, a.reps, tmp))
                print(report(results[-1:]), flush=True)
        if "image" in jobs:
            results.append(image_job(bins, a.reps))
            print(report(results[-1:]), flush=True)
        if "serve" in jobs:
            results.append(serve_job(bins, a.reps, a.serve_seconds))
            print(report(results[-1:]), flush=True)
    table = report(results)
    with open(os.path.join(OUT, "ab-results.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(OUT, "ab-results.json"), "w") as f:
        json.dump({"base": bins["base"], "new": bins["new"], "results": results}, f, indent=1)
    print("\n" + table)


if __name__ == "__main__":
    main()
