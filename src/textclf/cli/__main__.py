"""``python -m textclf.cli``: the ``textclf`` command."""

from textclf.cli import command

command()
