"""A fake maggy executor: the executor's side of docs/protocol.md, for tests
that must control exactly what an executor sends and when (a FINAL then a
kill of the engine, a FINAL sent twice, an executor that goes silent).

    ex = FakeExecutor(address, run_dir)      # HELLO signed with the secret
    trial = ex.next_trial()                  # {"id", "params", "attempt"}
    ex.heartbeat(trial["id"], [(0, 0.5)])    # -> "HB_OK" or "HB_STOP"
    ex.final(trial["id"], value=0.5)
    ex.wait_ack(trial["id"])

Framing comes from fakedriver's Session, which reads and writes frames the
same way in both directions.
"""
import json
import os
import pathlib
import socket
import struct
import time

from fakedriver import (CHALLENGE, ERROR, FINAL, FINAL_ACK, HB_OK, HB_STOP,
                        HEARTBEAT, HELLO, LOG, NAMES, TRIAL, WELCOME,
                        FrameTimeout, Session, handshake_mac)


class FakeExecutor(Session):
    def __init__(self, address, run_dir, host="fake-host", pid=None, slot=0,
                 trial=None, secret=None, sock=None):
        """`sock`: a connection already open to `address` (default: a new
        one)."""
        sock = sock or socket.create_connection(address, timeout=10)
        super().__init__(None, sock)
        if secret is None:
            secret = bytes.fromhex(
                (pathlib.Path(run_dir) / "secret").read_text().strip())
        self.secret = secret
        self.pending = []  # frames read while waiting for another kind
        ident = {"host": host, "pid": pid or os.getpid(), "slot": slot,
                 "attempt": 1}
        if trial:
            ident["trial"] = trial
        self.server_nonce = self.expect(CHALLENGE)[2]
        self.nonce = os.urandom(32)
        self.hello = self.signed_hello(json.dumps(ident).encode())
        self.send(HELLO, self.hello)

    def signed_hello(self, identity):
        """A HELLO body for this connection's challenge."""
        return handshake_mac(self.secret, "hello", self.server_nonce,
                             self.nonce, identity) + self.nonce + identity

    def expect(self, *types, timeout=20):
        """The next frame of one of `types`, answering nothing else."""
        for i, (ftype, fid, body) in enumerate(self.pending):
            if ftype in types:
                del self.pending[i]
                return ftype, fid, body
        while True:
            ftype, fid, body = self.recv(timeout)
            if ftype in types:
                return ftype, fid, body
            if ftype == ERROR:
                raise AssertionError("engine sent ERROR: %s" % body.decode())
            self.pending.append((ftype, fid, body))

    def welcome(self):
        body = self.expect(WELCOME)[2]
        mac = handshake_mac(self.secret, "welcome", self.server_nonce,
                            self.nonce, body[32:])
        assert mac == body[:32], "the WELCOME is not signed with the secret"
        return json.loads(body[32:])

    def next_trial(self, timeout=20, beat=0.2):
        """Wait for a TRIAL, sending idle heartbeats every `beat` seconds
        as a real executor does (the engine drops silent ones)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return json.loads(self.expect(TRIAL, timeout=beat)[2])
            except FrameTimeout:
                if time.monotonic() > deadline:
                    raise
                self.heartbeat(None)

    def heartbeat(self, trial_hex, points=(), req=1):
        trial = int(trial_hex, 16) if trial_hex else 0
        body = struct.pack(">QI", trial, len(points)) + b"".join(
            struct.pack(">Qd", step, value) for step, value in points)
        self.send(HEARTBEAT, body, fid=req)
        ftype, fid, reply = self.expect(HB_OK, HB_STOP)
        assert fid == req and struct.unpack(">Q", reply)[0] == trial
        return NAMES[ftype]

    def log(self, trial_hex, text, stream=2):
        self.send(LOG, struct.pack(">QB", int(trial_hex, 16), stream)
                  + text.encode())

    def final(self, trial_hex, state="FINISHED", value=None, req=7, **extra):
        msg = {"id": trial_hex, "state": state, "value": value, **extra}
        self.send(FINAL, msg, fid=req)

    def finish_trials(self, n, value=0.5):
        """Take n trials in turn, each FINISHED with `value` and acknowledged."""
        for _ in range(n):
            trial = self.next_trial()
            self.final(trial["id"], value=value)
            self.wait_ack(trial["id"])

    def wait_ack(self, trial_hex, timeout=20):
        _, _, body = self.expect(FINAL_ACK, timeout=timeout)
        assert body == struct.pack(">Q", int(trial_hex, 16))

    def closed_with_error(self, timeout=20):
        """The engine's ERROR text once it closes the connection, or None
        when it closed without one."""
        try:
            while True:
                ftype, _, body = self.recv(timeout)
                if ftype == ERROR:
                    return json.loads(body)["error"]
        except AssertionError:  # Closed
            return None
