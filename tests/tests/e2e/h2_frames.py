#!/usr/bin/env python3
"""HTTP/2 frames written by hand, for gw's end-to-end tests (tests/tests/e2e/http2.rs).

python3 h2_frames.py PORT MODE opens an h2c connection (prior knowledge) to 127.0.0.1:PORT,
does what MODE says and prints one line per outcome:

  goaway CODE    the server sent GOAWAY with this error code
  closed         the server closed without a GOAWAY
  timeout        nothing ended the connection within 20 s
  status N       a response's :status (modes `get`, `wait`)
  reset CODE     a stream was reset with this code (mode `smuggle`)

Modes: settings, ping, priority, empty_data, rapid_reset, continuation, window (floods and
abuse: each runs until the server ends the connection), get (one request), wait (one request,
`ready`, then wait for the server's GOAWAY), smuggle (malformed requests, one per stream),
settings_of_server (prints `setting ID VALUE` for each parameter of the server's SETTINGS),
open_streams N PATH (N requests whose bodies never end), big_header N (a field of N bytes).
Header blocks are HPACK-encoded with the `hpack` package (installed with `h2`).
"""

import socket
import struct
import sys
import threading
import time

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST, SETTINGS, PING, GOAWAY, WINDOW, CONT = 0, 1, 2, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS = 0x1, 0x4


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.goaway = None
        self.statuses = {}
        self.resets = {}
        self.settings = None
        self.ended = threading.Event()
        self.changed = threading.Condition()
        self.s.sendall(PREFACE + frame(SETTINGS, 0, 0))
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        buf = b""
        try:
            while True:
                data = self.s.recv(65536)
                if not data:
                    break
                buf += data
                while len(buf) >= 9:
                    n = int.from_bytes(buf[:3], "big")
                    if len(buf) < 9 + n:
                        break
                    kind, flags = buf[3], buf[4]
                    sid = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
                    payload, buf = buf[9 : 9 + n], buf[9 + n :]
                    with self.changed:
                        if kind == GOAWAY and self.goaway is None:
                            self.goaway = int.from_bytes(payload[4:8], "big")
                        elif kind == HEADERS:
                            headers = dict(self.dec.decode(payload))
                            if ":status" in headers:
                                self.statuses[sid] = headers[":status"]
                        elif kind == RST:
                            self.resets[sid] = int.from_bytes(payload[:4], "big")
                        elif kind == SETTINGS and not flags & 1 and self.settings is None:
                            self.settings = [
                                (int.from_bytes(payload[i : i + 2], "big"), int.from_bytes(payload[i + 2 : i + 6], "big"))
                                for i in range(0, len(payload) - 5, 6)
                            ]
                        self.changed.notify_all()
        except OSError:
            pass
        with self.changed:
            self.ended.set()
            self.changed.notify_all()

    def send(self, data):
        try:
            self.s.sendall(data)
            return True
        except OSError:
            return False

    def headers(self, stream, method, path, flags, extra=()):
        block = self.enc.encode(
            [(":method", method), (":scheme", "http"), (":path", path), (":authority", "gw.test")]
            + list(extra)
        )
        return frame(HEADERS, flags, stream, block)

    def wait(self, what, seconds=20):
        deadline = time.time() + seconds
        with self.changed:
            while not what() and time.time() < deadline:
                self.changed.wait(0.1)
            return what()

    def outcome(self):
        """Wait for the end of the connection and say how it ended."""
        self.wait(lambda: self.goaway is not None or self.ended.is_set())
        if self.goaway is not None:
            return "goaway %d" % self.goaway
        return "closed" if self.ended.is_set() else "timeout"


def flood(c, unit, batch=100, most=200_000):
    """Send `unit` until the server ends the connection (or `most` times)."""
    sent = 0
    while sent < most and c.goaway is None and not c.ended.is_set():
        if not c.send(unit * batch):
            break
        sent += batch


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    c = Conn(port)
    if mode == "settings":
        flood(c, frame(SETTINGS, 0, 0))
    elif mode == "ping":
        flood(c, frame(PING, 0, 0, b"12345678"))
    elif mode == "priority":
        flood(c, frame(PRIORITY, 0, 1, struct.pack(">IB", 0, 16)))
    elif mode == "empty_data":
        c.send(c.headers(1, "POST", "/echo", END_HEADERS))
        flood(c, frame(DATA, 0, 1))
    elif mode == "rapid_reset":
        stream = 1
        while stream < 20_000 and c.goaway is None and not c.ended.is_set():
            burst = b""
            for _ in range(50):
                burst += c.headers(stream, "GET", "/hello", END_HEADERS | END_STREAM)
                burst += frame(RST, 0, stream, struct.pack(">I", 8))
                stream += 2
            if not c.send(burst):
                break
    elif mode == "continuation":
        # a header block that never ends: HEADERS, then CONTINUATION frames of one small
        # field each (`x-a: a`, a literal without indexing), none with END_HEADERS
        block = c.enc.encode([(":method", "GET"), (":scheme", "http"), (":path", "/hello")])
        c.send(frame(HEADERS, END_STREAM, 1, block))
        flood(c, frame(CONT, 0, 1, b"\x00\x03x-a\x01a"), batch=10, most=100_000)
    elif mode == "window":
        c.send(frame(WINDOW, 0, 0, struct.pack(">I", 0x7FFFFFFF)) * 2)
    elif mode in ("get", "wait"):
        c.send(c.headers(1, "GET", sys.argv[3], END_HEADERS | END_STREAM))
        c.wait(lambda: 1 in c.statuses or c.ended.is_set())
        print("status %s" % c.statuses.get(1), flush=True)
        if mode == "get":
            return
        print("ready", flush=True)
    elif mode == "open_streams":
        # N requests whose bodies never end: each holds its stream open
        # (to a route that reads the whole body first); prints each one's fate once the last
        # has one: `open` for a stream still waiting
        count, path = int(sys.argv[3]), sys.argv[4]
        last = 2 * count - 1
        c.send(b"".join(c.headers(s, "POST", path, END_HEADERS) for s in range(1, last + 1, 2)))
        c.wait(lambda: last in c.resets or last in c.statuses)
        for s in range(1, last + 1, 2):
            if s in c.resets:
                print("reset %s" % c.resets[s], flush=True)
            elif s in c.statuses:
                print("status %s" % c.statuses[s], flush=True)
            else:
                print("open", flush=True)
        return
    elif mode == "big_header":
        # one field of N bytes
        c.send(c.headers(1, "GET", "/hello", END_HEADERS | END_STREAM, [("x-big", "a" * int(sys.argv[3]))]))
        c.wait(lambda: 1 in c.statuses or 1 in c.resets or c.goaway is not None or c.ended.is_set())
        if 1 in c.statuses:
            print("status %s" % c.statuses[1], flush=True)
        elif 1 in c.resets:
            print("reset %s" % c.resets[1], flush=True)
        else:
            print(c.outcome(), flush=True)
        return
    elif mode == "settings_of_server":
        c.wait(lambda: c.settings is not None)
        for ident, value in c.settings or []:
            print("setting %d %d" % (ident, value), flush=True)
        return
    elif mode == "smuggle":
        cases = [
            # a connection-specific field
            [("transfer-encoding", "chunked")],
            [("connection", "keep-alive")],
            # te other than trailers
            [("te", "gzip")],
            # a Host that is not the :authority
            [("host", "other.test")],
        ]
        stream = 1
        for extra in cases:
            c.send(c.headers(stream, "GET", "/hello", END_HEADERS | END_STREAM, extra))
            stream += 2
        # a body longer than its content-length
        c.send(c.headers(stream, "POST", "/echo", END_HEADERS, [("content-length", "3")]))
        c.send(frame(DATA, END_STREAM, stream, b"abcdef"))
        last = stream
        c.wait(lambda: all(s in c.resets or s in c.statuses for s in range(1, last + 1, 2)))
        for s in range(1, last + 1, 2):
            if s in c.statuses:
                print("status %s" % c.statuses[s], flush=True)
            else:
                print("reset %s" % c.resets.get(s), flush=True)
        return
    else:
        sys.exit("unknown mode " + mode)
    print(c.outcome(), flush=True)


if __name__ == "__main__":
    main()
