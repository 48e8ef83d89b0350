#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets: tests/fuzz/corpus/<target>/.

Each seed is a small, meaningful input: valid frames of every message type
(lib/proto/proto.h), the search spaces of examples/ and tests/c as
Space:describe() prints them with valid and invalid params, and scripts for
fuzz_controller that play whole executor sessions. The fuzzers start from
these instead of from nothing. Run it again after changing a format; the
output is the same on every run (no randomness, no timestamps).

    python3 tests/fuzz/make_corpus.py
"""
import hashlib
import hmac
import json
import math
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# ---- the wire format (lib/proto/proto.h) ----------------------------------

MAGIC, VERSION = 0x4D47, 2
(HELLO, WELCOME, TRIAL, HEARTBEAT, HB_OK, HB_STOP, LOG, FINAL, FINAL_ACK,
 BYE, ERROR, CHALLENGE, RECYCLE) = range(1, 14)
STDOUT, STDERR, REPORTER, EXECUTOR = range(4)
TRIAL_ID = 0x0123456789ABCDEF
SECRET = bytes(range(32))
SERVER_NONCE, EXEC_NONCE = b"\x01" * 32, b"\x02" * 32


def mac(label, body):
    """The handshake's HMAC-SHA256 (lib/proto/proto.h)."""
    msg = b"maggy/2 " + label + b"\0" + SERVER_NONCE + EXEC_NONCE + body
    return hmac.new(SECRET, msg, hashlib.sha256).digest()


def header(mtype, length, req=0, flags=0):
    return struct.pack(">HBBIII", MAGIC, VERSION, mtype, req, length, flags)


def frame(mtype, body=b"", req=0):
    return header(mtype, len(body), req) + body


def js(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def heartbeat(trial, points):
    body = struct.pack(">QI", trial, len(points))
    for step, value in points:
        body += struct.pack(">Qd", step, value)
    return body


def trial_body(trial):
    return struct.pack(">Q", trial)


def log(trial, stream, text):
    return struct.pack(">QB", trial, stream) + text


IDENTITY = {"host": "h1", "pid": 4242, "slot": 0, "trial": None}
SETTINGS = js({"experiment": "quickstart", "module": "train",
               "function": "train", "python_path": ["/x"],
               "metric": "accuracy", "hb_interval": 0.1, "worker": 1})
HEX = "%016x" % TRIAL_ID


def bodies():
    """One valid body of every message type, by type."""
    return {
        CHALLENGE: SERVER_NONCE,
        HELLO: mac(b"hello", js(IDENTITY)) + EXEC_NONCE + js(IDENTITY),
        WELCOME: mac(b"welcome", SETTINGS) + SETTINGS,
        TRIAL: js({"id": HEX, "params": {"lr": 0.01, "layers": 3},
                   "attempt": 1}),
        HEARTBEAT: heartbeat(TRIAL_ID, [(1, 0.5), (2, 0.625)]),
        HB_OK: trial_body(TRIAL_ID),
        HB_STOP: trial_body(TRIAL_ID),
        LOG: log(TRIAL_ID, STDOUT, b"epoch 1: loss 0.31"),
        FINAL: js({"id": HEX, "state": "FINISHED", "value": 0.91,
                   "outputs": {"loss": 0.2}}),
        FINAL_ACK: trial_body(TRIAL_ID),
        RECYCLE: trial_body(TRIAL_ID),
        BYE: b"",
        ERROR: js({"error": "ImportError: no module named train",
                   "fatal": True}),
    }


NAMES = {HELLO: "hello", WELCOME: "welcome", TRIAL: "trial",
         HEARTBEAT: "heartbeat", HB_OK: "hb_ok", HB_STOP: "hb_stop",
         LOG: "log", FINAL: "final", FINAL_ACK: "final_ack", BYE: "bye",
         ERROR: "error", CHALLENGE: "challenge", RECYCLE: "recycle"}


def header_seeds():
    seeds = {}
    for mtype, body in bodies().items():
        seeds[NAMES[mtype]] = header(mtype, len(body), req=7)
    seeds["limit_1k"] = header(LOG, 2000) + struct.pack(">I", 1024)
    seeds["flags_set"] = header(HB_OK, 8, flags=1)
    return seeds


def heartbeat_seeds():
    return {
        "idle": heartbeat(0, []),
        "three_points": heartbeat(TRIAL_ID, [(1, 0.1), (2, 0.2), (10, 0.9)]),
        "not_finite": heartbeat(TRIAL_ID, [(1, math.nan), (2, math.inf),
                                           (3, -0.0)]),
    }


def trial_body_seeds():
    return {"binary": trial_body(TRIAL_ID), "hex": HEX.encode(),
            "hex_zero": b"0" * 16}


def log_seeds():
    return {
        "stdout": log(TRIAL_ID, STDOUT, b"epoch 1: loss 0.31"),
        "stderr": log(TRIAL_ID, STDERR, b"Traceback (most recent call last):"),
        "reporter": log(TRIAL_ID, REPORTER, "accuracy \u2191".encode()),
        "executor": log(0, EXECUTOR, b"maggy-executor: connected"),
        "empty": log(TRIAL_ID, STDOUT, b""),
    }


def stream_seeds():
    b = bodies()
    executor = b"".join(frame(t, b[t], req=i) for i, t in
                        enumerate([HELLO, HEARTBEAT, LOG, HEARTBEAT, FINAL,
                                   ERROR]))
    engine = b"".join(frame(t, b[t]) for t in
                      [CHALLENGE, WELCOME, TRIAL, HB_OK, HB_STOP, FINAL_ACK,
                       RECYCLE, BYE])
    return {
        "executor_session": executor,
        "engine_session": engine,
        "every_type": b"".join(frame(t, body) for t, body in b.items()),
        "truncated": executor[:-5],
        "bad_magic_after_hello": frame(HELLO, b[HELLO]) + b"GET / HTTP/1.1\r\n",
    }


# ---- search spaces (engine/space_check.c) ---------------------------------

# examples/quickstart/experiment.lua, as Space:describe() prints it.
QUICKSTART = [
    {"name": "activation", "type": "CATEGORICAL",
     "values": ["relu", "tanh", "sigmoid"]},
    {"name": "batch_size", "type": "DISCRETE", "values": [16, 32, 64, 128]},
    {"high": 6, "log": False, "low": 1, "name": "layers", "type": "INTEGER"},
    {"high": 1, "log": True, "low": 0.0001, "name": "learning_rate",
     "type": "DOUBLE"},
]
# examples/custom_optimizer/experiment.lua.
BRANIN = [
    {"high": 10, "log": False, "low": -5, "name": "x1", "type": "DOUBLE"},
    {"high": 15, "log": False, "low": 0, "name": "x2", "type": "DOUBLE"},
]


def space_check_seeds():
    def pair(space, params):
        return js(space) + b"\0" + js(params)

    good = {"activation": "tanh", "batch_size": 32, "layers": 3,
            "learning_rate": 0.01}
    return {
        # No NUL: params for the built-in space of tests/c.
        "builtin_valid": js({"a": 0.01, "b": 3, "c": "x", "d": 16, "e": 0.5}),
        "builtin_integral_real": b'{"a":1.0,"b":3.0,"c":true,"d":0.5,"e":0}',
        "builtin_unknown": js({"a": 0.01, "b": 3, "c": 3, "d": 32, "e": 1,
                               "zz": 1}),
        "quickstart_valid": pair(QUICKSTART, good),
        "quickstart_budget": pair(QUICKSTART, dict(good, budget=9)),
        "quickstart_outside": pair(QUICKSTART, dict(good, layers=7)),
        "quickstart_missing": pair(QUICKSTART, {"layers": 2}),
        "quickstart_unlisted": pair(QUICKSTART,
                                    dict(good, activation="gelu")),
        "branin_valid": pair(BRANIN, {"x1": -5.0, "x2": 15.0}),
        "branin_slack": pair(BRANIN, {"x1": 10.000000000001, "x2": 0}),
        "broken_space": pair([{"name": "x", "type": "FLOAT"}], {"x": 1}),
        # The 40-byte excerpt of the value once ended inside a character.
        "utf8_cut": js({"a": 0.01, "b": 3, "c": "a" + "\u00e9" * 20,
                        "d": 16, "e": 0.5}),
    }


# ---- fuzz_controller scripts (see the operations in fuzz_controller.c) -----

def op_hello(identity):
    text = js(identity)
    assert len(text) < 256
    return bytes([0, len(text)]) + text


def op_frame(conn, mtype, body, req=0):
    return bytes([1, conn, mtype - 1, req]) + struct.pack("<H", len(body)) \
        + body


def op_lua(answer):
    """The strategies answer the oldest job the controller posted."""
    return bytes([2, answer])


def op_flush(conn):
    return bytes([3, conn])


def op_eof(conn):
    return bytes([4, conn])


def op_clock(seconds):
    return bytes([5, seconds])


OP_CHECK, OP_STORE, OP_COMMIT = bytes([6]), bytes([8]), bytes([9])


def op_exited(pid):
    return bytes([7, pid])


# An answer byte b: suggest min(n, b % 4) trials, status by (b >> 2) & 3
# (0 done, 1 wait, else ok), x = ((b >> 4) + i) / 16 for the i-th; for a
# check, stop the running trials whose bit is set (trial k: bit k).
def suggest(x16, n=1):
    return x16 << 4 | 0x08 | n


STOP_FIRST = 0x01


def who(host="h1", pid=7, slot=0, trial=None):
    identity = {"host": host, "pid": pid, "slot": slot}
    if trial is not None:
        identity["trial"] = trial
    return identity


def final(k, state="FINISHED", value=0.5):
    return js({"id": "#%d" % k, "state": state, "value": value,
               "outputs": {"loss": 0.1}})


def hb(k, *points):
    # Binary trial id k + 1 stands for trial k in the harness.
    return heartbeat(k + 1, list(points))


def controller_seeds():
    # The first byte is the configuration: bit 0 direction, bits 1-2 max
    # attempts - 1, bit 3 exclude_after, bit 5 fail_fast.
    happy = (bytes([0]) + op_hello(who()) + op_lua(suggest(0))
             + op_frame(0, HEARTBEAT, hb(0, (1, 0.3), (2, 0.4)), req=1)
             + op_frame(0, LOG, log(1, STDOUT, b"epoch 2"))
             + op_frame(0, FINAL, final(0), req=2) + op_lua(suggest(1))
             + op_frame(0, FINAL, final(1, value=0.7), req=3)
             + op_lua(suggest(2, n=0)) + op_lua(0))
    reconnect = (bytes([4]) + op_hello(who()) + op_hello(who(pid=8, slot=1))
                 + op_lua(suggest(0)) + op_lua(suggest(1)) + op_eof(1)
                 + op_clock(1) + op_hello(who(pid=8, slot=1, trial="#0"))
                 + op_frame(2, FINAL, final(0, value=0.2))
                 + op_frame(0, FINAL, final(1, "FAILED", None))
                 + op_lua(suggest(2)) + op_lua(suggest(3)))
    early_stop = (bytes([0]) + op_hello(who()) + op_lua(suggest(0))
                  + op_frame(0, HEARTBEAT, hb(0, (1, 0.1))) + OP_CHECK
                  + op_lua(STOP_FIRST)
                  + op_frame(0, HEARTBEAT, hb(0, (2, 0.1)))
                  + op_frame(0, FINAL, final(0, "EARLY_STOPPED", 0.1)))
    store_full = (bytes([0]) + op_hello(who()) + op_lua(suggest(0))
                  + OP_STORE + op_frame(0, FINAL, final(0), req=5)
                  + OP_COMMIT + op_clock(40) + OP_STORE + OP_COMMIT)
    lost = (bytes([4 | 8]) + op_hello(who()) + op_lua(suggest(0))
            + op_eof(0) + op_exited(7) + op_hello(who(host="h2", pid=9))
            + op_frame(1, FINAL, final(0)) + op_lua(suggest(1))
            + op_clock(9))
    fatal = (bytes([0]) + op_hello(who()) + op_lua(suggest(0))
             + op_frame(0, ERROR, js({"error": "CUDA out of memory",
                                      "fatal": True}))
             + op_frame(0, FINAL, final(0)) + op_flush(0))
    protocol = (bytes([0]) + op_hello(who()) + op_lua(suggest(0))
                + op_frame(0, HEARTBEAT, b"\0\0\0") + op_flush(0)
                + op_hello(who(pid=8)) + op_frame(1, HELLO, b"")
                + op_flush(1))
    return {"happy": happy, "reconnect": reconnect, "early_stop": early_stop,
            "store_full": store_full, "lost_executor": lost,
            "fatal_error": fatal, "protocol_errors": protocol}


def server_seeds():
    """Byte 0 odd: the harness signs a HELLO first (tests/fuzz/fuzz_server.c)."""
    b = bodies()
    after = b"".join(frame(t, b[t], req=i) for i, t in
                     enumerate([HEARTBEAT, LOG, HEARTBEAT, FINAL, ERROR]))
    return {
        "signed_then_frames": b"\x01" + after,
        "signed_then_garbage": b"\x01" + frame(HEARTBEAT, b"x" * 12),
        "unsigned_hello": b"\x00" + frame(HELLO, b[HELLO]),
        "frames_without_hello": b"\x00" + after,
        "hello_over_its_limit": b"\x00" + header(HELLO, 5000) + b"x" * 64,
        "http": b"\x00GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    }


TARGETS = {
    "header": header_seeds,
    "heartbeat": heartbeat_seeds,
    "trial_body": trial_body_seeds,
    "log": log_seeds,
    "stream": stream_seeds,
    "server": server_seeds,
    "space_check": space_check_seeds,
    "controller": controller_seeds,
}


def main():
    total = 0
    for target, make in TARGETS.items():
        folder = os.path.join(CORPUS, target)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        for name, data in sorted(make().items()):
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
            total += len(data)
    print("make_corpus: %d bytes of seeds in %s" % (total, CORPUS))


if __name__ == "__main__":
    main()
