"""A fake maggy driver: the engine's side of docs/protocol.md, for tests.

Pure standard library. It listens on 127.0.0.1, writes the experiment secret
to a file, and lets a test play the driver step by step against a real
maggy-executor:

    drv = FakeDriver(tmp_path, module="executor_cases", function="plain")
    proc = drv.spawn_executor(build_dir)
    sess = drv.accept()               # one executor connection, challenged
    ident = sess.handshake()          # HELLO checked, signed WELCOME sent
    res = sess.run_trial({"lr": 0.1}) # TRIAL ... FINAL, FINAL_ACK
    sess.bye()

Every wait has a timeout (FrameTimeout), so a broken executor fails a test
instead of hanging it.
"""

import hashlib
import hmac
import json
import os
import socket
import struct
import subprocess
import time

MAGIC = 0x4D47
VERSION = 2
HEADER = struct.Struct(">HBBIII")  # magic, version, type, id, length, flags
MAX_BODY = 1 << 20

HELLO, WELCOME, TRIAL, HEARTBEAT, HB_OK, HB_STOP, LOG, FINAL, FINAL_ACK, \
    BYE, ERROR, CHALLENGE, RECYCLE = range(1, 14)
NAMES = {v: k for k, v in dict(
    HELLO=HELLO, WELCOME=WELCOME, TRIAL=TRIAL, HEARTBEAT=HEARTBEAT,
    HB_OK=HB_OK, HB_STOP=HB_STOP, LOG=LOG, FINAL=FINAL, FINAL_ACK=FINAL_ACK,
    BYE=BYE, ERROR=ERROR, CHALLENGE=CHALLENGE, RECYCLE=RECYCLE).items()}

STDOUT, STDERR, REPORTER, EXECUTOR = range(4)
DEFAULT_TIMEOUT = 30.0


class FrameTimeout(AssertionError):
    """The executor did not send what the test waited for in time."""


class Closed(AssertionError):
    """The executor closed the connection."""


def handshake_mac(secret, label, server_nonce, exec_nonce, body):
    """HMAC-SHA256 of the handshake (docs/protocol.md); label is "hello" or
    "welcome"."""
    msg = b"maggy/2 " + label.encode() + b"\0" + server_nonce + exec_nonce
    return hmac.new(secret, msg + body, hashlib.sha256).digest()


def trial_hex(n):
    return "%016x" % n


class Session:
    """One executor connection, seen from the driver."""

    def __init__(self, driver, sock):
        self.driver = driver
        self.sock = sock
        self.buf = b""
        self.identity = None

    # ---- framing ---------------------------------------------------------
    def send(self, ftype, body=b"", fid=0):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.sock.sendall(HEADER.pack(MAGIC, VERSION, ftype, fid, len(body), 0)
                          + body)

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise FrameTimeout("no frame from the executor in time")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise FrameTimeout("no frame from the executor in time")
        except ConnectionResetError:
            data = b""
        if not data:
            raise Closed("executor closed the connection")
        self.buf += data

    def recv(self, timeout=DEFAULT_TIMEOUT):
        """Next frame as (type, id, body bytes)."""
        deadline = time.monotonic() + timeout
        while len(self.buf) < HEADER.size:
            self._fill(deadline)
        magic, version, ftype, fid, length, flags = HEADER.unpack_from(self.buf)
        assert magic == MAGIC, "bad magic %#x" % magic
        assert version == VERSION, "bad version %d" % version
        assert ftype in NAMES, "unknown type %d" % ftype
        assert length <= MAX_BODY, "frame of %d bytes" % length
        assert flags == 0
        while len(self.buf) < HEADER.size + length:
            self._fill(deadline)
        body = self.buf[HEADER.size:HEADER.size + length]
        self.buf = self.buf[HEADER.size + length:]
        return ftype, fid, body

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    # ---- handshake -------------------------------------------------------
    def challenge(self):
        self.nonce = os.urandom(32)
        self.send(CHALLENGE, self.nonce)

    def read_hello(self, timeout=DEFAULT_TIMEOUT):
        """Read HELLO; return (signed with the secret?, identity dict)."""
        ftype, _, body = self.recv(timeout)
        assert ftype == HELLO, "first frame is %s" % NAMES[ftype]
        self.exec_nonce = body[32:64]
        mac = handshake_mac(self.driver.secret, "hello", self.nonce,
                            self.exec_nonce, body[64:])
        self.identity = json.loads(body[64:])
        return hmac.compare_digest(mac, body[:32]), self.identity

    def welcome(self, secret=None, **overrides):
        settings = self.driver.settings()
        settings.update(overrides)
        body = json.dumps(settings).encode()
        mac = handshake_mac(secret or self.driver.secret, "welcome",
                            self.nonce, self.exec_nonce, body)
        self.send(WELCOME, mac + body)

    def handshake(self, **overrides):
        ok, ident = self.read_hello()
        assert ok, "executor sent the wrong secret"
        self.welcome(**overrides)
        return ident

    # ---- trials ------------------------------------------------------------
    def send_trial(self, params, trial=None, attempt=1):
        trial = trial or self.driver.next_trial()
        self.send(TRIAL, {"id": trial_hex(trial), "params": params,
                          "attempt": attempt})
        return trial

    def collect(self, trial, result, stop_after_points=None,
                timeout=DEFAULT_TIMEOUT):
        """Read frames until a FINAL, answering heartbeats.

        With stop_after_points=N the driver answers HB_STOP once it holds N
        points of the trial (HB_OK before). Everything is recorded in
        `result` in arrival order.
        """
        deadline = time.monotonic() + timeout
        while True:
            ftype, fid, body = self.recv(max(0.0, deadline - time.monotonic()))
            result.events.append(NAMES[ftype])
            if ftype == HEARTBEAT:
                t, n = struct.unpack_from(">QI", body)
                assert len(body) == 12 + 16 * n
                pts = [struct.unpack_from(">Qd", body, 12 + 16 * i)
                       for i in range(n)]
                result.heartbeats.append((t, pts))
                if t == trial:
                    result.points.extend(pts)
                stop = (stop_after_points is not None and t == trial
                        and len(result.points) >= stop_after_points)
                if stop and result.stopped_at is None:
                    result.stopped_at = len(result.heartbeats)
                self.send(HB_STOP if stop else HB_OK, struct.pack(">Q", t))
            elif ftype == LOG:
                t, stream = struct.unpack_from(">QB", body)
                result.logs.append((t, stream, body[9:].decode("utf-8",
                                                               "replace")))
            elif ftype == FINAL:
                final = json.loads(body)
                result.finals.append(final)
                if final["id"] == trial_hex(trial):
                    result.final = final
                    return result
            elif ftype == ERROR:
                result.errors.append(json.loads(body))
            else:
                raise AssertionError("unexpected %s from the executor"
                                     % NAMES[ftype])

    def ack(self, trial):
        self.send(FINAL_ACK, struct.pack(">Q", trial))

    def run_trial(self, params, trial=None, ack=True, **kw):
        trial = self.send_trial(params, trial)
        res = TrialResult(trial)
        self.collect(trial, res, **kw)
        if ack:
            self.ack(trial)
        return res

    def bye(self):
        self.send(BYE)

    def error(self, message):
        self.send(ERROR, {"error": message})
        self.close()


class TrialResult:
    def __init__(self, trial):
        self.trial = trial
        self.id = trial_hex(trial)
        self.final = None
        self.finals = []
        self.points = []
        self.heartbeats = []
        self.logs = []
        self.errors = []
        self.events = []
        self.stopped_at = None  # heartbeats received when HB_STOP was sent

    def lines(self, stream=None):
        """Text of the LOG lines of this trial (of one stream if given)."""
        return [text for t, s, text in self.logs
                if t == self.trial and (stream is None or s == stream)]


class FakeDriver:
    """Listens for executors and hands out Sessions."""

    def __init__(self, tmpdir, module="executor_cases", function="plain",
                 python_path=None, metric="accuracy", hb_interval=0.05,
                 experiment="e2e"):
        self.secret = os.urandom(32)
        self.secret_file = os.path.join(str(tmpdir), "secret")
        fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.secret.hex() + "\n")
        self.module = module
        self.function = function
        self.python_path = python_path or [os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "fixtures")]
        self.metric = metric
        self.hb_interval = hb_interval
        self.experiment = experiment
        self._trial = 0x1000
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.sessions = []
        self.procs = []

    def settings(self):
        return {"experiment": self.experiment, "module": self.module,
                "function": self.function, "python_path": self.python_path,
                "metric": self.metric, "hb_interval": self.hb_interval,
                "worker": 0}

    def next_trial(self):
        self._trial += 0x1111
        return self._trial

    def env(self, slot=0, **extra):
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("MAGGY_"):
                del env[k]
        env.update(MAGGY_DRIVER="127.0.0.1:%d" % self.port,
                   MAGGY_SECRET_FILE=self.secret_file, MAGGY_SLOT=str(slot))
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def spawn_executor(self, binary, slot=0, args=(), **extra_env):
        proc = subprocess.Popen([binary] + list(args),
                                env=self.env(slot, **extra_env),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        self.procs.append(proc)
        return proc

    def accept(self, timeout=DEFAULT_TIMEOUT):
        self.listener.settimeout(timeout)
        try:
            sock, _ = self.listener.accept()
        except socket.timeout:
            raise FrameTimeout("no executor connected in time")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sess = Session(self, sock)
        self.sessions.append(sess)
        sess.challenge()
        return sess

    def stop_listening(self):
        self.listener.close()

    def close(self):
        for s in self.sessions:
            s.close()
        self.listener.close()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
