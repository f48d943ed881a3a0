"""libshelf.so through ctypes: where it is found, and the C API's types and signatures
(include/shelf.h). Nothing here allocates per product: callers pass whole arrays."""
import ctypes
import ctypes.util
import os

ERROR_MAX = 1024


class Error(Exception):
    """A failure the library reported: its message names the file, line and field."""

    def __init__(self, message, code=0):
        super().__init__(message)
        self.code = code


class ShelfError(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("message", ctypes.c_char * ERROR_MAX)]


class Product(ctypes.Structure):
    _fields_ = [("id", ctypes.c_char_p), ("text", ctypes.c_char_p), ("label", ctypes.c_char_p),
                ("image", ctypes.c_char_p), ("line", ctypes.c_long),
                ("image_data", ctypes.c_char_p), ("image_size", ctypes.c_size_t)]


class PredictStats(ctypes.Structure):
    _fields_ = [("bad_images", ctypes.c_long), ("first_bad", ctypes.c_char * ERROR_MAX),
                ("text_only", ctypes.c_long), ("image_only", ctypes.c_long),
                ("load_seconds", ctypes.c_double), ("model_seconds", ctypes.c_double)]


class ReadOptions(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("text_columns", ctypes.c_char_p),
                ("label_column", ctypes.c_char_p), ("id_column", ctypes.c_char_p),
                ("label_sep", ctypes.c_char_p), ("require_label", ctypes.c_int),
                ("skip_bad", ctypes.c_int), ("fix_utf8", ctypes.c_int),
                ("image_column", ctypes.c_char_p), ("for_images", ctypes.c_int),
                ("max_depth", ctypes.c_int), ("no_header", ctypes.c_int),
                ("delimiter", ctypes.c_char), ("keep_columns", ctypes.c_char_p)]


def _candidates():
    env = os.environ.get("SHELF_LIB")
    if env:
        yield env
    here = os.path.dirname(os.path.abspath(__file__))
    try:  # where make install put the library that this copy of the package came with
        from ._installed import LIBDIR
        yield os.path.join(LIBDIR, "libshelf.so.0")
    except ImportError:
        pass
    yield os.path.join(here, "libshelf.so.0")  # beside the package, as a wheel would put it
    # the source tree: python/shelf -> build/rel
    yield os.path.normpath(os.path.join(here, "..", "..", "build", "rel", "libshelf.so.0"))
    for prefix in ("/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu"):
        yield os.path.join(prefix, "libshelf.so.0")
    found = ctypes.util.find_library("shelf")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append(path)
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("shelf: libshelf.so.0 not found (build it with `make lib`, install it "
                      "with `make install`, or name it in SHELF_LIB); tried: " + ", ".join(tried))


lib = _load()
P = ctypes.c_void_p
I, F, SZ = ctypes.c_int, ctypes.c_float, ctypes.c_size_t
ERR = ctypes.POINTER(ShelfError)


def _sig(name, res, *args):
    f = getattr(lib, name)
    f.restype = res
    f.argtypes = list(args)
    return f


shelf_version = _sig("shelf_version", ctypes.c_char_p)
shelf_model_load = _sig("shelf_model_load", I, ctypes.c_char_p, ctypes.POINTER(P), ERR)
shelf_model_free = _sig("shelf_model_free", None, P)
shelf_model_save = _sig("shelf_model_save", I, P, ctypes.c_char_p, ERR)
shelf_model_num_labels = _sig("shelf_model_num_labels", I, P)
shelf_model_label = _sig("shelf_model_label", ctypes.c_char_p, P, I)
shelf_model_modality = _sig("shelf_model_modality", I, P)
shelf_model_read_options = _sig("shelf_model_read_options", ctypes.POINTER(ReadOptions), P)
shelf_embedding_dim = _sig("shelf_embedding_dim", SZ, P)
shelf_predict_products = _sig(
    "shelf_predict_products", I, P, ctypes.c_char_p, ctypes.POINTER(Product), SZ, I, I,
    ctypes.POINTER(I), ctypes.POINTER(F), ctypes.POINTER(I), ctypes.POINTER(ctypes.c_ubyte),
    ctypes.POINTER(PredictStats), ERR)
shelf_predict_batch = _sig("shelf_predict_batch", I, P, ctypes.POINTER(ctypes.c_char_p), SZ, I, I,
                           ctypes.POINTER(I), ctypes.POINTER(F), ctypes.POINTER(I), ERR)
shelf_embed = _sig("shelf_embed", I, P, ctypes.c_char_p, ctypes.POINTER(Product), SZ, I,
                   ctypes.POINTER(F), ctypes.POINTER(ctypes.c_ubyte),
                   ctypes.POINTER(PredictStats), ERR)
shelf_backoff_many = _sig("shelf_backoff_many", None, P, ctypes.POINTER(I), ctypes.POINTER(F),
                          ctypes.POINTER(I), I, SZ, F, ctypes.c_char_p, SZ,
                          ctypes.POINTER(F), ctypes.POINTER(I))
shelf_catalog_load = _sig("shelf_catalog_load", I, ctypes.c_char_p,
                          ctypes.POINTER(ReadOptions), ctypes.POINTER(P), ERR)
shelf_catalog_from_products = _sig("shelf_catalog_from_products", I, ctypes.POINTER(Product),
                                   SZ, ctypes.c_char_p, I, ctypes.POINTER(P), ERR)
shelf_catalog_free = _sig("shelf_catalog_free", None, P)
shelf_catalog_size = _sig("shelf_catalog_size", SZ, P)
shelf_train_options_new = _sig("shelf_train_options_new", P)
shelf_train_options_free = _sig("shelf_train_options_free", None, P)
shelf_train_options_read = _sig("shelf_train_options_read", ctypes.POINTER(ReadOptions), P)
shelf_train_options_set = _sig("shelf_train_options_set", I, P, ctypes.c_char_p,
                               ctypes.c_char_p, ERR)
shelf_train = _sig("shelf_train", I, P, P, P, ctypes.POINTER(P), ERR)


def check(status, err):
    """Raises Error with the library's message unless status is SHELF_OK (0)."""
    if status != 0:
        raise Error(err.message.decode("utf-8", "replace"), status)
