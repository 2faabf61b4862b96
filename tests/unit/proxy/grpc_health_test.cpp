// proxy/grpc_health.hpp: the HealthCheckResponse reader of the grpc health check, on the bytes
// grpc.health.v1 servers send (protobuf: field 1 `status`, varint; gRPC length-prefixed frame).
#include <catch2/catch.hpp>

#include <string>

#include "proxy/grpc_health.hpp"

using namespace outrigger::proxy;

namespace {

/// The gRPC frame of `msg` (uncompressed).
std::string framed(const std::string& msg) {
    std::string out(5, '\0');
    out[3] = static_cast<char>(msg.size() >> 8);
    out[4] = static_cast<char>(msg.size() & 0xff);
    return out + msg;
}

}  // namespace

TEST_CASE("grpc health: the request is the frame of an empty message", "[unit][grpc]") {
    CHECK(grpc_health_check_request == std::string(5, '\0'));
    CHECK(grpc_health_check_path == "/grpc.health.v1.Health/Check");
}

TEST_CASE("grpc health: status values of HealthCheckResponse", "[unit][grpc]") {
    CHECK(parse_grpc_health_response(framed("\x08\x01")) == 1);  // SERVING
    CHECK(parse_grpc_health_response(framed("\x08\x02")) == 2);  // NOT_SERVING
    CHECK(parse_grpc_health_response(framed("\x08\x03")) == 3);  // SERVICE_UNKNOWN
    // proto3 leaves a default (0, UNKNOWN) out: an empty message is UNKNOWN.
    CHECK(parse_grpc_health_response(framed("")) == 0);
    // Fields of a newer schema are skipped, whatever their wire type; the last `status` wins.
    CHECK(parse_grpc_health_response(framed(std::string("\x12\x03" "abc" "\x18\x96\x01" "\x08\x01", 10))) == 1);
    CHECK(parse_grpc_health_response(framed(std::string("\x08\x02\x08\x01", 4))) == 1);
    CHECK(parse_grpc_health_response(framed(std::string("\x21" "12345678" "\x2d" "1234" "\x08\x02", 16))) == 2);
    CHECK(grpc_serving_status_name(1) == "SERVING");
    CHECK(grpc_serving_status_name(2) == "NOT_SERVING");
    CHECK(grpc_serving_status_name(7) == "an unknown status");
}

TEST_CASE("grpc health: what is not one complete HealthCheckResponse", "[unit][grpc]") {
    CHECK_FALSE(parse_grpc_health_response(""));
    CHECK_FALSE(parse_grpc_health_response(std::string(4, '\0')));        // short prefix
    CHECK_FALSE(parse_grpc_health_response(std::string("\0\0\0\0\x02\x08", 6)));  // cut message
    std::string compressed = framed("\x08\x01");
    compressed[0] = 1;
    CHECK_FALSE(parse_grpc_health_response(compressed));  // we offered no encoding
    CHECK_FALSE(parse_grpc_health_response(framed("\x08")));              // varint runs out
    CHECK_FALSE(parse_grpc_health_response(framed("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")));
    CHECK_FALSE(parse_grpc_health_response(framed("\x0b\x01")));           // wire type 3 (groups)
    CHECK_FALSE(parse_grpc_health_response(framed("\x12\x05" "ab")));      // length past the end
}
