#!/usr/bin/python3
"""An HTTP/2-only server for health-check tests (Debian's python3-h2), whose answers a test can
change between requests (nghttpd keeps the files it served open for 10 s, so a removed file
still answers 200 for that long).

  h2_peer.py PORT NAME STATUS_FILE [CERT KEY]
      h2c on 127.0.0.1:PORT (with CERT/KEY: TLS, ALPN h2 only). GET /health answers the status
      code in STATUS_FILE (read at each request) and appends ":path /health" to
      STATUS_FILE.log; every other path answers 200 with the body "NAME\\n". Prints "ready" once
      it listens. No HTTP/1.1: a request line is a protocol error (GOAWAY, then close)."""
import asyncio
import ssl
import sys

import h2.config
import h2.connection
import h2.events
import h2.exceptions


class Peer(asyncio.Protocol):
    def __init__(self, name, status_file):
        self.name = name
        self.status_file = status_file

    def connection_made(self, transport):
        self.t = transport
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.t.write(self.conn.data_to_send())

    def data_received(self, data):
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.t.write(self.conn.data_to_send())
            self.t.close()
            return
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                self.answer(ev.stream_id, dict(ev.headers).get(":path", ""))
            elif isinstance(ev, h2.events.DataReceived):
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.t.write(self.conn.data_to_send())
                self.t.close()
                return
        self.t.write(self.conn.data_to_send())

    def answer(self, stream_id, path):
        if path == "/health":
            with open(self.status_file + ".log", "a") as log:
                log.write(":path /health\n")
            with open(self.status_file) as f:
                status = f.read().strip()
            body = b"health\n"
        else:
            status, body = "200", (self.name + "\n").encode()
        self.conn.send_headers(stream_id, [(":status", status), ("content-length", str(len(body)))])
        self.conn.send_data(stream_id, body, end_stream=True)


async def main(port, name, status_file, cert=None, key=None):
    tls = None
    if cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        tls.set_alpn_protocols(["h2"])
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Peer(name, status_file), "127.0.0.1", port, ssl=tls)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3], *sys.argv[4:6]))
