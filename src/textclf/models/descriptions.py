"""Label descriptions (``model.descriptions``): ``{label: description or [descriptions]}``.

``minilm_zeroshot`` scores texts against them and ``minilm_setfit`` tunes on them. Their shape is
checked before a run starts: a number, a mapping or a list in the wrong place was either iterated
(a mapping's keys became the descriptions, silently) or failed mid-fit with Python's words.
"""

from __future__ import annotations

from collections.abc import Mapping

from textclf.errors import UserError

EXAMPLE = 'model.descriptions.LABEL="what a text of LABEL says" (or a list of such phrases)'


def check_descriptions(descriptions) -> None:
    """Raise ``UserError`` unless ``descriptions`` is None or maps each label to a description or
    a list of them (strings)."""
    if descriptions is None:
        return
    if not isinstance(descriptions, Mapping):
        raise UserError(f"model.descriptions must map each label to its descriptions, got a "
                        f"{type(descriptions).__name__}: {descriptions!r}. Fix: pass {EXAMPLE}")
    for label, described in descriptions.items():
        phrases = [described] if isinstance(described, str) else described
        if isinstance(phrases, (Mapping, bytes)) or not hasattr(phrases, "__iter__") or \
                not all(isinstance(phrase, str) for phrase in phrases):
            raise UserError(f"model.descriptions.{label} must be a description or a list of descriptions "
                            f"(text), got {described!r}. Fix: pass {EXAMPLE}")


def phrases_of(described) -> list[str]:
    """A label's descriptions as a list: one description, or its list."""
    return [described] if isinstance(described, str) else list(described)
