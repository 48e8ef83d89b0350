#!/usr/bin/env python3
"""Dispatch and heartbeat benchmarks of maggy-engine. Prints its figures.

    tests/bench/run_bench.py [--seconds S]

1. Local executors, no-op training function: trials per second end to end
   (real engine, real maggy-executor with CPython, real store) and the
   engine+shim overhead per trial (= workers x wall time / trials).
2. Zero-work trials from fake executors (loadgen): what the engine alone
   sustains, with every FINAL committed to LMDB before it is acknowledged,
   with an fsync per commit (the default) and with --no-fsync.
3. Heartbeats over loopback: answers per second and answer latency (4
   clients with 64 in flight; 1, 64 and 1,024 connections with one in
   flight), beside a bare C echo server (same framing, no logic: the
   physical limit) and the original Maggy's RPC server design
   (maggy_rpc_baseline.py) measured in the same run, and again while the
   strategy keeps the Lua thread busy.
4. Heartbeats again with the dashboard open: a client polling its API four
   times a second (the page polls every 1.5 s), beside the same run without.

Prints a table of the headline figures; --json OUT writes all of them.
Figures depend on the machine; compare the ratios printed side by side.
"""
import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("MAGGY_BUILD_DIR", ROOT / "build"))
ENGINE = BUILD / "maggy-engine"
LOADGEN = BUILD / "tests/bench/loadgen"
EXPERIMENTS = pathlib.Path(__file__).resolve().parent / "experiments"
MAGGY_RPC_BASELINE = pathlib.Path(__file__).resolve().parent / "maggy_rpc_baseline.py"


def start_engine(script, run_dir, *extra, dashboard=False):
    """The engine and its executors' address (and its dashboard's URL)."""
    if dashboard:
        extra += ("--dashboard", "0")
    proc = subprocess.Popen([str(ENGINE), "run", str(script), "--workers", "0",
                             "--dir", str(run_dir), "--quiet", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    addr = url = None
    for line in proc.stdout:
        m = re.search(r"(?:listening on|waiting for executors on) (\S+?)[; ]", line)
        addr = addr or (m and m.group(1))
        m = re.search(r"dashboard of \S+ on (http://\S+/)", line)
        url = url or (m and m.group(1))
        if addr and (url or not dashboard):
            # keep reading so the engine never blocks on a full pipe
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return (proc, addr, url) if dashboard else (proc, addr)
    raise SystemExit("engine did not start")


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def loadgen(*args):
    out = subprocess.run([str(LOADGEN), *map(str, args)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def bench_local(tmp, workers, *extra):
    run_dir = tmp / f"local{workers}{''.join(extra)}"
    start = time.monotonic()
    out = subprocess.run([str(ENGINE), "run", str(EXPERIMENTS / "noop_local.lua"),
                          "--workers", str(workers), "--dir", str(run_dir), "--quiet",
                          *extra],
                         capture_output=True, text=True)
    wall = time.monotonic() - start
    if out.returncode != 0:
        raise SystemExit(out.stdout + out.stderr)
    summary = json.loads((run_dir / "summary.json").read_text())
    trials = summary["finished"]
    run = summary["duration_s"]
    return {"workers": workers, "fsync": not extra, "trials": trials, "run_s": round(run, 3),
            "wall_s": round(wall, 3), "trials_per_s": round(trials / run),
            "overhead_ms_per_trial": round(workers * run / trials * 1e3, 3)}


def bench_fake_trials(tmp, clients, seconds, *extra):
    run_dir = tmp / f"load{clients}{''.join(extra)}"
    proc, addr = start_engine(EXPERIMENTS / "noop_load.lua", run_dir, *extra)
    try:
        return dict(clients=clients, fsync=not extra,
                    **loadgen("trials", addr, run_dir / "secret", clients, seconds))
    finally:
        stop(proc)


def bench_heartbeats(addr, secret, seconds, clients, window):
    return dict(clients=clients, window=window,
                **loadgen("heartbeats", addr, secret, clients, seconds, window))


def heartbeat_set(addr, secret, seconds, connections):
    """Throughput (4 clients, 64 heartbeats in flight each), then answers/s
    and latency with one heartbeat in flight per connection."""
    out = {"throughput": bench_heartbeats(addr, secret, seconds, 4, 64),
           "latency": bench_heartbeats(addr, secret, seconds, 4, 1)}
    for n in connections:
        key = f"latency_{n}_connection{'s' if n > 1 else ''}"
        try:
            out[key] = bench_heartbeats(addr, secret, seconds, n, 1)
        except subprocess.CalledProcessError as e:
            out[key] = {"clients": n, "error": (e.stderr or "").strip()[-300:] or str(e)}
    return out


def bench_engine_heartbeats(tmp, script, seconds, connections, with_trials=False):
    run_dir = tmp / script.stem
    proc, addr = start_engine(script, run_dir)
    side = None
    try:
        if with_trials:  # one fake executor completing trials keeps suggest() busy
            side = subprocess.Popen([str(LOADGEN), "trials", addr, str(run_dir / "secret"),
                                     "1", str(2 * seconds + 2)], stdout=subprocess.DEVNULL)
            time.sleep(0.5)
        return heartbeat_set(addr, run_dir / "secret", seconds, connections)
    finally:
        if side:
            side.kill()
            side.wait()
        stop(proc)


def poll_dashboard(url, stop_at, counts):
    import urllib.request
    while time.monotonic() < stop_at:
        for path in ("api/summary", "api/curves"):
            with urllib.request.urlopen(url + path, timeout=10) as r:
                counts["bytes"] += len(r.read())
            counts["requests"] += 1
        time.sleep(0.25)


def bench_heartbeats_dashboard(tmp, seconds):
    """Heartbeat throughput of the same engine set-up without and with a
    dashboard being polled, side by side."""
    out = {}
    for polled in (False, True):
        run_dir = tmp / f"dash{int(polled)}"
        if polled:
            proc, addr, url = start_engine(EXPERIMENTS / "noop_load.lua", run_dir,
                                           dashboard=True)
        else:
            proc, addr = start_engine(EXPERIMENTS / "noop_load.lua", run_dir)
        counts = {"requests": 0, "bytes": 0}
        poller = None
        try:
            if polled:
                poller = threading.Thread(target=poll_dashboard, daemon=True,
                                          args=(url, time.monotonic() + 2 * seconds + 1, counts))
                poller.start()
            out["polled" if polled else "alone"] = dict(
                heartbeat_set(addr, run_dir / "secret", seconds, (64,)), dashboard=counts)
        finally:
            stop(proc)
    out["throughput_ratio_polled_to_alone"] = round(
        out["polled"]["throughput"]["per_second"] / out["alone"]["throughput"]["per_second"], 3)
    return out


def bench_baseline_server(tmp, seconds, connections, command):
    """Heartbeats against a baseline server that prints "listening on
    H:P" and accepts any secret (it is given a file anyway)."""
    secret = tmp / "baseline-secret"
    secret.write_text("00" * 32 + "\n")
    proc = subprocess.Popen([*map(str, command), "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    addr = proc.stdout.readline().split()[-1]
    try:
        return heartbeat_set(addr, secret, seconds, connections)
    finally:
        proc.kill()
        proc.wait()


def ratios(engine, other):
    """engine/other answers per second, for every load both sustained."""
    return {k: round(engine[k]["per_second"] / other[k]["per_second"], 3)
            for k in engine if "per_second" in engine[k] and "per_second" in other.get(k, {})}


def print_table(results):
    """The headline figures; every figure is in the JSON."""
    print("local executors, no-op trials (real shim and CPython)")
    print(f"  {'W':>3} {'fsync':>6} {'trials/s':>9} {'ms/trial':>9}")
    for r in results["local_noop"]:
        print(f"  {r['workers']:>3} {'yes' if r['fsync'] else 'no':>6} {r['trials_per_s']:>9} "
              f"{r['overhead_ms_per_trial']:>9.3f}")
    print("\nzero-work trials from fake executors, committed before acknowledged")
    print(f"  {'executors':>9} {'fsync':>6} {'trials/s':>9}")
    for r in results["fake_executor_trials"]:
        print(f"  {r['clients']:>9} {'yes' if r['fsync'] else 'no':>6} {r['per_second']:>9}")
    servers = [("engine", "heartbeats_engine"), ("engine, busy strategy", "heartbeats_engine_busy_strategy"),
               ("bare echo (C)", "heartbeats_bare_echo"),
               ("Maggy's RPC design", "heartbeats_maggy_rpc_design")]
    loads = [k for k in results["heartbeats_engine"]]
    print("\nheartbeats: answers/s, p99 ms")
    print(f"  {'server':<22}" + "".join(f"{k.replace('latency_', '').replace('_', ' '):>22}"
                                       for k in loads))
    for label, key in servers:
        row = results[key]
        cells = [(f"{row[k]['per_second']:>10} {row[k]['p99_ms']:>7.2f} ms" if "per_second" in row.get(k, {})
                  else f"{'failed':>21}") for k in loads]
        print(f"  {label:<22}" + "".join(f"{c:>22}" for c in cells))
    for name in ("echo", "maggy_rpc_design"):
        ratio = results[f"heartbeat_ratio_engine_to_{name}"]
        print(f"  engine / {name.replace('_', ' ')}: " +
              ", ".join(f"{k.replace('latency_', '')} {v:.2f}" for k, v in ratio.items()))
    dash = results["heartbeats_dashboard"]
    print(f"\ndashboard polled 4x/s: heartbeat throughput ratio polled/alone "
          f"{dash['throughput_ratio_polled_to_alone']:.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5, help="length of each load run")
    ap.add_argument("--only", choices=["dashboard"],
                    help="run one part: the heartbeats with and without a dashboard")
    ap.add_argument("--json", metavar="OUT", help="write every figure to this file")
    ap.add_argument("--connections", default="1,64,1024",
                    help="connections of the heartbeat latency runs (default 1,64,1024)")
    args = ap.parse_args()
    connections = [int(n) for n in args.connections.split(",")]
    for binary in (ENGINE, LOADGEN):
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: run scripts/setup first")
    results = {}
    if args.only == "dashboard":
        with tempfile.TemporaryDirectory() as t:
            results["heartbeats_dashboard"] = bench_heartbeats_dashboard(
                pathlib.Path(t), args.seconds)
        json.dump(results, sys.stdout, indent=2)
        print()
        return
    with tempfile.TemporaryDirectory() as t:
        tmp = pathlib.Path(t)
        results["local_noop"] = [bench_local(tmp, w, *extra) for extra in ((), ("--no-fsync",))
                                 for w in (1, 2)]
        results["fake_executor_trials"] = [bench_fake_trials(tmp, c, args.seconds, *extra)
                                           for extra in ((), ("--no-fsync",))
                                           for c in (1, 16, 256)]
        results["heartbeats_engine"] = bench_engine_heartbeats(
            tmp, EXPERIMENTS / "noop_load.lua", args.seconds, connections)
        results["heartbeats_engine_busy_strategy"] = bench_engine_heartbeats(
            tmp, EXPERIMENTS / "busy_optimizer.lua", args.seconds, connections, with_trials=True)
        results["heartbeats_bare_echo"] = bench_baseline_server(tmp, args.seconds, connections,
                                                                [LOADGEN, "echo"])
        results["heartbeats_maggy_rpc_design"] = bench_baseline_server(
            tmp, args.seconds, connections, [sys.executable, MAGGY_RPC_BASELINE])
        results["heartbeats_dashboard"] = bench_heartbeats_dashboard(tmp, args.seconds)
    eng = results["heartbeats_engine"]
    results["heartbeat_ratio_engine_to_echo"] = ratios(eng, results["heartbeats_bare_echo"])
    results["heartbeat_ratio_engine_to_maggy_rpc_design"] = ratios(
        eng, results["heartbeats_maggy_rpc_design"])
    print_table(results)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
