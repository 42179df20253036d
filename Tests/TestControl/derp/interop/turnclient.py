"""Minimal TURN (RFC 8656) client over UDP: Allocate with long-term credentials,
CreatePermission, Send/Data indications. Enough to push datagrams through a TURN relay."""
import hashlib, hmac, os, socket, struct, zlib

MAGIC = 0x2112A442
ALLOCATE, CREATE_PERMISSION, SEND_IND, DATA_IND = 0x0003, 0x0008, 0x0016, 0x0017
A_USERNAME, A_MI, A_ERROR, A_REALM, A_NONCE = 0x0006, 0x0008, 0x0009, 0x0014, 0x0015
A_XOR_PEER, A_DATA, A_XOR_RELAYED, A_LIFETIME, A_TRANSPORT, A_FINGERPRINT = 0x0012, 0x0013, 0x0016, 0x000D, 0x0019, 0x8028

def attr(t, v):
    pad = (4 - len(v) % 4) % 4
    return struct.pack("!HH", t, len(v)) + v + b"\0" * pad

def xor_addr(ip, port):
    x = port ^ (MAGIC >> 16)
    a = struct.unpack("!I", socket.inet_aton(ip))[0] ^ MAGIC
    return struct.pack("!BBHI", 0, 1, x, a)

def parse_xor_addr(v):
    port = struct.unpack("!H", v[2:4])[0] ^ (MAGIC >> 16)
    ip = socket.inet_ntoa(struct.pack("!I", struct.unpack("!I", v[4:8])[0] ^ MAGIC))
    return ip, port

def parse(msg):
    t, n, magic = struct.unpack("!HHI", msg[:8]); tid = msg[8:20]
    attrs = {}; i = 20
    while i + 4 <= 20 + n:
        at, al = struct.unpack("!HH", msg[i:i+4])
        attrs.setdefault(at, msg[i+4:i+4+al]); i += 4 + al + (4 - al % 4) % 4
    return t, tid, attrs

class Turn:
    def __init__(self, server, user, password):
        self.server, self.user, self.password = server, user, password
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); self.s.settimeout(5)
        self.realm = self.nonce = None

    def _msg(self, t, attrs, auth):
        tid = os.urandom(12)
        body = b"".join(attrs)
        if auth:
            body += attr(A_USERNAME, self.user.encode()) + attr(A_REALM, self.realm) + attr(A_NONCE, self.nonce)
            key = hashlib.md5(self.user.encode() + b":" + self.realm + b":" + self.password.encode()).digest()
            hdr = struct.pack("!HHI", t, len(body) + 24, MAGIC) + tid
            body += attr(A_MI, hmac.new(key, hdr + body, hashlib.sha1).digest())
        return struct.pack("!HHI", t, len(body), MAGIC) + tid + body, tid

    def request(self, t, attrs):
        for auth in (self.realm is not None, True):
            m, tid = self._msg(t, attrs, auth)
            self.s.sendto(m, self.server)
            while True:
                rt, rtid, ra = parse(self.s.recv(65535))
                if rtid == tid:
                    break
            if rt & 0x0110 == 0x0100:
                return ra
            if A_REALM in ra:
                self.realm, self.nonce = ra[A_REALM], ra[A_NONCE]
                continue
            raise RuntimeError(f"TURN error {ra.get(A_ERROR)!r}")
        raise RuntimeError("TURN: auth failed")

    def allocate(self):
        ra = self.request(ALLOCATE, [attr(A_TRANSPORT, bytes([17, 0, 0, 0]))])
        return parse_xor_addr(ra[A_XOR_RELAYED])

    def permit(self, ip):
        self.request(CREATE_PERMISSION, [attr(A_XOR_PEER, xor_addr(ip, 0))])

    def send(self, ip, port, data):
        m, _ = self._msg(SEND_IND, [attr(A_XOR_PEER, xor_addr(ip, port)), attr(A_DATA, data)], False)
        self.s.sendto(m, self.server)

    def recv(self, timeout):
        self.s.settimeout(timeout)
        t, _, ra = parse(self.s.recv(65535))
        if t == DATA_IND:
            return parse_xor_addr(ra[A_XOR_PEER]), ra[A_DATA]
        return None, None
