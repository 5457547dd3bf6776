#!/usr/bin/env python3
"""Operating hornbeamd: systemd notify protocol, watchdog, SIGHUP reload,
SIGTERM drain, the Prometheus endpoint and --check-config, against the real
binary and real erl nodes.

usage: ops_test.py DAEMON_BINARY PLUGIN_DIR TEST_PLUGIN_DIR
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from hbtest import Daemon, epmd_names  # noqa: E402

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    # Debian's python3-prometheus-client (scripts/install-deps), seen from a
    # Python that is not Debian's own (pyenv, a venv): it is pure Python.
    sys.path.append("/usr/lib/python3/dist-packages")
    from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

DAEMON = None
PLUGIN_DIR = None
TEST_PLUGIN_DIR = None


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

    def test_reload_applies_limits_and_log_level_and_names_fixed_keys(self):
        cfg = {"limits": {"max_inflight_per_peer": 100}, "log_level": "info"}
        d = self.start(config=json.dumps(cfg))
        first = d.wait_for("READY=1")
        # One slow call in flight from a node, then a second from the same node.
        two_calls = ('P = self(), spawn(fun() -> P ! {a, rpc:call(NODE, health, sleep, [700])} '
                     'end), timer:sleep(200), B = rpc:call(NODE, health, sleep, [0]), '
                     'receive {a, A} -> ok end, io:format("~p ~p", [A, B])')
        self.assertEqual(d.call(two_calls), "ok ok")
        deep = ('{badrpc, {\'EXIT\', R}} = rpc:call(NODE, nosuch, f, [lists:foldl(fun(_, A) -> '
                '[A] end, [], lists:seq(1, 20))]), io:format("~p", [element(1, R)])')
        self.assertEqual(d.call(deep), "undef")
        path = [a for a in d.proc.args if a.endswith(".json")][0]
        cfg.update({"limits": {"max_inflight_per_peer": 1, "max_term_depth": 10},
                    "log_level": "debug",
                    "port": 12345, "workers": 7})
        with open(path, "w") as f:
            json.dump(cfg, f)
        d.proc.send_signal(1)  # SIGHUP
        r = d.wait_for("RELOADING=1", first + 1)
        ready = d.wait_for("READY=1", r + 1)
        # STATUS keeps the full serving line; the node keeps its port.
        self.assertIn("STATUS=reloaded; serving as '%s' on port" % d.node, d.messages[ready][1])
        self.assertEqual(d.call(two_calls), "ok {badrpc,{'EXIT',system_limit}}")
        # The wire's term limits apply from the next packet.
        self.assertEqual(d.call(deep.replace("element(1, R)", "R")), "system_limit")
        log = d.log_text()
        self.assertIn("reload: port, workers cannot change while running; restart to apply", log)
        self.assertIn("log level now debug", log)
        # Flags given at startup (--sname, --cookie) still win over the file:
        # not reported as changes.
        self.assertNotIn("sname", log.split("reload:")[1].split("\n")[0])
        self.assertIn("limit inflight_per_peer reached", log)

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
        # Only the loop thread stalls (debug:stall_loop/1, released by a
        # worker thread): the pings stop while the process runs, and resume.
        env = dict(os.environ, HORNBEAMD_DEBUG_ROUTES="1")
        d = self.start(watchdog_usec=400000, env=env)  # a ping every 200 ms
        d.wait_for("READY=1")
        d.wait_for("WATCHDOG=1")
        out = {}
        caller = threading.Thread(target=lambda: out.setdefault("r", d.call(
            'T0 = erlang:monotonic_time(millisecond), '
            'R = rpc:call(NODE, debug, stall_loop, [1500], 10000), '
            'io:format("~p ~p", [R, erlang:monotonic_time(millisecond) - T0])')))
        caller.start()
        # The stall has begun once the pings stop; the process is not stopped.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.last_ping_age(d) < 0.6:
            time.sleep(0.05)
        self.assertGreaterEqual(self.last_ping_age(d), 0.6, d.messages)
        with open("/proc/%d/stat" % d.proc.pid) as f:
            self.assertNotEqual(f.read().split(")")[1].split()[0], "T")
        caller.join(30)
        result, elapsed = out["r"].split()
        self.assertEqual(result, "ok")
        self.assertGreaterEqual(int(elapsed), 1500)
        n = len(d.messages)
        d.wait_for("WATCHDOG=1", n)

    @staticmethod
    def last_ping_age(d):
        pings = [t for t, text in d.messages if text == "WATCHDOG=1"]
        return time.monotonic() - pings[-1] if pings else 0.0

    def test_debug_routes_are_off_by_default(self):
        d = self.start()
        d.wait_for("READY=1")
        self.assertEqual(d.call('{badrpc, {\'EXIT\', {R, _}}} = rpc:call(NODE, debug, stall_loop, '
                                '[1]), io:format("~p", [R])'), "undef")

    def test_prometheus_scrape(self):
        d = self.start(extra=["--metrics-port", "0"])
        d.wait_for("READY=1")
        log = d.log_text()
        port = int(log.split("http://127.0.0.1:")[1].split("/")[0])
        d.call('rpc:call(NODE, ml, encode, [<<"hello">>]), rpc:call(NODE, nosuch, f, []), '
               'ok = rpc:call(NODE, health, sleep, [20])')
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            self.assertEqual(r.status, 200)
            self.assertIn("text/plain", r.headers["Content-Type"])
            body = r.read().decode()
        self.assertIn('hornbeam_requests_total{module="ml",function="encode"} 1', body)
        self.assertIn('hornbeam_request_errors_total{module="$unrouted",function="$unrouted",'
                      'reason="undef"} 1', body)
        self.assertIn('hornbeam_model_up{model="default"} 1', body)
        self.assertNotIn("_us", body)
        # Every sample line is NAME[{labels}] VALUE, the value a float.
        for line in body.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, r'^[a-z_]+(\{.*\})? ([0-9.e+-]+|\+Inf|NaN)$')
        self.check_exposition(body)
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen("http://127.0.0.1:%d/nope" % port, timeout=5)
        self.assertEqual(e.exception.code, 404)

    def check_exposition(self, body):
        """Reads the scrape with Prometheus's own Python parser: types, units,
        histogram buckets, build info."""
        families = {f.name: f for f in text_string_to_metric_families(body)}
        self.assertFalse([n for n, f in families.items() if f.type == "untyped"], families.keys())
        types = {n: f.type for n, f in families.items()}
        # The parser names a counter family without its _total.
        self.assertEqual(types["hornbeam_requests"], "counter")
        self.assertEqual(types["hornbeam_received_bytes"], "counter")
        self.assertEqual(types["hornbeam_inflight_requests"], "gauge")
        for h in ("hornbeam_request_duration_seconds", "hornbeam_model_queue_duration_seconds",
                  "hornbeam_model_execute_duration_seconds", "hornbeam_model_batch_size"):
            self.assertEqual(types[h], "histogram", h)
        for name, f in families.items():
            for s in f.samples:
                if f.type == "counter":
                    self.assertTrue(s.name.endswith("_total"), s.name)
                self.assertGreaterEqual(s.value, 0, s)
            if f.type == "histogram":
                self.check_histogram(f)
        info = families["hornbeam_build_info"]
        self.assertEqual(info.type, "gauge")
        self.assertEqual([(s.labels, s.value) for s in info.samples],
                         [({"version": "0.1.0"}, 1.0)])
        # Seconds, not microseconds: health:sleep(20) took at least 0.02 s.
        sleep = {"module": "health", "function": "sleep"}
        dur = families["hornbeam_request_duration_seconds"].samples
        total = [s.value for s in dur if s.name.endswith("_sum") and s.labels == sleep]
        self.assertEqual(len(total), 1)
        self.assertGreaterEqual(total[0], 0.02)
        self.assertLess(total[0], 5)
        buckets = {float(s.labels["le"]): s.value for s in dur
                   if s.name.endswith("_bucket") and
                   {k: v for k, v in s.labels.items() if k != "le"} == sleep}
        self.assertEqual(buckets[0.01], 0)   # not under 10 ms
        self.assertEqual(buckets[5.0], 1)    # but under 5 s
        batch = [s for s in families["hornbeam_model_batch_size"].samples
                 if s.name.endswith("_bucket") and s.labels["le"] == "1"]
        self.assertEqual([s.value for s in batch], [1.0])  # one encode, one text

    def check_histogram(self, family):
        series = {}
        for s in family.samples:
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            series.setdefault(key, {"buckets": []})
            if s.name == family.name + "_bucket":
                series[key]["buckets"].append((float(s.labels["le"]), s.value))
            else:
                series[key][s.name[len(family.name) + 1:]] = s.value
        self.assertTrue(series, family.name)
        for key, s in series.items():
            les = [le for le, _ in s["buckets"]]
            counts = [n for _, n in s["buckets"]]
            self.assertEqual(les, sorted(les), (family.name, key))
            self.assertEqual(les[-1], float("inf"), (family.name, key))
            self.assertEqual(counts, sorted(counts), (family.name, key))  # cumulative
            self.assertEqual(counts[-1], s["count"], (family.name, key))
            self.assertGreaterEqual(s["sum"], 0)

    def test_devices_and_bytes_in_health_metrics_and_scrape(self):
        # The test plugin reports two fake GPUs (ABI 1.1 device_info); each
        # live instance adds 256 MiB to device 0's used memory.
        config = """{"plugin_dir": "%s",
          "models": {"gpu": {"plugin": "testplugin_good", "instances": 2, "devices": [0, 1],
                             "options": {"fake_devices": 2}}},
          "routes": {"gpu": "gpu"}}""" % TEST_PLUGIN_DIR
        d = self.start(config=config, extra=["--metrics-port", "0"])
        d.wait_for("READY=1")
        port = int(d.log_text().split("http://127.0.0.1:")[1].split("/")[0])
        out = d.call(
            '#{devices := Ds, status := S} = rpc:call(NODE, health, check, []), '
            'io:format("~p~n", [S]), '
            '[io:format("~s|~s|~s|~b|~b|~p~n", [maps:get(id, D), maps:get(name, D), '
            'maps:get(uuid, D), maps:get(memory_used_bytes, D), maps:get(memory_total_bytes, D), '
            'maps:get(plugins, D)]) || D <- Ds], '
            '[_, _, _, _] = rpc:call(NODE, gpu, encode, [<<"hello">>]), '
            '{badrpc, {\'EXIT\', {badarg, _}}} = rpc:call(NODE, gpu, encode, [<<"FAIL this">>]), '
            '#{calls := C, models := #{gpu := G}} = rpc:call(NODE, metrics, get_all, []), '
            '#{bytes_in := In, bytes_out := Out} = maps:get({gpu, encode}, C), '
            'io:format("calls ~b ~b~n", [In, Out]), '
            'io:format("model ~b ~b ~p~n", [maps:get(bytes_in, G), maps:get(bytes_out, G), '
            'maps:get(errors_by_reason, G)])')
        lines = out.splitlines()
        self.assertEqual(lines[0], "ok", out)
        self.assertEqual(lines[1], "cuda:0|Test GPU 0|GPU-test-0|%d|%d|[<<\"testplugin\">>]"
                         % ((1 << 30) + 2 * (256 << 20), 16 << 30), out)
        self.assertTrue(lines[2].startswith("cuda:1|Test GPU 1|GPU-test-1|%d|" % (1 << 30)), out)
        # Arguments: two calls of [<<Text>>] (5 + 9 text bytes, 8 framing each);
        # results: a list of 4 floats (42 bytes) once and badarg with its stack.
        calls_in, calls_out = map(int, lines[3].split()[1:])
        self.assertEqual(calls_in, (1 + 4 + 5 + 5 + 1) * 2 + 4, out)
        self.assertGreater(calls_out, 42 + 8, out)
        self.assertEqual(lines[4], "model 14 16 #{invalid_argument => 1}", out)
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            body = r.read().decode()
        self.assertIn('hornbeam_device_memory_total_bytes{device="cuda:0",name="Test GPU 0",'
                      'uuid="GPU-test-0"} %d' % (16 << 30), body)
        self.assertIn('hornbeam_device_memory_used_bytes{device="cuda:1",name="Test GPU 1",'
                      'uuid="GPU-test-1"} %d' % (1 << 30), body)
        self.assertIn('hornbeam_request_received_bytes_total{module="gpu",function="encode"} %d'
                      % calls_in, body)
        self.assertIn('hornbeam_request_sent_bytes_total{module="gpu",function="encode"} %d'
                      % calls_out, body)
        self.assertIn('hornbeam_model_errors_total{model="gpu",reason="invalid_argument"} 1', body)
        self.assertIn('hornbeam_model_received_bytes_total{model="gpu"} 14', body)
        self.assertIn('hornbeam_model_sent_bytes_total{model="gpu"} 16', body)

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
        # A configured cookie file must exist and be private, as at startup.
        cookie = os.path.join(self.tmp, "cookie")
        with open(good, "w") as f:
            f.write('{"sname": "x", "plugin_dir": "%s", "cookie_file": "%s"}' % (PLUGIN_DIR, cookie))
        out = subprocess.run([DAEMON, "--check-config", "--config", good],
                             capture_output=True, text=True)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("config key 'cookie_file': cannot read cookie file %s" % cookie, out.stderr)
        with open(cookie, "w") as f:
            f.write("ABC")
        os.chmod(cookie, 0o644)
        out = subprocess.run([DAEMON, "--check-config", "--config", good],
                             capture_output=True, text=True)
        self.assertIn("accessible by group or others", out.stderr)
        os.chmod(cookie, 0o400)
        out = subprocess.run([DAEMON, "--check-config", "--config", good],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
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
    TEST_PLUGIN_DIR = os.path.abspath(sys.argv[3])
    if "epmd" not in subprocess.run(["ps", "-e"], capture_output=True, text=True).stdout:
        subprocess.run(["epmd", "-daemon"])
    unittest.main(argv=[sys.argv[0], "-v"])
