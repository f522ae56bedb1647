"""The ten lines a user would write instead of textclf: TF-IDF word 1-2-grams + LinearSVC.

    python benchmarks/script.py --train train.jsonl --test test.jsonl
Reads the prepared JSONL files (text, labels), prints one JSON line of scores and timings.
"""

import argparse
import json
import time

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

parser = argparse.ArgumentParser()
parser.add_argument("--train", required=True)
parser.add_argument("--test", required=True)
args = parser.parse_args()

train, test = pd.read_json(args.train, lines=True), pd.read_json(args.test, lines=True)
model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2), LinearSVC())
started = time.perf_counter()
model.fit(train["text"], train["labels"].str[0])
fit_seconds = time.perf_counter() - started
started = time.perf_counter()
predicted = model.predict(test["text"])
predict_seconds = time.perf_counter() - started
truth = test["labels"].str[0]
print(json.dumps({"accuracy": accuracy_score(truth, predicted), "macro_f1": f1_score(truth, predicted, average="macro"),
                  "micro_f1": f1_score(truth, predicted, average="micro"), "fit_seconds": fit_seconds,
                  "predict_texts_per_second": len(test) / predict_seconds}))
