"""lagom: run a maggy-engine experiment with its executors as Spark tasks.

The engine runs on the driver (`maggy-engine run --workers 0`), listening on
the driver's host; one long-lived Spark task per executor slot starts a
`maggy-executor` that connects back. Trials go to whichever executor is free
(no waves); the engine's early-stop rule sees all of them. The engine's
output (progress and the trials' log lines) is streamed to the console as
it runs; the summary comes back as a dict.

It is a plain Spark job, not a barrier stage: a barrier stage restarts all
of its tasks when one fails, where a plain job retries only the failed task,
which registers again while the engine reschedules its interrupted trial.
"""
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

from .executor_task import (BYE, CANNOT_IMPORT, ENDED_BECAUSE, die_with_parent,
                            run_executor)

HOME = pathlib.Path(os.environ.get(
    "MAGGY_HOME", pathlib.Path(__file__).resolve().parents[2]))
WAITING = re.compile(r"waiting for executors on (\S+):(\d+) \(secret in (\S+)\); "
                     r"results in (\S+)")


class ExperimentFailed(RuntimeError):
    """The experiment failed; `summary` holds what the engine stored. `status`
    is the engine's exit status, or 1 when lagom stopped the engine because
    the Spark job of its executors failed."""

    def __init__(self, message, status, summary):
        super().__init__(message)
        self.status = status
        self.summary = summary


def binaries(home=None):
    """(maggy-engine, maggy-executor) of an install or build tree."""
    home = pathlib.Path(home or HOME)
    for sub in ("build", "bin"):
        engine, executor = home / sub / "maggy-engine", home / sub / "maggy-executor"
        if engine.exists() and executor.exists():
            return str(engine), str(executor)
    raise FileNotFoundError(
        f"no maggy-engine and maggy-executor under {home}/build or {home}/bin "
        f"(build with scripts/setup, or set MAGGY_HOME)")


def _executors(sc):
    """Spark executors registered so far (the driver is not one)."""
    return len(sc.statusTracker().getExecutorInfos()) - 1


def default_workers(sc, settle_s=3.0, patience_s=60.0):
    """Executor slots: the cluster's task slots (cores / spark.task.cpus).
    On a cluster, executors register after the application starts: wait
    until some have and their number held for `settle_s` seconds."""
    if not sc.master.startswith("local"):
        deadline = time.monotonic() + patience_s
        seen, since = _executors(sc), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = _executors(sc)
            if now != seen:
                seen, since = now, time.monotonic()
            elif seen > 0 and time.monotonic() - since >= settle_s:
                break
    per_task = int(sc.getConf().get("spark.task.cpus", "1"))
    return max(1, sc.defaultParallelism // per_task)


def _warn_if_short_of_slots(sc, workers):
    """More executors asked for than the cluster has task slots: the extra
    tasks wait for a slot, and one opens only when an executor ends. Said
    once the executors have registered, from a thread: the run does not
    wait for it. A cluster that adds executors on demand is not short."""
    try:
        if sc.getConf().get("spark.dynamicAllocation.enabled", "false") == "true":
            return
        slots = default_workers(sc)
    except Exception:  # the context stopped meanwhile: the run is over
        return
    if workers > slots:
        print(f"lagom: workers={workers} is more than the cluster's {slots} "
              f"task slots: executors beyond {slots} wait for a slot, which "
              f"opens only when another executor ends", file=sys.stderr,
              flush=True)


def driver_host(sc):
    return sc.getConf().get("spark.driver.host") or "127.0.0.1"


class _Engine:
    """maggy-engine on the driver; its output echoed line by line."""

    def __init__(self, args, out):
        # a driver killed (SIGTERM, SIGKILL) stops its engine cleanly too:
        # nothing is left holding the run's directory. Its own session: a
        # Ctrl-C reaches it once, from interrupt(), not also from the
        # terminal (a second SIGINT would make it leave without draining).
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     bufsize=1, preexec_fn=die_with_parent,
                                     start_new_session=True)
        self.out = out
        self.lines = []
        self.ready = threading.Event()
        self.interrupted = False
        self.interrupt_lock = threading.Lock()
        self.address = self.dir = self.secret_file = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            if self.out is not None:
                self.out.write(line)
                self.out.flush()
            m = WAITING.search(line)
            if m and not self.ready.is_set():
                self.address = f"{m.group(1)}:{m.group(2)}"
                self.secret_file, self.dir = m.group(3), m.group(4)
                self.ready.set()
        self.ready.set()  # also when it ended before listening

    def wait_ready(self):
        """True once the engine listens; False when it ended before with
        nothing to do (the resume of a finished experiment)."""
        self.ready.wait()
        if self.address is None:
            self.proc.wait()
            if self.proc.returncode == 0:
                return False
            raise ExperimentFailed("maggy-engine ended before it listened:\n" +
                                   "".join(self.lines[-20:]),
                                   self.proc.returncode, None)
        return True

    def interrupt(self):
        """A clean stop, asked once: a Ctrl-C both interrupts the driver and
        fails the Spark job, and a second SIGINT would not drain."""
        with self.interrupt_lock:
            if self.interrupted:
                return
            self.interrupted = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)


def _summary(run_dir):
    path = pathlib.Path(run_dir) / "summary.json"
    return json.loads(path.read_text()) if path.exists() else None


def lagom(spark, experiment=None, workers=None, dir=None, resume=None,
          seed=None, home=None, out=sys.stdout, quiet=False, dashboard=None):
    """Run EXPERIMENT (a Lua script) on the Spark cluster of `spark` (a
    SparkSession or SparkContext); or, with resume=DIR, continue the
    interrupted experiment in DIR. Returns the summary as a dict (the
    content of summary.json); raises ExperimentFailed when the engine
    reports a failure, KeyboardInterrupt after a clean stop on Ctrl-C.

    workers: executor slots (default: the cluster's task slots; lagom warns
    when more are asked for than it has, since the rest would wait).
    dir: where the store and summary go (default: maggy-runs/NAME-TIME).
    home: the maggy-engine tree on the driver and on every node (default:
    $MAGGY_HOME, or the tree this module is in).
    quiet: do not echo what the trials print (it is stored); the progress
    lines still come. dashboard: "[HOST:]PORT" to serve the live dashboard
    on the driver.
    """
    sc = getattr(spark, "sparkContext", spark)
    engine_bin, executor_bin = binaries(home)
    if workers:
        threading.Thread(target=_warn_if_short_of_slots, args=(sc, workers),
                         daemon=True).start()
    workers = workers or default_workers(sc)
    listen = f"{driver_host(sc)}:0"
    if resume:  # on this run's driver host: the tasks are new ones
        args = [engine_bin, "resume", str(resume), "--workers", "0",
                "--listen", listen]
    else:
        args = [engine_bin, "run", str(experiment), "--workers", "0",
                "--listen", listen]
        if dir:
            args += ["--dir", str(dir)]
        if seed is not None:
            args += ["--seed", str(seed)]
    if quiet:
        args.append("--quiet")
    if dashboard:
        args += ["--dashboard", str(dashboard)]
    engine = _Engine(args, out)
    job = None
    try:
        if not engine.wait_ready():
            engine.reader.join()
            return _summary(resume)
        plan = {
            "driver": engine.address,
            "secret": pathlib.Path(engine.secret_file).read_text().strip(),
            "executor": executor_bin,
        }
        job = _Job(sc, plan, workers, on_failure=engine.interrupt)
        job.start()
        status = engine.proc.wait()
    except BaseException:
        engine.interrupt()  # stored and resumable, whatever went wrong here
        engine.proc.wait()
        if job is not None:
            job.cancel()
        raise
    job.cancel()  # executors got BYE; tasks still waiting end
    job.join()
    engine.reader.join()
    summary = _summary(engine.dir)
    if job.failure:
        raise ExperimentFailed(
            f"the Spark job of the executors {job.failure}. The experiment "
            f"was stopped: lagom(spark, resume={engine.dir!r}) continues it",
            1, summary)
    if status == 130:
        raise KeyboardInterrupt("the experiment was interrupted; "
                                f"lagom(spark, resume={engine.dir!r}) continues it")
    if status < 0:
        raise ExperimentFailed(
            f"maggy-engine was killed (signal {-status}); "
            f"lagom(spark, resume={engine.dir!r}) continues the experiment",
            status, summary)
    if status != 0:
        error = (summary or {}).get("error") or "".join(engine.lines[-5:])
        raise ExperimentFailed(f"the experiment failed: {error}", status, summary)
    return summary


class _Job(threading.Thread):
    """The Spark job of the executors, in a thread of the driver. If it
    fails (its tasks failed too often), or ends while no executor got the
    engine's goodbye (every slot refused or lost), the engine is stopped
    cleanly and `failure` says why."""

    def __init__(self, sc, plan, workers, on_failure):
        super().__init__(daemon=True)
        self.sc, self.plan, self.workers = sc, plan, workers
        self.group = f"maggy-{uuid.uuid4().hex[:12]}"
        self.on_failure = on_failure
        self.failure = None
        self.cancelled = False

    def run(self):
        # the task's code travels with the task: nodes need not have this
        # package, only the binaries
        from pyspark import cloudpickle
        from . import executor_task
        cloudpickle.register_pickle_by_value(executor_task)
        self.sc.setJobGroup(self.group, "maggy-engine executors",
                            interruptOnCancel=True)
        try:
            ended = (self.sc.parallelize(range(self.workers), self.workers)
                     .mapPartitions(run_executor(self.plan)).collect())
        except Exception as e:  # cancelled at the end, or failed
            if not self.cancelled:
                self.failure = "failed: " + (str(e).strip().splitlines() or ["?"])[0]
            self.on_failure()
            return
        if not any(status == BYE for _, _, status in ended):
            self.failure = "ended with no executor left: " + ", ".join(
                f"slot {slot} on {host} "
                f"{ENDED_BECAUSE.get(status, 'ended')} (exit status {status})"
                for slot, host, status in ended)
            if any(status == CANNOT_IMPORT for _, _, status in ended):
                self.failure += (
                    ". Executors import the training module on their own "
                    "nodes: ship it with spark-submit --py-files (a .py, .zip "
                    "or .egg), or set the experiment's python_path to a "
                    "folder every node has")
            self.on_failure()

    def cancel(self):
        """The end of the experiment: tasks still waiting end."""
        self.cancelled = True
        self.sc.cancelJobGroup(self.group)
