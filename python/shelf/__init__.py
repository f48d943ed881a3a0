"""shelf from Python: load a model, categorize products, train one, over libshelf.so.

    import shelf
    model = shelf.Model.load("model.shelf")
    model.predict(titles=["Nike Men Black Running Shoes"], k=3)
    # [{'labels': ['Footwear > Shoes > Sports Shoes', ...], 'probs': [0.93, ...]}]
    shelf.train(train="train.csv", valid="valid.csv", out="model.shelf", epochs=5)

Each call over many products crosses into C once. Errors raise shelf.Error with the
library's message (file, line and field). numpy is used when present (predict_proba and
embed return arrays; lists of lists without it)."""
import ctypes
import os
import threading

from . import _lib
from ._lib import Error

try:
    import numpy as _np
except ImportError:  # the lists of lists below serve without it
    _np = None

__all__ = ["Model", "Error", "train", "version"]

MODALITIES = ("text", "image", "both")
_STATUS = ("full", "partial", "review")


def version():
    """The version of the libshelf.so loaded."""
    return _lib.shelf_version().decode()


def _b(s):
    return None if s is None else os.fsencode(s) if isinstance(s, os.PathLike) else \
        s.encode("utf-8") if isinstance(s, str) else s


class _Products:
    """A ctypes array of shelf_product for titles and images (paths, or bytes of a JPEG, PNG
    or WebP), keeping the encoded strings alive for the call."""

    def __init__(self, titles=None, images=None, labels=None, ids=None):
        n = len(titles) if titles is not None else len(images) if images is not None else 0
        for name, seq in (("images", images), ("labels", labels), ("ids", ids)):
            if seq is not None and len(seq) != n:
                raise ValueError("shelf: %s has %d items for %d products" % (name, len(seq), n))
        self.n = n
        self.array = (_lib.Product * max(n, 1))()
        self._keep = []
        for i in range(n):
            p = self.array[i]
            if titles is not None and titles[i] is not None:
                p.text = _b(titles[i])
            if labels is not None and labels[i] is not None:
                p.label = _b(labels[i])
            if ids is not None and ids[i] is not None:
                p.id = _b(str(ids[i]))
            p.line = i + 1
            img = images[i] if images is not None else None
            if isinstance(img, (bytes, bytearray, memoryview)):
                data = bytes(img)
                self._keep.append(data)
                p.image_data = data
                p.image_size = len(data)
                p.image = b"image %d" % (i + 1)  # names it in messages
            elif img is not None:
                p.image = _b(img)


class Model:
    """A trained model (shelf_model): load it, predict, embed. A model may be shared by
    threads; close() while another thread predicts is refused with shelf.Error."""

    def __init__(self, handle):
        self._h = ctypes.c_void_p(handle)
        self._lock = threading.Lock()
        self._busy = 0
        k = _lib.shelf_model_num_labels(self._h)
        self.labels = [_lib.shelf_model_label(self._h, i).decode("utf-8") for i in range(k)]
        self.modality = MODALITIES[_lib.shelf_model_modality(self._h)]

    @classmethod
    def load(cls, path):
        err = _lib.ShelfError()
        h = ctypes.c_void_p()
        _lib.check(_lib.shelf_model_load(_b(os.fspath(path)), ctypes.byref(h), ctypes.byref(err)),
                   err)
        return cls(h.value)

    # -- use and release -------------------------------------------------------------------

    def _enter(self):
        with self._lock:
            if not self._h:
                raise Error("shelf: the model was closed")
            self._busy += 1

    def _leave(self):
        with self._lock:
            self._busy -= 1

    def close(self):
        """Frees the model now (else when it is garbage). Refused while another thread
        predicts with it."""
        with self._lock:
            if self._busy:
                raise Error("shelf: the model is in use by another thread (predict, embed): "
                            "close it when that call returns")
            h, self._h = self._h, None
        if h:
            _lib.shelf_model_free(h)

    def __del__(self):
        try:
            if getattr(self, "_h", None) and not self._busy:
                _lib.shelf_model_free(self._h)
                self._h = None
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def save(self, path):
        err = _lib.ShelfError()
        self._enter()
        try:
            _lib.check(_lib.shelf_model_save(self._h, _b(os.fspath(path)), ctypes.byref(err)),
                       err)
        finally:
            self._leave()

    # -- prediction ------------------------------------------------------------------------

    def _ranked(self, titles, images, k, threads, data_path):
        K = len(self.labels)
        k = max(1, min(int(k), K))
        # titles alone to a text model: an array of strings (no product records to fill)
        texts_only = images is None and titles is not None and self.modality == "text"
        if texts_only:
            n = len(titles)
            arr = (ctypes.c_char_p * max(n, 1))(*[t.encode("utf-8") if isinstance(t, str)
                                                   else (t or b"") for t in titles])
        else:
            prods = _Products(titles, images)
            n = prods.n
        labels = (ctypes.c_int * max(n * k, 1))()
        probs = (ctypes.c_float * max(n * k, 1))()
        counts = (ctypes.c_int * max(n, 1))()
        stats, err = _lib.PredictStats(), _lib.ShelfError()
        if texts_only:  # the caller holds the model (_enter)
            _lib.check(_lib.shelf_predict_batch(self._h, arr, n, k, threads, labels, probs,
                                                counts, ctypes.byref(err)), err)
        else:
            _lib.check(_lib.shelf_predict_products(
                self._h, _b(data_path), prods.array, n, k, threads, labels, probs, counts,
                None, ctypes.byref(stats), ctypes.byref(err)), err)
        return n, k, labels, probs, counts, stats

    def predict(self, titles=None, images=None, k=3, min_confidence=None, threads=0,
                data_path=".", ids=None):
        """The k best labels of each product, best first, as dicts with the fields of
        `shelf predict --output-format jsonl`: id (with ids), labels, probs; with
        min_confidence, the back-off's path (None for review), confidence and status (full,
        partial, review). A product the model cannot read (no usable image, no text) gets
        labels [] and an error. Relative image paths resolve against data_path's folder."""
        K = len(self.labels)
        want = max(1, min(int(k), K))
        self._enter()  # every library call below, back-off included, holds the model
        try:
            # back-off sums the probabilities of every label under an ancestor: it ranks all
            n, k, labels, probs, counts, stats = self._ranked(
                titles, images, K if min_confidence is not None else want, threads, data_path)
            if min_confidence is not None:
                paths = ctypes.create_string_buffer(max(n, 1) * 512)
                conf = (ctypes.c_float * max(n, 1))()
                status = (ctypes.c_int * max(n, 1))()
                _lib.shelf_backoff_many(self._h, labels, probs, counts, k, n,
                                        float(min_confidence), paths, 512, conf, status)
        finally:
            self._leave()
        names = self.labels
        if k == want:
            named = [names[j] for j in labels[:n * k]]  # one pass: the slices are cheap
            pro = probs[:n * k]
        else:  # ranked every label for back-off: the first `want` of each
            named = [names[labels[i * k + j]] for i in range(n) for j in range(want)]
            pro = [probs[i * k + j] for i in range(n) for j in range(want)]
        cnt = [min(c, want) for c in counts[:n]]
        if all(c == want for c in cnt):
            out = [{"labels": named[at:at + want], "probs": pro[at:at + want]}
                   for at in range(0, n * want, want)]
        else:
            out = [{"labels": named[i * want:i * want + c], "probs": pro[i * want:i * want + c]}
                   if c >= 0 else
                   {"labels": [], "probs": [],
                    "error": "the model cannot read this product (no usable image or text)"}
                   for i, c in enumerate(cnt)]
        if ids is not None:
            if len(ids) != n:
                raise ValueError("shelf: ids has %d items for %d products" % (len(ids), n))
            out = [dict(id=i, **o) for i, o in zip(ids, out)]
        if min_confidence is not None:
            raw = paths.raw
            for i in range(n):
                if status[i] < 0:
                    continue
                path = raw[i * 512:(i + 1) * 512].split(b"\0", 1)[0].decode("utf-8")
                out[i].update(path=None if status[i] == 2 else path, confidence=conf[i],
                              status=_STATUS[status[i]])
        return out

    def predict_proba(self, titles=None, images=None, threads=0, data_path="."):
        """Every label's probability for each product, in the order of model.labels: an
        (n, labels) numpy array (a list of lists without numpy); rows of zeros for products
        the model cannot read."""
        K = len(self.labels)
        self._enter()
        try:
            n, k, labels, probs, counts, _ = self._ranked(titles, images, K, threads, data_path)
        finally:
            self._leave()
        if _np is not None:
            lab = _np.ctypeslib.as_array(labels)[:n * k].reshape(n, k)
            pro = _np.ctypeslib.as_array(probs)[:n * k].reshape(n, k)
            cnt = _np.ctypeslib.as_array(counts)[:n]
            out = _np.zeros((n, K), dtype=_np.float32)
            good = cnt == k
            rows = _np.nonzero(good)[0]
            out[rows[:, None], lab[good]] = pro[good]
            return out
        out = [[0.0] * K for _ in range(n)]
        for i in range(n):
            if counts[i] == k:
                for j in range(k):
                    out[i][labels[i * k + j]] = probs[i * k + j]
        return out

    def embed(self, titles=None, images=None, threads=0, data_path="."):
        """One L2-normalized vector per product (shelf embed): an (n, dim) numpy array
        (a list of lists without numpy); rows of zeros for products the model cannot read."""
        prods = _Products(titles, images)
        n = prods.n
        stats, err = _lib.PredictStats(), _lib.ShelfError()
        self._enter()
        try:
            dim = _lib.shelf_embedding_dim(self._h)
            vec = (ctypes.c_float * max(n * dim, 1))()
            ok = (ctypes.c_ubyte * max(n, 1))()
            _lib.check(_lib.shelf_embed(self._h, _b(data_path), prods.array, n, threads, vec, ok,
                                        ctypes.byref(stats), ctypes.byref(err)), err)
        finally:
            self._leave()
        if _np is not None:
            return _np.ctypeslib.as_array(vec)[:n * dim].reshape(n, dim).copy()
        return [list(vec[i * dim:(i + 1) * dim]) for i in range(n)]


# -- training ---------------------------------------------------------------------------------

# shelf train's read options, by their Python names, and the field each sets
_READ = {"text": "text_columns", "label": "label_column", "id": "id_column",
         "image": "image_column", "image_column": "image_column", "label_sep": "label_sep",
         "skip_bad": "skip_bad", "fix_utf8": "fix_utf8", "max_depth": "max_depth",
         "no_header": "no_header", "delimiter": "delimiter", "format": "format"}
_FORMATS = {"auto": 0, "csv": 1, "tsv": 2, "jsonl": 3, "json": 3, "ndjson": 3, "fasttext": 4}


def _set_read(read, name, value, keep):
    field = _READ[name]
    if field in ("skip_bad", "fix_utf8", "no_header"):
        setattr(read, field, int(bool(value)))
    elif field == "max_depth":
        setattr(read, field, int(value))
    elif field == "format":
        if str(value) not in _FORMATS:
            raise Error("shelf: format must be one of %s, not %r" % (", ".join(_FORMATS), value))
        read.format = _FORMATS[str(value)]
    elif field == "delimiter":
        d = "\t" if value in ("tab", "\t") else str(value)
        if len(d.encode()) != 1:
            raise Error("shelf: delimiter must be one character (or tab), not %r" % value)
        read.delimiter = d.encode()
    else:
        b = _b(str(value))
        keep.append(b)
        setattr(read, field, b)


def _catalog(data, require_label, read, for_images):
    """A shelf_catalog from a file path or a list of dicts (title/text, image: path or bytes,
    label/category, id)."""
    err = _lib.ShelfError()
    h = ctypes.c_void_p()
    if isinstance(data, (str, bytes, os.PathLike)):
        ro = _lib.ReadOptions.from_buffer_copy(read)
        ro.require_label = int(require_label)
        ro.for_images = int(for_images)
        _lib.check(_lib.shelf_catalog_load(_b(os.fspath(data)), ctypes.byref(ro), ctypes.byref(h),
                                           ctypes.byref(err)), err)
        return h
    rows = list(data)

    def field(r, *names):
        for name in names:
            if r.get(name) is not None:
                return r[name]
        return None
    prods = _Products([field(r, "title", "text") for r in rows],
                      [field(r, "image") for r in rows],
                      [field(r, "label", "category") for r in rows],
                      [field(r, "id") for r in rows])
    _lib.check(_lib.shelf_catalog_from_products(prods.array, prods.n, None, int(require_label),
                                                ctypes.byref(h), ctypes.byref(err)), err)
    return h


def train(train, valid=None, out=None, **options):
    """Trains a model as `shelf train` does and returns it (a Model), written to out when
    given. train and valid: a catalog file's path, or a list of dicts with "title" (or
    "text"), "image" (a path, or the photo's bytes), "label" (or "category") and "id".
    options: shelf train's, with _ for - (epochs=5, text_encoder="gru", modality="image");
    a flag takes True."""
    opts = _lib.shelf_train_options_new()
    if not opts:
        raise MemoryError("shelf: out of memory")
    err = _lib.ShelfError()
    cats = []
    keep = []  # strings the options point to, alive until training ends
    try:
        read = _lib.shelf_train_options_read(opts).contents
        for name, value in options.items():
            if value is None or value is False:
                continue
            if name in _READ:  # how the catalogs are read (shelf train's column options)
                _set_read(read, name, value, keep)
                continue
            key = name.replace("_", "-").encode()
            val = None if value is True else str(value).encode()
            keep.append(val)
            _lib.check(_lib.shelf_train_options_set(opts, key, val, ctypes.byref(err)), err)
        for_images = options.get("modality") in ("image", "both")
        tc = _catalog(train, True, read, for_images)
        cats.append(tc)
        vc = None
        if valid is not None:
            vc = _catalog(valid, True, read, for_images)
            cats.append(vc)
        read.require_label = 1
        read.for_images = int(for_images)
        h = ctypes.c_void_p()
        _lib.check(_lib.shelf_train(tc, vc, opts, ctypes.byref(h), ctypes.byref(err)), err)
        model = Model(h.value)
        if out is not None:
            model.save(out)
        return model
    finally:
        for c in cats:
            _lib.shelf_catalog_free(c)
        _lib.shelf_train_options_free(opts)
