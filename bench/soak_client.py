#!/usr/bin/env python3
"""Soak traffic for bench/soak.sh beside wrk's good text requests: good photo uploads (JSON
image_base64 and multipart), the malformed requests of issue 13 and others an attacker
sends, a few slow (Slowloris) connections, and a reload every RELOAD seconds (SIGHUP and
POST /v1/admin/reload in turn). Counts good requests that failed (any non-200 answer or a
broken connection) and malformed requests that got a 5xx or no answer at all.

usage: soak_client.py PORT TOKEN SERVER_PID PHOTO SECONDS RELOAD OUT.json"""
import base64
import http.client
import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time
import zlib

PORT, TOKEN, PID = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
PHOTO = open(sys.argv[4], "rb").read()
SECONDS, RELOAD, OUT = float(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
AUTH = {"Authorization": "Bearer " + TOKEN}
counts = {"good_ok": 0, "good_failed": 0, "bad_refused": 0, "bad_5xx": 0, "bad_no_answer": 0,
          "slow_closed_by_server": 0, "reloads": 0, "reload_failed": 0}
failures = []
lock = threading.Lock()


def bump(key, detail=None):
    with lock:
        counts[key] += 1
        if detail and len(failures) < 50:
            failures.append(detail)


def post(path, body, ctype, headers=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    try:
        c.request("POST", path, body=body, headers={"Content-Type": ctype, **AUTH,
                                                    **(headers or {})})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def multipart(parts, boundary="SoakBoundary"):
    out = b""
    for head, data in parts:
        out += b"--" + boundary.encode() + b"\r\n" + head + b"\r\n\r\n" + data + b"\r\n"
    return out + b"--" + boundary.encode() + b"--\r\n", "multipart/form-data; boundary=" + boundary


def big_png(w, h):
    """A valid PNG header claiming w x h pixels, with a tiny (incomplete) body."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


GOOD = [
    lambda: post("/v1/classify", json.dumps({"id": "g1", "title": "Puma Men Black Running Shoes",
                 "image_base64": base64.b64encode(PHOTO).decode()}), "application/json"),
    lambda: post("/v1/classify", *multipart([
        (b'Content-Disposition: form-data; name="title"', b"Nike Women Blue Top"),
        (b'Content-Disposition: form-data; name="image"; filename="p.jpg"\r\n'
         b"Content-Type: image/jpeg", PHOTO)])),
    lambda: post("/v1/classify", json.dumps({"products": [{"id": str(i), "title": "Red Kurta"}
                                                          for i in range(20)]}),
                 "application/json"),
]
BAD = [
    lambda: post("/v1/classify", *multipart([(b"Content-Disposition: form-data", b"abc")],
                                            "XyZ")),                       # issue 13, defect 1
    lambda: post("/v1/classify", b'{"title": "x", ', "application/json"),  # truncated JSON
    lambda: post("/v1/classify", b'{"title": "x", "image_base64": "!!!notbase64"}',
                 "application/json"),
    lambda: post("/v1/classify", json.dumps({"title": "x", "image_base64":
                 base64.b64encode(big_png(8000, 8000)).decode()}), "application/json"),
    lambda: post("/v1/classify", json.dumps({"title": "x", "image_base64":
                 base64.b64encode(PHOTO[:len(PHOTO) // 3]).decode()}), "application/json"),
    lambda: post("/v1/classify", b"--B\r\nContent-Disposition: form-data; name=\"title\"\r\n"
                 b"\r\nabc", "multipart/form-data; boundary=B"),          # no closing boundary
    lambda: post("/v1/classify", json.dumps({"products": [{"title": "x"}] * 5000}),
                 "application/json"),                                      # over --max-batch
    lambda: post("/v1/classify", os.urandom(2048), "application/json"),
    lambda: post("/v1/classify", b'{"title": 7, "k": -3}', "application/json"),
    lambda: post("/v1/nowhere", b"{}", "text/plain"),
]


def good_loop(deadline):
    while time.time() < deadline:
        i = random.randrange(len(GOOD))
        try:
            status, body = GOOD[i]()
            if status == 200:
                bump("good_ok")
            else:
                bump("good_failed", f"good request {i}: {status} {body[:200]!r}")
        except Exception as e:  # a broken connection is a failed good request
            bump("good_failed", f"good request {i}: {e!r}")


def bad_loop(deadline):
    while time.time() < deadline:
        i = random.randrange(len(BAD))
        try:
            status, body = BAD[i]()
            bump("bad_5xx" if status >= 500 else "bad_refused",
                 f"bad request {i}: {status} {body[:200]!r}" if status >= 500 else None)
        except Exception as e:
            bump("bad_no_answer", f"bad request {i}: {e!r}")


def slow_loop(deadline):
    """Keeps 5 Slowloris connections open, a header byte a second, replacing the closed."""
    socks = []
    while time.time() < deadline:
        while len(socks) < 5:
            s = socket.create_connection(("127.0.0.1", PORT))
            s.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        for s in list(socks):
            try:
                s.sendall(b"X")
            except OSError:
                socks.remove(s)
                s.close()
                bump("slow_closed_by_server")
        time.sleep(1)
    for s in socks:
        s.close()


def reload_loop(deadline):
    """Reloads the served model; every third time first asks for a device as the model,
    which must be refused (not a regular file) with the old model still serving."""
    i = 0
    while time.time() + RELOAD < deadline:
        time.sleep(RELOAD)
        if i % 3 == 2:
            status, body = post("/v1/admin/reload", b'{"model": "/dev/zero"}', "application/json")
            bump("bad_refused" if status < 500 or b"not a regular file" in body else "bad_5xx")
        if i % 2 == 0:
            os.kill(PID, signal.SIGHUP)
            bump("reloads")
        else:
            try:
                status, body = post("/v1/admin/reload", b"", "application/json")
                bump("reloads" if status == 200 else "reload_failed",
                     None if status == 200 else f"reload: {status} {body[:200]!r}")
            except Exception as e:
                bump("reload_failed", f"reload: {e!r}")
        i += 1


deadline = time.time() + SECONDS
threads = [threading.Thread(target=f, args=(deadline,)) for f in
           (good_loop, good_loop, bad_loop, slow_loop, reload_loop)]
for t in threads:
    t.start()
for t in threads:
    t.join()
json.dump({"counts": counts, "failures": failures}, open(OUT, "w"), indent=1)
print(json.dumps(counts), file=sys.stderr)
