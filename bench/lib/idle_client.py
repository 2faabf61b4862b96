#!/usr/bin/python3
"""Holds N idle keep-alive connections to a proxy (bench/idle.sh).

  idle_client.py PORT N HOST [h1|h2]

Opens N connections to 127.0.0.1:PORT; on each sends one request (h1: GET / with Host HOST;
h2: the client preface, SETTINGS and one HEADERS frame, h2c with prior knowledge) and reads
the complete answer, so every connection has served a request and now waits for its next one.
Prints "idle N" once all are idle, then holds them until stdin closes. Exits 1 (with the reason)
if any connection did not get a 200."""
import socket
import struct
import sys


def h1_request(host):
    return ("GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: idle-bench\r\n\r\n" % host).encode()


def read_h1(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("closed before the response head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("closed in the response body")
        body += chunk
    if status != b"200":
        raise RuntimeError("status %s" % status.decode())


def hpack_literal(name, value):
    # Literal header field without indexing, new name (RFC 7541 6.2.2), no Huffman.
    def s(b):
        assert len(b) < 127
        return bytes([len(b)]) + b
    return b"\x00" + s(name) + s(value)


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def h2_request(host):
    block = (b"\x82"  # :method GET (static index 2)
             + b"\x86"  # :scheme http
             + b"\x84"  # :path /
             + hpack_literal(b":authority", host.encode()))
    return (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"")
            + frame(1, 0x5, 1, block))  # END_STREAM | END_HEADERS


def read_h2(sock):
    buf = b""
    settings_acked = False
    while True:
        while len(buf) < 9:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("closed before the response")
            buf += chunk
        length = int.from_bytes(buf[:3], "big")
        ftype, flags = buf[3], buf[4]
        stream = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
        while len(buf) < 9 + length:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("closed in a frame")
            buf += chunk
        payload, buf = buf[9:9 + length], buf[9 + length:]
        if ftype == 4 and not flags & 1 and not settings_acked:
            sock.sendall(frame(4, 1, 0, b""))  # ACK the server's SETTINGS
            settings_acked = True
        if ftype == 7:
            raise RuntimeError("GOAWAY")
        if ftype == 3 and stream == 1:
            raise RuntimeError("RST_STREAM")
        if stream == 1 and ftype in (0, 1) and flags & 1:  # END_STREAM on stream 1
            return


def main():
    port, n, host = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    proto = sys.argv[4] if len(sys.argv) > 4 else "h1"
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if proto == "h2":
                s.sendall(h2_request(host))
                read_h2(s)
            else:
                s.sendall(h1_request(host))
                read_h1(s)
        except Exception as e:  # noqa: BLE001 - report which connection failed and why
            print("connection %d: %s" % (i, e), flush=True)
            sys.exit(1)
        socks.append(s)
    print("idle %d" % len(socks), flush=True)
    sys.stdin.read()


main()
