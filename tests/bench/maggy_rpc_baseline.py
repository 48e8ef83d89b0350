#!/usr/bin/env python3
"""The original Maggy's RPC server design, as a baseline for the heartbeat
benchmark (run_bench.py): what maggy-engine's C server replaces.

    tests/bench/maggy_rpc_baseline.py HOST:PORT     prints "listening on H:P"

Maggy (the Python library on Spark this product re-builds) serves its
executors from the Spark driver with one Python thread in a select() loop
over every client socket; each message is a pickled dict behind a length
prefix; a METRIC heartbeat is handed through a queue to the experiment
driver's thread, which records it and decides on early stopping, and the
server answers with a pickled dict ("OK" or "STOP"). This server does the
same work per message: one select() thread, the heartbeat decoded into a
dict, pickled and unpickled (the executor's pickling and the driver's), put
on a queue.Queue for a second thread that records the metric under a lock,
and a pickled reply. It speaks maggy-engine's framing (CHALLENGE, HELLO
answered by WELCOME without checking MACs, HEARTBEAT answered by HB_OK), so
that loadgen drives it exactly as it drives the engine and the bare echo
server. select() takes descriptors below 1024 only, as in Maggy.
"""
import pickle
import queue
import select
import socket
import struct
import sys
import threading

HEADER = struct.Struct(">HBBIII")  # magic, version, type, id, length, flags
MAGIC, VERSION = 0x4D47, 2
CHALLENGE, HELLO, WELCOME, HEARTBEAT, HB_OK = 12, 1, 2, 4, 5
POINT = struct.Struct(">Qd")


def frame(kind, ident, body):
    return HEADER.pack(MAGIC, VERSION, kind, ident, len(body), 0) + body


class Driver:
    """The experiment driver's side: digests METRIC messages off a queue."""

    def __init__(self):
        self.messages = queue.Queue()
        self.lock = threading.Lock()
        self.metrics = {}
        self.stop = set()
        threading.Thread(target=self.digest, daemon=True).start()

    def digest(self):
        while True:
            msg = self.messages.get()
            with self.lock:
                self.metrics.setdefault(msg["trial_id"], []).extend(msg["points"])


class Connection:
    def __init__(self, sock):
        self.sock, self.buffer = sock, b""

    def frames(self, data):
        """The complete frames in what arrived so far."""
        self.buffer += data
        while len(self.buffer) >= HEADER.size:
            _, _, kind, ident, length, _ = HEADER.unpack_from(self.buffer)
            if len(self.buffer) < HEADER.size + length:
                return
            body = self.buffer[HEADER.size:HEADER.size + length]
            self.buffer = self.buffer[HEADER.size + length:]
            yield kind, ident, body


def heartbeat_reply(driver, body):
    trial, count = struct.unpack_from(">QI", body)
    points = [POINT.unpack_from(body, 12 + k * POINT.size) for k in range(count)]
    msg = pickle.loads(pickle.dumps({"type": "METRIC", "trial_id": trial, "points": points,
                                     "partition_id": 0, "secret": "s"}))
    driver.messages.put(msg)
    with driver.lock:
        reply = {"type": "STOP" if msg["trial_id"] in driver.stop else "OK"}
    pickle.loads(pickle.dumps(reply))  # the server's dumps, the executor's loads
    return body[:8]


def serve(addr):
    host, port = addr.rsplit(":", 1)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(port)))
    listener.listen(socket.SOMAXCONN)
    print(f"listening on {host}:{listener.getsockname()[1]}", flush=True)
    driver, conns = Driver(), {}
    while True:
        try:
            readable, _, _ = select.select([listener, *conns], [], [], 1.0)
        except ValueError as e:  # a descriptor >= FD_SETSIZE (1024)
            sys.exit(f"maggy_rpc_baseline: select() cannot wait on {len(conns) + 1} sockets: {e}")
        for sock in readable:
            if sock is listener:
                client, _ = listener.accept()
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conns[client] = Connection(client)
                client.sendall(frame(CHALLENGE, 0, bytes(32)))
                continue
            try:
                data = sock.recv(65536)
                out = []
                for kind, ident, body in conns[sock].frames(data):
                    if kind == HELLO:
                        out.append(frame(WELCOME, 0, b"{}"))
                    elif kind == HEARTBEAT:
                        out.append(frame(HB_OK, ident, heartbeat_reply(driver, body)))
                if out:
                    sock.sendall(b"".join(out))
            except ConnectionError:  # the client left: as Maggy, forget it
                data = b""
            if not data:
                del conns[sock]
                sock.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[1])
    serve(sys.argv[1])
