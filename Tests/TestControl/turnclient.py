"""A minimal TURN client over UDP (RFC 8656 allocate, permission, send/data indications with
long-term credentials, RFC 8489 message integrity), enough to push datagrams through the TURN
relay an arkitekt-mesh node runs, whose relayed traffic travels over the mesh."""

import hashlib
import hmac
import ipaddress
import os
import socket
import struct

MAGIC = 0x2112A442
ALLOCATE, CREATE_PERMISSION, SEND_INDICATION, DATA_INDICATION = 0x0003, 0x0008, 0x0016, 0x0017
USERNAME, MESSAGE_INTEGRITY, ERROR_CODE, REALM, NONCE = 0x0006, 0x0008, 0x0009, 0x0014, 0x0015
XOR_PEER_ADDRESS, DATA, XOR_RELAYED_ADDRESS, REQUESTED_TRANSPORT, LIFETIME = 0x0012, 0x0013, 0x0016, 0x0019, 0x000D


class TurnError(Exception):
    pass


def _attr(kind, value):
    pad = (4 - len(value) % 4) % 4
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * pad


def _xor_address(host, port):
    ip = ipaddress.ip_address(host)
    if ip.version != 4:
        raise TurnError("only IPv4 peers are supported")
    return struct.pack("!BBH", 0, 1, port ^ (MAGIC >> 16)) + struct.pack("!I", int(ip) ^ MAGIC)


def _parse_xor_address(value):
    family, port = value[1], struct.unpack("!H", value[2:4])[0] ^ (MAGIC >> 16)
    if family != 1:
        raise TurnError("IPv6 relayed address")
    addr = struct.unpack("!I", value[4:8])[0] ^ MAGIC
    return str(ipaddress.ip_address(addr)), port


def _parse(message):
    kind, length, magic = struct.unpack("!HHI", message[:8])
    if magic != MAGIC:
        raise TurnError("not a STUN message")
    txid, attrs, pos = message[8:20], {}, 20
    while pos + 4 <= 20 + length:
        a, alen = struct.unpack("!HH", message[pos:pos + 4])
        attrs.setdefault(a, message[pos + 4:pos + 4 + alen])
        pos += 4 + alen + (4 - alen % 4) % 4
    return kind, txid, attrs


class TurnClient:
    def __init__(self, server, username, password, timeout=5.0):
        self.server, self.username, self.password = server, username, password
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.realm = self.nonce = None

    @classmethod
    def from_turn_info(cls, info):
        url = info.urls[0]  # turn:HOST:PORT?transport=udp
        hostport = url.split(":", 1)[1].split("?")[0]
        host, port = hostport.rsplit(":", 1)
        return cls((host, int(port)), info.username, info.credential)

    def _message(self, kind, attrs, authenticate):
        txid = os.urandom(12)
        body = b"".join(_attr(k, v) for k, v in attrs)
        if authenticate:
            body += _attr(USERNAME, self.username.encode()) + _attr(REALM, self.realm) + _attr(NONCE, self.nonce)
            key = hashlib.md5(b"%s:%s:%s" % (self.username.encode(), self.realm, self.password.encode())).digest()
            header = struct.pack("!HHI", kind, len(body) + 24, MAGIC) + txid
            mac = hmac.new(key, header + body, hashlib.sha1).digest()
            body += _attr(MESSAGE_INTEGRITY, mac)
        return struct.pack("!HHI", kind, len(body), MAGIC) + txid + body, txid

    def _transact(self, kind, attrs):
        for attempt in range(3):
            msg, txid = self._message(kind, attrs, self.nonce is not None)
            self.sock.sendto(msg, self.server)
            while True:
                rkind, rtxid, rattrs = _parse(self.sock.recv(65535))
                if rtxid == txid:
                    break
            if rkind & 0x0110 == 0x0100:  # success response
                return rattrs
            code = rattrs.get(ERROR_CODE, b"\0\0\0\0")
            status = code[2] * 100 + code[3]
            if status in (401, 438) and NONCE in rattrs:  # (stale) credentials challenge
                self.realm = rattrs.get(REALM, self.realm)
                self.nonce = rattrs[NONCE]
                continue
            raise TurnError("TURN error %d: %s" % (status, code[4:].decode(errors="replace")))
        raise TurnError("TURN server keeps challenging the credentials")

    def allocate(self):
        """Allocates a relayed UDP address and returns it as (host, port)."""
        attrs = self._transact(ALLOCATE, [(REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))])
        return _parse_xor_address(attrs[XOR_RELAYED_ADDRESS])

    def permit(self, host):
        self._transact(CREATE_PERMISSION, [(XOR_PEER_ADDRESS, _xor_address(host, 0))])

    def send(self, peer, data):
        msg, _ = self._message(SEND_INDICATION, [(XOR_PEER_ADDRESS, _xor_address(*peer)), (DATA, data)], False)
        self.sock.sendto(msg, self.server)

    def receive(self):
        """Returns ((host, port), data) of the next datagram relayed to the allocation."""
        while True:
            kind, _, attrs = _parse(self.sock.recv(65535))
            if kind == DATA_INDICATION and DATA in attrs:
                return _parse_xor_address(attrs[XOR_PEER_ADDRESS]), attrs[DATA]

    def close(self):
        self.sock.close()
