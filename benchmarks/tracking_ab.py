"""A/B of where MLflow runs (issue 12): the tracking worker process against a thread of the
training process (``TEXTCLF_TRACKING_IN=thread``, which exists only in commit bccf943: check it
out to rerun) and against the bare script, alternating, with benchmarks/run.py's measurement.

    python benchmarks/tracking_ab.py --repeats 3 --dataset 20ng   # or --dataset seeds
"""
import argparse, tempfile, json, os, sys, statistics, subprocess
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import run as bench

p = argparse.ArgumentParser()
p.add_argument("--repeats", type=int, default=3)
p.add_argument("--dataset", default="20ng")
p.add_argument("--kinds", default="bare,worker,thread", help="which contenders, in the order they alternate")
a = p.parse_args()
folder = Path(tempfile.mkdtemp(prefix=f"ab-{a.dataset}-"))
if a.dataset == "20ng":
    args = argparse.Namespace(train=str(ROOT.parent / "shared/data/20newsgroups/train.csv"), test=str(ROOT.parent / "shared/data/20newsgroups/test.csv"),
        text_fields="text", label_field="label", limit=None, multilabel=False, features="tfidf_word")
    paths = bench.prepare(args, folder)
    model_args = ["model=tfidf_linearsvc", "features=tfidf_word"]
    data_args = ["data=files", "data.name=ab", f"data.train={paths['train']}", f"data.validation={paths['validation']}",
                 f"data.test={paths['test']}", "data.label_column=labels"]
else:
    model_args, data_args = [], []
results = {"worker": [], "thread": [], "bare": []}
for r in range(a.repeats):
    for kind in [k for k in a.kinds.split(",") if a.dataset == "20ng" or k != "bare"]:
        store = folder / f"{kind}-{r}"
        subprocess.run(["rm", "-rf", str(store)]); store.mkdir()
        env = dict(os.environ, TEXTCLF_TRACKING_IN=kind, MLFLOW_DISABLE_TELEMETRY="true")
        if kind == "bare":
            cmd = [sys.executable, str(ROOT / "benchmarks/bare.py"), "--model", "tfidf_linearsvc", "--train", str(paths["train"]), "--test", str(paths["test"])]
        else:
            cmd = [sys.executable, str(ROOT / "train.py"), *data_args, *model_args,
                   f"tracking.uri=sqlite:///{store}/mlflow.db", f"tracking.artifact_location={store}/mlruns", f"hydra.run.dir={store}/out"]
        res = bench.measured(cmd, env=env)
        results[kind].append({k: res[k] for k in ("wall_seconds", "peak_tree_pss_mb", "peak_rss_mb")})
        print(kind, r, results[kind][-1], flush=True)
json.dump(results, open(folder / "results.json", "w"), indent=1)
for kind, rows in results.items():
    if rows:
        print(kind, {k: round(statistics.median(x[k] for x in rows), 2) for k in rows[0]})
