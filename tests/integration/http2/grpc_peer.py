#!/usr/bin/python3
"""gRPC peers for tests/integration/http2 (Debian's python3-grpcio, no generated stubs: the
messages are raw bytes).

  grpc_peer.py server PORT            test.Echo/Say (unary), test.Echo/Count (server streaming),
                                      test.Echo/Fail (aborts with FAILED_PRECONDITION); prints
                                      "ready" once it listens. Counts calls per method on stderr.
  grpc_peer.py call TARGET AUTHORITY METHOD PAYLOAD
                                      one call through TARGET (the proxy) with :authority
                                      AUTHORITY; prints "OK <reply>" (streaming: one line per
                                      message) or "<STATUS_CODE> <details>"."""
import sys
from concurrent import futures

import grpc


def serve(port):
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

    hello_handler = grpc.method_handlers_generic_handler("Hello", {
        "SayHello": grpc.unary_unary_rpc_method_handler(hello),
    })
    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "Say": grpc.unary_unary_rpc_method_handler(say),
        "Count": grpc.unary_stream_rpc_method_handler(count),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Flaky": grpc.unary_unary_rpc_method_handler(flaky),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler, hello_handler))
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


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(int(sys.argv[2]))
    else:
        call(*sys.argv[2:6])
