"""The Python package (python/shelf) over libshelf.so, run by /usr/bin/python3 in make test:
predictions as the command line gives them, 100,000 titles in one call, the library's
errors as shelf.Error with file and line, training from lists of dicts (photos as bytes),
scikit-learn's cross_val_score and GridSearchCV over ShelfClassifier, a model closed while
another thread predicts refused, never a crash."""
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
os.environ.setdefault("SHELF_LIB", os.path.join(ROOT, "build", "rel", "libshelf.so.0"))

import shelf  # noqa: E402

SAMPLE = os.path.join(ROOT, "examples", "sample")
SHELF = os.path.join(ROOT, "shelf")


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


class PythonPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.model_path = os.path.join(cls.tmp.name, "m.shelf")
        subprocess.run([SHELF, "train", "--train", os.path.join(SAMPLE, "train.csv"), "--out",
                        cls.model_path, "--threads", "1", "--seed", "1", "--quiet"],
                       check=True, capture_output=True)
        cls.model = shelf.Model.load(cls.model_path)

    @classmethod
    def tearDownClass(cls):
        cls.model.close()
        cls.tmp.cleanup()

    def test_predictions_are_the_command_lines(self):
        new = os.path.join(SAMPLE, "new.csv")
        out = subprocess.run([SHELF, "predict", "--model", self.model_path, "--data", new,
                              "--k", "3", "--output-format", "jsonl"], check=True,
                             capture_output=True, text=True).stdout
        cli = [json.loads(line) for line in out.splitlines()]
        titles = [" ".join(x for x in (r["title"], r["description"]) if x) for r in rows(new)]
        got = self.model.predict(titles=titles, k=3, ids=[r["id"] for r in rows(new)])
        self.assertEqual(len(got), len(cli))
        for g, c in zip(got, cli):
            self.assertEqual(set(g), set(c))
            self.assertEqual(g["id"], c["id"])
            self.assertEqual(g["labels"], c["labels"])
            for p, q in zip(g["probs"], c["probs"]):
                self.assertAlmostEqual(p, q, delta=1e-6 * max(1, q))

    def test_back_off_fields(self):
        got = self.model.predict(titles=["Nike Men Black Running Shoes", "zzz qqq"], k=2,
                                 min_confidence=0.99)
        self.assertIn(got[0]["status"], ("full", "partial", "review"))
        for g in got:
            self.assertEqual(set(g), {"labels", "probs", "path", "confidence", "status"})
            self.assertEqual(g["path"] is None, g["status"] == "review")

    def test_one_call_for_100000_titles(self):
        titles = ["Red cotton shirt %d" % i for i in range(100000)]
        got = self.model.predict(titles=titles, k=1)
        self.assertEqual(len(got), 100000)
        self.assertTrue(all(len(g["labels"]) == 1 for g in got))

    def test_probabilities_and_embeddings(self):
        import numpy as np
        p = self.model.predict_proba(titles=["Nike Running Shoes", "Samsung phone"])
        self.assertEqual(p.shape, (2, len(self.model.labels)))
        np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-4)
        best = self.model.predict(titles=["Nike Running Shoes"], k=1)[0]["labels"][0]
        self.assertEqual(self.model.labels[int(p[0].argmax())], best)
        e = self.model.embed(titles=["Nike Running Shoes", "Samsung phone"])
        self.assertEqual(e.shape[0], 2)
        np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1, atol=1e-4)

    def test_errors_carry_file_and_line(self):
        bad = os.path.join(self.tmp.name, "bad.csv")
        with open(bad, "w") as f:
            f.write('id,title,category\n1,red shirt,A\n2,"never closed,B\n')
        with self.assertRaises(shelf.Error) as e:
            shelf.train(bad)
        self.assertIn("bad.csv:3", str(e.exception))
        with self.assertRaises(shelf.Error):
            shelf.Model.load(os.path.join(self.tmp.name, "nowhere.shelf"))
        with self.assertRaises(shelf.Error) as e:
            shelf.train([{"title": "red shirt"}])
        self.assertIn("no label", str(e.exception))
        with self.assertRaises(shelf.Error) as e:
            shelf.train(os.path.join(SAMPLE, "train.csv"), epochs="many")
        self.assertIn("epochs", str(e.exception))

    def test_train_from_dicts_with_photos_as_bytes(self):
        import struct
        import zlib

        def png(rgb):  # an 8x8 PNG of one colour
            raw = b"".join(b"\0" + bytes(rgb) * 8 for _ in range(8))

            def chunk(kind, data):
                c = struct.pack(">I", len(data)) + kind + data
                return c + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
            return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
                    + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
        colours = {"Red": (220, 20, 20), "Blue": (20, 20, 220)}
        data = [{"id": i, "image": png(colours[c]), "label": c}
                for i in range(40) for c in colours]
        m = shelf.train(data, modality="image", image_size=8, width=4, batch=8, epochs=4,
                        threads=1, seed=1)
        got = m.predict(images=[png((230, 30, 30)), png((30, 30, 230))], k=1)
        self.assertEqual([g["labels"][0] for g in got], ["Red", "Blue"])
        m.close()

    def test_scikit_learn(self):
        from sklearn.model_selection import GridSearchCV, cross_val_score
        from shelf.sklearn import ShelfClassifier
        data = rows(os.path.join(SAMPLE, "train.csv"))
        X, y = [r["title"] for r in data], [r["category"] for r in data]
        scores = cross_val_score(ShelfClassifier(epochs=5), X, y, cv=3)
        self.assertEqual(len(scores), 3)
        self.assertGreater(min(scores), 0.6)
        search = GridSearchCV(ShelfClassifier(), {"epochs": [2, 6]}, cv=2).fit(X, y)
        self.assertIn(search.best_params_["epochs"], (2, 6))
        clf = search.best_estimator_
        self.assertEqual(clf.predict_proba(X[:4]).shape, (4, len(clf.classes_)))
        self.assertGreater(clf.score(X, y), 0.8)

    def test_back_off_sums_every_label(self):
        # the ancestor's probability sums every label under it, as shelf predict's
        new = os.path.join(SAMPLE, "new.csv")
        out = subprocess.run([SHELF, "predict", "--model", self.model_path, "--data", new,
                              "--k", "1", "--min-confidence", "0.9", "--output-format",
                              "jsonl"], check=True, capture_output=True, text=True).stdout
        cli = [json.loads(line) for line in out.splitlines()]
        titles = [" ".join(x for x in (r["title"], r["description"]) if x) for r in rows(new)]
        got = self.model.predict(titles=titles, k=1, min_confidence=0.9)
        for g, c in zip(got, cli):
            self.assertEqual((g["path"], g["status"]), (c["path"], c["status"]))
            self.assertAlmostEqual(g["confidence"], c["confidence"], delta=1e-5)
            self.assertEqual(len(g["labels"]), 1)

    def test_estimator_keeps_y_values_and_pickles(self):
        import pickle
        from shelf.sklearn import ShelfClassifier
        data = rows(os.path.join(SAMPLE, "train.csv"))
        names = sorted({r["category"] for r in data})
        X, y = [r["title"] for r in data], [names.index(r["category"]) for r in data]
        clf = ShelfClassifier(epochs=5).fit(X, y)
        self.assertEqual(list(clf.classes_), list(range(len(names))))
        self.assertGreater(clf.score(X, y), 0.8)
        back = pickle.loads(pickle.dumps(clf))
        self.assertEqual(list(back.predict(X[:20])), list(clf.predict(X[:20])))

    def test_read_options_in_train(self):
        tsv = os.path.join(self.tmp.name, "t.tsv")
        with open(tsv, "w") as f:
            f.write("name\tcat\n" + "red shirt\tA\nblue jeans\tB\n" * 10)
        m = shelf.train(tsv, text="name", label="cat", epochs=2)
        self.assertEqual(sorted(m.labels), ["A", "B"])
        m.close()

    def test_closing_a_model_in_use_is_refused(self):
        m = shelf.Model.load(self.model_path)
        titles = ["Blue denim jeans %d" % i for i in range(300000)]
        started, result = threading.Event(), {}

        def work():
            started.set()
            result["got"] = m.predict(titles=titles, k=1, threads=1)
        t = threading.Thread(target=work)
        t.start()
        started.wait()
        while not m._busy and t.is_alive():  # until the call is inside the library
            pass
        refused = False
        if t.is_alive():
            try:
                m.close()
            except shelf.Error as e:
                refused = "in use" in str(e)
        t.join()
        self.assertTrue(refused)
        self.assertEqual(len(result["got"]), len(titles))
        m.close()
        with self.assertRaises(shelf.Error):
            m.predict(titles=["x"])


if __name__ == "__main__":
    unittest.main()
