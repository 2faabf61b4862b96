#!/usr/bin/python3
"""gRPC peers for tests/integration/http2 (Debian's python3-grpcio, no generated stubs: the
messages are raw bytes).

  grpc_peer.py server PORT [NAME [HOST [HEALTH_FILE]]]
                                      test.Echo (and color.ColorService/GetColor: NAME) on
                                      HOST:PORT (127.0.0.1); prints "ready" once it listens.
                                      With HEALTH_FILE, also grpc.health.v1.Health/Check (no
                                      grpc_health module in python3-grpcio: a raw handler)
                                      answering what the file says at each call: SERVING,
                                      NOT_SERVING, UNKNOWN (an empty message) or FAIL (aborts
                                      UNAVAILABLE); appends "check" to HEALTH_FILE.log per call.
                                      Events (calls counted, cancellations seen) go to stderr.
      Say     unary: "echo:" + request         Who   unary: NAME (default "v1")
      Count   server streaming: 3 messages     Fail  unary: aborts FAILED_PRECONDITION
      Flaky   unary: UNAVAILABLE on odd calls, then "second try:" + request
      Sum     client streaming: "<n> messages, <bytes> bytes"
      Chat    bidirectional: "re:" + each message, as it arrives
      Mirror  unary: the request back, unchanged (large messages)
      Code    unary: request "N" → aborts with status N and message "code N" (0: returns "ok")
      Slow    unary: request "S" → answers after S seconds; "Slow cancelled" on stderr when the
              call ends first
      Drip    server streaming: a message every 50 ms (up to 200); "Drip cancelled" on stderr
      OneThenUnavailable  server streaming: "first of call <n>" (n counts calls), then
              UNAVAILABLE
  grpc_peer.py call TARGET AUTHORITY METHOD PAYLOAD [--timeout S] [--meta K=V]...
                                      one call through TARGET (the proxy) with :authority
                                      AUTHORITY; prints "OK <reply>" (streaming: one line per
                                      message) or "<STATUS_CODE> <details>".
  grpc_peer.py calls TARGET AUTHORITY METHOD PAYLOAD N
                                      N unary calls on one channel, one line each as for call
  grpc_peer.py sum TARGET AUTHORITY N SIZE      client streaming: N messages of SIZE bytes
  grpc_peer.py chat TARGET AUTHORITY N SIZE     bidirectional ping-pong: each message is sent
                                      only after the previous answer arrived; "OK <n> answers"
  grpc_peer.py mirror TARGET AUTHORITY SIZE     unary with SIZE bytes each way; "OK <size> same"
  grpc_peer.py codes TARGET AUTHORITY           Code 0..16: one line "<sent> <NAME> <details>"
  grpc_peer.py cancel TARGET AUTHORITY          Drip: reads 2 messages, cancels; "cancelled after 2"
  grpc_peer.py who TARGET AUTHORITY N [--meta K=V]... [--method /S/M]
                                      N calls of Who (or /S/M) on one channel; "<name> <count>"
                                      per answer
  grpc_peer.py blackhole PORT         an h2c server (python h2, not grpcio) that never answers
                                      and ignores grpc-timeout: prints "ready", then
                                      "reset <error code>" for every stream the peer resets
"""
import socket
import sys
import threading
import time
from concurrent import futures

import grpc

# HealthCheckResponse{status} as protobuf bytes: field 1, varint (proto3 leaves 0 out).
HEALTH_ANSWERS = {"SERVING": b"\x08\x01", "NOT_SERVING": b"\x08\x02", "UNKNOWN": b""}
BIG = 64 * 1024 * 1024  # message size limit on both peers (grpcio's default is 4 MiB)
OPTS = [("grpc.max_receive_message_length", BIG), ("grpc.max_send_message_length", BIG)]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def serve(port, name, host="127.0.0.1", health_file=None):
    calls = {"Say": 0, "Flaky": 0, "OneThenUnavailable": 0}
    lock = threading.Lock()

    def say(req, ctx):
        calls["Say"] += 1
        return b"echo:" + req

    def who(req, ctx):
        return name.encode()

    def count(req, ctx):
        for i in range(3):
            yield req + str(i).encode()

    def fail(req, ctx):
        ctx.abort(grpc.StatusCode.FAILED_PRECONDITION, "asked to fail")

    def flaky(req, ctx):
        # UNAVAILABLE the first time for each payload: a grpcRetryEvents retry succeeds.
        with lock:
            calls["Flaky"] += 1
            n = calls["Flaky"]
        if n % 2 == 1:
            ctx.abort(grpc.StatusCode.UNAVAILABLE, "try again")
        return b"second try:" + req

    def hello(req, ctx):
        return b"hello " + req

    def sum_(it, ctx):
        n = 0
        size = 0
        for m in it:
            n += 1
            size += len(m)
        return ("%d messages, %d bytes" % (n, size)).encode()

    def chat(it, ctx):
        for m in it:
            yield b"re:" + m

    def mirror(req, ctx):
        return req

    codes = {c.value[0]: c for c in grpc.StatusCode}

    def code(req, ctx):
        n = int(req.decode())
        if n == 0:
            return b"ok"
        ctx.abort(codes[n], "code %d" % n)

    def slow(req, ctx):
        until = time.monotonic() + float(req.decode())
        while time.monotonic() < until:
            if not ctx.is_active():
                log("Slow cancelled")
                return b""
            time.sleep(0.01)
        return b"slow done"

    def drip(req, ctx):
        for i in range(200):
            if not ctx.is_active():
                log("Drip cancelled")
                return
            yield b"drop %d" % i
            time.sleep(0.05)
        log("Drip finished")

    def one_then_unavailable(req, ctx):
        with lock:
            calls["OneThenUnavailable"] += 1
            n = calls["OneThenUnavailable"]
        yield b"first of call %d" % n
        ctx.abort(grpc.StatusCode.UNAVAILABLE, "gone after one")

    hello_handler = grpc.method_handlers_generic_handler("Hello", {
        "SayHello": grpc.unary_unary_rpc_method_handler(hello),
    })
    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "Say": grpc.unary_unary_rpc_method_handler(say),
        "Who": grpc.unary_unary_rpc_method_handler(who),
        "Count": grpc.unary_stream_rpc_method_handler(count),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Flaky": grpc.unary_unary_rpc_method_handler(flaky),
        "Sum": grpc.stream_unary_rpc_method_handler(sum_),
        "Chat": grpc.stream_stream_rpc_method_handler(chat),
        "Mirror": grpc.unary_unary_rpc_method_handler(mirror),
        "Code": grpc.unary_unary_rpc_method_handler(code),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "Drip": grpc.unary_stream_rpc_method_handler(drip),
        "OneThenUnavailable": grpc.unary_stream_rpc_method_handler(one_then_unavailable),
    })
    color_handler = grpc.method_handlers_generic_handler("color.ColorService", {
        "GetColor": grpc.unary_unary_rpc_method_handler(who),
    })
    handlers = [handler, hello_handler, color_handler]
    if health_file:
        def check(req, ctx):
            with open(health_file + ".log", "a") as f:
                f.write("check\n")
            with open(health_file) as f:
                want = f.read().strip()
            if want == "FAIL":
                ctx.abort(grpc.StatusCode.UNAVAILABLE, "asked to fail the health check")
            return HEALTH_ANSWERS[want]

        handlers.append(grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
            "Check": grpc.unary_unary_rpc_method_handler(check),
        }))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=OPTS)
    server.add_generic_rpc_handlers(handlers)
    server.add_insecure_port("%s:%d" % (host, port))
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


def channel(target, authority):
    opts = [("grpc.default_authority", authority), ("grpc.enable_retries", 0)] + OPTS
    return grpc.insecure_channel(target, options=opts)


def split_opts(args):
    """Positional arguments, timeout (s) and metadata from [--timeout S] [--meta K=V]..."""
    pos, timeout, meta = [], 20.0, []
    global METHOD
    i = 0
    while i < len(args):
        if args[i] == "--method":
            METHOD = args[i + 1]
            i += 2
        elif args[i] == "--timeout":
            timeout = float(args[i + 1])
            i += 2
        elif args[i] == "--meta":
            k, v = args[i + 1].split("=", 1)
            meta.append((k, v))
            i += 2
        else:
            pos.append(args[i])
            i += 1
    return pos, timeout, meta


def call(args):
    (target, authority, method, payload), timeout, meta = split_opts(args)
    with channel(target, authority) as ch:
        try:
            if method.endswith(("/Count", "/Drip", "/OneThenUnavailable")):
                for m in ch.unary_stream(method)(payload.encode(), timeout=timeout, metadata=meta):
                    print("OK", m.decode(), flush=True)
            else:
                r = ch.unary_unary(method)(payload.encode(), timeout=timeout, metadata=meta)
                print("OK", r.decode())
        except grpc.RpcError as e:
            print(e.code().name, e.details())


def sum_call(target, authority, n, size):
    msgs = (b"x" * size for _ in range(n))
    with channel(target, authority) as ch:
        try:
            print("OK", ch.stream_unary("/test.Echo/Sum")(msgs, timeout=60).decode())
        except grpc.RpcError as e:
            print(e.code().name, e.details())


def chat(target, authority, n, size):
    # Ping-pong: the next message is offered only after the answer to the previous one came back
    # (a proxy that waits for the whole request body first deadlocks here).
    answered = threading.Semaphore(0)
    body = b"y" * max(size - 8, 0)

    def requests():
        for i in range(n):
            yield b"%08d" % i + body
            if not answered.acquire(timeout=20):
                return

    with channel(target, authority) as ch:
        got = 0
        try:
            for m in ch.stream_stream("/test.Echo/Chat")(requests(), timeout=120):
                if m != b"re:" + b"%08d" % got + body:
                    print("WRONG answer", got, len(m))
                    return
                got += 1
                answered.release()
            print("OK %d answers" % got)
        except grpc.RpcError as e:
            print(e.code().name, e.details(), "after", got)


def mirror(target, authority, size):
    payload = bytes(i % 251 for i in range(size))
    with channel(target, authority) as ch:
        try:
            r = ch.unary_unary("/test.Echo/Mirror")(payload, timeout=60)
            print("OK", len(r), "same" if r == payload else "DIFFERENT")
        except grpc.RpcError as e:
            print(e.code().name, e.details())


def codes(target, authority):
    with channel(target, authority) as ch:
        for n in range(17):
            try:
                r = ch.unary_unary("/test.Echo/Code")(str(n).encode(), timeout=20)
                print(n, "OK", r.decode())
            except grpc.RpcError as e:
                print(n, e.code().name, e.details())


def cancel(target, authority):
    with channel(target, authority) as ch:
        it = ch.unary_stream("/test.Echo/Drip")(b"", timeout=60)
        got = 0
        for _ in it:
            got += 1
            if got == 2:
                it.cancel()
                break
        print("cancelled after", got)


METHOD = "/test.Echo/Who"


def who(args):
    (target, authority, n), timeout, meta = split_opts(args)
    seen = {}
    with channel(target, authority) as ch:
        f = ch.unary_unary(METHOD)
        for _ in range(int(n)):
            try:
                name = f(b"", timeout=timeout, metadata=meta).decode()
            except grpc.RpcError as e:
                name = e.code().name
            seen[name] = seen.get(name, 0) + 1
    for k in sorted(seen):
        print(k, seen[k])


def calls(target, authority, method, payload, n):
    with channel(target, authority) as ch:
        f = ch.unary_unary(method)
        for _ in range(int(n)):
            try:
                print("OK", f(payload.encode(), timeout=10).decode())
            except grpc.RpcError as e:
                print(e.code().name, e.details())


def blackhole(port):
    import h2.config
    import h2.connection
    import h2.events

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    print("ready", flush=True)

    def serve_conn(sock):
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        while True:
            data = sock.recv(65536)
            if not data:
                return
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.StreamReset):
                    print("reset", int(ev.error_code), flush=True)
                elif isinstance(ev, h2.events.DataReceived):
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            sock.sendall(conn.data_to_send())

    while True:
        s, _ = srv.accept()
        threading.Thread(target=serve_conn, args=(s,), daemon=True).start()


if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "server":
        serve(int(rest[0]), rest[1] if len(rest) > 1 else "v1", rest[2] if len(rest) > 2 else "127.0.0.1",
              rest[3] if len(rest) > 3 else None)
    elif cmd == "call":
        call(rest)
    elif cmd == "sum":
        sum_call(rest[0], rest[1], int(rest[2]), int(rest[3]))
    elif cmd == "chat":
        chat(rest[0], rest[1], int(rest[2]), int(rest[3]))
    elif cmd == "mirror":
        mirror(rest[0], rest[1], int(rest[2]))
    elif cmd == "codes":
        codes(rest[0], rest[1])
    elif cmd == "cancel":
        cancel(rest[0], rest[1])
    elif cmd == "calls":
        calls(*rest[:5])
    elif cmd == "who":
        who(rest)
    elif cmd == "blackhole":
        blackhole(int(rest[0]))
    else:
        sys.exit("unknown command " + cmd)
