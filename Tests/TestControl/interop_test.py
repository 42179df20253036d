#!/usr/bin/env python3
"""Interop test: the test control server against arkitekt-mesh, an independent Tailscale-compatible
client (Rust, driven from Python). Starts the server through scripts/testcontrol.sh, logs nodes in,
and checks what an outside client sees: addresses, names, peers, refusals, ephemeral removal, a
restart with --state, and UDP data between two nodes over WireGuard (direct UDP, no DERP).

As root it also runs a DERP phase in a network namespace of its own (name tcderp<pid>) that has
only a loopback interface: the nodes find no endpoints to announce, so their datagrams can only
travel through the server's DERP relay (--derp).

Run: python3 Tests/TestControl/interop_test.py   (prints "N passed, M failed"; exit 1 on failure)
"""

import asyncio
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from turnclient import TurnClient  # noqa: E402

try:
    import arkitekt_mesh
except ImportError:
    print("interop: arkitekt-mesh is not installed (pip install arkitekt-mesh); 0 passed, 1 failed")
    sys.exit(1)

CGNAT = ipaddress.ip_network("100.64.0.0/10")
ULA = ipaddress.ip_network("fd7a:115c:a1e0::/48")
DISCO_MAGIC = "TS💬".encode()

passed, failed = [], []


def check(name, ok, detail=""):
    (passed if ok else failed).append(name)
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + detail) if detail and not ok else ""), flush=True)
    return ok


class ControlServer:
    """scripts/testcontrol.sh in the foreground, stderr to a log file."""

    def __init__(self, workdir, args, port=0):
        self.log_path = os.path.join(workdir, "testcontrol.log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [os.path.join(REPO, "scripts", "testcontrol.sh"), "--listen", "127.0.0.1:%d" % port] + args,
            stdout=subprocess.PIPE, stderr=self.log, start_new_session=True)
        line = self._read_line(timeout=300)  # the first run builds the server
        if not line.startswith("ready http://"):
            self.stop()
            raise RuntimeError("server did not start: %r (log %s)" % (line, self.log_path))
        self.url = line.split()[1]
        self.port = int(self.url.rsplit(":", 1)[1])

    def _read_line(self, timeout):
        result = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline().decode().strip()), daemon=True)
        reader.start()
        reader.join(timeout)
        return result[0] if result else ""

    def admin(self, method, path, body=None):
        req = urllib.request.Request(self.url + path, method=method, data=body and json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)

    def nodes(self):
        return {n["hostname"]: n for n in self.admin("GET", "/test/nodes")}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


async def start_node(workdir, server, hostname, auth_key="good", ephemeral=False):
    return await arkitekt_mesh.Node.start(os.path.join(workdir, hostname), hostname, control_url=server.url,
                                          auth_key=auth_key, timeout=30, ephemeral=ephemeral)


async def refused_with(workdir, server, hostname, key):
    try:
        node = await start_node(workdir, server, hostname, auth_key=key)
    except arkitekt_mesh.Refused as e:
        return str(e)
    except arkitekt_mesh.MeshError as e:
        return "not refused but %s: %s" % (type(e).__name__, e)
    node.close()
    return "admitted"


async def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.2)
    return predicate()


def in_pools(addresses):
    ips = [ipaddress.ip_address(a) for a in addresses]
    return len(ips) == 2 and ips[0] in CGNAT and ips[1] in ULA


async def udp_over_the_mesh(a, b):
    """Sends datagrams both ways between two nodes through their TURN relays, whose relayed
    addresses are the nodes' mesh addresses: the datagrams cross WireGuard between a and b."""
    ta = TurnClient.from_turn_info(await a.turn())
    tb = TurnClient.from_turn_info(await b.turn())
    try:
        ra, rb = await asyncio.to_thread(ta.allocate), await asyncio.to_thread(tb.allocate)
        if ra[0] != a.addresses[0] or rb[0] != b.addresses[0]:
            return "relayed addresses %s, %s are not the mesh addresses" % (ra, rb)
        await asyncio.to_thread(ta.permit, rb[0])
        await asyncio.to_thread(tb.permit, ra[0])
        payload = os.urandom(1000)
        for _ in range(10):  # the first datagram waits for disco and the WireGuard handshake
            ta.send(rb, payload)
            try:
                src, data = await asyncio.to_thread(tb.receive)
                break
            except socket.timeout:
                continue
        else:
            return "no datagram from a reached b"
        if src != ra or data != payload:
            return "b got %d bytes from %s" % (len(data), src)
        tb.send(ra, payload[::-1])
        src, data = await asyncio.to_thread(ta.receive)
        if src != rb or data != payload[::-1]:
            return "a got %d bytes from %s" % (len(data), src)
        return ""
    finally:
        ta.close()
        tb.close()


async def probe_sees_disco_ping(server, node):
    """Adds an external peer whose endpoint is a local UDP socket, dials it through `node`, and
    returns the first datagram that arrives (a disco ping, from the netmap's endpoint)."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives import serialization

    def pub():
        raw = X25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return raw.hex()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(15)
    try:
        server.admin("POST", "/test/nodes", {"hostname": "probe", "nodeKey": "nodekey:" + pub(),
                                             "discoKey": "discokey:" + pub(),
                                             "endpoints": ["127.0.0.1:%d" % sock.getsockname()[1]]})
        # The server streams the new peer to the node as a delta: wait for it to arrive (the node
        # says "no peer named probe" until then) rather than racing it.
        deadline = time.monotonic() + 10
        while True:
            try:
                local = await node.forward("probe", 80)
                break
            except arkitekt_mesh.MeshError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
        host, port = local.rsplit(":", 1)

        def dial():
            try:
                socket.create_connection((host, int(port)), timeout=2).close()
            except OSError:
                pass
        threading.Thread(target=dial, daemon=True).start()
        data, _ = await asyncio.to_thread(sock.recvfrom, 2000)
        return data
    finally:
        sock.close()


def tear_down(nodes, server, workdir):
    """Stops the nodes and the server; after a failure prints the tail of the server's log."""
    for n in nodes:
        n.close()
    server.stop()
    if failed:
        print("--- server log (tail) ---")
        with open(server.log_path, "rb") as f:
            print(b"\n".join(f.read().splitlines()[-40:]).decode(errors="replace"))
    shutil.rmtree(workdir, ignore_errors=True)


async def derp_phase():
    """Runs inside a namespace with only loopback: no endpoints, so only the relay connects nodes."""
    workdir = tempfile.mkdtemp(prefix="tc-interop-derp-")
    server = ControlServer(workdir, ["--authkey", "good", "--derp"])
    nodes = []
    try:
        a = await start_node(workdir, server, "alpha")
        nodes.append(a)
        b = await start_node(workdir, server, "beta")
        nodes.append(b)
        listed = server.nodes()
        check("[derp] in a namespace with only loopback the nodes announce no endpoints",
              listed["alpha"]["endpoints"] == [] and listed["beta"]["endpoints"] == [], json.dumps(listed))
        problem = await udp_over_the_mesh(a, b)
        check("[derp] UDP datagrams cross between the nodes through the server's DERP relay", problem == "", problem)
    except Exception:
        traceback.print_exc()
        check("[derp] the DERP phase completes without an exception", False)
    finally:
        tear_down(nodes, server, workdir)


def run_derp_phase_in_namespace():
    """Runs this file with --derp-phase in a fresh network namespace; returns its results."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        print("skip [derp] phase: needs root and ip(8) for a network namespace")
        return
    ns = "tcderp%d" % os.getpid()
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), "--derp-phase"],
                              stdout=subprocess.PIPE, timeout=600)
        out = proc.stdout.decode(errors="replace")
        for line in out.splitlines():
            if line.startswith("ok   "):
                passed.append(line[5:])
            elif line.startswith("FAIL "):
                failed.append(line[5:])
            if not line.endswith(" failed"):
                print(line, flush=True)
        if proc.returncode != 0 and not any(l.startswith("FAIL") for l in out.splitlines()):
            check("[derp] the DERP phase exits cleanly", False, "exit status %d" % proc.returncode)
    except (subprocess.SubprocessError, OSError) as e:
        check("[derp] the DERP phase runs in a network namespace", False, str(e))
    finally:
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


async def main():
    workdir = tempfile.mkdtemp(prefix="tc-interop-")
    state = os.path.join(workdir, "state")
    args = ["--authkey", "good", "--authkey-expired", "old", "--authkey-oneoff", "once",
            "--ephemeral-grace", "2s", "--state", state]
    server = ControlServer(workdir, args)
    nodes = []
    try:
        a = await start_node(workdir, server, "alpha")
        nodes.append(a)
        b = await start_node(workdir, server, "beta")
        nodes.append(b)
        check("two nodes log in with addresses from 100.64.0.0/10 and fd7a:115c:a1e0::/48",
              in_pools(a.addresses) and in_pools(b.addresses) and set(a.addresses).isdisjoint(b.addresses),
              "%s %s" % (a.addresses, b.addresses))
        listed = server.nodes()
        check("the server lists both online under their names",
              listed.get("alpha", {}).get("online") and listed.get("beta", {}).get("online")
              and listed["alpha"]["name"] == "alpha.tailnet.test."
              and [str(x) for x in listed["beta"]["addresses"]] == b.addresses, json.dumps(listed))

        async def knows(node, name, wait=0.0):
            # A peer reaches a node's netmap as a delta shortly after it registers: `wait` allows for that.
            deadline = time.monotonic() + wait
            while True:
                try:
                    await node.forward(name, 9)
                    return True
                except arkitekt_mesh.MeshError:
                    if time.monotonic() > deadline:
                        return False
                    await asyncio.sleep(0.05)
        check("each node finds the other by name and FQDN in its netmap",
              await knows(a, "beta", wait=10) and await knows(b, "alpha", wait=10)
              and await knows(a, "beta.tailnet.test") and not await knows(a, "nosuch"))

        problem = await udp_over_the_mesh(a, b)
        check("UDP datagrams cross WireGuard between the two nodes both ways (direct UDP, no DERP)", problem == "", problem)

        datagram = await probe_sees_disco_ping(server, a)
        alpha_disco = bytes.fromhex(server.nodes()["alpha"]["discoKey"].split(":")[1])
        check("a node reaches an external peer at the endpoint the netmap gives, with its own disco key",
              datagram.startswith(DISCO_MAGIC) and datagram[6:38] == alpha_disco, datagram[:40].hex())

        for key, want in (("wrong-key", "invalid auth key"), ("old", "auth key expired")):
            msg = await refused_with(workdir, server, "refused-" + key, key)
            check("a node with key %r is refused with %r" % (key, want), want in msg, msg)
        c = await start_node(workdir, server, "gamma", auth_key="once")
        nodes.append(c)
        msg = await refused_with(workdir, server, "delta", "once")
        check("a one-off key admits one node and then is refused as used", "auth key already used" in msg, msg)

        e = await start_node(workdir, server, "eph", ephemeral=True)
        present = "eph" in server.nodes()
        e.close()
        gone = await wait_for(lambda: "eph" not in server.nodes(), 15)
        check("an ephemeral node is removed after it stops", present and gone,
              "present=%s gone=%s" % (present, gone))

        address = list(a.addresses)
        a.close()
        nodes.remove(a)
        server.stop()
        server = ControlServer(workdir, args, port=server.port)
        a = await start_node(workdir, server, "alpha", auth_key=None)
        nodes.append(a)
        check("after a server restart with --state a node logs in without a key and keeps its addresses",
              a.addresses == address, "%s → %s" % (address, a.addresses))
        await wait_for(lambda: server.nodes().get("beta", {}).get("online"), 30)
        problem = await udp_over_the_mesh(a, b)
        check("UDP still crosses between the nodes after the server restart", problem == "", problem)
    except Exception:
        traceback.print_exc()
        check("the interop run completes without an exception", False)
    finally:
        tear_down(nodes, server, workdir)
    run_derp_phase_in_namespace()
    print("%d passed, %d failed" % (len(passed), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--derp-phase"]:
        asyncio.run(derp_phase())
        print("%d passed, %d failed" % (len(passed), len(failed)))
        sys.exit(1 if failed else 0)
    sys.exit(asyncio.run(main()))
