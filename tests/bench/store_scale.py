#!/usr/bin/env python3
"""A store of many trials with long histories, written the way a real run
writes it, and what it costs to read back.

Fake executors (loadgen) run zero-work trials that each report STEPS metric
points in one heartbeat, then their FINAL; every commit waits for an fsync
(group commit), as in any run. After TRIALS acknowledged trials the engine
is killed with SIGKILL (a crash of the driver). Then, on that store:

  - its size on disk;
  - `maggy-engine show DIR` (summary and best trials), and for it and the
    exports their peak RSS (the store's pages they mapped included);
  - `maggy-engine export DIR` (a CSV row per trial) and
    `export --history` (a row per point);
  - `maggy-engine resume DIR`: the time until it waits for executors again,
    with the strategies rebuilt from the journal, and its RSS then.

    tests/bench/store_scale.py [--trials 100000] [--steps 100] [--clients 64]

Prints a table; --json OUT writes the figures.
"""
import argparse
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

from run_bench import ENGINE, EXPERIMENTS, LOADGEN, start_engine


def du_bytes(path):
    return sum(f.stat().st_size for f in pathlib.Path(path).rglob("*") if f.is_file())


def timed(*args):
    """Seconds, bytes written and peak RSS in MiB (the store's pages that it
    mapped included) of one engine command reading the store."""
    start = time.perf_counter()
    proc = subprocess.Popen([str(ENGINE), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    size = 0
    while chunk := proc.stdout.read(1 << 20):
        size += len(chunk)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"maggy-engine {' '.join(map(str, args))}: exit {proc.returncode}")
    return time.perf_counter() - start, size, round(usage.ru_maxrss / 1024, 1)


def rss_mib(pid):
    """Resident memory in MiB: anonymous (the engine's own) and file-backed
    (the store's pages, mapped)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("RssAnon", "RssFile"):
                out[key[3:].lower()] = round(int(line.split()[1]) / 1024, 1)
    return out


def rss_text(rss, trials):
    return (f"{rss['anon']} MiB own ({rss['anon'] * 2**20 / trials / 1024:.1f} KiB "
            f"per trial), {rss['file']} MiB of mapped store")


def run_trials(script, run_dir, trials, points, clients):
    """Start the engine on `script`, run `trials` zero-work trials of `points`
    points each through loadgen, then kill the engine (SIGKILL). Returns
    loadgen's figures and the engine's memory before and after."""
    proc, addr = start_engine(script, run_dir, "--progress", "off")
    try:
        time.sleep(0.2)  # the Lua side loaded and idle
        before = rss_mib(proc.pid)
        out = subprocess.run([str(LOADGEN), "trials", addr, str(run_dir / "secret"),
                              str(clients), "36000", str(points), str(trials)],
                             capture_output=True, text=True, check=True)
        after = rss_mib(proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return json.loads(out.stdout), before, after


def fill(run_dir, trials, steps, clients):
    """Run the engine until `trials` trials are acknowledged, then kill it."""
    load, _, rss = run_trials(EXPERIMENTS / "noop_load.lua", run_dir, trials, steps, clients)
    return {"trials": load["trials"], "seconds": load["seconds"],
            "trials_per_s": load["per_second"],
            "points_per_s": round(load["trials"] * steps / load["seconds"]),
            "engine_rss_mib": rss}


def resume(run_dir):
    """Seconds until the resumed engine waits for executors, and its RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen([str(ENGINE), "resume", str(run_dir), "--workers", "0",
                             "--quiet", "--progress", "off"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if re.search(r"waiting for executors on", line):
                ready = time.perf_counter() - start
                threading.Thread(target=proc.stdout.read, daemon=True).start()
                return {"seconds": round(ready, 3), "rss_mib": rss_mib(proc.pid)}
        raise SystemExit("resume did not start:\n" + "".join(lines[-20:]))
    finally:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=100000)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--json", help="write the figures there")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="maggy-store-scale-") as tmp:
        run_dir = pathlib.Path(tmp) / "run"
        print(f"{args.trials} trials x {args.steps} points, {args.clients} fake "
              f"executors, fsync on every commit", flush=True)
        figures = {"config": vars(args)}
        figures["ingest"] = fill(run_dir, args.trials, args.steps, args.clients)
        figures["store_mib"] = round(du_bytes(run_dir / "store") / 2**20, 1)
        show_s, _, show_rss = timed("show", run_dir)
        export_s, export_bytes, export_rss = timed("export", run_dir)
        history_s, history_bytes, history_rss = timed("export", run_dir, "--history")
        figures["show_s"] = round(show_s, 3)
        figures["show_peak_rss_mib"] = show_rss
        figures["export"] = {"seconds": round(export_s, 3), "bytes": export_bytes,
                             "peak_rss_mib": export_rss}
        figures["export_history"] = {"seconds": round(history_s, 3),
                                     "bytes": history_bytes, "peak_rss_mib": history_rss}
        figures["resume"] = resume(run_dir)
    ing = figures["ingest"]
    rows = [
        ("ingest", f"{ing['trials']} trials in {ing['seconds']:.1f} s: "
                   f"{ing['trials_per_s']}/s, {ing['points_per_s']} points/s"),
        ("engine RSS at the end", rss_text(ing["engine_rss_mib"], ing["trials"])),
        ("store on disk", f"{figures['store_mib']} MiB"),
        ("show", f"{figures['show_s']:.2f} s, peak RSS {show_rss} MiB"),
        ("export (CSV, a row per trial)",
         f"{figures['export']['seconds']:.2f} s, {figures['export']['bytes'] >> 20} MiB, "
         f"peak RSS {export_rss} MiB"),
        ("export --history (a row per point)",
         f"{figures['export_history']['seconds']:.2f} s, "
         f"{figures['export_history']['bytes'] >> 20} MiB, peak RSS {history_rss} MiB"),
        ("resume: until it waits for executors",
         f"{figures['resume']['seconds']:.2f} s"),
        ("resumed engine's RSS", rss_text(figures["resume"]["rss_mib"], ing["trials"])),
    ]
    print()
    for name, value in rows:
        print(f"{name:<38}{value}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
