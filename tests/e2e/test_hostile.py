"""Hostile peers against a running experiment: floods of connections that
never speak, garbage, a slow HELLO, a peer that never reads, a HELLO
recorded from a real executor and played again, a descriptor limit too
small for the flood. Each time the experiment must finish with every trial,
the engine's memory must stay bounded, and summary.json must count what was
refused (docs/protocol.md, "Limits")."""
import json
import os
import resource
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import BUILD, Run, experiment, wait_for
from fakedriver import CHALLENGE, ERROR, HEADER, HELLO, MAGIC, VERSION
from fakeexecutor import FakeExecutor

TRIALS = 3


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def start(tmp_path, *args, **kw):
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=TRIALS), "--workers",
              0, "--dir", run_dir, *args, **kw)
    return run, run_dir


def under_attack(run, run_dir, attack):
    """A fake executor runs the experiment's trials; `attack(address)` runs
    in a thread meanwhile, and the first trial stays open until it is over.
    Then a new executor must still get in. Returns the summary."""
    address = run.address()
    ex = FakeExecutor(address, run_dir)
    ex.welcome()
    trial = ex.next_trial()
    thread = threading.Thread(target=attack, args=(address,), daemon=True)
    thread.start()
    while thread.is_alive():
        assert ex.heartbeat(trial["id"]) == "HB_OK"
        thread.join(0.1)
    late = wait_for(lambda: get_in(address, run_dir), 30,
                    "a new executor to get in after the attack")
    late.close()
    ex.final(trial["id"], value=0.5)
    ex.wait_ack(trial["id"])
    for _ in range(TRIALS - 1):
        trial = ex.next_trial()
        ex.final(trial["id"], value=0.25)
        ex.wait_ack(trial["id"])
    assert run.wait() == 0, run.text()
    summary = wait_for(lambda: summary_of(run_dir), 10, "summary.json")
    assert summary["finished"] == TRIALS
    return summary


def get_in(address, run_dir):
    try:
        ex = FakeExecutor(address, run_dir, host="late")
        ex.welcome()
        return ex
    except (AssertionError, OSError):
        return None


def summary_of(run_dir):
    path = run_dir / "summary.json"
    return json.loads(path.read_text()) if path.exists() else None


def read_until_closed(sock, timeout=20):
    """Frame types the engine sent before it closed the connection."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    types = []
    while len(data) >= HEADER.size:
        _, _, ftype, _, length, _ = HEADER.unpack_from(data)
        types.append(ftype)
        data = data[HEADER.size + length:]
    return types


@pytest.fixture
def many_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4200:
        pytest.skip(f"needs 4200 descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (4200, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_two_thousand_silent_connections(tmp_path, many_descriptors):
    run, run_dir = start(tmp_path)
    held = []
    figures = {}

    def flood(address):
        figures["before"] = rss_kib(run.proc.pid)
        for _ in range(2000):
            held.append(socket.create_connection(address, timeout=10))
        time.sleep(1)  # they stay open, silent
        figures["peak"] = rss_kib(run.proc.pid, "VmHWM")

    try:
        summary = under_attack(run, run_dir, flood)
    finally:
        for s in held:
            s.close()
    refused = summary["connections"]
    # At most SERVER_MAX_HANDSHAKES wait for their HELLO: the older ones go.
    assert refused["evicted"] + refused["hello_timeouts"] >= 2000 - 64
    assert refused["failed_handshakes"] == 0
    grown = figures["peak"] - figures["before"]
    print(f"engine RSS {figures['before']} KiB before, peak {figures['peak']}"
          f" KiB with 2000 silent connections (+{grown} KiB)")
    assert grown < 64 * 1024


def test_megabytes_of_garbage_without_hello(tmp_path):
    run, run_dir = start(tmp_path)
    seen = []

    def garbage(address):
        for _ in range(40):
            with socket.create_connection(address, timeout=10) as sock:
                try:
                    sock.sendall(os.urandom(1 << 20))
                except (BrokenPipeError, ConnectionResetError):
                    pass
                seen.append(read_until_closed(sock))

    summary = under_attack(run, run_dir, garbage)
    # The first ones hear why; once the address has failed too often its
    # connections are closed at once, without reading anything.
    assert seen[0] == [CHALLENGE, ERROR]
    refused = summary["connections"]
    assert refused["failed_handshakes"] >= 20
    assert refused["rate_limited"] >= 1
    # (the executor that comes after may be turned away a few times too)
    assert refused["failed_handshakes"] + refused["rate_limited"] >= 40
    assert "failed handshakes" in run.text()


def test_a_slow_hello_is_cut_at_the_deadline(tmp_path):
    run, run_dir = start(tmp_path)
    errors = []

    def slow_loris(address):
        socks = [socket.create_connection(address, timeout=10)
                 for _ in range(80)]
        hello = HEADER.pack(MAGIC, VERSION, HELLO, 0, 200, 0)
        for i in range(len(hello)):
            for s in socks:
                try:
                    s.send(hello[i:i + 1])
                except OSError:
                    pass
            time.sleep(0.5)
        for s in socks:
            errors.append(read_until_closed(s, timeout=30))
            s.close()

    summary = under_attack(run, run_dir, slow_loris)
    assert all(types == [CHALLENGE, ERROR] for types in errors), errors
    refused = summary["connections"]
    assert refused["hello_timeouts"] >= 1
    assert refused["hello_timeouts"] + refused["evicted"] >= 80
    assert "without a HELLO in time" in run.text()


def test_a_peer_that_never_reads_is_dropped(tmp_path):
    run, run_dir = start(tmp_path)
    outcome = []

    def mute(address):
        ex = FakeExecutor(address, run_dir, host="mute")
        ex.welcome()
        ex.sock.settimeout(60)
        beat = struct.pack(">QI", 0, 0)
        frame = HEADER.pack(MAGIC, VERSION, 4, 1, len(beat), 0) + beat
        try:  # heartbeats whose answers it never reads
            ex.sock.sendall(frame * 800_000)
            outcome.append("all sent")
        except (BrokenPipeError, ConnectionResetError):
            outcome.append("dropped")
        ex.sock.close()

    summary = under_attack(run, run_dir, mute)
    assert outcome == ["dropped"]
    assert summary["connections"]["slow_readers"] == 1


def test_a_recorded_hello_played_again_is_refused(tmp_path):
    run, run_dir = start(tmp_path)
    address = run.address()
    relay = Relay(address)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAGGY_")}
    env.update(MAGGY_DRIVER="%s:%d" % relay.address,
               MAGGY_SECRET_FILE=str(run_dir / "secret"))
    with open(tmp_path / "executor.log", "w") as log:
        proc = subprocess.Popen([str(BUILD / "maggy-executor")], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        hello = wait_for(relay.first_frame_after_challenge, 30,
                         "the executor's HELLO to pass the relay")
        assert hello[3] == HELLO
        with socket.create_connection(address, timeout=10) as sock:
            sock.sendall(hello)  # the same bytes, on a new challenge
            assert read_until_closed(sock) == [CHALLENGE, ERROR]
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert run.wait() == 0, run.text()
    summary = summary_of(run_dir)
    assert summary["finished"] == TRIALS
    assert summary["connections"]["failed_handshakes"] == 1
    assert "not signed with this experiment's secret" in run.text()


def test_descriptors_run_out_and_accepting_pauses(tmp_path):
    run, run_dir = start(tmp_path, nofile=40)
    held = []

    def flood(address):
        for _ in range(120):
            try:
                held.append(socket.create_connection(address, timeout=2))
            except OSError:
                pass
        time.sleep(1)
        for s in held:
            s.close()

    summary = under_attack(run, run_dir, flood)
    assert summary["connections"]["accept_pauses"] >= 1
    assert "Error from accept() call" not in run.text()


class Relay:
    """A TCP relay between one executor and the engine that records what the
    executor sends: what an observer on the network would see."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        self.sent = b""
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        down, _ = self.listener.accept()
        up = socket.create_connection(self.upstream)
        threading.Thread(target=self._pump, args=(up, down, False),
                         daemon=True).start()
        self._pump(down, up, True)

    def _pump(self, src, dst, record):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            if record:
                self.sent += data
            dst.sendall(data)

    def first_frame_after_challenge(self):
        """The executor's first frame (its HELLO), once it is all there."""
        if len(self.sent) < HEADER.size:
            return None
        length = HEADER.unpack_from(self.sent)[4]
        end = HEADER.size + length
        return self.sent[:end] if len(self.sent) >= end else None
