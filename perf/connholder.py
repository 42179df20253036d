#!/usr/bin/env python3
"""Idle TCP connections held open, for perf/cli-conn-memory.sh (issue 14).

  connholder.py serve HOST PORT
      Accepts connections on HOST:PORT (backlog 4096) and holds every one open until its client
      closes it (then closes it too), until killed: the service behind `wirenet up --serve`.
  connholder.py connect DST PORT COUNT
      Opens COUNT connections to DST:PORT one after the other (10 s timeout each) and holds them
      open, idle; prints one JSON line (ok, failed, seconds) once all were tried, then waits for
      SIGTERM or SIGINT and closes them.
Both raise their open-file limit to the hard limit first.
"""
import json, resource, selectors, signal, socket, sys, time


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve(host, port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(4096)
    s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj is s:
                try:
                    c, _ = s.accept()
                except BlockingIOError:
                    continue
                sel.register(c, selectors.EVENT_READ)
                continue
            try:
                data = key.fileobj.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                key.fileobj.close()


def connect(dst, port, count):
    held, failed = [], 0
    start = time.monotonic()
    for _ in range(count):
        c = socket.socket()
        c.settimeout(10)
        try:
            c.connect((dst, port))
            held.append(c)
        except OSError:
            failed += 1
            c.close()
    print(json.dumps({"ok": len(held), "failed": failed, "seconds": round(time.monotonic() - start, 2)}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            signal.pause()
    finally:
        for c in held:
            c.close()


if __name__ == "__main__":
    raise_nofile()
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "connect":
        connect(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)
