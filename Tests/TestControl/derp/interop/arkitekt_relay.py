# Interop check of the WireNet test DERP relay with an independent client (arkitekt-mesh):
# two arkitekt nodes on a test control server that serves the relay (package derp mounted at
# /derp and /derp/stats, DERP map with InsecureForTests), their UDP between each other dropped
# (run.sh), so WireGuard between them can only go through the relay. CONTROL_CMD is the control
# server command line (it must print "ready http://HOST:PORT" and accept auth key k1). Checks:
#  1. both nodes connect to the relay over TLS;
#  2. TCP connects from A to a closed port on B are refused by B (WireGuard round trips);
#  3. datagrams through the nodes' TURN relays (which carry them over the mesh as UDP inside
#     WireGuard): N numbered 1000-byte datagrams A -> B, each checked, and echo round trips;
#  4. B learns PeerGone when A leaves.
import asyncio, hashlib, json, os, shlex, shutil, signal, struct, subprocess, sys, tempfile, time, urllib.error, urllib.request
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from turnclient import Turn
from arkitekt_mesh import Node

TABLE = os.environ.get("NFT_TABLE", "")
CONTROL_CMD = os.environ.get("CONTROL_CMD", "scripts/testcontrol.sh --derp --listen 127.0.0.1:0 --authkey k1")
WORK = tempfile.mkdtemp(prefix="derp-interop-")
N = int(os.environ.get("N", "2000"))

def stats(url):
    """The relay's counters from /derp/stats, or None when the server does not serve them."""
    try:
        st = json.load(urllib.request.urlopen(url + "/derp/stats"))
    except urllib.error.HTTPError:
        return None
    keep = ("clientsConnected", "accepted", "acceptedTLS", "handshakeFailures", "packetsReceived", "discoReceived",
            "packetsRelayed", "bytesRelayed", "dropped", "peerGoneDisconnected", "protocolErrors")
    return {k: st[k] for k in keep}

def turn_server(info):
    hp = info.urls[0].split(":", 1)[1].split("?")[0]
    h, p = hp.rsplit(":", 1)
    return (h, int(p))

async def rst_round_trip(host, port):
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 15)
        w.write(b"x"); await w.drain()
        await asyncio.wait_for(r.read(10), 15)
        w.close()
        return "closed"
    except ConnectionResetError:
        return "reset"
    except Exception as e:
        return repr(e)

def datagrams(ca, cb, rb, ra):
    # A -> B: N numbered datagrams, paced in bursts of 16.
    got = {}
    sent_hash = {}
    t0 = time.time()
    for i in range(N):
        body = struct.pack("!I", i) + os.urandom(996)
        sent_hash[i] = hashlib.sha256(body).digest()
        ca.send(rb[0], rb[1], body)
        if i % 16 == 15:
            time.sleep(0.002)
            while True:
                try:
                    peer, data = cb.recv(0.0001)
                except OSError:
                    break
                if data:
                    got[struct.unpack("!I", data[:4])[0]] = hashlib.sha256(data).digest()
    while True:
        try:
            peer, data = cb.recv(2)
        except OSError:
            break
        if data:
            got[struct.unpack("!I", data[:4])[0]] = hashlib.sha256(data).digest()
    dt = time.time() - t0
    good = sum(1 for i, h in got.items() if sent_hash.get(i) == h)
    bad = len(got) - good
    # Echo round trips B -> A -> B.
    rtts = []
    for i in range(20):
        t = time.time()
        cb.send(ra[0], ra[1], b"ping%d" % i)
        peer, data = ca.recv(5)
        ca.send(rb[0], rb[1], data)
        peer, data2 = cb.recv(5)
        if data2 == b"ping%d" % i:
            rtts.append((time.time() - t) * 1000)
    return good, bad, dt, sorted(rtts)

async def main():
    # Its own process group, so that the server and anything its script started end with it.
    ctl = subprocess.Popen(shlex.split(CONTROL_CMD), stdout=subprocess.PIPE, start_new_session=True,
                           stderr=open(os.path.join(WORK, "control.log"), "w"), text=True)
    try:
        url = ctl.stdout.readline().strip().split()[1]
        print("control", url)
        d = WORK
        a = await Node.start(os.path.join(d, "a"), "arka", control_url=url, auth_key="k1", timeout=30)
        b = await Node.start(os.path.join(d, "b"), "arkb", control_url=url, auth_key="k1", timeout=30)
        print("nodes", a.addresses[0], b.addresses[0])
        print("relay after start", stats(url))
        ta, tb = await a.turn(), await b.turn()
        sa, sb = turn_server(ta), turn_server(tb)
        if TABLE:  # the TURN servers' own UDP (host-local) stays open
            ports = f"{{ {sa[1]}, {sb[1]} }}"
            for d_ in ("sport", "dport"):
                subprocess.run(["nft", "insert", "rule", "inet", TABLE, "out", "udp", d_, ports, "accept"], check=True)
        fwd = await a.forward(b.addresses[0], 9)
        host, port = fwd.rsplit(":", 1)
        rst = [await rst_round_trip(host, int(port)) for _ in range(10)]
        print("TCP to closed port on B:", rst)
        ca, cb = Turn(sa, ta.username, ta.credential), Turn(sb, tb.username, tb.credential)
        ra, rb = ca.allocate(), cb.allocate()
        ca.permit(rb[0]); cb.permit(ra[0])
        print("TURN relayed addresses", ra, rb)
        good, bad, dt, rtts = await asyncio.to_thread(datagrams, ca, cb, rb, ra)
        # A refused connect comes back as a reset or a close of the local forward, depending on
        # timing; a timeout or any other error means B's answer never arrived.
        ok = good == N and bad == 0 and len(rtts) == 20 and all(r in ("reset", "closed") for r in rst)
        print(f"datagrams A->B: {good}/{N} intact, {bad} corrupt, {dt:.2f}s; echo RTT ms p50 {rtts[len(rtts)//2]:.2f} max {rtts[-1]:.2f} ({len(rtts)}/20)")
        after = stats(url)
        print("relay after traffic", after)
        # With UDP blocked every datagram must have crossed the relay; with it open the nodes
        # go direct and only the first packets do.
        # Without /derp/stats, delivery with UDP blocked is the proof.
        if after is not None:
            ok = ok and after["acceptedTLS"] >= 2 and (after["packetsRelayed"] >= N or not TABLE)
        a.close()
        await asyncio.sleep(2)
        print("relay after A left", stats(url))
        b.close()
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        os.killpg(ctl.pid, signal.SIGTERM); ctl.wait()
        shutil.rmtree(WORK, ignore_errors=True)

# A SIGTERM (e.g. from timeout) still runs the clean-up in main's finally.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
sys.exit(asyncio.run(main()))
