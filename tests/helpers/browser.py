"""Debian's Chromium, headless (.ci/run installs it when missing): pages and pictures rendered for real."""

import shutil
import subprocess
from pathlib import Path

import numpy as np

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium is not installed. Fix: apt-get install chromium (.ci/run installs it when missing)"
    return found


def browser(profile: Path) -> list[str]:
    return [chromium(), *FLAGS, f"--user-data-dir={profile}"]


def screenshot(document: Path, out: Path, size: str = "1200,1600") -> np.ndarray:
    """``document`` rendered in a window of ``size`` pixels, as an RGB array."""
    from PIL import Image

    subprocess.run([*browser(out.parent / "profile"), f"--screenshot={out}", f"--window-size={size}",
                    document.as_uri()], capture_output=True, timeout=120, check=True)
    return np.asarray(Image.open(out).convert("RGB"))
