"""Every speed measurement of textclf, side by side, in one invocation (issue 19).

    python benchmarks/all.py --train ../shared/data/20newsgroups/train.csv \\
        --test ../shared/data/20newsgroups/test.csv --json-folder benchmarks
    python benchmarks/all.py --tiny --train T.csv --test T.csv --json-folder OUT   # a smoke run (CI)
        [--encoder DIR]   # a small sentence-transformers folder in place of MiniLM

One after another (never two at once: they share the cores):
  1. ``run.py``: ``python train.py`` with its defaults against the ten-line script a user would
     write, end to end, with the cold starts of ``textclf predict`` and of a script calling
     ``mlflow.pyfunc.load_model`` beside the time to import what the model needs;
  2. ``tagging.py``: the MiniLM models' tagging, fp32 (torch) against int8 (ONNX Runtime);
  3. ``finetune.py``: fine-tuning throughput against a bare transformers ``Trainer``.
Each prints its table and writes ``results-*.json`` into ``--json-folder``; benchmarks/RESULTS.md
reports them with the machine. ``--tiny``: one repeat, one MiniLM model (trained on 8 passages a
label), 32 fine-tuning passages (``--encoder``: a tiny model in place of MiniLM):
checks that the runners run, and measures nothing worth reading. Nothing here asserts a timing.
"""

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--json-folder", required=True)
    parser.add_argument("--tiny", action="store_true", help="a smoke run: one repeat, small workloads")
    parser.add_argument("--encoder", default=None,
                        help="a sentence-transformers folder in place of MiniLM (smoke runs: a tiny model)")
    parser.add_argument("--override", dest="overrides", action="append", default=[],
                        help="a train.py override for run.py's textclf runs (repeatable)")
    args = parser.parse_args()
    out = Path(args.json_folder)
    out.mkdir(parents=True, exist_ok=True)
    encoder = ["--encoder", args.encoder] if args.encoder else []
    runs = [
        ["run.py", "--train", args.train, "--test", args.test, "--repeats", "1" if args.tiny else "3",
         "--json", str(out / "results-20newsgroups-default.json"),
         *(f"--override={override}" for override in args.overrides)],
        ["tagging.py", "--repeats", "1" if args.tiny else "5", "--json", str(out / "results-tagging.json"),
         *(["--models", "minilm_zeroshot", "--per-label", "8"] if args.tiny else []), *encoder],
        ["finetune.py", "--repeats", "1" if args.tiny else "2", "--json", str(out / "results-finetune.json"),
         *(["--limit", "32", "--contenders", "bare", "textclf"] if args.tiny else []), *encoder],
    ]
    for script, *arguments in runs:
        print(f"\n== benchmarks/{script}", flush=True)
        subprocess.run([sys.executable, str(HERE / script), *arguments], check=True)


if __name__ == "__main__":
    main()
