#!/usr/bin/python3
"""shelf's text benchmark: shelf side by side with fastText (and optionally scikit-learn)
on the shared datasets, in one run, 2 threads each. Called by bench/text.sh (see there
for usage); can be run directly:

  /usr/bin/python3 bench/text_bench.py [--data DIR] [--shelf BIN] [--no-scale] [--scale-only]
        [--scale-rows N] [--scale-curve] [--sklearn] [--predict-rows N] [--out DIR] [DATASET ...]

For every dataset (train/valid/test .tsv or .csv in DATA/DATASET) it measures, per system:
test accuracy, macro-F1, weighted-F1, training wall seconds, training peak memory (max RSS),
prediction throughput (products/s), prediction peak memory and model size on disk.
 * shelf, defaults: `shelf train --train T --valid V --out M --threads 2`,
   `shelf eval --model M --data test --json` (metrics), `shelf predict --model M --data ... --threads 2`
   (fastText's predict is single-threaded whatever -thread says).
 * fastText 0.9.2 (Debian's /usr/bin/fasttext), default and tuned
   (-epoch 25 -lr 0.5 -wordNgrams 2 -minn 2 -maxn 5 -bucket 2000000), -thread 2, on text
   prepared exactly like ../shared/peers/baseline_text.py (lowercase, regex tokens, CJK
   characters spaced out for the zh-* datasets); metrics with sklearn.metrics like the peer.
 * with --sklearn: the peer's TF-IDF (word 1-2 + char_wb 2-5) + LinearSVC pipeline.
Wall time and max RSS come from `/usr/bin/time -f '%M %e'`.

Prediction throughput: both systems predict the test split once (for the metrics check) and
then the test split repeated to at least --predict-rows products (default 50,000), written
to a temp file, output to /dev/null; products/s = rows / wall seconds of that run, model
loading included (what a batch job sees). `steady/s` subtracts the fixed cost using the two
runs: (rows - n_test) / (wall_big - wall_test).

The scale run (unless --no-scale): a catalog of --scale-rows rows (default 2,000,000) made by
repeating the fashion training titles with new ids ("r{rep}-{id}"), written to a temp dir,
trained with shelf (defaults, --threads 2, no --valid) and fastText tuned (-thread 2);
with --scale-curve, shelf also at 1/8, 1/4 and 1/2 of the rows (250k, 500k, 1M by default).

Output: a markdown report on stdout and in OUT/text-results.md, raw JSON lines in
OUT/text-results.jsonl, logs of every command in OUT/logs/. OUT defaults to bench/out.
Dataset files are read in place; temporaries go to a fresh directory under $TMPDIR (/tmp),
removed at the end (keep it with --keep-tmp).
"""
import argparse
import csv
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

csv.field_size_limit(1 << 30)

DATASETS = ["flipkart-9k", "amazon-uk-toys-9k", "fashion", "zh-online-shopping-10cats", "zh-jd-suning-13k"]

# Best peer figures (accuracy, macro-F1) from ../shared/peers/RESULTS.md (measured 2026-11-28;
# the best of fastText default/tuned/autotune and scikit-learn, each column separately).
BEST_PEER = {
    "flipkart-9k": (0.8705, 0.5647),
    "amazon-uk-toys-9k": (0.7402, 0.4421),
    "fashion": (0.9703, 0.8729),
    "zh-online-shopping-10cats": (0.9040, 0.8943),
    "zh-jd-suning-13k": (0.9916, 0.9812),
}
# scikit-learn TF-IDF+LinearSVC figures from RESULTS.md (accuracy, macro-F1, weighted-F1, train s),
# quoted in the report when --sklearn is not given.
PEER_SKLEARN = {
    "flipkart-9k": (0.8705, 0.5647, 0.8568, 24.1),
    "amazon-uk-toys-9k": (0.7402, 0.4421, 0.7180, 9.3),
    "fashion": (0.9703, 0.8729, 0.9692, 24.4),
    "zh-online-shopping-10cats": (0.9040, 0.8943, 0.9041, 15.5),
    "zh-jd-suning-13k": (0.9916, 0.9784, 0.9915, 2.6),
}

FT_TUNED = ["-epoch", "25", "-lr", "0.5", "-wordNgrams", "2", "-minn", "2", "-maxn", "5", "-bucket", "2000000"]
THREADS = "2"

GOALS = {"train": 0.5, "predict": 1.0, "memory": 1.0}


# ---------------------------------------------------------------- data, as the peer reads it
def split_path(d, name):
    for ext in (".tsv", ".csv"):
        p = os.path.join(d, name + ext)
        if os.path.exists(p):
            return p
    raise FileNotFoundError("no %s.tsv or %s.csv in %s" % (name, name, d))


def load(path):
    """(text, category) pairs exactly like baseline_text.py: title + " " + description."""
    tsv = path.endswith(".tsv")
    with open(path, encoding="utf-8", newline="") as f:
        rd = csv.DictReader(f, delimiter="\t" if tsv else ",",
                            quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
        return [((r.get("title") or "") + " " + (r.get("description") or ""), r["category"]) for r in rd]


def ft_text(t, cjk):
    t = t.lower()
    if cjk:  # fastText needs spaces: one token per CJK character
        t = re.sub(r"([\u3000-\u9fff\uff00-\uffef])", r" \1 ", t)
    return " ".join(re.findall(r"\w+|[^\w\s]", t)).replace("\r", " ")


def ft_label(c):
    return "__label__" + c.replace(" ", "_")


def is_cjk(name):
    return name.startswith("zh-")


# ---------------------------------------------------------------- running things
class Runner:
    def __init__(self, logdir, verbose):
        self.logdir = logdir
        self.verbose = verbose
        os.makedirs(logdir, exist_ok=True)

    def timed(self, tag, cmd, stdout_path=None):
        """Runs cmd under /usr/bin/time; returns dict(ok, rc, wall_s, rss_mb, stderr_tail, stdout)."""
        tfile = os.path.join(self.logdir, ".time")
        log = os.path.join(self.logdir, tag + ".log")
        if self.verbose:
            print("  $ " + " ".join(cmd) + (" > " + stdout_path if stdout_path else ""), file=sys.stderr, flush=True)
        out_f = open(stdout_path, "wb") if stdout_path else subprocess.PIPE
        try:
            p = subprocess.run(["/usr/bin/time", "-f", "%M %e", "-o", tfile] + cmd,
                               stdout=out_f, stderr=subprocess.PIPE)
        finally:
            if stdout_path:
                out_f.close()
        stdout = b"" if stdout_path else p.stdout
        with open(log, "ab") as f:
            f.write(("$ %s%s\n" % (" ".join(cmd), " > " + stdout_path if stdout_path else "")).encode())
            f.write(b"--- stderr\n" + p.stderr)
            if stdout and len(stdout) < 200000:
                f.write(b"--- stdout\n" + stdout)
            f.write(b"--- rc %d\n\n" % p.returncode)
        rss_mb = wall = None
        try:
            last = open(tfile).read().strip().split("\n")[-1].split()
            rss_mb, wall = int(last[0]) / 1024.0, float(last[1])
        except Exception:
            pass
        lines = [l.strip() for l in re.split(r"[\r\n]+", p.stderr.decode("utf-8", "replace")) if l.strip()]
        lines = [l for l in lines if not l.startswith(("Command exited with", "Command terminated by"))]
        tail = [l[:200] for l in lines[-5:]]
        if p.returncode < 0:
            why = "killed by signal %d" % -p.returncode
        elif p.returncode > 128 and not tail:
            why = "exit %d, probably signal %d" % (p.returncode, p.returncode - 128)
        else:
            why = "exit %d" % p.returncode
        if p.returncode != 0:  # the last stderr line first: it is what the report's table shows
            tail = ["(%s) %s" % (why, tail[-1] if tail else "")] + tail[-4:-1]
        r = dict(ok=p.returncode == 0, rc=p.returncode, wall_s=wall, rss_mb=rss_mb,
                 stderr_tail="\n".join(tail), stdout=stdout.decode("utf-8", "replace"),
                 stderr=p.stderr.decode("utf-8", "replace"))
        if not r["ok"]:
            print("  ! %s failed; log: %s\n    %s" % (tag, log, "\n    ".join(tail)),
                  file=sys.stderr, flush=True)
        return r


def metrics(gold, pred):
    from sklearn.metrics import accuracy_score, f1_score
    return dict(accuracy=round(accuracy_score(gold, pred), 4),
                macro_f1=round(f1_score(gold, pred, average="macro", zero_division=0), 4),
                weighted_f1=round(f1_score(gold, pred, average="weighted", zero_division=0), 4))


def repeat_body(src, dst, min_rows, n_rows):
    """dst = header of src + its records repeated until >= min_rows records. Records are whole
    lines of text (CSV quoted newlines stay inside their record since we copy the body verbatim)."""
    with open(src, "rb") as f:
        header = f.readline()
        body = f.read()
    if body and not body.endswith(b"\n"):
        body += b"\n"
    reps = max(1, -(-min_rows // max(1, n_rows)))
    with open(dst, "wb") as f:
        if header is not None:
            f.write(header)
        for _ in range(reps):
            f.write(body)
    return reps * n_rows


def top_label_from_json(obj):
    """Best effort: the top predicted category in one line of `shelf predict` JSONL output."""
    if isinstance(obj, dict):
        for k in ("category", "label", "path", "prediction", "predicted"):
            v = obj.get(k)
            if isinstance(v, str):
                return v
            if isinstance(v, (list, dict)):
                r = top_label_from_json(v)
                if r:
                    return r
        for k in ("predictions", "labels", "categories", "top", "results"):
            v = obj.get(k)
            if isinstance(v, list) and v:
                return top_label_from_json(v[0])
    if isinstance(obj, list) and obj:
        return top_label_from_json(obj[0])
    if isinstance(obj, str):
        return obj
    return None


def mb(path):
    try:
        if os.path.isdir(path):
            return sum(os.path.getsize(os.path.join(a, f)) for a, _, fs in os.walk(path) for f in fs) / 1e6
        return os.path.getsize(path) / 1e6
    except OSError:
        return None


# ---------------------------------------------------------------- systems
def run_shelf(run, shelf, name, d, tmp, n_test, gold_cats, big_test, n_big):
    tr, va, te = split_path(d, "train"), split_path(d, "valid"), split_path(d, "test")
    model = os.path.join(tmp, "shelf-model.shelf")
    rec = dict(system="shelf (defaults)")
    t = run.timed(name + "-shelf-train", [shelf, "train", "--train", tr, "--valid", va, "--out", model,
                                          "--threads", THREADS])
    rec.update(train_s=t["wall_s"], train_rss_mb=t["rss_mb"], model_mb=mb(model))
    if not t["ok"]:
        rec["error"] = "train failed: " + t["stderr_tail"]
        return rec
    e = run.timed(name + "-shelf-eval", [shelf, "eval", "--model", model, "--data", te, "--json"])
    if e["ok"]:
        try:
            ej = json.loads(e["stdout"])
            for k in ("accuracy", "macro_f1", "weighted_f1", "micro_f1", "top5_accuracy", "macro_precision",
                      "macro_recall"):
                if k in ej:
                    rec[k] = ej[k]
            rec["eval_n"] = ej.get("n")
            rec["levels"] = ej.get("levels")
            if ej.get("n") is not None and ej.get("n") != n_test:
                rec["warning"] = "eval n=%s but the test split has %d products" % (ej.get("n"), n_test)
        except ValueError as ex:
            rec["error"] = "eval --json is not one JSON object (%s): %r" % (ex, e["stdout"][:200])
    else:
        rec["error"] = "eval failed: " + e["stderr_tail"]
    pred_out = os.path.join(tmp, "shelf-pred.jsonl")
    p = run.timed(name + "-shelf-predict", [shelf, "predict", "--model", model, "--data", te, "--threads", THREADS,
                                                   "--output-format", "jsonl"],
                  stdout_path=pred_out)
    rec.update(predict_test_s=p["wall_s"], predict_rss_mb=p["rss_mb"])
    if p["ok"]:
        # cross-check eval's accuracy against predict's output (best effort: JSONL in test order)
        try:
            lines = [l for l in open(pred_out, encoding="utf-8") if l.strip()]
            preds = [top_label_from_json(json.loads(l)) for l in lines]
            if len(preds) == n_test and all(preds):
                rec["predict_accuracy"] = round(sum(a == b for a, b in zip(preds, gold_cats)) / n_test, 4)
            else:
                rec["predict_note"] = "predict gave %d lines for %d products" % (len(preds), n_test)
        except Exception as ex:  # not JSONL or unknown shape: skip the check
            rec["predict_note"] = "predict output not parsed (%s)" % ex
    else:
        rec.setdefault("error", "predict failed: " + p["stderr_tail"])
    if big_test:
        b = run.timed(name + "-shelf-predict-big", [shelf, "predict", "--model", model, "--data", big_test,
                                                        "--threads", THREADS],
                      stdout_path=os.devnull)
        if b["ok"]:
            rec.update(predict_rows=n_big, predict_s=b["wall_s"], predict_rss_mb=max(b["rss_mb"] or 0, rec["predict_rss_mb"] or 0))
    elif p["ok"]:
        rec.update(predict_rows=n_test, predict_s=p["wall_s"])
    finish_throughput(rec, n_test)
    return rec


def finish_throughput(rec, n_test):
    if rec.get("predict_s"):
        rec["predict_per_s"] = round(rec["predict_rows"] / max(rec["predict_s"], 0.01), 1)
        if rec.get("predict_test_s") is not None and rec["predict_rows"] > n_test:
            dt = rec["predict_s"] - rec["predict_test_s"]
            if dt > 0.02:
                rec["predict_steady_per_s"] = round((rec["predict_rows"] - n_test) / dt, 1)
        if rec.get("predict_test_s") is not None and rec.get("predict_steady_per_s"):
            rec["load_s"] = round(max(0.0, rec["predict_test_s"] - n_test / rec["predict_steady_per_s"]), 3)


def run_fasttext(run, label, tag, args, ptr, pte_plain, gold, tmp, big_plain, n_big):
    m = os.path.join(tmp, "ft-" + tag)
    rec = dict(system=label)
    t = run.timed(tag + "-train", ["fasttext", "supervised", "-input", ptr, "-output", m, "-thread", THREADS] + args,
                  stdout_path=os.devnull)
    rec.update(train_s=t["wall_s"], train_rss_mb=t["rss_mb"], model_mb=mb(m + ".bin"))
    if not t["ok"]:
        rec["error"] = "train failed: " + t["stderr_tail"]
        return rec
    out = os.path.join(tmp, "ft-pred.txt")
    p = run.timed(tag + "-predict", ["fasttext", "predict", m + ".bin", pte_plain], stdout_path=out)
    rec.update(predict_test_s=p["wall_s"], predict_rss_mb=p["rss_mb"])
    if p["ok"]:
        pred = [l.strip() for l in open(out, encoding="utf-8").read().split("\n")[:len(gold)]]
        pred += [""] * (len(gold) - len(pred))
        rec.update(metrics(gold, pred))
    else:
        rec["error"] = "predict failed: " + p["stderr_tail"]
    if big_plain:
        b = run.timed(tag + "-predict-big", ["fasttext", "predict", m + ".bin", big_plain], stdout_path=os.devnull)
        if b["ok"]:
            rec.update(predict_rows=n_big, predict_s=b["wall_s"], predict_rss_mb=max(b["rss_mb"] or 0, rec["predict_rss_mb"] or 0))
    elif p["ok"]:
        rec.update(predict_rows=len(gold), predict_s=p["wall_s"])
    finish_throughput(rec, len(gold))
    for ext in (".bin", ".vec"):  # tuned models are ~800 MB: do not pile them up
        try:
            os.remove(m + ext)
        except OSError:
            pass
    return rec


def sklearn_worker(d, cjk):
    """The peer's scikit-learn pipeline, run in a child process (so /usr/bin/time sees its memory)."""
    import pickle
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union, make_pipeline
    from sklearn.svm import LinearSVC
    tr, te = load(split_path(d, "train")), load(split_path(d, "test"))
    X = [ft_text(t, cjk) for t, _ in tr]
    y = [ft_label(c) for _, c in tr]
    t0 = time.time()
    vec = make_union(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, token_pattern=r"\S+"),
                     TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2))
    clf = make_pipeline(vec, LinearSVC(C=1.0))
    clf.fit(X, y)
    t1 = time.time()
    pred = clf.predict([ft_text(t, cjk) for t, _ in te])
    t2 = time.time()
    r = dict(metrics([ft_label(c) for _, c in te], list(pred)))
    r.update(train_s_inproc=round(t1 - t0, 2), predict_s_inproc=round(t2 - t1, 3),
             model_mb=len(pickle.dumps(clf, protocol=4)) / 1e6)
    print(json.dumps(r))


def run_sklearn(run, name, d, cjk, n_test):
    rec = dict(system="scikit-learn TF-IDF+LinearSVC")
    cmd = [sys.executable, os.path.abspath(__file__), "--sklearn-worker", d] + (["--cjk"] if cjk else [])
    r = run.timed(name + "-sklearn", cmd)
    if not r["ok"]:
        rec["error"] = "failed: " + r["stderr_tail"]
        return rec
    w = json.loads(r["stdout"].strip().split("\n")[-1])
    rec.update({k: w[k] for k in ("accuracy", "macro_f1", "weighted_f1", "model_mb")})
    rec.update(train_s=w["train_s_inproc"], train_rss_mb=r["rss_mb"], predict_rows=n_test,
               predict_s=w["predict_s_inproc"], total_wall_s=r["wall_s"])
    rec["predict_per_s"] = round(n_test / max(w["predict_s_inproc"], 0.001), 1)
    rec["note"] = "train/predict seconds in-process (excluding Python start and data loading); peak memory of the whole process"
    return rec


# ---------------------------------------------------------------- one dataset
def bench_dataset(run, a, name, emit):
    d = os.path.join(a.data, name)
    cjk = is_cjk(name)
    print("== %s%s" % (name, " (CJK)" if cjk else ""), file=sys.stderr, flush=True)
    tmp = tempfile.mkdtemp(prefix="shelf-bench-%s-" % name, dir=a.tmp)
    try:
        tr, te = load(split_path(d, "train")), load(split_path(d, "test"))
        gold_cats = [c for _, c in te]
        gold = [ft_label(c) for c in gold_cats]
        n_test = len(te)
        ptr = os.path.join(tmp, "tr.txt")
        with open(ptr, "w", encoding="utf-8") as f:
            for t, c in tr:
                f.write(ft_label(c) + " " + ft_text(t, cjk) + "\n")
        plain = [ft_text(t, cjk) + "\n" for t, _ in te]
        pte = os.path.join(tmp, "te.plain")
        with open(pte, "w", encoding="utf-8") as f:
            f.writelines(plain)
        big_test = big_plain = None
        n_big = n_test
        if a.predict_rows > n_test:
            big_test = os.path.join(tmp, "test-big" + os.path.splitext(split_path(d, "test"))[1])
            n_big = repeat_body(split_path(d, "test"), big_test, a.predict_rows, n_test)
            big_plain = os.path.join(tmp, "te-big.plain")
            with open(big_plain, "w", encoding="utf-8") as f:
                for _ in range(n_big // n_test):
                    f.writelines(plain)
        common = dict(dataset=name, n_train=len(tr), n_test=n_test)
        recs = []
        print("  shelf ...", file=sys.stderr, flush=True)
        recs.append(run_shelf(run, a.shelf, name, d, tmp, n_test, gold_cats, big_test, n_big))
        print("  fastText default ...", file=sys.stderr, flush=True)
        recs.append(run_fasttext(run, "fastText default", name + "-fasttext-default", [], ptr, pte, gold, tmp,
                                 big_plain, n_big))
        print("  fastText tuned ...", file=sys.stderr, flush=True)
        recs.append(run_fasttext(run, "fastText tuned", name + "-fasttext-tuned", FT_TUNED, ptr, pte, gold, tmp,
                                 big_plain, n_big))
        if a.sklearn:
            print("  scikit-learn ...", file=sys.stderr, flush=True)
            recs.append(run_sklearn(run, name, d, cjk, n_test))
        for r in recs:
            r.update(common)
            emit(dict(kind="system", **r))
        ratios = make_ratios(name, recs)
        emit(ratios)
        return recs, ratios
    finally:
        if not a.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def ratio(x, y):
    if x is None or y is None or y == 0:
        return None
    return round(x / y, 3)


def make_ratios(name, recs):
    s = recs[0]
    ft = recs[2]
    ftd = recs[1]
    best_acc, best_mf1 = BEST_PEER.get(name, (None, None))
    r = dict(kind="ratios", dataset=name,
             train_time_vs_ft_tuned=ratio(s.get("train_s"), ft.get("train_s")),
             predict_throughput_vs_ft_tuned=ratio(s.get("predict_per_s"), ft.get("predict_per_s")),
             predict_throughput_vs_ft_default=ratio(s.get("predict_per_s"), ftd.get("predict_per_s")),
             train_memory_vs_ft_tuned=ratio(s.get("train_rss_mb"), ft.get("train_rss_mb")),
             best_peer_accuracy=best_acc, best_peer_macro_f1=best_mf1)
    if s.get("accuracy") is not None and best_acc is not None:
        r["accuracy_minus_best_peer"] = round(s["accuracy"] - best_acc, 4)
    if s.get("macro_f1") is not None and best_mf1 is not None:
        r["macro_f1_minus_best_peer"] = round(s["macro_f1"] - best_mf1, 4)
    return r


# ---------------------------------------------------------------- scale run
def make_scale_data(src, dst_tsv, dst_ft, rows, heads):
    """rows products by repeating the fashion training titles (ids "r{rep}-{id}").
    Writes a TSV for shelf, fastText text for fastText, and TSV heads of the given sizes."""
    with open(src, encoding="utf-8", newline="") as f:
        base = [(r["id"], re.sub(r"[\t\r\n]+", " ", r["title"] or ""), r["category"]) for r in csv.DictReader(f)]
    if not base:
        raise RuntimeError("no rows in " + src)
    head_files = {h: open(dst_tsv.replace(".tsv", "-%d.tsv" % h), "w", encoding="utf-8") for h in heads}
    for hf in head_files.values():
        hf.write("id\ttitle\tdescription\tcategory\n")
    with open(dst_tsv, "w", encoding="utf-8") as ft_s, open(dst_ft, "w", encoding="utf-8") as ft_f:
        ft_s.write("id\ttitle\tdescription\tcategory\n")
        ft_cache = [ft_label(c) + " " + ft_text(t, False) + "\n" for _, t, c in base]
        i = 0
        rep = 0
        while i < rows:
            for k, (pid, title, cat) in enumerate(base):
                if i >= rows:
                    break
                line = "r%d-%s\t%s\t\t%s\n" % (rep, pid, title, cat)
                ft_s.write(line)
                ft_f.write(ft_cache[k])
                for h, hf in head_files.items():
                    if i < h:
                        hf.write(line)
                i += 1
            rep += 1
    for hf in head_files.values():
        hf.close()
    return {h: dst_tsv.replace(".tsv", "-%d.tsv" % h) for h in heads}


def bench_scale(run, a, emit):
    src = split_path(os.path.join(a.data, "fashion"), "train")
    tmp = tempfile.mkdtemp(prefix="shelf-bench-scale-", dir=a.tmp)
    rows = a.scale_rows
    heads = sorted({rows // 8, rows // 4, rows // 2}) if a.scale_curve else []
    heads = [h for h in heads if h > 0]
    print("== scale: %d rows from %s (temp dir %s)" % (rows, src, tmp), file=sys.stderr, flush=True)
    out = []
    try:
        t0 = time.time()
        tsv, ftt = os.path.join(tmp, "scale.tsv"), os.path.join(tmp, "scale.txt")
        head_paths = make_scale_data(src, tsv, ftt, rows, heads)
        print("  data written in %.1f s (%.0f MB)" % (time.time() - t0, mb(tsv)), file=sys.stderr, flush=True)
        systems = []
        for h in heads:
            systems.append(("shelf (defaults)", h, head_paths[h]))
        systems.append(("shelf (defaults)", rows, tsv))
        for label, n, path in systems:
            print("  shelf train on %d rows ..." % n, file=sys.stderr, flush=True)
            model = os.path.join(tmp, "scale-%d.shelf" % n)
            t = run.timed("scale-shelf-%d" % n, [a.shelf, "train", "--train", path, "--out", model, "--threads", THREADS])
            r = dict(kind="scale", system=label, rows=n, train_s=t["wall_s"], train_rss_mb=t["rss_mb"],
                     model_mb=mb(model))
            if not t["ok"]:
                r["error"] = "train failed: " + t["stderr_tail"]
            emit(r)
            out.append(r)
            try:
                os.remove(model)
            except OSError:
                pass
        # fastText's tuned run on 2M rows takes over an hour here: it gets a time budget. If
        # it has not finished by then, its training time is at least the budget (a bound
        # that already settles "shelf takes no longer"), and its own progress line gives a
        # projection of the total. Its peak memory is reached when it allocates its
        # matrices, at the start.
        budget = a.ft_scale_budget
        print("  fastText tuned on %d rows (budget %d s) ..." % (rows, budget), file=sys.stderr, flush=True)
        m = os.path.join(tmp, "ft-scale")
        t = run.timed("scale-fasttext-tuned", ["timeout", "--signal=INT", str(budget), "fasttext", "supervised",
                                                "-input", ftt, "-output", m, "-thread", THREADS] + FT_TUNED,
                      stdout_path=os.devnull)
        r = dict(kind="scale", system="fastText tuned", rows=rows, train_s=t["wall_s"], train_rss_mb=t["rss_mb"],
                 model_mb=mb(m + ".bin"))
        if t["rc"] == 124:
            pct = [float(x) for x in re.findall(r"Progress:\s*([\d.]+)%", t["stderr"])]
            done = pct[-1] if pct else 0.0
            r.update(unfinished=True, progress_pct=done,
                     projected_train_s=(t["wall_s"] / (done / 100.0)) if done > 0 else None)
            print("  fastText stopped after %.0f s at %.1f%% of its training" % (t["wall_s"], done),
                  file=sys.stderr, flush=True)
        elif not t["ok"]:
            r["error"] = "train failed: " + t["stderr_tail"]
        emit(r)
        out.append(r)
        s = [x for x in out if x["system"].startswith("shelf") and x["rows"] == rows][0]
        rr = dict(kind="scale-ratios", rows=rows, train_time_vs_ft_tuned=ratio(s.get("train_s"), r.get("train_s")),
                  train_memory_vs_ft_tuned=ratio(s.get("train_rss_mb"), r.get("train_rss_mb")))
        emit(rr)
        out.append(rr)
    finally:
        if not a.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


# ---------------------------------------------------------------- report
def f(x, fmt="%.4f"):
    return "" if x is None else (fmt % x)


def goal(v, g, le):
    if v is None:
        return "n/a"
    ok = v <= g if le else v >= g
    return "%.2f %s" % (v, "ok" if ok else "MISSED")


def delta(v):
    return "" if v is None else "%+.4f" % v


def machine():
    cpu = platform.processor() or ""
    try:
        for l in open("/proc/cpuinfo"):
            if l.startswith("model name"):
                cpu = l.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for l in open("/proc/meminfo"):
            if l.startswith("MemTotal"):
                mem = "%.1f GB RAM" % (int(l.split()[1]) / 1024 / 1024)
    except OSError:
        pass
    flags = ""
    try:
        txt = open("/proc/cpuinfo").read()
        flags = "AVX-512" if "avx512f" in txt else ("AVX2" if "avx2" in txt else "")
    except OSError:
        pass
    return "%s, %d cores%s, %s, %s" % (cpu, os.cpu_count() or 0, (" (" + flags + ")") if flags else "", mem,
                                       platform.platform())


def report(meta, results, scale, sklearn_ran):
    L = []
    L.append("# shelf text benchmark")
    L.append("")
    L.append("Run %s on %s. shelf `%s`; fastText %s; 2 threads each. Datasets read from `%s`."
             % (meta["date"], meta["machine"], meta["shelf"], meta["fasttext"], meta["data"]))
    L.append("Seconds are wall time of one run (noisy: compare within one run). Peak memory = max RSS." + (
             " Predict products/s: the test split repeated to at least %s products, model load included; steady/s "
             "excludes the fixed cost (from the run on the test split alone)."
             % ("{:,}".format(meta["predict_rows"]) if meta["predict_rows"] else "its size") if results else ""))
    L.append("")
    if results:
        L.append("## Accuracy and cost per dataset")
        L.append("")
        L.append("| dataset | system | accuracy | macro-F1 | weighted-F1 | train s | train peak MB | predict products/s "
                 "| steady/s | predict peak MB | model MB |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for name, recs, _ in results:
            first = True
            for r in recs:
                err = " (%s)" % r["error"].split("\n")[0][:80] if r.get("error") else ""
                L.append("| %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    name if first else "", r["system"], err, f(r.get("accuracy")), f(r.get("macro_f1")),
                    f(r.get("weighted_f1")), f(r.get("train_s"), "%.1f"), f(r.get("train_rss_mb"), "%.0f"),
                    f(r.get("predict_per_s"), "%.0f"), f(r.get("predict_steady_per_s"), "%.0f"),
                    f(r.get("predict_rss_mb"), "%.0f"), f(r.get("model_mb"), "%.1f")))
                first = False
            if not sklearn_ran and name in PEER_SKLEARN:
                acc, mf1, wf1, ts = PEER_SKLEARN[name]
                L.append("| | scikit-learn TF-IDF+LinearSVC (from peers/RESULTS.md, not run) | %.4f | %.4f | %.4f "
                         "| %.1f | | | | | |" % (acc, mf1, wf1, ts))
        L.append("")
        L.append("## shelf against the goals")
        L.append("")
        L.append("Ratios are shelf / fastText tuned (throughput also vs fastText default); accuracy and macro-F1 are "
                 "shelf minus the best peer figure in `../shared/peers/RESULTS.md`.")
        L.append("")
        L.append("| dataset | train time (goal <= 0.5) | predict throughput (goal >= 1) | vs ft default "
                 "| train peak memory (goal <= 1) | accuracy (best peer) | macro-F1 (best peer) |")
        L.append("|---|---|---|---|---|---|---|")
        for name, recs, ra in results:
            s = recs[0]
            L.append("| %s | %s | %s | %s | %s | %s %s (%s) | %s %s (%s) |" % (
                name, goal(ra.get("train_time_vs_ft_tuned"), GOALS["train"], True),
                goal(ra.get("predict_throughput_vs_ft_tuned"), GOALS["predict"], False),
                f(ra.get("predict_throughput_vs_ft_default"), "%.2f"),
                goal(ra.get("train_memory_vs_ft_tuned"), GOALS["memory"], True),
                f(s.get("accuracy")), delta(ra.get("accuracy_minus_best_peer")), f(ra.get("best_peer_accuracy")),
                f(s.get("macro_f1")), delta(ra.get("macro_f1_minus_best_peer")), f(ra.get("best_peer_macro_f1"))))
        L.append("")
        lv = [(name, recs[0]) for name, recs, _ in results if recs[0].get("levels")]
        if lv:
            L.append("shelf per level (accuracy / macro-F1):")
            L.append("")
            for name, s in lv:
                parts = []
                for l in s["levels"]:
                    parts.append("L%s %s / %s" % (l.get("level"), f(l.get("accuracy"), "%.3f"), f(l.get("macro_f1"), "%.3f")))
                L.append("- %s: %s" % (name, "; ".join(parts)))
            L.append("")
        notes = []
        for name, recs, _ in results:
            for r in recs:
                for k in ("warning", "predict_note"):
                    if r.get(k):
                        notes.append("- %s, %s: %s" % (name, r["system"], r[k]))
                if r.get("predict_accuracy") is not None and r.get("accuracy") is not None and \
                        abs(r["predict_accuracy"] - r["accuracy"]) > 0.0005:
                    notes.append("- %s, %s: eval accuracy %.4f but predict's top-1 gives %.4f"
                                 % (name, r["system"], r["accuracy"], r["predict_accuracy"]))
        if notes:
            L.append("Notes:")
            L.append("")
            L += notes
            L.append("")
    if scale:
        L.append("## Scale: training on a large catalog")
        L.append("")
        L.append("fashion training titles repeated (new ids) to the row count; shelf with defaults and no --valid, "
                 "fastText tuned; 2 threads each.")
        L.append("")
        L.append("| system | rows | train s | rows / train s | train peak MB | model MB |")
        L.append("|---|---|---|---|---|---|")
        for r in scale:
            if r["kind"] != "scale":
                continue
            err = " (%s)" % r["error"].split("\n")[0][:80] if r.get("error") else ""
            if r.get("unfinished"):
                err = " (stopped by the time budget at %.1f%% of training; projected total %s s; " \
                      "its train s is a lower bound)" % (r["progress_pct"], f(r.get("projected_train_s"), "%.0f"))
            rps = r["rows"] / r["train_s"] if r.get("train_s") else None
            L.append("| %s%s | %s | %s | %s | %s | %s |" % (r["system"], err, "{:,}".format(r["rows"]),
                                                            f(r.get("train_s"), "%.1f"), f(rps, "%.0f"),
                                                            f(r.get("train_rss_mb"), "%.0f"), f(r.get("model_mb"), "%.1f")))
        for r in scale:
            if r["kind"] == "scale-ratios":
                L.append("")
                L.append("At %s rows, shelf / fastText tuned: training time %s (goal <= 1; an upper bound when "
                         "fastText was stopped), peak memory %s (goal <= 1)."
                         % ("{:,}".format(r["rows"]), goal(r.get("train_time_vs_ft_tuned"), 1.0, True),
                            goal(r.get("train_memory_vs_ft_tuned"), GOALS["memory"], True)))
        L.append("")
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------- main
def tool_version(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (p.stdout + p.stderr).strip().split("\n")[0]
    except Exception:
        return "?"


def main():
    if "--sklearn-worker" in sys.argv:
        i = sys.argv.index("--sklearn-worker")
        sklearn_worker(sys.argv[i + 1], "--cjk" in sys.argv)
        return 0
    ap = argparse.ArgumentParser(description="shelf text benchmark (see bench/text.sh)")
    ap.add_argument("datasets", nargs="*", help="default: " + " ".join(DATASETS))
    ap.add_argument("--data", default=os.environ.get("SHELF_DATA", "../shared/data"))
    ap.add_argument("--shelf", default=os.environ.get("SHELF_BIN", "./shelf"))
    ap.add_argument("--out", default="bench/out")
    ap.add_argument("--tmp", default=os.environ.get("TMPDIR", "/tmp"))
    ap.add_argument("--no-scale", action="store_true", help="skip the scale run")
    ap.add_argument("--scale", action="store_true", help="run the scale run (the default unless --no-scale)")
    ap.add_argument("--scale-only", action="store_true", help="only the scale run")
    ap.add_argument("--scale-rows", type=int, default=2000000)
    ap.add_argument("--scale-curve", action="store_true", help="also shelf at 1/8, 1/4, 1/2 of --scale-rows")
    ap.add_argument("--ft-scale-budget", type=int, default=900,
                    help="seconds fastText may train on the scale catalog (default 900)")
    ap.add_argument("--sklearn", action="store_true", help="also run scikit-learn TF-IDF+LinearSVC (slow)")
    ap.add_argument("--predict-rows", type=int, default=50000,
                    help="repeat the test split to at least this many products for throughput (0: test only)")
    ap.add_argument("--keep-tmp", action="store_true")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args()

    if not os.path.isdir(a.data):
        sys.exit("text_bench: data directory %s not found (set SHELF_DATA or --data)" % a.data)
    a.data = os.path.abspath(a.data)
    names = a.datasets or ([] if a.scale_only else DATASETS)
    if a.scale_only and a.no_scale:
        sys.exit("text_bench: --scale-only and --no-scale contradict each other")
    for n in names:
        if not os.path.isdir(os.path.join(a.data, n)):
            sys.exit("text_bench: dataset %s not found in %s (known: %s)" % (n, a.data, " ".join(DATASETS)))
    do_scale = not a.no_scale
    if do_scale and not os.path.isdir(os.path.join(a.data, "fashion")):
        sys.exit("text_bench: the scale run needs %s/fashion" % a.data)
    if not (os.path.isfile(a.shelf) and os.access(a.shelf, os.X_OK)):
        sys.exit("text_bench: shelf binary %s not found (make shelf, or set SHELF_BIN)" % a.shelf)
    a.shelf = os.path.abspath(a.shelf)
    if not shutil.which("fasttext"):
        sys.exit("text_bench: fasttext not found (apt-get install fasttext; or bash scripts/install-deps.sh --bench)")
    if not os.access("/usr/bin/time", os.X_OK):
        sys.exit("text_bench: /usr/bin/time not found (apt-get install time)")
    try:
        import sklearn.metrics  # noqa: F401
    except ImportError:
        sys.exit("text_bench: scikit-learn is needed for the metrics (apt-get install python3-sklearn)")

    os.makedirs(a.out, exist_ok=True)
    shutil.rmtree(os.path.join(a.out, "logs"), ignore_errors=True)  # logs of this run only
    run = Runner(os.path.join(a.out, "logs"), not a.quiet)
    jl_path = os.path.join(a.out, "text-results.jsonl")
    jl = open(jl_path, "w", encoding="utf-8")

    def emit(obj):
        obj = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in obj.items()}
        jl.write(json.dumps(obj, ensure_ascii=False) + "\n")
        jl.flush()

    meta = dict(kind="meta", date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), machine=machine(),
                shelf=a.shelf, fasttext=tool_version(["dpkg-query", "-W", "-f=${Version}", "fasttext"]),
                data=a.data, threads=int(THREADS), datasets=names, predict_rows=a.predict_rows,
                scale_rows=a.scale_rows if do_scale else 0, sklearn=a.sklearn)
    emit(meta)
    results = []
    failed = False
    for n in names:
        recs, ra = bench_dataset(run, a, n, emit)
        failed |= any(r.get("error") for r in recs)
        results.append((n, recs, ra))
    scale = bench_scale(run, a, emit) if do_scale else []
    failed |= any(r.get("error") for r in scale)
    jl.close()
    md = report(meta, results, scale, a.sklearn)
    with open(os.path.join(a.out, "text-results.md"), "w", encoding="utf-8") as fo:
        fo.write(md)
    sys.stdout.write(md)
    print("wrote %s and %s (logs in %s)" % (os.path.join(a.out, "text-results.md"), jl_path,
                                            os.path.join(a.out, "logs")), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
