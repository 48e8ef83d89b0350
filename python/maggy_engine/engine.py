"""Where the maggy-engine binary is, and how to ask it for JSON."""
import json
import os
import pathlib
import shutil
import subprocess

CHECKOUT_BUILD = pathlib.Path(__file__).resolve().parents[2] / "build" / "maggy-engine"


class EngineError(RuntimeError):
    """maggy-engine refused (no experiment in the directory, a bad
    argument): the message is the engine's own."""


def engine_path():
    """The maggy-engine binary: $MAGGY_ENGINE, this checkout's
    build/maggy-engine (an editable install), or `maggy-engine` on PATH."""
    env = os.environ.get("MAGGY_ENGINE")
    if env:
        return env
    if CHECKOUT_BUILD.exists():
        return str(CHECKOUT_BUILD)
    found = shutil.which("maggy-engine")
    if found:
        return found
    raise EngineError("maggy-engine not found: set MAGGY_ENGINE to the "
                      "binary (e.g. /path/to/maggy-engine/build/maggy-engine)")


def call(*args, timeout=600):
    """The engine's stdout for `maggy-engine ARGS`; EngineError with its
    message when it fails."""
    out = subprocess.run([engine_path(), *map(str, args)], capture_output=True,
                         text=True, timeout=timeout)
    if out.returncode != 0:
        raise EngineError(out.stderr.strip() or f"maggy-engine {args[0]} "
                          f"failed with exit code {out.returncode}")
    return out.stdout


def call_json(*args, timeout=600):
    return json.loads(call(*args, timeout=timeout))
