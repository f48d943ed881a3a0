"""shelf as a scikit-learn classifier: titles in, categories out, so that cross_val_score,
GridSearchCV and pipelines take it.

    from shelf.sklearn import ShelfClassifier
    from sklearn.model_selection import GridSearchCV
    search = GridSearchCV(ShelfClassifier(), {"epochs": [5, 10], "ngrams": [1, 2]}, cv=3)
    search.fit(titles, categories)

X is a sequence of titles (strings), or of dicts with "title" and "image" (a path or the
photo's bytes); y the categories ("Apparel > Topwear > Tshirts")."""
import os
import tempfile

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
        y = np.asarray(y)
        if len(titles) != len(y):
            raise ValueError("ShelfClassifier.fit: X has %d products, y %d labels"
                             % (len(titles), len(y)))
        # the model's labels are text: y's own values (numbers too) come back from predict
        self.classes_ = np.unique(y)
        rows = [{"title": t, "image": i, "label": str(label)}
                for t, i, label in zip(titles, images or [None] * len(titles), y)]
        self.model_ = shelf.train(rows, **self._train_options())
        index = {name: j for j, name in enumerate(self.model_.labels)}
        self._order = np.array([index[str(c)] for c in self.classes_])
        self._back = {str(c): c for c in self.classes_}
        return self

    def predict_proba(self, X):
        titles, images = self._split(X)
        return self.model_.predict_proba(titles=titles, images=images,
                                         threads=self.threads or 0)[:, self._order]

    def predict(self, X):
        # the most probable of classes_ (the model's best label, in y's own values)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    # a fitted estimator pickles (joblib, GridSearchCV's n_jobs) with its model's bytes
    def __getstate__(self):
        state = self.__dict__.copy()
        model = state.pop("model_", None)
        if model is not None:
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "model.shelf")
                model.save(path)
                with open(path, "rb") as f:
                    state["_model_bytes"] = f.read()
        return state

    def __setstate__(self, state):
        data = state.pop("_model_bytes", None)
        self.__dict__.update(state)
        if data is not None:
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "model.shelf")
                with open(path, "wb") as f:
                    f.write(data)
                self.model_ = shelf.Model.load(path)
