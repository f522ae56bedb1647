"""The optional parts of textclf (pyproject's extras), and the one line that says one is missing.

``pip install -e .`` installs what the TF-IDF models need. The MiniLM models need the
``transformers`` extra, ``data=hf`` the ``hf`` extra; without them, building that config fails
with ``UserError`` naming the extra, before a run starts (``textclf.config.build``). Their
``inference: int8`` needs the ``int8`` extra (ONNX Runtime), checked as such a model is fitted.
"""

from __future__ import annotations

import importlib.util

# extra -> the importable packages it adds, as the error names them
EXTRAS = {"transformers": ("torch", "transformers"), "hf": ("datasets",), "int8": ("onnxruntime", "onnx"),
          "server": ("psycopg", "flask_wtf")}


def require_extra(extra: str) -> None:
    """Raise ``ModuleNotFoundError`` for the first package of ``extra`` that is not installed.

    It looks for the packages without importing them, so a module that needs torch can say so
    when it is imported (as Hydra builds a model) without paying for torch's import.
    """
    for package in EXTRAS[extra]:
        if not is_installed(package):
            raise ModuleNotFoundError(f"No module named {package!r}", name=package)


def is_installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def missing_extra(error: BaseException | None) -> str | None:
    """The extra whose package ``error``, or an error it was raised from, found not installed."""
    while error is not None:
        if isinstance(error, ModuleNotFoundError) and error.name:
            package = error.name.split(".")[0]
            for extra, packages in EXTRAS.items():
                if package in packages:
                    return extra
        error = error.__cause__ or error.__context__
    return None


def missing_extra_message(what: str, extra: str) -> str:
    """``what`` needs the packages of ``extra``: the message and the install command that fixes it."""
    packages = EXTRAS[extra]
    verb = "is" if len(packages) == 1 else "are"
    return (f"{what} needs {' and '.join(packages)}, which {verb} not installed. "
            f"Fix: pip install -e '.[{extra}]'")
