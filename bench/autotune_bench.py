"""shelf train --autotune against fastText's -autotune-validation (the same budget) and the
scikit-learn peer (TF-IDF word 1-2 + char_wb 2-5, LinearSVC), on the five text datasets of
../shared/data, the same splits, 2 threads, in one run (bench/autotune.sh runs this).

Per dataset and system: test accuracy and macro-F1 (sklearn.metrics on the predicted labels,
as the peer computes them), the whole training command's wall time, the model's size, and
prediction throughput on the test split: of the whole `predict` command (loading the model,
reading, classifying, writing) for shelf and fastText, and in-process (the model in memory)
for scikit-learn and for shelf (as its search measured the chosen model on the validation
split). Texts for fastText and scikit-learn are prepared exactly as
../shared/peers/baseline_text.py does (bench/text_bench.py's helpers).

usage: /usr/bin/python3 bench/autotune_bench.py [--budget SECONDS] [DATASET ...]
"""
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from text_bench import (PEER_SKLEARN, THREADS, Runner, ft_label, ft_text, is_cjk, load,  # noqa: E402
                        metrics, split_path, top_label_from_json)

DATA = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                     "shared", "data"))
OUT = os.path.join("bench", "out", "autotune")
DATASETS = ["flipkart-9k", "amazon-uk-toys-9k", "fashion", "zh-online-shopping-10cats",
            "zh-jd-suning-13k"]


def size_mb(path):
    return os.path.getsize(path) / 1e6 if os.path.exists(path) else None


def run_shelf(run, shelf, name, d, budget, gold):
    tmp = os.path.join(OUT, name)
    model, log = os.path.join(tmp, "shelf.model"), os.path.join(tmp, "shelf-trials.jsonl")
    t = run.timed(name + "-shelf-train",
                  [shelf, "train", "--train", split_path(d, "train"), "--valid",
                   split_path(d, "valid"), "--out", model, "--threads", THREADS, "--seed", "1",
                   "--autotune", str(budget), "--autotune-log", log, "--quiet"])
    rec = dict(system="shelf --autotune %d" % budget)
    if not t["ok"]:
        rec["error"] = t["stderr_tail"]
        return rec
    preds = os.path.join(tmp, "shelf-test.jsonl")
    p = run.timed(name + "-shelf-predict", [shelf, "predict", "--model", model, "--data",
                                            split_path(d, "test"), "--threads", THREADS],
                  stdout_path=preds)
    pred = [top_label_from_json(json.loads(l)) for l in open(preds, encoding="utf-8")]
    rec.update(metrics([ft_label(c) for c in gold], [ft_label(c or "") for c in pred]))
    trials = [json.loads(l) for l in open(log)]
    chosen = trials[-1]
    kind = [x for x in trials if x.get("trial") == chosen["chosen"]] if "chosen" in chosen else []
    rec.update(train_s=t["wall_s"], model_mb=size_mb(model), predict_s=p["wall_s"],
               predict_per_s=round(len(gold) / max(p["wall_s"], 0.01)),
               trials=len(trials) - 1, chosen=describe(kind[0]) if kind else "?",
               search_per_s=kind[0]["products_per_second"] if kind else None)
    return rec


def describe(t):
    if t["kind"] == "ensemble":
        return "ensemble of trials " + " + ".join("%d (%.2f)" % (m["trial"], m["weight"])
                                                  for m in t["members"])
    if t["kind"] == "bag":  # 0: the default, which the catalog's size decides
        auto = lambda v, f: f % v if v else "auto"
        return "bag, word n-grams 1-%d, chars %d-%d, lr %s, epochs %s, dim %d%s, %s" % (
            t["ngrams"], t["minn"], t["maxn"], auto(t["lr"], "%g"), auto(t["epochs"], "%d"),
            t["dim"], ", hierarchy" if t["hierarchy"] else "", t["balance"])
    return t["kind"]


def run_fasttext(run, name, d, budget, gold, cjk):
    tmp = os.path.join(OUT, name)
    files = {}
    for part in ("train", "valid", "test"):
        files[part] = os.path.join(tmp, "ft-%s.txt" % part)
        with open(files[part], "w", encoding="utf-8") as f:
            for t, c in load(split_path(d, part)):
                f.write((ft_label(c) + " " if part != "test" else "") + ft_text(t, cjk) + "\n")
    m = os.path.join(tmp, "ft")
    t = run.timed(name + "-fasttext-train",
                  ["fasttext", "supervised", "-input", files["train"], "-output", m,
                   "-autotune-validation", files["valid"], "-autotune-duration", str(budget),
                   "-thread", THREADS])
    rec = dict(system="fastText -autotune-duration %d" % budget)
    if not t["ok"]:
        rec["error"] = t["stderr_tail"]
        return rec
    out = os.path.join(tmp, "ft-test.pred")
    p = run.timed(name + "-fasttext-predict", ["fasttext", "predict", m + ".bin", files["test"]],
                  stdout_path=out)
    pred = [l.strip() for l in open(out, encoding="utf-8")]
    rec.update(metrics([ft_label(c) for c in gold], pred))
    rec.update(train_s=t["wall_s"], model_mb=size_mb(m + ".bin"), predict_s=p["wall_s"],
               predict_per_s=round(len(gold) / max(p["wall_s"], 0.01)))
    return rec


def run_sklearn(run, name, d, cjk, gold):
    cmd = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                        "text_bench.py"), "--sklearn-worker", d]
    r = run.timed(name + "-sklearn", cmd + (["--cjk"] if cjk else []))
    rec = dict(system="scikit-learn TF-IDF+LinearSVC")
    if not r["ok"]:
        rec["error"] = r["stderr_tail"]
        return rec
    w = json.loads(r["stdout"].strip().split("\n")[-1])
    rec.update({k: w[k] for k in ("accuracy", "macro_f1", "weighted_f1", "model_mb")})
    rec.update(train_s=r["wall_s"], predict_s=w["predict_s_inproc"],
               predict_per_s=round(len(gold) / max(w["predict_s_inproc"], 0.001)))
    return rec


def main():
    args = sys.argv[1:]
    budget = 300
    if args[:1] == ["--budget"]:
        budget, args = int(args[1]), args[2:]
    names = args or DATASETS
    os.makedirs(OUT, exist_ok=True)
    shelf = os.path.join(OUT, "shelf")  # a copy: rebuilding ./shelf cannot touch a run
    shutil.copy2("shelf", shelf)
    run = Runner(os.path.join(OUT, "logs"), verbose=False)
    results = {}
    print("| dataset | system | accuracy | macro-F1 | train s | model MB | predict products/s "
          "| in-process products/s | chosen |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        d = os.path.join(DATA, name)
        os.makedirs(os.path.join(OUT, name), exist_ok=True)
        cjk = is_cjk(name)
        gold = [c for _, c in load(split_path(d, "test"))]
        recs = [run_shelf(run, shelf, name, d, budget, gold),
                run_fasttext(run, name, d, budget, gold, cjk),
                run_sklearn(run, name, d, cjk, gold)]
        results[name] = recs
        for r in recs:
            if "error" in r:
                print("| %s | %s | failed: %s |||||| " % (name, r["system"], r["error"][:80]))
                continue
            inproc = r.get("search_per_s") or (r["predict_per_s"] if "sklearn" in r["system"]
                                               else None)
            print("| %s | %s | %.4f | %.4f | %.1f | %.1f | %s | %s | %s |" % (
                name, r["system"], r["accuracy"], r["macro_f1"], r["train_s"],
                r["model_mb"] or 0, r["predict_per_s"] if "sklearn" not in r["system"] else "",
                "%d" % inproc if inproc else "", r.get("chosen", "")), flush=True)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(dict(date=time.strftime("%Y-%m-%d %H:%M"), budget=budget, results=results),
                  f, indent=1)
    print("\nshelf against the best of the others (accuracy / macro-F1 points):")
    for name, recs in results.items():
        ok = [r for r in recs if "error" not in r]
        s = [r for r in ok if r["system"].startswith("shelf")]
        others = [r for r in ok if not r["system"].startswith("shelf")]
        if not s or not others:
            continue
        ba = max(r["accuracy"] for r in others)
        bf = max(r["macro_f1"] for r in others)
        ft = [r for r in others if r["system"].startswith("fastText")]
        print("  %s: %+.2f / %+.2f against the best peer%s; over %d s: %s" % (
            name, 100 * (s[0]["accuracy"] - ba), 100 * (s[0]["macro_f1"] - bf),
            ", %+.2f accuracy against fastText's autotune" % (
                100 * (s[0]["accuracy"] - ft[0]["accuracy"])) if ft else "",
            budget + 30, "kept" if s[0]["train_s"] <= budget + 30 else "NOT KEPT"))


if __name__ == "__main__":
    main()
