"""Test driver: spark/lagom.py as spark-submit runs it, plus --returned PATH
where the dict lagom() returned is written (to compare with summary.json)."""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "spark"))

import lagom as cli  # noqa: E402  spark/lagom.py

returned = pathlib.Path(sys.argv[sys.argv.index("--returned") + 1])
argv = [a for i, a in enumerate(sys.argv[1:], 1)
        if a != "--returned" and sys.argv[i - 1] != "--returned"]
run = cli.lagom


def lagom_and_keep(*args, **kwargs):
    summary = run(*args, **kwargs)
    returned.write_text(json.dumps(summary))
    return summary


cli.lagom = lagom_and_keep
sys.exit(cli.main(argv))
