"""ZeroShotClassifier: prototypes, calibration, self-training, save-load; tiny BERT, offline."""

import gzip
import json

import numpy as np
import pytest

from textclf.errors import UserError
from textclf.models.encoders import encoder_layout, load_encoder
from textclf.models.zeroshot import ZeroShotClassifier, pseudo_labels, read_unlabeled_texts
from textclf.serving.decision import ArgmaxDecision
from textclf.serving.reader import load_state
from textclf.serving.writer import save_state

SECURITY = ["missile launch in pyongyang", "rocket fired on the week", "pyongyang fired a missile",
            "a rocket launch of pyongyang"]
VISITS = ["summit meeting in seoul", "the minister visit to tokyo", "talks and meeting on the week",
          "minister talks in tokyo"]
TEXTS, LABELS = SECURITY + VISITS, ["security"] * 4 + ["visit"] * 4
DESCRIPTIONS = {"security": ["missile launch", "rocket fired in pyongyang"], "visit": "summit meeting and talks"}


def by_hand(tiny, texts):
    """Normalised embeddings of ``texts``, encoded outside the classifier."""
    return load_encoder(encoder_layout(tiny, None, normalize=True), 128, 64).encode(texts)


def unit(vector):
    return vector / np.linalg.norm(vector)


@pytest.mark.parametrize("use_label_name", [True, False])
def test_a_labels_prototype_is_the_normalised_mean_of_its_descriptions_and_name(tiny, use_label_name):
    model = ZeroShotClassifier(encoder=tiny, descriptions=DESCRIPTIONS, use_label_name=use_label_name,
                               calibration="none").fit(TEXTS, LABELS)
    name = ["security"] if use_label_name else []
    security = by_hand(tiny, [*name, "missile launch", "rocket fired in pyongyang"])
    visit = by_hand(tiny, [*(["visit"] if use_label_name else []), "summit meeting and talks"])
    expected = np.stack([unit(security.mean(axis=0)), unit(visit.mean(axis=0))])
    np.testing.assert_allclose(model.scorer_.label_embeddings, expected, atol=1e-5)


def test_the_label_name_is_spelled_with_spaces(tiny):
    model = ZeroShotClassifier(encoder=tiny, descriptions={"restore_trust": "x", "visit": "x"}, use_label_name=True,
                               calibration="none").fit(["a", "b"], ["restore_trust", "visit"])
    expected = unit(by_hand(tiny, ["restore trust", "x"]).mean(axis=0))
    np.testing.assert_allclose(model.scorer_.label_embeddings[0], expected, atol=1e-5)


def test_a_description_may_be_a_string_or_a_list(tiny):
    def prototypes(descriptions):
        model = ZeroShotClassifier(encoder=tiny, descriptions=descriptions, calibration="none")
        return model.fit(TEXTS, LABELS).scorer_.label_embeddings

    one = prototypes({"security": "missile launch", "visit": "summit meeting"})
    np.testing.assert_array_equal(one, prototypes({"security": ["missile launch"], "visit": ("summit meeting",)}))
    assert not np.allclose(one[0], prototypes({"security": ["missile launch", "pyongyang"], "visit": "summit"})[0])


def test_a_label_with_no_description_is_named(tiny):
    for descriptions in ({"security": "missile"}, {"security": "missile", "visit": []}):
        with pytest.raises(UserError, match="visit"):
            ZeroShotClassifier(encoder=tiny, descriptions=descriptions).fit(TEXTS, LABELS)


@pytest.mark.parametrize("descriptions, named", [
    ({"security": 5}, "model.descriptions.security"),                     # a number
    ({"security": {"text": "missile"}}, "model.descriptions.security"),   # a mapping: its keys were read as descriptions
    ({"security": ["missile", 3]}, "model.descriptions.security"),
    (["missile", "visit"], "must map each label"),                        # a list where the mapping goes
])
def test_descriptions_of_the_wrong_shape_are_refused_before_training(descriptions, named):
    from textclf.models.contrastive import ContrastiveEmbedder
    from textclf.models.params import check_estimator_params

    for model in (ZeroShotClassifier(descriptions=descriptions), ContrastiveEmbedder(descriptions=descriptions)):
        with pytest.raises(UserError, match=named):
            check_estimator_params(model)


def test_before_training_a_label_set_needs_a_description_each_and_extra_ones_are_said(recwarn):
    from textclf.models.params import check_estimator_params

    with pytest.raises(UserError, match=r"no description for label\(s\) \['visit'\]") as refused:
        check_estimator_params(ZeroShotClassifier(descriptions={"security": "missile"}), ["security", "visit"])
    # the fix is a command line that works: ++ adds the key, or replaces an empty description
    assert str(refused.value).endswith("""Fix: describe each, e.g. '++model.descriptions.visit="what a text of visit """
                                       """says"' (or a list of phrases), or replace them all: '~model.descriptions' """
                                       """'+model.descriptions={visit: "...", OTHER: "..."}'""")
    with pytest.raises(UserError, match=r"in a config of your own \(configs/model/\*.yaml\), e.g. \"state visit\""):
        check_estimator_params(ZeroShotClassifier(descriptions={"security": ""}), ["security", "state visit"])
    check_estimator_params(ZeroShotClassifier(descriptions={**DESCRIPTIONS, "piracy": "ships seized"}),
                           sorted(set(LABELS)))
    (warning,) = [str(w.message) for w in recwarn if "lacks" in str(w.message)]
    assert "piracy" in warning and "will not score" in warning


def test_a_wrong_setting_is_refused_before_training():
    from textclf.models.params import check_estimator_params

    for setting, value in (("calibration", "mean"), ("pseudo_label_fraction", 0.0), ("use_label_name", "yes")):
        with pytest.raises(UserError, match=setting):
            check_estimator_params(ZeroShotClassifier(descriptions=DESCRIPTIONS, **{setting: value}))


# "generic" is described by every text of the pool: its prototype is their centroid, close to every
# text, so raw cosines give it every text. (The tiny BERT knows no meaning: a specific label's short
# phrase is only somewhat closer to its own texts.)
GENERIC = {"security": "missile launch", "visit": "minister visit", "generic": TEXTS}
GENERIC_LABELS = LABELS[:-1] + ["generic"]  # only the label set is read


@pytest.mark.parametrize("calibration", ["centre", "zscore"])
def test_calibration_removes_a_generic_labels_advantage(tiny, calibration):
    raw = ZeroShotClassifier(encoder=tiny, descriptions=GENERIC, calibration="none").fit(TEXTS, GENERIC_LABELS)
    assert set(raw.predict(TEXTS)) == {"generic"}
    calibrated = ZeroShotClassifier(encoder=tiny, descriptions=GENERIC, calibration=calibration)
    predicted = calibrated.fit(TEXTS, GENERIC_LABELS).predict(TEXTS)
    assert (predicted == "generic").sum() <= 3 and {"security", "visit"} <= set(predicted)
    assert (predicted == np.array(LABELS)).mean() >= 0.6
    similarity = by_hand(tiny, TEXTS) @ calibrated.scorer_.label_embeddings.T
    np.testing.assert_allclose(calibrated.scorer_.offsets, similarity.mean(axis=0), atol=1e-5)


def test_zscore_scales_are_each_labels_spread_relative_to_the_mean_spread(tiny):
    model = ZeroShotClassifier(encoder=tiny, descriptions=GENERIC, calibration="zscore").fit(TEXTS, GENERIC_LABELS)
    spread = (by_hand(tiny, TEXTS) @ model.scorer_.label_embeddings.T).std(axis=0)
    np.testing.assert_allclose(model.scorer_.scales, spread / spread.mean(), rtol=1e-3)
    assert not np.allclose(model.scorer_.scales, 1.0, atol=0.01)
    centred = ZeroShotClassifier(encoder=tiny, descriptions=GENERIC, calibration="centre").fit(TEXTS, GENERIC_LABELS)
    assert centred.scorer_.scales.tolist() == [1.0, 1.0, 1.0]


def test_fit_never_reads_the_labels_of_its_texts(tiny):
    fitted = [ZeroShotClassifier(encoder=tiny, descriptions=DESCRIPTIONS).fit(TEXTS, labels)
              for labels in (LABELS, LABELS[::-1], ["security", "visit"] * 4)]
    for other in fitted[1:]:
        np.testing.assert_array_equal(other.predict_proba(TEXTS), fitted[0].predict_proba(TEXTS))
    assert fitted[0].scorer_.head is None  # fit's texts calibrate; they never start self-training


def write_unlabeled(folder, texts=TEXTS):
    path = folder / "unlabeled.txt"
    path.write_text("\n".join([texts[0], "", *texts[1:]]) + "\n", encoding="utf-8")  # a blank line is skipped
    return str(path)


def test_self_training_fits_a_head_on_the_confident_unlabeled_texts(tiny, tmp_path):
    from sklearn.linear_model import LogisticRegression

    model = ZeroShotClassifier(encoder=tiny, descriptions=DESCRIPTIONS, unlabeled=write_unlabeled(tmp_path),
                               pseudo_label_fraction=0.5, head=LogisticRegression(C=3.0))
    model.fit(["a", "b"], ["security", "visit"])  # the file, not fit's texts, is the pool
    head = model.scorer_.head
    assert isinstance(head, LogisticRegression) and head.C == 3.0 and head is not model.head  # a fitted clone
    pool = by_hand(tiny, TEXTS)
    expected_rows, _ = pseudo_labels(model.scorer_.similarity_proba(pool), 0.5)
    assert model.choices_["zeroshot.pseudo_labeled"] == f"{len(expected_rows)} of 8 texts"
    assert model.choices_["zeroshot.calibration_pool"] == "8 texts (model.unlabeled)"
    np.testing.assert_allclose(model.predict_proba(TEXTS), head.predict_proba(pool), atol=1e-5)
    assert not np.allclose(model.predict_proba(TEXTS), model.scorer_.similarity_proba(pool), atol=1e-3)


def test_pseudo_labels_keep_the_most_confident_fraction_of_each_labels_texts():
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8], [0.45, 0.55]])
    rows, columns = pseudo_labels(probabilities, 0.5)
    assert rows.tolist() == [0, 2, 3] and columns.tolist() == [0, 0, 1]  # ceil(3 / 2) = 2 and ceil(2 / 2) = 1
    rows, columns = pseudo_labels(probabilities, 1.0)
    assert sorted(rows.tolist()) == [0, 1, 2, 3, 4]


def test_unlabeled_texts_are_read_from_text_csv_jsonl_and_parquet(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"id": [1, 2], "text": ["a missile test", " a summit "]})
    frame.to_csv(tmp_path / "u.csv", index=False)
    frame.to_json(tmp_path / "u.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "u.parquet")
    for name in ("u.csv", "u.jsonl", "u.parquet"):
        assert read_unlabeled_texts(tmp_path / name) == ["a missile test", "a summit"]
    assert read_unlabeled_texts(write_unlabeled(tmp_path)) == TEXTS


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("missing.txt", None, "not found"),
    ("texts.docx", "a", "unsupported extension"),
    ("no_text.csv", "body\na missile test\n", "no 'text' column"),
    ("blank.txt", "\n  \n", "has no texts"),
    ("latin1.txt", b"caf\xe9\n", "not valid UTF-8"),
    ("texts.txt", gzip.compress(b"a summit\n", mtime=0), "unlabeled file .* is not UTF-8 text: it looks like a gzip-compressed file"),
])
def test_a_bad_unlabeled_file_is_a_one_line_user_error_naming_the_fix(tmp_path, tiny, name, content, problem):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=problem) as raised:
        ZeroShotClassifier(encoder=tiny, descriptions=DESCRIPTIONS, unlabeled=str(path)).fit(TEXTS, LABELS)
    message = str(raised.value)
    assert "\n" not in message and "Fix:" in message and str(path.name) in message


def test_a_missing_unlabeled_file_is_refused_before_a_run_starts(tmp_path):
    from textclf.models.params import check_estimator_params

    check_estimator_params(ZeroShotClassifier(descriptions=DESCRIPTIONS, unlabeled=write_unlabeled(tmp_path)))
    with pytest.raises(UserError, match="unlabeled file not found"):
        check_estimator_params(ZeroShotClassifier(descriptions=DESCRIPTIONS, unlabeled=str(tmp_path / "typo.txt")))


@pytest.mark.parametrize("setting", ["calibrated fp32", "self-trained int8"])
def test_a_saved_model_predicts_as_the_fitted_one(tiny, tmp_path, setting):
    settings = {"inference": "int8", "unlabeled": write_unlabeled(tmp_path)} if setting == "self-trained int8" else {}
    model = ZeroShotClassifier(encoder=tiny, descriptions=DESCRIPTIONS, **settings).fit(TEXTS, LABELS)
    save_state(model, ArgmaxDecision(("security", "visit")), tmp_path / "saved")
    loaded, _ = load_state(tmp_path / "saved")
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), model.predict_proba(TEXTS), atol=1e-6)
    np.testing.assert_array_equal(loaded.offsets, model.scorer_.offsets)
    state = (tmp_path / "saved" / "state.json").read_text(encoding="utf-8")
    if setting == "self-trained int8":  # the head is saved as data: a scikit-learn class and its arrays
        assert '"__object__": "sklearn.linear_model._logistic.LogisticRegression"' in state
        np.testing.assert_array_equal(loaded.head.coef_, model.scorer_.head.coef_)


def test_a_model_saved_before_calibration_loads_uncalibrated(tiny, tmp_path):
    calibrated = ZeroShotClassifier(encoder=tiny, descriptions=GENERIC).fit(TEXTS, GENERIC_LABELS)
    save_state(calibrated, ArgmaxDecision(("generic", "security", "visit")), tmp_path)
    document = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    for key in ("offsets", "scales", "head"):  # what a model saved before this change lacks
        del document["estimator"]["__zeroshot__"][key]
    (tmp_path / "state.json").write_text(json.dumps(document), encoding="utf-8")
    loaded, _ = load_state(tmp_path)
    uncalibrated = ZeroShotClassifier(encoder=tiny, descriptions=GENERIC, calibration="none").fit(TEXTS, GENERIC_LABELS)
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), uncalibrated.predict_proba(TEXTS), atol=1e-6)
    assert not np.allclose(calibrated.predict_proba(TEXTS), uncalibrated.predict_proba(TEXTS), atol=1e-3)


def test_multilabel_columns_follow_label_names_with_and_without_a_head(tiny, tmp_path):
    from textclf.task import MultilabelTask

    indicators = np.array([[0, 1]] * 4 + [[1, 0]] * 4)  # columns: visit, security
    for settings in ({}, {"unlabeled": write_unlabeled(tmp_path)}):
        multiclass = ZeroShotClassifier(encoder=tiny, descriptions=DESCRIPTIONS, **settings).fit(TEXTS, LABELS)
        multilabel = MultilabelTask().prepare(ZeroShotClassifier(encoder=tiny, descriptions=DESCRIPTIONS, **settings),
                                              ["visit", "security"]).fit(TEXTS, indicators)
        np.testing.assert_allclose(multilabel.predict_proba(TEXTS), multiclass.predict_proba(TEXTS)[:, ::-1],
                                   atol=1e-4)


def test_int8_zero_shot_scores_as_the_float_one(tiny):
    float_model = ZeroShotClassifier(encoder=tiny, descriptions=DESCRIPTIONS).fit(TEXTS, LABELS)
    model = ZeroShotClassifier(encoder=tiny, descriptions=DESCRIPTIONS, inference="int8").fit(TEXTS, LABELS)
    # the descriptions are encoded in float32 whatever the inference; the pool as it is served
    np.testing.assert_array_equal(model.scorer_.label_embeddings, float_model.scorer_.label_embeddings)
    np.testing.assert_allclose(model.predict_proba(TEXTS), float_model.predict_proba(TEXTS), atol=0.01)


def test_the_config_writes_every_setting_and_builds_the_documented_defaults():
    from helpers.training import composed
    from textclf.config import build

    cfg = composed("model=minilm_zeroshot")
    estimator = build(cfg.model.estimator, "model")
    assert estimator.unlabeled is None and estimator.inference == "int8"
    assert all(3 <= len(texts) <= 6 for texts in estimator.descriptions.values()) and len(estimator.descriptions) == 8
    written = set(cfg.model.estimator) - {"_target_"}
    assert written == set(estimator.get_params(deep=False)) - {"label_names"}  # no hidden default
    defaults = ZeroShotClassifier().get_params(deep=False)
    for key in ("use_label_name", "calibration", "pseudo_label_fraction", "temperature"):
        assert estimator.get_params()[key] == defaults[key]
    with_path = composed("model=minilm_zeroshot", "model.unlabeled=/some/texts.txt")
    assert build(with_path.model.estimator, "model").unlabeled == "/some/texts.txt"


def test_zero_shot_with_the_real_minilm_needs_no_training_examples():
    descriptions = {"north_korea_security": "North Korean missile launches and military threats",
                    "high_level_engagement": "visits, summits and meetings between senior officials"}
    # Two placeholder texts make no calibration pool worth the name: uncalibrated cosines.
    model = ZeroShotClassifier(descriptions=descriptions, calibration="none").fit(
        ["x", "y"], ["high_level_engagement", "north_korea_security"])
    predicted = model.predict(["Pyongyang fired a ballistic missile into the East Sea at dawn.",
                               "The foreign minister will travel to Jakarta for talks with her counterpart."])
    assert list(predicted) == ["north_korea_security", "high_level_engagement"]


def test_multilabel_zero_shot_columns_follow_the_tasks_label_order_whatever_the_descriptions():
    from textclf.task import MultilabelTask

    # "aaa_extra" sorts first and has no training label: it must not take another label's column.
    descriptions = {"aaa_extra": "recipes for baking bread and cakes",
                    "north_korea_security": "North Korean missile launches and military threats",
                    "high_level_engagement": "visits, summits and meetings between senior officials"}
    label_names = ["high_level_engagement", "north_korea_security"]
    model = MultilabelTask().prepare(ZeroShotClassifier(descriptions=descriptions, calibration="none"), label_names)
    model.fit(["x", "y"], np.array([[1, 0], [0, 1]]))
    probabilities = model.predict_proba(["Pyongyang fired a ballistic missile into the East Sea at dawn.",
                                         "The foreign minister will travel to Jakarta for talks with her counterpart."])
    assert probabilities.shape == (2, 2)
    assert probabilities[0].argmax() == 1 and probabilities[1].argmax() == 0  # missile -> nk; visit -> engagement


def test_descriptions_from_a_folder_of_ones_own_are_used_and_logged(tmp_path, tiny, train_in_process):
    """README: a descriptions file outside the project, found through hydra.searchpath."""
    import pandas as pd

    from helpers.stores import all_runs

    own = tmp_path / "my-configs" / "model" / "descriptions"
    own.mkdir(parents=True)
    (own / "mine.yaml").write_text(json.dumps(DESCRIPTIONS))  # JSON is YAML too
    for split in ("train", "validation", "test"):
        texts = [f"{text}, {split}" for text in TEXTS]  # no text in two splits
        pd.DataFrame({"text": texts, "label": LABELS}).to_csv(tmp_path / f"{split}.csv", index=False)
    result = train_in_process(tmp_path, "model=minilm_zeroshot", f"model.encoder={tiny}", "model/descriptions=mine",
                              f"hydra.searchpath=[file://{tmp_path / 'my-configs'}]", "data=files",
                              *(f"data.{split}={tmp_path / f'{split}.csv'}" for split in ("train", "validation", "test")))
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = all_runs(tmp_path)
    assert run.data.params["model.descriptions.visit"] == DESCRIPTIONS["visit"]
    assert run.data.params["model.descriptions.security"] == str(DESCRIPTIONS["security"])


def test_int8_zero_shot_reads_the_encoders_graph_from_the_cache_the_embedder_built(tiny, tmp_path, monkeypatch):
    from textclf.models import quantization, zeroshot
    from textclf.models.embedder import SentenceEmbedder

    SentenceEmbedder(encoder=tiny, normalize=True, inference="int8", cache_dir=str(tmp_path)).fit(TEXTS)
    built = ZeroShotClassifier(encoder=tiny, descriptions=DESCRIPTIONS, inference="int8").fit(TEXTS, LABELS)

    def exported_again(*args):
        raise AssertionError("the graph was exported again")

    def cached():
        return ZeroShotClassifier(encoder=tiny, descriptions=DESCRIPTIONS, inference="int8",
                                  cache_dir=str(tmp_path)).fit(TEXTS, LABELS)

    monkeypatch.setattr(quantization, "_int8_graph", exported_again)
    np.testing.assert_array_equal(cached().predict_proba(TEXTS), built.predict_proba(TEXTS))

    # The descriptions' float vectors and the pool's int8 ones are cached now: the next fit loads
    # no float model, and scores the same.
    def float_model_loaded(*args):
        raise AssertionError("the float model was loaded")

    monkeypatch.setattr(zeroshot, "load_encoder", float_model_loaded)
    np.testing.assert_array_equal(cached().predict_proba(TEXTS), built.predict_proba(TEXTS))
