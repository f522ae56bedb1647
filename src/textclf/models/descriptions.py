"""Label descriptions (``model.descriptions``): ``{label: description or [descriptions]}``.

``minilm_zeroshot`` scores texts against them and ``minilm_setfit`` tunes on them. Their shape is
checked before a run starts: a number, a mapping or a list in the wrong place was either iterated
(a mapping's keys became the descriptions, silently) or failed mid-fit with Python's words.
"""

from __future__ import annotations

from collections.abc import Mapping

from textclf.errors import UserError, did_you_mean

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
        if described is None:  # "label:" with nothing after it; or a table, whose lines YAML reads as one key
            raise UserError(f"model.descriptions.{label} has no description. Fix: give it one: a YAML mapping "
                            f"of label: description (or label: [descriptions]), one label a line, not a table")
        phrases = [described] if isinstance(described, str) else described
        if isinstance(phrases, (Mapping, bytes)) or not hasattr(phrases, "__iter__") or \
                not all(isinstance(phrase, str) for phrase in phrases):
            raise UserError(f"model.descriptions.{label} must be a description or a list of descriptions "
                            f"(text), got {described!r}. Fix: pass {EXAMPLE}")


def phrases_of(described) -> list[str]:
    """A label's descriptions as a list: one description, or its list."""
    return [described] if isinstance(described, str) else list(described)


def unused_labels(descriptions, labels, suggest_from=None) -> str:
    """The described labels that are none of ``labels``, each with the one of ``suggest_from``
    (default: ``labels``) it may misspell: ``"'shiping' (did you mean 'shipping'?)"``; "" if every
    described label is one of ``labels``."""
    known = [str(label) for label in labels]
    unused = [str(label) for label in (descriptions or {}) if str(label) not in known]
    return ", ".join(f"{label!r}{did_you_mean(label, known if suggest_from is None else suggest_from)}"
                     for label in unused)
