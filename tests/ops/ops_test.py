#!/usr/bin/env python3
"""Operating hornbeamd: systemd notify protocol, watchdog, SIGHUP reload,
SIGTERM drain, the Prometheus endpoint and --check-config, against the real
binary and real erl nodes.

usage: ops_test.py DAEMON_BINARY PLUGIN_DIR
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from hbtest import Daemon, epmd_names  # noqa: E402

DAEMON = None
PLUGIN_DIR = None


class OpsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hbops.")
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, **kw):
        d = Daemon(DAEMON, self.tmp, notify=True, **kw)
        self.daemons.append(d)
        return d

    def test_ready_only_once_serving(self):
        d = self.start()
        d.wait_for("READY=1")
        # The moment READY arrives the node answers: registered, models loaded.
        self.assertEqual(d.call('io:format("~p", [rpc:call(NODE, health, ping, [])])'), "pong")
        self.assertIn(d.sname, epmd_names())
        statuses = [t for _, t in d.messages if t.startswith("STATUS=") or "\nSTATUS=" in t]
        self.assertTrue(statuses, d.messages)

    def test_reload_is_bracketed_by_reloading_and_ready(self):
        d = self.start()
        first = d.wait_for("READY=1")
        d.proc.send_signal(1)  # SIGHUP
        r = d.wait_for("RELOADING=1", first + 1)
        d.wait_for("READY=1", r + 1)
        self.assertEqual(d.call('io:format("~p", [rpc:call(NODE, health, ping, [])])'), "pong")

    def test_sigterm_drains_then_exits_zero_and_unregisters(self):
        d = self.start()
        d.wait_for("READY=1")
        # A slow call in flight, a signal, then a new call: the new one is
        # refused clearly, the slow one completes.
        out = d.call(
            'Self = self(), '
            'spawn(fun() -> Self ! {slow, rpc:call(NODE, health, sleep, [1500])} end), '
            'timer:sleep(300), '
            'os:cmd("kill -TERM %d"), '
            'timer:sleep(200), '
            'New = rpc:call(NODE, health, ping, []), '
            'Slow = receive {slow, R} -> R after 10000 -> none end, '
            'io:format("~p ~p", [New, Slow])' % d.proc.pid)
        self.assertEqual(out, "{badrpc,{'EXIT',{hornbeamd,draining}}} ok")
        d.wait_for("STOPPING=1")
        self.assertEqual(d.proc.wait(timeout=10), 0)
        self.assertNotIn(d.sname, epmd_names())

    def test_watchdog_pings_at_half_the_interval(self):
        d = self.start(watchdog_usec=400000)  # 400 ms: expect a ping every 200 ms
        d.wait_for("READY=1")
        time.sleep(1.5)
        pings = [t for t, text in d.messages if text == "WATCHDOG=1"]
        self.assertGreaterEqual(len(pings), 5, d.messages)
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        self.assertLess(max(gaps), 0.4)

    def test_stalled_loop_stops_watchdog(self):
        d = self.start(watchdog_usec=400000)
        d.wait_for("READY=1")
        os.kill(d.proc.pid, 19)  # SIGSTOP: the loop cannot run
        n = len(d.messages)
        time.sleep(1.0)
        self.assertEqual(len(d.messages), n)
        os.kill(d.proc.pid, 18)  # SIGCONT
        d.wait_for("WATCHDOG=1", n)

    def test_prometheus_scrape(self):
        d = self.start(extra=["--metrics-port", "0"])
        d.wait_for("READY=1")
        log = d.log_text()
        port = int(log.split("http://127.0.0.1:")[1].split("/")[0])
        d.call('rpc:call(NODE, ml, encode, [<<"hello">>]), rpc:call(NODE, nosuch, f, [])')
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            self.assertEqual(r.status, 200)
            self.assertIn("text/plain", r.headers["Content-Type"])
            body = r.read().decode()
        self.assertIn('hornbeam_requests_total{module="ml",function="encode"} 1', body)
        self.assertIn('hornbeam_request_errors_total{module="$unrouted",function="$unrouted",'
                      'reason="undef"} 1', body)
        self.assertIn('hornbeam_model_up{model="default"} 1', body)
        self.assertIn("hornbeam_request_duration_us_count", body)
        self.assertIn('hornbeam_model_batch_size{model="default",quantile="0.5"}', body)
        # Every sample line is NAME[{labels}] VALUE.
        for line in body.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, r'^[a-z_]+(\{.*\})? [0-9]+$')
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen("http://127.0.0.1:%d/nope" % port, timeout=5)
        self.assertEqual(e.exception.code, 404)

    def test_check_config(self):
        good = os.path.join(self.tmp, "good.json")
        with open(good, "w") as f:
            f.write('{"sname": "x", "plugin_dir": "%s"}' % PLUGIN_DIR)
        out = subprocess.run([DAEMON, "--check-config", "--config", good],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('"hashembed"', out.stdout)
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('{"port": "4370"}')
        out = subprocess.run([DAEMON, "--check-config", "--config", bad],
                             capture_output=True, text=True)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("'port'", out.stderr)
        out = subprocess.run([DAEMON, "--config", os.path.join(self.tmp, "missing.json")],
                             capture_output=True, text=True)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("missing.json", out.stderr)

    def test_systemd_unit_verifies(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze not installed")
        unit = os.path.join(os.path.dirname(__file__), "..", "..", "systemd", "hornbeamd.service")
        # verify needs ExecStart's binary to exist: point it at this build.
        with open(unit) as f:
            text = f.read().replace("/usr/sbin/hornbeamd", os.path.abspath(DAEMON))
        path = os.path.join(self.tmp, "hornbeamd.service")
        with open(path, "w") as f:
            f.write(text)
        out = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True)
        problems = [l for l in (out.stdout + out.stderr).splitlines()
                    if "hornbeamd.service" in l and "epmd.socket" not in l]
        self.assertEqual(problems, [])


if __name__ == "__main__":
    DAEMON = os.path.abspath(sys.argv[1])
    PLUGIN_DIR = os.path.abspath(sys.argv[2])
    if "epmd" not in subprocess.run(["ps", "-e"], capture_output=True, text=True).stdout:
        subprocess.run(["epmd", "-daemon"])
    unittest.main(argv=[sys.argv[0], "-v"])
