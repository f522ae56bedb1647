"""Whole articles: split into passages (``segment``), tagged by a registered model and rolled up
into the article's topics (``tag``, ``rollup``); read from files by ``sources``.

``textclf.tag_articles`` is the entry point; ``textclf predict --article`` its command.
"""
