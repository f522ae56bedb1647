"""``textclf audit``: what is wrong with a labeled dataset before a model is trained on it.

Likely wrong labels (``label_issues``), exact and near duplicates within and across splits
(``similarity``), texts unlike any label, texts too short or too long, label counts and, for
multi-label data, label pairs that look like slips (``checks``). ``run.run_audit`` is the recipe,
``report`` writes and logs what it found.
"""
