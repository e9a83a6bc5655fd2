"""``python -m runner``: the ``prompto-run`` command, from this source tree."""

from runner._cli import main

main()
