"""Names shared by the writer and the reader of the saved format."""

FORMAT = "textclf-state"
# 1: the first format. 2: decisions carry a "kind"; encoders carry their pooling. 3: transformer
# parts carry their "inference" (fp32, or int8 with a model.int8.onnx graph). The reader reads all.
FORMAT_VERSION = 3
STATE_FILE = "state.json"
ARRAYS_FOLDER = "arrays"
# Objects are rebuilt only from classes in these modules, by restoring their attributes.
ALLOWED_MODULE_PREFIX = "sklearn."
# Types that may appear as values (TfidfVectorizer's ``dtype``).
SAFE_TYPES = {"numpy.float64", "numpy.float32", "numpy.int64", "numpy.int32", "builtins.float", "builtins.int"}


class UnsafeModelError(ValueError):
    """The saved model holds something the data-only format does not allow."""
