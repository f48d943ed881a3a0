"""Faithfulness of shelf's explanations by deletion (issue 17), driven by bench/explain.sh.

Text (bag of n-grams and GRU, on fashion and zh-online-shopping-10cats): for each test
product the model gets right, remove the top-attributed token, or a random token (seeded),
from its normalized tokens and count how often the prediction changes; both variants and
the unchanged text are read as their tokens joined by spaces, so that only the removal
differs. Image (the fashion CNN, width 16): for each correctly classified photo, grey the
4 top-attributed cells of the 4 x 4 occlusion grid (a quarter of the image) or 4 random
cells with the training images' mean colour, and compare the drop in the predicted label's
probability. Also the throughput of predict with and without --explain (the bag on its test split repeated
to 100,000 products, output written to a file, best of three).
Results: bench/out/explain/explain.json and a table on stdout.
"""
import argparse, csv, json, os, random, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
OUT = os.path.join(ROOT, "bench", "out", "explain")
SHELF = os.path.join(ROOT, "shelf")


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), p.stderr[-2000:]))
    return p.stdout


def split(name, part):
    for ext in ("csv", "tsv"):
        path = os.path.join(DATA, name, "%s.%s" % (part, ext))
        if os.path.exists(path):
            return path
    sys.exit("no %s split in %s" % (part, name))


def train(name, encoder, extra=()):
    model = os.path.join(OUT, "%s-%s.shelf" % (name, encoder))
    if not os.path.exists(model):
        cmd = [SHELF, "train", "--train", split(name, "train"), "--valid", split(name, "valid"),
               "--out", model, "--threads", "2", "--seed", "1", "--quiet"] + list(extra)
        if encoder in ("gru", "transformer"):
            cmd += ["--text-encoder", encoder]
        if encoder == "image":
            cmd += ["--modality", "image", "--width", "16", "--augment", "flip"]
        run(cmd)
    return model


def predict(model, path, explain=False, k=1):
    cmd = [SHELF, "predict", "--model", model, "--data", path, "--k", str(k), "--threads", "2"]
    if explain:
        cmd.append("--explain")
    t0 = time.time()
    out = run(cmd)
    return [json.loads(l) for l in out.splitlines()], time.time() - t0


def timed_predict(model, path, explain, runs=3):
    """Seconds of the best of runs predict commands writing to a file (as a user would), the
    output neither captured nor parsed by Python."""
    cmd = [SHELF, "predict", "--model", model, "--data", path, "--threads", "2"]
    if explain:
        cmd.append("--explain")
    best = None
    for _ in range(runs):
        with open(os.path.join(OUT, "timed.jsonl"), "w") as out:
            t0 = time.time()
            p = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True)
            secs = time.time() - t0
        if p.returncode:
            sys.exit("failed: %s\n%s" % (" ".join(cmd), p.stderr[-2000:]))
        best = secs if best is None else min(best, secs)
    return best


def write_texts(path, header, rows):
    delim = "\t" if path.endswith(".tsv") else ","
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delim, lineterminator="\n",
                       quoting=csv.QUOTE_MINIMAL if delim == "," else csv.QUOTE_NONE,
                       escapechar="\\" if delim == "\t" else None)
        w.writerow(header)
        for r in rows:
            w.writerow(r)


def text_deletion(name, encoder, rng):
    model = train(name, encoder)
    test = split(name, "test")
    with open(test, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t" if test.endswith(".tsv") else ","))
    got = predict(model, test)[0]
    why = predict(model, test, explain=True)[0]
    ext = os.path.splitext(test)[1]
    timed, big = len(rows), test
    if encoder == "bag":  # a catalog large enough that loading the model does not count
        big = os.path.join(OUT, "%s-repeated%s" % (name, ext))
        with open(test, encoding="utf-8") as f:
            header, body = f.readline(), f.read()
        copies = max(1, 100000 // max(1, len(rows)))
        with open(big, "w", encoding="utf-8") as f:
            f.write(header + body * copies)
        timed = len(rows) * copies
    secs_plain = timed_predict(model, big, False)
    secs_explain = timed_predict(model, big, True, runs=3 if encoder == "bag" else 1)
    kept, base, top, rand = [], [], [], []
    for r, g, e in zip(rows, got, why):
        ranked = e["explanation"].get("text", {}).get("tokens", [])
        if g["labels"][0] != r["category"] or len(ranked) < 2:
            continue
        tokens = [t["token"] for t in sorted(ranked, key=lambda t: t["position"])]
        best, i = ranked[0]["position"], rng.randrange(len(tokens))
        kept.append(r)
        base.append(" ".join(tokens))
        top.append(" ".join(tokens[:best] + tokens[best + 1:]))
        rand.append(" ".join(tokens[:i] + tokens[i + 1:]))
    labels = {}
    for tag, texts in (("base", base), ("top", top), ("random", rand)):
        path = os.path.join(OUT, "%s-%s-%s%s" % (name, encoder, tag, ext))
        write_texts(path, ["id", "title", "category"],
                    [(r["id"], t, r["category"]) for r, t in zip(kept, texts)])
        labels[tag] = [p["labels"][0] for p in predict(model, path)[0]]
    changed = {tag: sum(a != b for a, b in zip(labels["base"], labels[tag])) / len(kept)
               for tag in ("top", "random")}
    return {"products": len(kept), "top_changes": changed["top"],
            "random_changes": changed["random"],
            "ratio": changed["top"] / changed["random"] if changed["random"] else None,
            "predict_products_per_s": timed / secs_plain,
            "explain_products_per_s": timed / secs_explain,
            "explain_cost": secs_explain / secs_plain}


def image_deletion(rng, limit):
    from PIL import Image
    model = train("fashion", "image")
    info = run([SHELF, "info", "--model", model])
    mean = next(l for l in info.splitlines() if l.startswith("normalization")).split()[2:5]
    grey = tuple(int(float(v.rstrip(",")) * 255 + 0.5) for v in mean)
    test = split("fashion", "test")
    with open(test, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:limit]
    sub = os.path.join(OUT, "fashion-sub.csv")
    with open(sub, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            r = dict(r)
            r["image"] = os.path.join(DATA, "fashion", r["image"])
            w.writerow(r)
    why, secs = predict(model, sub, explain=True)
    gdir = os.path.join(OUT, "greyed")
    os.makedirs(gdir, exist_ok=True)
    kept, variants = [], {"top": [], "random": []}
    for r, e in zip(rows, why):
        ex = e["explanation"]
        if e["labels"][0] != r["category"] or "image" not in ex:
            continue
        cells = [v for row in ex["image"]["grid"] for v in row]
        best = sorted(range(16), key=lambda c: -cells[c])[:4]
        chosen = {"top": best, "random": rng.sample(range(16), 4)}
        img = Image.open(os.path.join(DATA, "fashion", r["image"])).convert("RGB")
        W, H = img.size
        for tag, cs in chosen.items():
            im = img.copy()
            for c in cs:
                x0, x1 = (c % 4) * W // 4, (c % 4 + 1) * W // 4
                y0, y1 = (c // 4) * H // 4, (c // 4 + 1) * H // 4
                im.paste(grey, (x0, y0, x1, y1))
            path = os.path.join(gdir, "%s-%s.png" % (r["id"], tag))
            im.save(path)
            variants[tag].append(path)
        kept.append((r, ex["image"]["probability"]))
    probs = {}
    for tag in ("top", "random"):
        path = os.path.join(OUT, "fashion-greyed-%s.csv" % tag)
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["id", "title", "image", "category"])
            for (r, _), img in zip(kept, variants[tag]):
                w.writerow([r["id"], "", img, r["category"]])
        preds = predict(model, path, k=256)[0]
        probs[tag] = [dict(zip(p["labels"], p["probs"])).get(r["category"], 0.0)
                      for p, (r, _) in zip(preds, kept)]
    drops = [(p0 - t, p0 - q) for (r, p0), t, q in zip(kept, probs["top"], probs["random"])]
    wins = sum(a > b for a, b in drops)
    return {"photos": len(kept), "top_drop_larger": wins / len(kept),
            "mean_top_drop": sum(a for a, _ in drops) / len(kept),
            "mean_random_drop": sum(b for _, b in drops) / len(kept),
            "explain_images_per_s": len(rows) / secs}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="fashion,zh-online-shopping-10cats")
    ap.add_argument("--encoders", default="bag,gru")
    ap.add_argument("--images", type=int, default=1000, help="fashion test photos for the CNN")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(1)
    results = {}
    print("| dataset | model | products | top token removed: changed | random token: changed "
          "| ratio | predict products/s | with --explain | cost |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.datasets.split(","):
        for enc in args.encoders.split(","):
            r = text_deletion(name, enc, rng)
            results["%s %s" % (name, enc)] = r
            print("| %s | %s | %d | %.4f | %.4f | %s | %.0f | %.0f | %.2fx |" % (
                name, enc, r["products"], r["top_changes"], r["random_changes"],
                "%.1f" % r["ratio"] if r["ratio"] else "-", r["predict_products_per_s"],
                r["explain_products_per_s"], r["explain_cost"]), flush=True)
    if args.images:
        r = image_deletion(rng, args.images)
        results["fashion image"] = r
        print("\nfashion CNN, %d correctly classified photos: greying the top quarter lowers the "
              "label's probability more than a random quarter for %.4f of them (mean drop %.4f "
              "against %.4f); %.1f photos/s explained" % (
                  r["photos"], r["top_drop_larger"], r["mean_top_drop"], r["mean_random_drop"],
                  r["explain_images_per_s"]))
    with open(os.path.join(OUT, "explain.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
