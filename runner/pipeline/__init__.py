"""Pipeline mode: watch ``input/``, take each file that stopped changing, run it."""
