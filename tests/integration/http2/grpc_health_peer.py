#!/usr/bin/python3
"""gRPC peers for the health-check tests (tests/integration/resilience/health_h2_test.cpp;
Debian's python3-grpcio, no generated stubs: the messages are raw bytes).

  grpc_health_peer.py server PORT [HEALTH_FILE]
                                      test.Echo/Say (unary), test.Echo/Count (server streaming),
                                      test.Echo/Fail (aborts with FAILED_PRECONDITION),
                                      test.Echo/Who (answers "PORT"); prints "ready" once it
                                      listens. With HEALTH_FILE, also grpc.health.v1.Health/Check
                                      (python3-grpcio has no grpc_health module: a raw handler),
                                      answering what the file says at each call: SERVING,
                                      NOT_SERVING, UNKNOWN (an empty message), or FAIL (aborts
                                      with UNAVAILABLE). Appends "check" to HEALTH_FILE.log per call.
  grpc_health_peer.py call TARGET AUTHORITY METHOD PAYLOAD
                                      one call through TARGET (the proxy) with :authority
                                      AUTHORITY; prints "OK <reply>" (streaming: one line per
                                      message) or "<STATUS_CODE> <details>".
  grpc_health_peer.py calls TARGET AUTHORITY METHOD PAYLOAD N
                                      N unary calls on one channel, one line each as above."""
import sys
from concurrent import futures

import grpc


# HealthCheckResponse{status} as protobuf bytes: field 1, varint (proto3 leaves 0 out).
HEALTH_ANSWERS = {"SERVING": b"\x08\x01", "NOT_SERVING": b"\x08\x02", "UNKNOWN": b""}


def serve(port, health_file=None):
    calls = {"Say": 0, "Flaky": 0}

    def say(req, ctx):
        calls["Say"] += 1
        return b"echo:" + req

    def count(req, ctx):
        for i in range(3):
            yield req + str(i).encode()

    def fail(req, ctx):
        ctx.abort(grpc.StatusCode.FAILED_PRECONDITION, "asked to fail")

    def flaky(req, ctx):
        # UNAVAILABLE the first time for each payload: a grpcRetryEvents retry succeeds.
        calls["Flaky"] += 1
        if calls["Flaky"] % 2 == 1:
            ctx.abort(grpc.StatusCode.UNAVAILABLE, "try again")
        return b"second try:" + req

    def hello(req, ctx):
        return b"hello " + req

    def who(req, ctx):
        return str(port).encode()

    def check(req, ctx):
        with open(health_file + ".log", "a") as log:
            log.write("check\n")
        with open(health_file) as f:
            want = f.read().strip()
        if want == "FAIL":
            ctx.abort(grpc.StatusCode.UNAVAILABLE, "asked to fail the health check")
        return HEALTH_ANSWERS[want]

    hello_handler = grpc.method_handlers_generic_handler("Hello", {
        "SayHello": grpc.unary_unary_rpc_method_handler(hello),
    })
    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "Say": grpc.unary_unary_rpc_method_handler(say),
        "Count": grpc.unary_stream_rpc_method_handler(count),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Flaky": grpc.unary_unary_rpc_method_handler(flaky),
        "Who": grpc.unary_unary_rpc_method_handler(who),
    })
    handlers = [handler, hello_handler]
    if health_file:
        handlers.append(grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
            "Check": grpc.unary_unary_rpc_method_handler(check),
        }))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers(handlers)
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


def call(target, authority, method, payload):
    opts = [("grpc.default_authority", authority), ("grpc.enable_retries", 0)]
    with grpc.insecure_channel(target, options=opts) as ch:
        try:
            if method.endswith("/Count"):
                for m in ch.unary_stream(method)(payload.encode(), timeout=10):
                    print("OK", m.decode())
            else:
                print("OK", ch.unary_unary(method)(payload.encode(), timeout=10).decode())
        except grpc.RpcError as e:
            print(e.code().name, e.details())


def calls(target, authority, method, payload, n):
    opts = [("grpc.default_authority", authority), ("grpc.enable_retries", 0)]
    with grpc.insecure_channel(target, options=opts) as ch:
        stub = ch.unary_unary(method)
        for _ in range(int(n)):
            try:
                print("OK", stub(payload.encode(), timeout=10).decode())
            except grpc.RpcError as e:
                print(e.code().name, e.details())


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
    elif sys.argv[1] == "calls":
        calls(*sys.argv[2:7])
    else:
        call(*sys.argv[2:6])
