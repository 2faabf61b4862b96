// The access-log operators a TCP connection needs (issue 17): REQUESTED_SERVER_NAME and
// DOWNSTREAM_LOCAL_ADDRESS, and how Envoy's default (HTTP) format renders a TCP record.
#include <chrono>
#include <string>

#include <catch2/catch.hpp>

#include "proxy/access_log_format.hpp"

using namespace outrigger::proxy;

namespace {

std::string render_to_string(const log_format& f, const log_record& r) {
    fmt::memory_buffer b;
    render(f, r, b);
    return std::string(b.data(), b.size());
}

log_record tcp_record() {
    log_record r;
    r.start = std::chrono::system_clock::time_point(std::chrono::milliseconds(1714564800123));
    r.flags = "UF,URX";
    r.bytes_received = 14;
    r.bytes_sent = 0;
    r.duration = std::chrono::microseconds(5200);
    r.upstream_host = "10.0.0.1:6379";
    r.downstream_remote = "10.0.0.9:40000";
    r.downstream_local = "10.100.0.5:6379";
    r.requested_server_name = "redis.example";
    r.attempts = 3;
    return r;
}

}  // namespace

TEST_CASE("access log: TCP operators", "[proxy][access_log][tcp]") {
    format_parse_error err;
    const auto f = parse_text_format("%REQUESTED_SERVER_NAME% %DOWNSTREAM_LOCAL_ADDRESS% %UPSTREAM_HOST%", err);
    REQUIRE(f);
    CHECK(render_to_string(*f, tcp_record()) == "redis.example 10.100.0.5:6379 10.0.0.1:6379\n");
    log_record none = tcp_record();
    none.requested_server_name = {};
    none.downstream_local = {};
    CHECK(render_to_string(*f, none) == "- - 10.0.0.1:6379\n");
    CHECK_FALSE(parse_text_format("%REQUESTED_SERVER_NAME(x)%", err));

    const auto j = parse_json_format({{"sni", "%REQUESTED_SERVER_NAME%"}, {"rx", "%BYTES_RECEIVED%"}}, err);
    REQUIRE(j);
    CHECK(render_to_string(*j, none) == "{\"sni\":null,\"rx\":14}\n");
}

TEST_CASE("access log: Envoy's default format on a TCP connection", "[proxy][access_log][tcp]") {
    format_parse_error err;
    const auto f = parse_text_format(envoy_default_format, err);
    REQUIRE(f);
    // No HTTP: method, path, protocol and headers print "-", the response code 0 (as Envoy).
    CHECK(render_to_string(*f, tcp_record()) ==
          "[2024-05-01T12:00:00.123Z] \"- - -\" 0 UF,URX 14 0 5 - \"-\" \"-\" \"-\" \"-\" \"10.0.0.1:6379\"\n");
}
