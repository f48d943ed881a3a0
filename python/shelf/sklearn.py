"""shelf as a scikit-learn classifier: titles in, categories out, so that cross_val_score,
GridSearchCV and pipelines take it.

    from shelf.sklearn import ShelfClassifier
    from sklearn.model_selection import GridSearchCV
    search = GridSearchCV(ShelfClassifier(), {"epochs": [5, 10], "ngrams": [1, 2]}, cv=3)
    search.fit(titles, categories)

X is a sequence of titles (strings), or of dicts with "title" and "image" (a path or the
photo's bytes); y the categories ("Apparel > Topwear > Tshirts")."""
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

import shelf


class ShelfClassifier(ClassifierMixin, BaseEstimator):
    """shelf train's model behind fit, predict, predict_proba and score. Each parameter is
    shelf train's option of that name (None: its default); options takes any other as a
    dict ({"text_encoder": "gru", "max_tokens": 32})."""

    def __init__(self, epochs=None, lr=None, ngrams=None, minn=None, maxn=None, buckets=None,
                 dim=None, hierarchy=None, modality=None, threads=1, seed=1, options=None):
        self.epochs = epochs
        self.lr = lr
        self.ngrams = ngrams
        self.minn = minn
        self.maxn = maxn
        self.buckets = buckets
        self.dim = dim
        self.hierarchy = hierarchy
        self.modality = modality
        self.threads = threads
        self.seed = seed
        self.options = options

    def _train_options(self):
        opts = {k: v for k, v in self.get_params().items() if k != "options" and v is not None}
        opts.update(self.options or {})
        return opts

    @staticmethod
    def _split(X):
        """Titles and images of X (strings, or dicts with title and image)."""
        titles, images = [], []
        for x in X:
            if isinstance(x, dict):
                titles.append(x.get("title", x.get("text")))
                images.append(x.get("image"))
            else:
                titles.append(None if x is None else str(x))
                images.append(None)
        return titles, (images if any(i is not None for i in images) else None)

    def fit(self, X, y):
        titles, images = self._split(X)
        rows = [{"title": t, "image": i, "label": str(label)}
                for t, i, label in zip(titles, images or [None] * len(titles), y)]
        if len(rows) != len(list(y)):
            raise ValueError("ShelfClassifier.fit: X and y differ in length")
        self.model_ = shelf.train(rows, **self._train_options())
        self.classes_ = np.array(sorted(self.model_.labels))
        self._order = np.array([self.model_.labels.index(c) for c in self.classes_])
        return self

    def predict_proba(self, X):
        titles, images = self._split(X)
        return self.model_.predict_proba(titles=titles, images=images,
                                         threads=self.threads or 0)[:, self._order]

    def predict(self, X):
        titles, images = self._split(X)
        got = self.model_.predict(titles=titles, images=images, k=1, threads=self.threads or 0)
        return np.array([g["labels"][0] if g["labels"] else "" for g in got], dtype=object)
