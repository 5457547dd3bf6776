#!/usr/bin/env python3
"""Hostile peers and bad plugins against a real hornbeamd, with real erl
clients checking that nobody else is affected.

usage: fault_test.py DAEMON_BINARY PLUGIN_DIR TEST_PLUGIN_DIR
"""
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from hbtest import HOST, Daemon, RawPeer, epmd_names  # noqa: E402

DAEMON = PLUGIN_DIR = TEST_PLUGIN_DIR = None

PING_LOOP = (
    # Calls health:ping every 20 ms for `Ms` ms; prints "Ok Bad".
    'Loop = fun L(0, A, B) -> {A, B}; L(N, A, B) -> '
    'case rpc:call(NODE, health, ping, [], 5000) of pong -> timer:sleep(20), L(N - 1, A + 1, B); '
    '_ -> timer:sleep(20), L(N - 1, A, B + 1) end end, '
    '{Ok, Bad} = Loop(Ms div 20, 0, 0), io:format("~b ~b", [Ok, Bad])')


def ping_loop(d, ms):
    return d.call("Ms = %d, " % ms + PING_LOOP, timeout=ms / 1000 + 60)


class Background(threading.Thread):
    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn = fn
        self.result = None

    def run(self):
        self.result = self.fn()


class FaultTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hbfault.")
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, config=None, **kw):
        d = Daemon(DAEMON, self.tmp, config=config, **kw)
        self.daemons.append(d)
        d.wait_registered(epmd_port=kw.get("env", {}).get("ERL_EPMD_PORT"))
        return d

    def assert_serving(self, d):
        self.assertEqual(d.call('io:format("~p", [rpc:call(NODE, health, ping, [])])'), "pong")

    def test_garbage_and_truncated_packets_after_handshake(self):
        d = self.start()
        port = d.port()
        cases = [
            b"p\x83\x68\x02\x61\x02",                    # truncated control tuple
            b"p\x83\x6c\xff\xff\xff\xff\x6a",            # list claiming 4 billion elements
            b"p\x83" + b"\x68\x01" * 5000 + b"\x6a",     # nesting beyond the depth limit
            b"q-not-a-pass-through-message",
            bytes(random.Random(7).getrandbits(8) for _ in range(4096)),
        ]
        for body in cases:
            peer = RawPeer(port, "garbage@" + HOST, d.cookie)
            peer.handshake()
            self.assertTrue(peer.ping(d.node))
            peer.send4(body)
            self.assertTrue(peer.is_closed(), "connection kept after %r" % body[:16])
            peer.close()
        # A length prefix beyond max_packet_bytes closes before any body.
        peer = RawPeer(port, "huge@" + HOST, d.cookie)
        peer.handshake()
        peer.sock.sendall(struct.pack(">I", 0x7FFFFFFF))
        self.assertTrue(peer.is_closed())
        peer.close()
        self.assert_serving(d)
        self.assertIn("exceeds the limit", d.log_text())
        out = d.call('#{wire := #{bad_packets := B}} = rpc:call(NODE, metrics, get_all, []), '
                     'io:format("~b", [B])')
        self.assertEqual(out, str(len(cases) + 1))

    def test_slowloris_handshakes_are_dropped_others_keep_calling(self):
        d = self.start(config='{"handshake_timeout_ms": 1000}')
        port = d.port()
        socks = []
        for i in range(100):
            s = socket.create_connection(("127.0.0.1", port))
            if i % 2:
                s.sendall(b"\x00\x20N")  # a handshake packet that never completes
            socks.append(s)
        caller = Background(lambda: ping_loop(d, 3000))
        caller.start()
        time.sleep(1.6)
        closed = 0
        for s in socks:
            s.settimeout(1.0)
            try:
                closed += s.recv(1) == b""
            except (socket.timeout, OSError):
                pass
            s.close()
        caller.join()
        ok, bad = map(int, caller.result.split())
        self.assertEqual(closed, 100)
        self.assertEqual(bad, 0)
        self.assertGreater(ok, 50)

    def test_fifty_nodes_churning_while_calls_run(self):
        d = self.start()
        port = d.port()
        stop = time.monotonic() + 5
        errors = []
        counts = [0] * 50

        def churn(i):
            while time.monotonic() < stop:
                try:
                    p = RawPeer(port, "churn%d@%s" % (i, HOST), d.cookie)
                    p.handshake()
                    if not p.ping(d.node):
                        errors.append("no yes")
                    p.close()
                    counts[i] += 1
                except Exception as e:  # noqa: BLE001 - collect, assert later
                    errors.append(repr(e))

        threads = [threading.Thread(target=churn, args=(i,)) for i in range(50)]
        caller = Background(lambda: ping_loop(d, 5000))
        caller.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        caller.join()
        ok, bad = map(int, caller.result.split())
        self.assertEqual(errors, [])
        self.assertEqual(bad, 0)
        self.assertGreater(sum(counts), 200)
        time.sleep(0.5)
        out = d.call('#{connections := C} = rpc:call(NODE, health, check, []), io:format("~b", [C])')
        self.assertEqual(out, "1")  # only the caller of that very check

    def test_epmd_restart_reregisters(self):
        eport = str(random.randint(20000, 30000))
        env = dict(os.environ, ERL_EPMD_PORT=eport)
        subprocess.run(["epmd", "-port", eport, "-daemon"], check=True)
        try:
            time.sleep(0.3)
            d = self.start(env=env)
            self.assert_serving(d)
            subprocess.run(["pkill", "-f", "epmd -port %s" % eport])
            time.sleep(0.5)
            subprocess.run(["epmd", "-port", eport, "-daemon"], check=True)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and d.sname not in epmd_names(eport):
                time.sleep(0.1)
            self.assertIn(d.sname, epmd_names(eport))
            self.assert_serving(d)  # a new client finds it through the new epmd
            self.assertIn("re-registered with epmd", d.log_text())
        finally:
            subprocess.run(["pkill", "-f", "epmd -port %s" % eport])

    def test_hung_plugin_degrades_its_model_only(self):
        plugins = os.path.join(self.tmp, "plugins")
        os.mkdir(plugins)
        shutil.copy(os.path.join(PLUGIN_DIR, "hashembed.so"), plugins)
        shutil.copy(os.path.join(TEST_PLUGIN_DIR, "testplugin_good.so"), plugins)
        d = self.start(config='{"plugin_dir": "%s", "models": {'
                       '"default": {"plugin": "hashembed"},'
                       '"stuck": {"plugin": "testplugin_good", "stuck_after_ms": 300}},'
                       '"routes": {"ml": "default", "stuck": "stuck"}}' % plugins)
        out = d.call(
            'T = rpc:call(NODE, stuck, encode, [<<"STUCK">>], 500), '
            'timer:sleep(200), '
            '#{status := S, models := Ms} = rpc:call(NODE, health, check, []), '
            '[St] = [X || #{name := stuck, status := X} <- Ms], '
            '[Df] = [X || #{name := default, status := X} <- Ms], '
            'E = rpc:call(NODE, ml, encode, [<<"fine">>]), '
            'io:format("~p ~p ~p ~p ~b", [T, S, St, Df, length(E)])')
        self.assertEqual(out, "{badrpc,timeout} degraded degraded ok 256")
        time.sleep(3)
        out = d.call('#{status := S} = rpc:call(NODE, health, check, []), io:format("~p", [S])')
        self.assertEqual(out, "ok")

    def test_plugin_lying_about_result_size(self):
        plugins = os.path.join(self.tmp, "plugins")
        os.mkdir(plugins)
        shutil.copy(os.path.join(TEST_PLUGIN_DIR, "testplugin_good.so"), plugins)
        d = self.start(config='{"plugin_dir": "%s", "models": {"t": {"plugin": "testplugin_good"}},'
                       '"routes": {"t": "t"}}' % plugins)
        out = d.call('io:format("~p", [rpc:call(NODE, t, liar, [])])')
        self.assertIn("model_error", out)
        self.assertIn("bytes in a 4-byte buffer", out)
        self.assert_serving(d)

    def test_100mb_binary_closes_only_that_connection(self):
        d = self.start(config='{"limits": {"max_packet_bytes": 8388608}}')
        bystander = Background(lambda: ping_loop(d, 4000))
        bystander.start()
        out = d.call('B = binary:copy(<<"a">>, 100 * 1024 * 1024), '
                     'io:format("~p", [rpc:call(NODE, ml, encode, [B], 20000)])', timeout=120)
        bystander.join()
        self.assertEqual(out, "{badrpc,nodedown}")
        ok, bad = map(int, bystander.result.split())
        self.assertEqual(bad, 0)
        self.assertIn("exceeds the limit of 8388608", d.log_text())
        self.assert_serving(d)

    def test_allowlist_refuses_other_nodes(self):
        d = self.start(config='{"allowed_peers": ["trusted_*@*"]}')
        stranger = RawPeer(d.port(), "stranger@" + HOST, d.cookie)
        stranger.send2(b"N" + struct.pack(">QIH", 0x7FFFFFFFF, 1, len("stranger@" + HOST))
                       + ("stranger@" + HOST).encode())
        self.assertEqual(stranger.recv2(), b"snot_allowed")
        friend = RawPeer(d.port(), "trusted_web@" + HOST, d.cookie)
        friend.handshake()
        self.assertTrue(friend.ping(d.node))
        stranger.close()
        friend.close()
        self.assertIn("not in the allowlist", d.log_text())

    def test_only_routed_functions_run(self):
        d = self.start()
        marker = os.path.join(self.tmp, "pwned")
        out = d.call('io:format("~p", [[rpc:call(NODE, os, cmd, ["touch %s"]), '
                     'rpc:call(NODE, erlang, halt, []), '
                     'rpc:call(NODE, file, write_file, ["%s", <<"x">>])]])' % (marker, marker))
        self.assertEqual(out.count("undef"), 3)
        self.assertFalse(os.path.exists(marker))
        self.assert_serving(d)


if __name__ == "__main__":
    DAEMON, PLUGIN_DIR, TEST_PLUGIN_DIR = map(os.path.abspath, sys.argv[1:4])
    if "epmd" not in subprocess.run(["ps", "-e"], capture_output=True, text=True).stdout:
        subprocess.run(["epmd", "-daemon"])
    unittest.main(argv=[sys.argv[0], "-v"])
