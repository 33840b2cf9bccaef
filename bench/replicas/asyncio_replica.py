#!/usr/bin/env python3
"""A replica written independently of dlb, in plain Python asyncio (standard library only).

It exists so that bench/matrix.sh can measure dlb on a backend whose behaviour dlb's authors did
not shape: here a probe (`GET /ping`) is answered by the same event loop as requests and costs
as much as a request (it waits for a service slot and holds it for a service time), as a probe
handler that touches the real serving path does in many services.

  asyncio_replica.py --listen 127.0.0.1:0 --name r1 --slots 8 --service-ms 2 --dist exp

  --listen HOST:PORT       address (port 0 picks one); the first stdout line is
                           "listening on HOST:PORT" (the form bench/lib/common.sh waits for)
  --name NAME              X-Replica value (default replica-PORT)
  --slots N                requests served at once; the others wait, first come first served
  --service-ms MS          mean service time (default 10)
  --dist D                 exp | fixed | uniform:MIN:MAX (ms; --service-ms then unused)
  --slow F                 multiplies every service time (default 1)
  --slow-schedule T:F,...  T seconds after start the slow factor becomes F
  --ping-cost C            request (default): /ping takes a slot for a service time, like a
                           request; free: /ping is answered at once (for comparison only)
  --x-load                 add "X-Load: rif=N, latency_ms=M" to every answer (off by default)
  --seed N                 random seed of the service times

Answers: `GET /healthz` -> 200 "ok" at once. `GET|HEAD /ping` -> after its slot and service time,
200 {"rif": N, "latency_ms": M}. Anything else -> after its slot and service time, 200 "<name>\n".
Every answer carries X-Replica. Malformed requests get 400 and the connection is closed; a
request body (Content-Length only) is read and dropped; chunked bodies are refused with 501.
On SIGTERM/SIGINT it prints "served requests N pings M healthz K connections C" to stderr (C:
connections accepted, a measure of the front end's keep-alive reuse) and exits 0.

The estimator (why it is this way): `rif` is the jobs (requests and pings) received and not yet
answered, the asking ping excluded. `latency_ms` is the median latency, receipt to answer, of the
last LATENCY_WINDOW requests answered within the last LATENCY_MAX_AGE_S seconds. With fewer than
LATENCY_MIN_SAMPLES such samples (an idle replica) it does not report 0, which would make an idle
slow replica look like the fastest in the pool: it reports what a request arriving now would take
by the replica's own model, the mean service time it measured over its life (or the configured
mean if it has served nothing) times the queue it would wait behind.
"""

import argparse
import asyncio
import collections
import json
import random
import signal
import statistics
import sys
import time

MAX_HEAD_BYTES = 16 * 1024       # a request head larger than this gets 431
MAX_BODY_BYTES = 64 * 1024 * 1024  # Content-Length larger than this gets 413
LATENCY_WINDOW = 64              # samples of the latency median
LATENCY_MAX_AGE_S = 2.0          # samples older than this are ignored (the paper's short window)
LATENCY_MIN_SAMPLES = 4          # below this, the model estimate is reported instead

REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large",
           431: "Request Header Fields Too Large", 501: "Not Implemented"}


class Service:
    """Slots, the FIFO queue in front of them, the slow factor and the estimator."""

    def __init__(self, slots, mean_ms, dist, slow, seed):
        self.slots = slots
        self.free = slots
        self.waiting = collections.deque()  # futures of jobs waiting for a slot, FIFO
        self.mean_ms = mean_ms
        self.dist = dist
        self.slow = slow
        self.rng = random.Random(seed)
        self.rif = 0
        self.samples = collections.deque(maxlen=LATENCY_WINDOW)  # (time answered, latency ms)
        self.service_sum_ms = 0.0
        self.service_count = 0
        self.served = collections.Counter()  # answers by kind, printed at exit (probes per request)

    def draw_ms(self):
        if self.dist == "fixed":
            base = self.mean_ms
        elif self.dist == "exp":
            base = self.rng.expovariate(1.0 / self.mean_ms) if self.mean_ms > 0 else 0.0
        else:
            lo, hi = self.dist
            base = self.rng.uniform(lo, hi)
        return base * self.slow

    async def run_job(self, is_request):
        """Waits for a slot, holds it for one service time. Returns the latency in ms."""
        t0 = time.monotonic()
        self.rif += 1
        try:
            if self.free > 0 and not self.waiting:
                self.free -= 1
            else:
                fut = asyncio.get_running_loop().create_future()
                self.waiting.append(fut)
                await fut  # the slot is handed over by release(), free is not incremented
            try:
                svc = self.draw_ms()
                if svc > 0:
                    await asyncio.sleep(svc / 1000.0)
                self.service_sum_ms += svc
                self.service_count += 1
            finally:
                self.release()
        finally:
            self.rif -= 1
        now = time.monotonic()
        lat = (now - t0) * 1000.0
        if is_request:
            self.samples.append((now, lat))
        return lat

    def release(self):
        while self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.free += 1

    def estimate(self, asking=0):
        """(rif, latency_ms) as a probe would report them; `asking` jobs (the ping that asks,
        answered from inside its own slot) are not counted in rif."""
        now = time.monotonic()
        recent = [lat for t, lat in self.samples if now - t <= LATENCY_MAX_AGE_S]
        rif = max(0, self.rif - asking)
        if len(recent) >= LATENCY_MIN_SAMPLES:
            return rif, statistics.median(recent)
        mean = (self.service_sum_ms / self.service_count) if self.service_count else self.mean_ms * self.slow
        queued = max(0, rif - self.slots + 1)
        return rif, mean * (1.0 + queued / self.slots)


class HttpConnection(asyncio.Protocol):
    """HTTP/1.1 with keep-alive; pipelined requests are answered in order, one at a time."""

    def __init__(self, server):
        self.server = server
        self.buf = bytearray()
        self.body_left = 0
        self.pending = collections.deque()  # parsed requests not yet started
        self.busy = False
        self.transport = None
        self.closed = False

    def connection_made(self, transport):
        self.transport = transport
        self.server.connections += 1

    def connection_lost(self, exc):
        self.closed = True

    def data_received(self, data):
        self.buf += data
        while True:
            if self.body_left:
                n = min(self.body_left, len(self.buf))
                del self.buf[:n]
                self.body_left -= n
                if self.body_left:
                    return
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD_BYTES:
                    self.fail(431)
                return
            if end > MAX_HEAD_BYTES:
                self.fail(431)
                return
            head = bytes(self.buf[:end])
            del self.buf[:end + 4]
            req = self.parse(head)
            if req is None:
                return
            self.body_left = req["length"]
            self.pending.append(req)
            if not self.busy:
                self.busy = True
                asyncio.ensure_future(self.serve())

    def parse(self, head):
        try:
            text = head.decode("latin-1")
        except UnicodeDecodeError:
            self.fail(400)
            return None
        lines = text.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isalpha():
            self.fail(400)
            return None
        method, target, version = parts
        length = 0
        keep = version == "HTTP/1.1"
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                self.fail(400)
                return None
            lname = name.lower()
            value = value.strip()
            if lname == "content-length":
                if not value.isdigit():
                    self.fail(400)
                    return None
                length = int(value)
                if length > MAX_BODY_BYTES:
                    self.fail(413)
                    return None
            elif lname == "transfer-encoding":
                self.fail(501)
                return None
            elif lname == "connection":
                tokens = {t.strip().lower() for t in value.split(",")}
                if "close" in tokens:
                    keep = False
                elif "keep-alive" in tokens:
                    keep = True
        path = target.split("?", 1)[0]
        return {"method": method, "path": path, "keep": keep, "length": length, "http10": version == "HTTP/1.0"}

    async def serve(self):
        srv = self.server
        while self.pending:
            req = self.pending.popleft()
            path, method = req["path"], req["method"]
            ctype = "text/plain"
            if path == "/healthz":
                srv.service.served["healthz"] += 1
                status, body = 200, b"ok\n"
            elif path == "/ping":
                if srv.ping_costs:
                    # measured when the slot is released, so the ping itself is no longer in rif
                    await srv.service.run_job(False)
                rif, lat = srv.service.estimate()
                srv.service.served["ping"] += 1
                status, ctype = 200, "application/json"
                body = json.dumps({"rif": rif, "latency_ms": round(lat, 3)}).encode()
            else:
                await srv.service.run_job(True)
                srv.service.served["request"] += 1
                status, body = 200, srv.name_body
            if self.closed:
                self.pending.clear()
                break
            self.send(status, body, ctype, req["keep"], req["http10"], method == "HEAD")
            if not req["keep"]:
                self.transport.close()
                self.pending.clear()
                break
        self.busy = False

    def send(self, status, body, ctype, keep, http10, head_only):
        srv = self.server
        hdrs = ["HTTP/1.1 %d %s" % (status, REASONS[status]),
                "Content-Type: " + ctype,
                "Content-Length: %d" % len(body),
                "X-Replica: " + srv.name]
        if srv.x_load:
            rif, lat = srv.service.estimate()
            hdrs.append("X-Load: rif=%d, latency_ms=%.3f" % (rif, lat))
        if not keep:
            hdrs.append("Connection: close")
        elif http10:
            hdrs.append("Connection: keep-alive")
        out = ("\r\n".join(hdrs) + "\r\n\r\n").encode("latin-1")
        self.transport.write(out if head_only else out + body)

    def fail(self, status):
        if self.closed:
            return
        body = (REASONS[status] + "\n").encode()
        self.transport.write(("HTTP/1.1 %d %s\r\nContent-Length: %d\r\nX-Replica: %s\r\nConnection: close\r\n\r\n"
                              % (status, REASONS[status], len(body), self.server.name)).encode("latin-1") + body)
        self.transport.close()
        self.closed = True


class Server:
    def __init__(self, args):
        self.name = args.name
        self.name_body = (args.name + "\n").encode()
        self.ping_costs = args.ping_cost == "request"
        self.x_load = args.x_load
        self.service = Service(args.slots, args.service_ms, args.dist, args.slow, args.seed)
        self.schedule = args.slow_schedule
        self.connections = 0  # accepted


def parse_dist(text):
    if text in ("exp", "fixed"):
        return text
    parts = text.split(":")
    if len(parts) == 3 and parts[0] == "uniform":
        try:
            lo, hi = float(parts[1]), float(parts[2])
        except ValueError:
            lo = hi = -1.0
        if 0 <= lo <= hi:
            return (lo, hi)
    raise argparse.ArgumentTypeError("expected exp, fixed or uniform:MIN:MAX (ms, 0 <= MIN <= MAX), got %r" % text)


def parse_schedule(text):
    out = []
    for item in text.split(","):
        t, sep, f = item.partition(":")
        try:
            tv, fv = float(t), float(f)
        except ValueError:
            tv = fv = -1.0
        if not sep or tv < 0 or fv <= 0:
            raise argparse.ArgumentTypeError("expected T:F,... (seconds >= 0 : factor > 0), got %r" % item)
        out.append((tv, fv))
    return sorted(out)


def positive(kind):
    def conv(text):
        try:
            v = kind(text)
        except ValueError:
            v = None
        if v is None or v <= 0:
            raise argparse.ArgumentTypeError("expected a number > 0, got %r" % text)
        return v
    return conv


def non_negative(text):
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if v < 0:
        raise argparse.ArgumentTypeError("expected a number >= 0, got %r" % text)
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--name")
    ap.add_argument("--slots", type=positive(int), default=8)
    ap.add_argument("--service-ms", type=non_negative, default=10.0)
    ap.add_argument("--dist", type=parse_dist, default="exp")
    ap.add_argument("--slow", type=positive(float), default=1.0)
    ap.add_argument("--slow-schedule", type=parse_schedule, default=[])
    ap.add_argument("--ping-cost", choices=("request", "free"), default="request")
    ap.add_argument("--x-load", action="store_true")
    ap.add_argument("--seed", type=int)
    args = ap.parse_args()
    host, sep, port = args.listen.rpartition(":")
    if not sep or not port.isdigit():
        ap.error("--listen: expected HOST:PORT, got %r" % args.listen)
    host = host.strip("[]")

    async def run():
        loop = asyncio.get_running_loop()
        server = Server(args)
        srv = await loop.create_server(lambda: HttpConnection(server), host, int(port), backlog=4096,
                                       reuse_address=True)
        sock = srv.sockets[0].getsockname()
        if server.name is None:
            server.name = "replica-%d" % sock[1]
            server.name_body = (server.name + "\n").encode()
        shown = "[%s]" % sock[0] if ":" in sock[0] else sock[0]
        print("listening on %s:%d" % (shown, sock[1]), flush=True)
        print("asyncio_replica %s: slots %d, service %s ms %s, slow %g, ping %s, x-load %s" % (
            server.name, args.slots, args.service_ms, args.dist, args.slow, args.ping_cost,
            "on" if args.x_load else "off"), file=sys.stderr, flush=True)
        start = time.monotonic()

        def set_slow(f):
            server.service.slow = f
            print("slow factor %g at %.2f s" % (f, time.monotonic() - start), file=sys.stderr, flush=True)
        for t, f in args.slow_schedule:
            loop.call_later(t, set_slow, f)
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
        await stop
        srv.close()
        c = server.service.served
        print("served requests %d pings %d healthz %d connections %d"
              % (c["request"], c["ping"], c["healthz"], server.connections),
              file=sys.stderr, flush=True)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
