#!/usr/bin/env python3
"""Soak: steady load on a real hornbeamd for a bounded time, sampling its RSS
and open file descriptors, and reporting the slopes (a leak shows as a
positive slope that does not flatten).

usage: bench/soak.py [--seconds 600] [--daemon build/hornbeamd]

Load: two erl client nodes, each with 16 processes looping over ml:encode,
ml:batch_encode (16 texts), health:check and an erpc call that times out
(cancellation), plus a raw peer that connects, pings and disconnects every
100 ms (connection churn). Everything stops by itself at the deadline.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "pylib"))
from hbtest import HOST, Daemon, RawPeer  # noqa: E402

LOAD = r'''
Deadline = erlang:monotonic_time(millisecond) + Secs * 1000,
Worker = fun W(N) ->
  case erlang:monotonic_time(millisecond) > Deadline of
    true -> N;
    false ->
      _ = rpc:call(NODE, ml, encode, [<<"soak text number ", (integer_to_binary(N))/binary>>]),
      _ = rpc:call(NODE, ml, batch_encode, [[<<"a b c">> || _ <- lists:seq(1, 16)]]),
      _ = rpc:call(NODE, health, check, []),
      %% Times out after the spawn reply: DEMONITOR_P cancels the sleep.
      _ = (catch erpc:call(NODE, health, sleep, [200], 30)),
      W(N + 1)
  end end,
Self = self(),
[spawn(fun() -> Self ! {done, Worker(0)} end) || _ <- lists:seq(1, 16)],
Total = lists:sum([receive {done, N} -> N end || _ <- lists:seq(1, 16)]),
io:format("~b", [Total])
'''


def sample(pid):
    with open("/proc/%d/status" % pid) as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    fds = len(os.listdir("/proc/%d/fd" % pid))
    return rss, fds


def slope(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--daemon", default=os.path.join(os.path.dirname(__file__), "..", "build",
                                                     "hornbeamd"))
    args = ap.parse_args()
    if subprocess.run(["epmd", "-names"], capture_output=True).returncode != 0:
        subprocess.run(["epmd", "-daemon"])
    tmp = tempfile.mkdtemp(prefix="hbsoak.")
    d = Daemon(os.path.abspath(args.daemon), tmp)
    try:
        d.wait_registered()
        secs = args.seconds
        results = []
        clients = [threading.Thread(target=lambda: results.append(
            d.call("Secs = %d, " % secs + LOAD, timeout=secs + 120))) for _ in range(2)]
        for c in clients:
            c.start()
        stop = time.monotonic() + secs
        churned = [0]

        def churn():
            port = d.port()
            while time.monotonic() < stop:
                p = RawPeer(port, "soakchurn@" + HOST, d.cookie)
                p.handshake()
                p.ping(d.node)
                p.close()
                churned[0] += 1
                time.sleep(0.1)

        churner = threading.Thread(target=churn)
        churner.start()
        t0 = time.monotonic()
        ts, rss, fds = [], [], []
        while time.monotonic() < stop:
            r, f = sample(d.proc.pid)
            ts.append((time.monotonic() - t0) / 60.0)
            rss.append(r)
            fds.append(f)
            time.sleep(5)
        for c in clients:
            c.join()
        churner.join()
        # Ignore the first fifth: allocator arenas and caches warm up.
        k = max(len(ts) // 5, 1)
        calls = sum(int(x) for x in results if x.isdigit()) * 4
        print("| metric | value |")
        print("| --- | --- |")
        print("| duration | %d s |" % secs)
        print("| calls (4 per loop) | %d |" % calls)
        print("| connections churned | %d |" % churned[0])
        print("| RSS start / end | %d KiB / %d KiB |" % (rss[k], rss[-1]))
        print("| RSS slope after warm-up | %.1f KiB/min |" % slope(ts[k:], rss[k:]))
        print("| fds start / end | %d / %d |" % (fds[k], fds[-1]))
        print("| fd slope after warm-up | %.3f /min |" % slope(ts[k:], fds[k:]))
    finally:
        d.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
