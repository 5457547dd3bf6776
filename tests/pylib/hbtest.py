"""Shared helpers for hornbeamd's Python-driven tests: a daemon under test,
erl one-shot calls, and a minimal raw Erlang distribution client (for
misbehaving peers that a real erl node cannot play)."""
import hashlib
import os
import secrets
import socket
import struct
import subprocess
import threading
import time

HOST = socket.gethostname().split(".")[0]


def epmd_names(port=None):
    args = ["epmd"] + (["-port", str(port)] if port else []) + ["-names"]
    return subprocess.run(args, capture_output=True, text=True).stdout


def erl_eval(cookie, expr, timeout=60, env=None):
    """Runs `expr` on a fresh hidden erl node; returns what it printed."""
    name = "hbt_cli_%s" % secrets.token_hex(3)
    out = subprocess.run(
        ["erl", "-sname", name, "-setcookie", cookie, "-hidden", "-noshell",
         "-eval", expr + ", halt()."],
        capture_output=True, text=True, timeout=timeout, env=env)
    return out.stdout.strip()


class Daemon:
    """A hornbeamd under test. With notify=True it gets a NOTIFY_SOCKET this
    object owns and records every message in `messages`."""

    def __init__(self, binary, tmp, config=None, notify=False, watchdog_usec=None, extra=(),
                 env=None):
        self.tmp = tmp
        self.cookie = secrets.token_hex(8)
        self.sname = "hbt_%s" % secrets.token_hex(3)
        self.node = "%s@%s" % (self.sname, HOST)
        self.messages = []  # (monotonic time, text)
        self.sock = None
        self.stop_reader = False
        self.env = dict(env or os.environ)
        if notify:
            self.sock_path = os.path.join(tmp, "notify-%s.sock" % self.sname)
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.bind(self.sock_path)
            self.sock.settimeout(0.2)
            self.env["NOTIFY_SOCKET"] = self.sock_path
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()
        if watchdog_usec:
            self.env["WATCHDOG_USEC"] = str(watchdog_usec)
        args = [binary, "--sname", self.sname, "--cookie", self.cookie]
        if config:
            path = os.path.join(tmp, "config-%s.json" % self.sname)
            with open(path, "w") as f:
                f.write(config)
            args += ["--config", path]
        args += list(extra)
        self.log = open(os.path.join(tmp, "daemon-%s.log" % self.sname), "w+")
        self.proc = subprocess.Popen(args, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)

    def _read(self):
        while not self.stop_reader:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def wait_for(self, field, after=0, timeout=15):
        """Index of the first notify message at or after `after` holding `field`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, (_, text) in enumerate(self.messages[after:], after):
                if field in text.split("\n"):
                    return i
            time.sleep(0.02)
        raise AssertionError("no %r from the daemon; got %r; log:\n%s"
                             % (field, self.messages, self.log_text()))

    def wait_registered(self, timeout=15, epmd_port=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ("name %s at port" % self.sname) in epmd_names(epmd_port):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("daemon did not register; log:\n" + self.log_text())

    def port(self, epmd_port=None):
        for line in epmd_names(epmd_port).splitlines():
            if line.startswith("name %s at port" % self.sname):
                return int(line.split()[-1])
        raise AssertionError("not registered")

    def log_text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def call(self, expr, timeout=60):
        return erl_eval(self.cookie, expr.replace("NODE", "'%s'" % self.node), timeout,
                        env=self.env)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.sock:
            self.stop_reader = True
            self.reader.join()
            self.sock.close()
        self.log.close()


# ---- a minimal raw distribution client ------------------------------------

FLAGS = (0x4 | 0x8 | 0x10 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800 | 0x4000 | 0x10000 |
         0x20000 | 0x40000 | 0x1000000 | 0x2000000 | 0x4000000 | (1 << 32) | (1 << 34))


def atom(a):
    b = a.encode()
    return bytes([119, len(b)]) + b


def small_tuple(*elems):
    return bytes([104, len(elems)]) + b"".join(elems)


def pid(node, num):
    return bytes([88]) + atom(node) + struct.pack(">III", num, 0, 1)


def ref(node, n):
    return bytes([90]) + struct.pack(">H", 1) + atom(node) + struct.pack(">II", 1, n)


class RawPeer:
    """Connects to a node's distribution port as a (hidden) peer."""

    def __init__(self, port, name, cookie, timeout=5):
        self.name = name
        self.cookie = cookie.encode()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def send2(self, body):
        self.sock.sendall(struct.pack(">H", len(body)) + body)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def recv2(self):
        (n,) = struct.unpack(">H", self.recv_exact(2))
        return self.recv_exact(n)

    def handshake(self):
        name = self.name.encode()
        self.send2(b"N" + struct.pack(">QIH", FLAGS, 1, len(name)) + name)
        status = self.recv2()
        if status != b"sok":
            raise ConnectionError("status %r" % status)
        ch = self.recv2()
        (challenge,) = struct.unpack(">I", ch[9:13])
        mine = 0x1234567
        digest = hashlib.md5(self.cookie + str(challenge).encode()).digest()
        self.send2(b"r" + struct.pack(">I", mine) + digest)
        ack = self.recv2()
        if ack != b"a" + hashlib.md5(self.cookie + str(mine).encode()).digest():
            raise ConnectionError("bad ack")

    def send4(self, body):
        self.sock.sendall(struct.pack(">I", len(body)) + body)

    def recv4(self):
        while True:
            (n,) = struct.unpack(">I", self.recv_exact(4))
            if n:
                return self.recv_exact(n)

    def ping(self, target_node):
        """net_adm:ping/1's request; True when the answer is `yes`."""
        me = pid(self.name, 1)
        tag = ref(self.name, 7)
        control = small_tuple(bytes([97, 6]), me, atom(""), atom("net_kernel"))
        msg = small_tuple(atom("$gen_call"), small_tuple(me, tag),
                          small_tuple(atom("is_auth"), atom(target_node)))
        self.send4(b"p\x83" + control + b"\x83" + msg)
        # The node may send us other things first (its pg scope's discover
        # on connect, as a BEAM node's pg does): skip them as a mailbox
        # would, up to a few packets.
        for _ in range(8):
            packet = self.recv4()
            if packet[:3] == b"p\x83h" and packet[4:6] == b"a\x02":  # SEND {2, ...}
                return atom("yes") in packet
        return False

    def is_closed(self, wait=3.0):
        """True when the other side closes the socket within `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        self.sock.close()
