"""``python -m runner score|judge RUN_DIR ...``: the same as ``prompto-score`` and ``prompto-judge``."""

import sys

from runner._eval_cli import judge_main, score_main

if __name__ == "__main__":
    commands = {"score": score_main, "judge": judge_main}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit("usage: python -m runner {score,judge} RUN_DIR [overrides...]")
    commands[sys.argv[1]](sys.argv[2:])
