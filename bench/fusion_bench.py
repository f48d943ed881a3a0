"""Text, image and fused models side by side (issue 16), driven by bench/fusion.sh.

Regimes, each in one run with the same settings (shelf's defaults, --width 16, --augment flip
for the CNN, --seed 1, 2 threads):
  full      fashion with its titles;
  weak      fashion with every title cut to its first two words (train, valid and test);
  notitle   the weak-title fused model on test products whose text is removed, against an
            image model trained alone;
  flipkart  flipkart-1050 (title, description, image).
Beside each: the plain product of the text and image models' probabilities, log p_text +
w log p_image, w chosen on the validation split (the baseline a fusion head must beat).
Reports accuracy, macro-F1, back-off coverage and precision at 0.9, training time.
"""
import argparse, csv, json, math, os, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
OUT = os.path.join(ROOT, "bench", "out", "fusion")
SHELF = os.path.join(ROOT, "shelf")
TEXT_COLUMNS = ("title", "name", "description")


def derived(name, source, change):
    """A copy of dataset `source` whose rows pass through change(split, row), beside a link
    to its images; the folder."""
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    link = os.path.join(d, "images")
    if not os.path.lexists(link):
        os.symlink(os.path.join(DATA, source, "images"), link)
    for split in ("train", "valid", "test"):
        with open(os.path.join(DATA, source, split + ".csv"), newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        with open(os.path.join(d, split + ".csv"), "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            for r in rows:
                w.writerow(change(split, dict(r)))
    return d


def weak(split, row):
    row["title"] = " ".join(row["title"].split()[:2])
    for c in TEXT_COLUMNS[1:]:
        if c in row:
            row[c] = ""
    return row


def no_text(split, row):
    if split == "test":
        for c in TEXT_COLUMNS:
            if c in row:
                row[c] = ""
    return row


def train(d, modality, width):
    model = os.path.join(OUT, "%s-%s.shelf" % (os.path.basename(d), modality))
    cmd = [SHELF, "train", "--train", os.path.join(d, "train.csv"), "--valid",
           os.path.join(d, "valid.csv"), "--out", model, "--modality", modality,
           "--threads", "2", "--seed", "1", "--quiet"]
    if modality != "text":
        cmd += ["--augment", "flip", "--width", str(width)]
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), p.stderr[-2000:]))
    return model, time.time() - t0


def evaluate(model, csv_path):
    p = subprocess.run([SHELF, "eval", "--model", model, "--data", csv_path, "--json",
                        "--min-confidence", "0.9", "--threads", "2"],
                       capture_output=True, text=True)
    if p.returncode:
        sys.exit("eval failed: %s\n%s" % (model, p.stderr[-2000:]))
    d = json.loads(p.stdout)
    b = d.get("backoff") or {}
    return {"accuracy": d["accuracy"], "macro_f1": d["macro_f1"],
            "coverage@0.9": b.get("coverage"), "precision@0.9": b.get("precision")}


def probabilities(model, csv_path):
    """Per product (in order): {label: probability} over every label the model has."""
    p = subprocess.run([SHELF, "predict", "--model", model, "--data", csv_path, "--k", "256",
                        "--threads", "2"], capture_output=True, text=True)
    if p.returncode:
        sys.exit("predict failed: %s\n%s" % (model, p.stderr[-2000:]))
    return [dict(zip(j["labels"], j["probs"])) for j in map(json.loads, p.stdout.splitlines())]


def truth(csv_path):
    with open(csv_path, newline="", encoding="utf-8") as f:
        return [r["category"] for r in csv.DictReader(f)]


def scores(pred, gold):
    acc = sum(p == g for p, g in zip(pred, gold)) / len(gold)
    f1s = []
    for c in sorted(set(gold)):
        tp = sum(p == c and g == c for p, g in zip(pred, gold))
        fp = sum(p == c and g != c for p, g in zip(pred, gold))
        fn = sum(p != c and g == c for p, g in zip(pred, gold))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {"accuracy": acc, "macro_f1": sum(f1s) / len(f1s)}


def product(text_probs, image_probs, w):
    out = []
    for t, i in zip(text_probs, image_probs):
        labels = set(t) | set(i)
        out.append(max(labels, key=lambda c: math.log(max(t.get(c, 0), 1e-12)) +
                       w * math.log(max(i.get(c, 0), 1e-12))))
    return out


def plain_product(d, text_model, image_model):
    """The product baseline: w on valid, scored on test."""
    valid, test = os.path.join(d, "valid.csv"), os.path.join(d, "test.csv")
    tv, iv, gv = probabilities(text_model, valid), probabilities(image_model, valid), truth(valid)
    best = max((scores(product(tv, iv, w), gv)["accuracy"], w)
               for w in [0.25 * k for k in range(0, 17)])
    w = best[1]
    res = scores(product(probabilities(text_model, test), probabilities(image_model, test), w),
                 truth(test))
    res["weight"] = w
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--regimes", default="full,weak,notitle,flipkart")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    regimes = args.regimes.split(",")
    results, rows = {}, []

    def row(regime, system, r, seconds=None):
        results.setdefault(regime, {})[system] = dict(r, train_s=seconds)
        rows.append("| %s | %s | %.4f | %.4f | %s | %s | %s |" % (
            regime, system, r["accuracy"], r["macro_f1"],
            "%.4f" % r["coverage@0.9"] if r.get("coverage@0.9") is not None else "",
            "%.4f" % r["precision@0.9"] if r.get("precision@0.9") is not None else "",
            "%.0f" % seconds if seconds is not None else ""))
        print(rows[-1], flush=True)

    fashion = os.path.join(DATA, "fashion")
    image_model = None
    if any(r in regimes for r in ("full", "weak", "notitle")):
        image_model, s = train(fashion, "image", args.width)
        image_eval = evaluate(image_model, os.path.join(fashion, "test.csv"))
    if "full" in regimes:
        t, ts = train(fashion, "text", args.width)
        b, bs = train(fashion, "both", args.width)
        row("fashion, full titles", "text", evaluate(t, os.path.join(fashion, "test.csv")), ts)
        row("fashion, full titles", "image", image_eval, s)
        row("fashion, full titles", "fused", evaluate(b, os.path.join(fashion, "test.csv")), bs)
        row("fashion, full titles", "plain product", plain_product(fashion, t, image_model))
    if "weak" in regimes or "notitle" in regimes:
        wd = derived("fashion-weak", "fashion", weak)
        t, ts = train(wd, "text", args.width)
        b, bs = train(wd, "both", args.width)
        if "weak" in regimes:
            row("fashion, weak titles", "text", evaluate(t, os.path.join(wd, "test.csv")), ts)
            row("fashion, weak titles", "image", image_eval, s)
            row("fashion, weak titles", "fused", evaluate(b, os.path.join(wd, "test.csv")), bs)
            row("fashion, weak titles", "plain product", plain_product(wd, t, image_model))
        if "notitle" in regimes:
            nd = derived("fashion-notitle", "fashion", no_text)
            row("fashion, no titles", "image (alone)", image_eval, s)
            row("fashion, no titles", "fused (weak-title model)",
                evaluate(b, os.path.join(nd, "test.csv")))
    if "flipkart" in regimes:
        fk = os.path.join(DATA, "flipkart-1050")
        models = {m: train(fk, m, args.width) for m in ("text", "image", "both")}
        for m, name in (("text", "text"), ("image", "image"), ("both", "fused")):
            row("flipkart-1050", name, evaluate(models[m][0], os.path.join(fk, "test.csv")),
                models[m][1])
        row("flipkart-1050", "plain product", plain_product(fk, models["text"][0],
                                                             models["image"][0]))
    with open(os.path.join(OUT, "fusion.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("\n| regime | system | accuracy | macro-F1 | coverage@0.9 | precision@0.9 | train s |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
