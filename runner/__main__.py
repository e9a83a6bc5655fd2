"""``python -m runner`` is ``prompto-run``; ``python -m runner score|judge RUN_DIR ...`` re-score/re-judge.

Handy from a clone without installing the console scripts.
"""

import sys

from runner.cli._eval_commands import judge_main, score_main
from runner.cli._prompto_run import main

if __name__ == "__main__":
    eval_commands = {"score": score_main, "judge": judge_main}
    if len(sys.argv) > 1 and sys.argv[1] in eval_commands:
        eval_commands[sys.argv[1]](sys.argv[2:])
    else:
        main()
