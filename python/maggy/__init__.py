"""maggy for training functions run by hand.

Inside maggy-executor, ``maggy`` is the executor's own module (the reporter,
``maggy.EarlyStop``) and this folder is where its submodules come from, so
``from maggy import ablation`` works the same in a trial and in a plain
``python3`` with this folder's parent on ``sys.path``.
"""


class EarlyStop(Exception):
    """Raised by reporter.broadcast() when the driver stops the trial early
    (never, when the function runs by hand)."""
