"""The bare baseline: what a user would write without textclf. Load, fit, predict, score.

Same estimator settings as configs/model/<model>.yaml with configs/features/tfidf_word.yaml;
keep them in step. Prints one JSON line of scores and timings.
    python benchmarks/bare.py --train train.jsonl --test test.jsonl --model tfidf_linearsvc [--multilabel]
"""

import argparse
import json
import time

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC

CLASSIFIERS = {
    # textclf's tfidf_linearsvc predicts exactly this SVM's labels; it also fits a copy on 90% of
    # train (on the other core) for probabilities, which a bare script has no use for.
    "tfidf_linearsvc": lambda: LinearSVC(C=1.0, random_state=42),
    "tfidf_logreg": lambda: LogisticRegression(C=20.0, max_iter=2000, class_weight="balanced", random_state=42),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--model", choices=sorted(CLASSIFIERS), required=True)
    parser.add_argument("--multilabel", action="store_true")
    args = parser.parse_args()

    train, test = pd.read_json(args.train, lines=True), pd.read_json(args.test, lines=True)
    classifier = CLASSIFIERS[args.model]()
    if args.multilabel:
        binarizer = MultiLabelBinarizer()
        y_train = binarizer.fit_transform(train["labels"])
        y_test = binarizer.transform(test["labels"])
        classifier = OneVsRestClassifier(classifier)
    else:
        y_train, y_test = train["labels"].str[0], test["labels"].str[0]
    model = Pipeline([
        ("features", TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)),
        ("classifier", classifier),
    ])
    started = time.perf_counter()
    model.fit(train["text"].tolist(), y_train)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted = model.predict(test["text"].tolist())
    predict_seconds = time.perf_counter() - started
    print(json.dumps({
        "accuracy": accuracy_score(y_test, predicted),
        "macro_f1": f1_score(y_test, predicted, average="macro", zero_division=0.0),
        "micro_f1": f1_score(y_test, predicted, average="micro", zero_division=0.0),
        "fit_seconds": fit_seconds,
        "predict_texts_per_second": len(test) / predict_seconds,
    }))


if __name__ == "__main__":
    main()
