"""The packages a saved model pins, and the check of them against this environment."""

from __future__ import annotations

import warnings
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

from textclf.errors import TextclfWarning


def requirements(packages: list[str]) -> list[str]:
    """Exact pins for what loading the model needs, instead of MLflow's slow inference."""
    needed = {"mlflow", "numpy", "pandas", "scikit-learn", "scipy", *packages}
    return [f"{name}=={installed_version(name)}" for name in sorted(needed)]


def installed_version(name: str) -> str:
    """The installed version of a package, as a model pins it."""
    # torch reports "2.13.0+cpu"; the local build tag is not installable from PyPI.
    return package_version(name).split("+")[0]


def warn_about_version_mismatches(requirements_file: Path) -> None:
    """Warn, in one line, about packages installed at other versions than the model was saved with."""
    mismatches = []
    lines = requirements_file.read_text().splitlines() if requirements_file.is_file() else []
    for name, _, pinned in (line.strip().partition("==") for line in lines):
        if not pinned:
            continue
        try:
            installed = installed_version(name)
        except PackageNotFoundError:
            installed = "not installed"
        if installed != pinned:
            mismatches.append(f"{name} {installed} (model: {pinned})")
    if mismatches:
        warnings.warn(f"this environment differs from the model's: {', '.join(mismatches)}; "
                      "predictions may differ slightly", TextclfWarning, stacklevel=3)
