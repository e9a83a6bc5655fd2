"""``python -m runner`` is ``prompto-run`` (handy from a clone without installing)."""

from runner._cli import main

main()
