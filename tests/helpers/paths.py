from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds" / "diplomacy"
CONFIGS = ROOT / "configs"
