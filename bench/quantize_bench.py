#!/usr/bin/python3
"""int8 and pruned models against fastText's quantized .ftz, on the five text datasets of
bench/text.sh, in one run, 2 threads. Called by bench/quantize.sh (see there for usage).

Per dataset:
 * shelf float: `shelf train --train T --valid V --out M --threads 2` (defaults).
 * shelf int8: `shelf quantize --model M --out M8` (every feature, int8 weights, the weights
   below 5% of their feature's largest left out).
 * shelf int8, 8x: the mildest of these that is at least 8 times smaller than the float
   model: int8 with every feature if it is; else the largest cutoff (rows/2, /4, ... /32) that
   is, among those within 0.2 point of the float model's validation accuracy (chosen on
   valid, never test; a validation split of 900 products moves by 0.11 point a product).
 * shelf int8 pruned: `shelf quantize --cutoff N`, N the smallest of rows/2, /4, ... /32
   within 0.2 point on valid: how far pruning goes.
 * fastText: tuned (as bench/text.sh: -epoch 25 -lr 0.5 -wordNgrams 2 -minn 2 -maxn 5
   -bucket 2000000), then `fasttext quantize -qnorm -retrain -cutoff 100000` (its .ftz).
Test accuracy (shelf eval; for fastText, its predictions scored as bench/text.sh does),
model file size, and prediction throughput (the test split repeated to --predict-rows
products, model loading included, output to /dev/null).
Writes OUT/quantize-results.md (also printed) and OUT/quantize-results.jsonl.

The CNN (--cnn, or --cnn-only), on fashion's photos:
 * shelf float: `shelf train --modality image --threads 2 --seed 1` on train, with valid
   (or --cnn-model, a model trained so before, to save the half hour).
 * shelf int8: `shelf quantize --calibrate train.csv` (512 training images), each
   activation's scale from the largest value seen (the default) and with --clip-mse (the
   clip that least distorts it); the one kept is the better on valid, never test.
Test accuracy, and the network's images/s as `shelf eval --threads 2` tells it (decoded
images through the network and the head, the median of --cnn-repeats runs, float and int8
alternating); also `shelf predict`'s wall-clock images/s, decoding included. Writes
OUT/quantize-cnn.md and .jsonl.
"""
import argparse
import csv
import json
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import text_bench as tb  # noqa: E402

FT_CUTOFF = "100000"
CUTOFF_FRACTIONS = (2, 4, 8, 16, 32)
VALID_SLACK = 0.002  # a pruned model may lose this much validation accuracy


def shelf_eval(run, shelf, tag, model, data):
    e = run.timed(tag, [shelf, "eval", "--model", model, "--data", data, "--json"])
    if not e["ok"]:
        return None
    j = json.loads(e["stdout"])
    return dict(accuracy=j["accuracy"], macro_f1=j.get("macro_f1"), weighted_f1=j.get("weighted_f1"))


def shelf_speed(run, shelf, tag, model, big, n_big):
    p = run.timed(tag, [shelf, "predict", "--model", model, "--data", big, "--threads", tb.THREADS],
                  stdout_path=os.devnull)
    return dict(predict_per_s=round(n_big / max(p["wall_s"], 0.01), 1), predict_rss_mb=p["rss_mb"]) if p["ok"] else {}


def shelf_record(run, a, name, label, model, te, big, n_big):
    r = dict(system=label, model_mb=tb.mb(model))
    r.update(shelf_eval(run, a.shelf, name + "-" + label + "-eval", model, te) or {"error": "eval failed"})
    r.update(shelf_speed(run, a.shelf, name + "-" + label + "-predict", model, big, n_big))
    return r


def rows_of(info):
    for line in info.splitlines():
        if "sparse linear" in line:
            return int(line.split("sparse linear")[1].split()[0])
    return None


def bench_dataset(run, a, name, emit):
    d = os.path.join(a.data, name)
    cjk = tb.is_cjk(name)
    print("== %s" % name, file=sys.stderr, flush=True)
    tmp = tempfile.mkdtemp(prefix="shelf-quantize-%s-" % name, dir=a.tmp)
    try:
        trp, vap, tep = (tb.split_path(d, s) for s in ("train", "valid", "test"))
        tr, te = tb.load(trp), tb.load(tep)
        gold = [tb.ft_label(c) for _, c in te]
        n_test = len(te)
        big = os.path.join(tmp, "test-big" + os.path.splitext(tep)[1])
        n_big = tb.repeat_body(tep, big, a.predict_rows, n_test)
        recs = []
        model = os.path.join(tmp, "float.shelf")
        t = run.timed(name + "-shelf-train", [a.shelf, "train", "--train", trp, "--valid", vap, "--out", model,
                                              "--threads", tb.THREADS])
        if not t["ok"]:
            emit(dict(kind="error", dataset=name, error="shelf train failed: " + t["stderr_tail"]))
            return []
        recs.append(shelf_record(run, a, name, "shelf float", model, tep, big, n_big))
        m8 = os.path.join(tmp, "int8.shelf")
        q = run.timed(name + "-shelf-quantize", [a.shelf, "quantize", "--model", model, "--out", m8])
        if q["ok"]:
            rec = shelf_record(run, a, name, "shelf int8", m8, tep, big, n_big)
            rec["quantize_s"] = q["wall_s"]
            recs.append(rec)
        # the cutoff, on the validation split
        info = run.timed(name + "-shelf-info", [a.shelf, "info", "--model", model, "--labels", "0"])
        rows = rows_of(info["stdout"]) if info["ok"] else None
        base = shelf_eval(run, a.shelf, name + "-float-valid", model, vap)
        chosen = None
        tried = []  # (cutoff, path, valid accuracy or None, MB)
        for f in CUTOFF_FRACTIONS if rows and base else ():
            n = rows // f
            mp = os.path.join(tmp, "pruned-%d.shelf" % n)
            qc = run.timed(name + "-shelf-quantize-%d" % n,
                           [a.shelf, "quantize", "--model", model, "--out", mp, "--cutoff", str(n)])
            v = shelf_eval(run, a.shelf, name + "-pruned-valid-%d" % n, mp, vap) if qc["ok"] else None
            emit(dict(kind="cutoff", dataset=name, cutoff=n, rows=rows, valid_accuracy=v and v["accuracy"],
                      float_valid_accuracy=base["accuracy"], mb=tb.mb(mp)))
            tried.append((n, mp, v and v["accuracy"], tb.mb(mp)))
            if v and v["accuracy"] >= base["accuracy"] - VALID_SLACK:
                chosen = (n, mp)  # the smallest that passes: noise can fail a larger one
        # the mildest model at least 8x smaller than the float one
        target = (tb.mb(model) or 0) / 8
        eight = None
        if q["ok"] and tb.mb(m8) <= target:
            eight = (0, m8)
        else:
            small = [t for t in tried if t[3] <= target]
            good = [t for t in small if t[2] is not None and t[2] >= base["accuracy"] - VALID_SLACK]
            pick = max(good or small, key=lambda t: t[0], default=None)
            eight = pick and (pick[0], pick[1])
        if eight:
            rec = shelf_record(run, a, name, "shelf int8, 8x", eight[1], tep, big, n_big)
            rec["cutoff"] = eight[0]
            recs.append(rec)
        if chosen:
            rec = shelf_record(run, a, name, "shelf int8 pruned", chosen[1], tep, big, n_big)
            rec["cutoff"] = chosen[0]
            recs.append(rec)
        # fastText tuned, then its quantized .ftz
        ptr = os.path.join(tmp, "tr.txt")
        with open(ptr, "w", encoding="utf-8") as f:
            for tx, c in tr:
                f.write(tb.ft_label(c) + " " + tb.ft_text(tx, cjk) + "\n")
        pte = os.path.join(tmp, "te.plain")
        plain = [tb.ft_text(tx, cjk) + "\n" for tx, _ in te]
        with open(pte, "w", encoding="utf-8") as f:
            f.writelines(plain)
        big_plain = os.path.join(tmp, "te-big.plain")
        with open(big_plain, "w", encoding="utf-8") as f:
            for _ in range(n_big // n_test):
                f.writelines(plain)
        ftm = os.path.join(tmp, "ft")
        t = run.timed(name + "-ft-train", ["fasttext", "supervised", "-input", ptr, "-output", ftm,
                                           "-thread", tb.THREADS] + tb.FT_TUNED, stdout_path=os.devnull)
        for label, ext, extra in (("fastText tuned", ".bin", None),
                                  ("fastText tuned .ftz", ".ftz",
                                   ["-qnorm", "-retrain", "-cutoff", FT_CUTOFF])):
            if not t["ok"]:
                break
            if extra:
                qz = run.timed(name + "-ft-quantize", ["fasttext", "quantize", "-input", ptr, "-output", ftm,
                                                       "-thread", tb.THREADS] + tb.FT_TUNED[:4] + extra,
                               stdout_path=os.devnull)
                if not qz["ok"]:
                    recs.append(dict(system=label, error="quantize failed: " + qz["stderr_tail"]))
                    break
            rec = dict(system=label, model_mb=tb.mb(ftm + ext))
            out = os.path.join(tmp, "ft-pred.txt")
            p = run.timed(name + "-" + label + "-predict", ["fasttext", "predict", ftm + ext, pte], stdout_path=out)
            if p["ok"]:
                pred = [l.strip() for l in open(out, encoding="utf-8").read().split("\n")[:n_test]]
                pred += [""] * (n_test - len(pred))
                rec.update(tb.metrics(gold, pred))
            b = run.timed(name + "-" + label + "-predict-big", ["fasttext", "predict", ftm + ext, big_plain],
                          stdout_path=os.devnull)
            if b["ok"]:
                rec.update(predict_per_s=round(n_big / max(b["wall_s"], 0.01), 1), predict_rss_mb=b["rss_mb"])
            recs.append(rec)
        for r in recs:
            r.update(dataset=name, n_test=n_test)
            emit(dict(kind="system", **r))
        return recs
    finally:
        if not a.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def cnn_eval(run, a, tag, model, data):
    """Accuracy and the network's images/s (shelf eval tells it) of an image model."""
    e = run.timed(tag, [a.shelf, "eval", "--model", model, "--data", data, "--json", "--threads", tb.THREADS])
    if not e["ok"]:
        return None
    j = json.loads(e["stdout"])
    m = re.search(r"\(([\d.]+) images/s\)", open(os.path.join(run.logdir, tag + ".log")).read().split("$ ")[-1])
    return dict(accuracy=j["accuracy"], macro_f1=j.get("macro_f1"), net_per_s=float(m.group(1)) if m else None)


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


def bench_cnn(run, a, emit):
    d = os.path.join(a.data, "fashion")
    trp, vap, tep = (os.path.join(d, s + ".csv") for s in ("train", "valid", "test"))
    print("== fashion CNN", file=sys.stderr, flush=True)
    tmp = tempfile.mkdtemp(prefix="shelf-quantize-cnn-", dir=a.tmp)
    try:
        model = a.cnn_model or os.path.join(tmp, "cnn.shelf")
        if not a.cnn_model:
            t = run.timed("cnn-train", [a.shelf, "train", "--train", trp, "--valid", vap, "--out", model,
                                        "--modality", "image", "--threads", tb.THREADS, "--seed", "1", "--quiet"])
            if not t["ok"]:
                emit(dict(kind="error", dataset="fashion-cnn", error="train failed: " + t["stderr_tail"]))
                return []
        variants = {}
        for label, extra in (("int8", []), ("int8, --clip-mse", ["--clip-mse"])):
            out = os.path.join(tmp, "cnn-%d.shelf" % len(variants))
            q = run.timed("cnn-quantize-%d" % len(variants),
                          [a.shelf, "quantize", "--model", model, "--out", out, "--calibrate", trp,
                           "--threads", tb.THREADS] + extra)
            if q["ok"]:
                v = cnn_eval(run, a, "cnn-valid-%d" % len(variants), out, vap)
                variants[label] = dict(path=out, valid=v and v["accuracy"], quantize_s=q["wall_s"])
        fv = cnn_eval(run, a, "cnn-valid-float", model, vap)
        chosen = max(variants, key=lambda k: variants[k]["valid"] or 0, default=None)
        emit(dict(kind="cnn-valid", float_valid=fv and fv["accuracy"],
                  **{k: v["valid"] for k, v in variants.items()}, chosen=chosen))
        systems = [("shelf float", model)] + ([("shelf " + chosen, variants[chosen]["path"])] if chosen else [])
        recs = {name: dict(system=name, model_mb=tb.mb(path), rates=[], wall_rates=[]) for name, path in systems}
        big = os.path.join(tmp, "test-big.csv")
        with open(tep, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        with open(big, "w", encoding="utf-8", newline="") as f:  # images made absolute
            w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            w.writeheader()
            for _ in range(4):
                for r in rows:
                    w.writerow(dict(r, image=os.path.abspath(os.path.join(d, r["image"]))))
        n_big = 4 * len(rows)
        for rep in range(a.cnn_repeats):
            for name, path in systems:
                e = cnn_eval(run, a, "cnn-test-%s-%d" % (name.replace(" ", "_").replace(",", ""), rep), path, tep)
                if e:
                    recs[name].update(accuracy=e["accuracy"], macro_f1=e["macro_f1"])
                    recs[name]["rates"].append(e["net_per_s"])
                p = run.timed("cnn-predict-%s-%d" % (name.replace(" ", "_").replace(",", ""), rep),
                              [a.shelf, "predict", "--model", path, "--data", big, "--threads", tb.THREADS],
                              stdout_path=os.devnull)
                if p["ok"]:
                    recs[name]["wall_rates"].append(n_big / max(p["wall_s"], 0.01))
        out = []
        for name, _ in systems:
            r = recs[name]
            r.update(net_per_s=median(r.pop("rates")), predict_per_s=median(r.pop("wall_rates")))
            if name != "shelf float":
                r.update(quantize_s=variants[chosen]["quantize_s"])
            emit(dict(kind="cnn", **r))
            out.append(r)
        return out
    finally:
        if not a.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def report_cnn(recs, valid):
    fl = recs[0] if recs else {}
    lines = ["# The CNN in int8 against float (fashion, 2 threads)", "",
             "Validation accuracy: float %s; %s; kept: %s." % (
                 fmt(valid.get("float_valid"), "%.4f"),
                 ", ".join("%s %s" % (k, fmt(v, "%.4f")) for k, v in valid.items()
                           if k not in ("kind", "float_valid", "chosen")),
                 valid.get("chosen")), "",
             "| system | test accuracy | vs float (points) | model MB | network images/s | vs float | "
             "predict images/s (decoding included) | vs float |",
             "|---|---|---|---|---|---|---|---|"]
    for r in recs:
        def ratio(k):
            return "%.2fx" % (r[k] / fl[k]) if r.get(k) and fl.get(k) else ""
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["system"], fmt(r.get("accuracy"), "%.4f"),
            "%+.2f" % (100 * (r["accuracy"] - fl["accuracy"])) if r.get("accuracy") is not None and
            fl.get("accuracy") is not None else "",
            fmt(r.get("model_mb"), "%.2f"), fmt(r.get("net_per_s"), "%.0f"), ratio("net_per_s"),
            fmt(r.get("predict_per_s"), "%.0f"), ratio("predict_per_s")))
    return "\n".join(lines) + "\n"


def fmt(v, spec):
    return "" if v is None else spec % v


def report(results):
    lines = ["# int8 and pruned models against fastText's .ftz", "",
             "| dataset | system | test accuracy | macro-F1 | model MB | size vs float | "
             "accuracy vs float (points) | predict/s | vs .ftz: size, accuracy (points) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, recs in results:
        by = {r["system"]: r for r in recs}
        fl, ftz = by.get("shelf float", {}), by.get("fastText tuned .ftz", {})
        for r in recs:
            vs_float = vs_ftz = ""
            if r["system"].startswith("shelf") and fl.get("model_mb") and r.get("model_mb"):
                vs_float = "1/%.1f" % (fl["model_mb"] / r["model_mb"])
            acc_float = ""
            if r["system"].startswith("shelf") and fl.get("accuracy") is not None and r.get("accuracy") is not None:
                acc_float = "%+.2f" % (100 * (r["accuracy"] - fl["accuracy"]))
            if r["system"].startswith("shelf") and ftz.get("model_mb") and r.get("model_mb") and \
                    ftz.get("accuracy") is not None and r.get("accuracy") is not None:
                vs_ftz = "%.2fx, %+.2f" % (r["model_mb"] / ftz["model_mb"], 100 * (r["accuracy"] - ftz["accuracy"]))
            label = r["system"] + (" (cutoff %d)" % r["cutoff"] if r.get("cutoff") else "")
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                name, label, fmt(r.get("accuracy"), "%.4f"), fmt(r.get("macro_f1"), "%.4f"),
                fmt(r.get("model_mb"), "%.2f"), vs_float, acc_float, fmt(r.get("predict_per_s"), "%.0f"),
                vs_ftz if r["system"].startswith("shelf") else (r.get("error") or "")))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--shelf", default="./shelf")
    ap.add_argument("--out", default="bench/out")
    ap.add_argument("--tmp", default=os.environ.get("TMPDIR", "/tmp"))
    ap.add_argument("--predict-rows", type=int, default=50000)
    ap.add_argument("--keep-tmp", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--cnn", action="store_true", help="also the CNN's int8 inference on fashion")
    ap.add_argument("--cnn-only", action="store_true", help="only the CNN")
    ap.add_argument("--cnn-model", help="a float fashion CNN trained before (else trained here)")
    ap.add_argument("--cnn-repeats", type=int, default=3)
    ap.add_argument("datasets", nargs="*", default=tb.DATASETS)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    run = tb.Runner(os.path.join(a.out, "logs"), a.verbose)
    if a.cnn or a.cnn_only:
        cl = open(os.path.join(a.out, "quantize-cnn.jsonl"), "w")
        seen = {}

        def emit_cnn(r):
            cl.write(json.dumps(r) + "\n")
            cl.flush()
            if r.get("kind") == "cnn-valid":
                seen.update(r)
        md = report_cnn(bench_cnn(run, a, emit_cnn), seen)
        with open(os.path.join(a.out, "quantize-cnn.md"), "w") as f:
            f.write(md)
        print(md)
        if a.cnn_only:
            return
    jl = open(os.path.join(a.out, "quantize-results.jsonl"), "w")

    def emit(r):
        jl.write(json.dumps(r) + "\n")
        jl.flush()

    results = [(n, bench_dataset(run, a, n, emit)) for n in a.datasets]
    md = report(results)
    with open(os.path.join(a.out, "quantize-results.md"), "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
