// The access-log format parser and renderer (pure): Envoy operators, errors with offsets,
// truncation, fallbacks, JSON typing.
#include <chrono>
#include <map>
#include <string>

#include <catch2/catch.hpp>

#include "proxy/access_log_format.hpp"

using namespace outrigger::proxy;

namespace {

class map_headers final : public header_source {
public:
    explicit map_headers(std::map<std::string, std::string> m) : m_(std::move(m)) {}
    [[nodiscard]] std::optional<std::string_view> find(std::string_view n) const override {
        const auto it = m_.find(std::string(n));
        if (it == m_.end()) {
            return std::nullopt;
        }
        return std::string_view(it->second);
    }

private:
    std::map<std::string, std::string> m_;
};

std::string render_to_string(const log_format& f, const log_record& r) {
    fmt::memory_buffer b;
    render(f, r, b);
    return std::string(b.data(), b.size());
}

log_record sample(const header_source& req, const header_source& res) {
    log_record r;
    r.start = std::chrono::system_clock::time_point(std::chrono::milliseconds(1714564800123));  // 2024-05-01T12:00:00.123Z
    r.protocol = "HTTP/1.1";
    r.status = 503;
    r.flags = "UF,URX";
    r.bytes_received = 12;
    r.bytes_sent = 345;
    r.duration = std::chrono::microseconds(7900);
    r.response_duration = std::chrono::microseconds(3100);
    r.upstream_host = "10.0.0.7:8080";
    r.upstream_cluster = "cds_egress_m_n_http_8080";
    r.downstream_remote = "127.0.0.1:5555";
    r.attempts = 3;
    r.listener = "egress";
    r.request = &req;
    r.response = &res;
    return r;
}

}  // namespace

TEST_CASE("format: the Envoy default parses and renders like Envoy", "[unit][access_log]") {
    format_parse_error err;
    const auto f = parse_text_format(envoy_default_format, err);
    REQUIRE(f);
    const map_headers req({{":method", "GET"},
                           {":path", "/a?b=1"},
                           {":authority", "svc.shop:8080"},
                           {"user-agent", "curl/8"},
                           {"x-request-id", "rid-1"}});
    const map_headers res(std::map<std::string, std::string>{{"x-envoy-upstream-service-time", "3"}});
    CHECK(render_to_string(*f, sample(req, res)) ==
          "[2024-05-01T12:00:00.123Z] \"GET /a?b=1 HTTP/1.1\" 503 UF,URX 12 345 7 3 \"-\" \"curl/8\" "
          "\"rid-1\" \"svc.shop:8080\" \"10.0.0.7:8080\"\n");
}

TEST_CASE("format: every operator", "[unit][access_log]") {
    format_parse_error err;
    const auto f = parse_text_format(
        "%PROTOCOL%|%RESPONSE_CODE%|%RESPONSE_FLAGS%|%BYTES_RECEIVED%|%BYTES_SENT%|%DURATION%|"
        "%RESPONSE_DURATION%|%UPSTREAM_HOST%|%UPSTREAM_CLUSTER%|%DOWNSTREAM_REMOTE_ADDRESS%|"
        "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%|%UPSTREAM_ATTEMPTS%|%LISTENER%|%ROUTE_NAME%|100%%",
        err);
    REQUIRE(f);
    const map_headers none(std::map<std::string, std::string>{});
    CHECK(render_to_string(*f, sample(none, none)) ==
          "HTTP/1.1|503|UF,URX|12|345|7|3|10.0.0.7:8080|cds_egress_m_n_http_8080|127.0.0.1:5555|"
          "127.0.0.1|3|egress|-|100%\n");
}

TEST_CASE("format: GATEWAY_ROUTE names the GatewayRoute that matched, - elsewhere", "[unit][access_log]") {
    format_parse_error err;
    const auto f = parse_text_format("%GATEWAY_ROUTE% %LISTENER%", err);
    REQUIRE(f);
    const map_headers none(std::map<std::string, std::string>{});
    CHECK(render_to_string(*f, sample(none, none)) == "- egress\n");
    auto r = sample(none, none);
    r.gateway_route = "shop/api";
    r.listener = "gateway_8088";
    CHECK(render_to_string(*f, r) == "shop/api gateway_8088\n");
}

TEST_CASE("format: REQ with fallback and truncation; RESP; absent values", "[unit][access_log]") {
    format_parse_error err;
    const auto f = parse_text_format("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH):4% %REQ(x-request-id)% "
                                     "%RESP(content-type)% %REQ(missing?also-missing)%\n",
                                     err);
    REQUIRE(f);
    CHECK(f->wants_response_headers);
    const map_headers req({{":path", "/abcdef"}, {"x-request-id", "R"}});
    const map_headers res(std::map<std::string, std::string>{{"content-type", "text/plain"}});
    CHECK(render_to_string(*f, sample(req, res)) == "/abc R text/plain -\n");
    const auto g = parse_text_format("%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%", err);
    REQUIRE(g);
    CHECK_FALSE(g->wants_response_headers);
}

TEST_CASE("format: START_TIME with a strftime format and fractional seconds", "[unit][access_log]") {
    format_parse_error err;
    const auto f = parse_text_format("%START_TIME(%Y/%m/%d %H:%M:%S.%3f)% %START_TIME(%s)%", err);
    REQUIRE(f);
    const map_headers none(std::map<std::string, std::string>{});
    CHECK(render_to_string(*f, sample(none, none)) == "2024/05/01 12:00:00.123 1714564800\n");
}

TEST_CASE("format: parse errors name the offset and the problem", "[unit][access_log]") {
    format_parse_error err;
    CHECK_FALSE(parse_text_format("ok %NOPE% x", err));
    CHECK(err.offset == 3);
    CHECK(err.message.find("unknown operator %NOPE%") != std::string::npos);
    CHECK_FALSE(parse_text_format("%RESPONSE_CODE", err));
    CHECK(err.message.find("not closed") != std::string::npos);
    CHECK_FALSE(parse_text_format("%REQ(a b)%", err));
    CHECK(err.message.find("invalid header name") != std::string::npos);
    CHECK_FALSE(parse_text_format("%REQ()%", err));
    CHECK_FALSE(parse_text_format("%REQ(x%", err));
    CHECK_FALSE(parse_text_format("%REQ(x):0%", err));
    CHECK_FALSE(parse_text_format("%REQ(x):abc%", err));
    CHECK_FALSE(parse_text_format("50% off", err));
    CHECK_FALSE(parse_text_format("%DURATION(x)%", err));
    CHECK(err.message.find("takes no argument") != std::string::npos);
}

TEST_CASE("format: JSON keeps number types, nulls absent values and escapes strings", "[unit][access_log]") {
    format_parse_error err;
    const auto f = parse_json_format({{"code", "%RESPONSE_CODE%"},
                                      {"ua", "%REQ(USER-AGENT)%"},
                                      {"missing", "%REQ(X-NOPE)%"},
                                      {"mixed", "%REQ(:METHOD)% took %DURATION%ms"},
                                      {"attempts", "%UPSTREAM_ATTEMPTS%"}},
                                     err);
    REQUIRE(f);
    const map_headers req({{":method", "GET"}, {"user-agent", "a \"quoted\"\\agent"}});
    const map_headers none(std::map<std::string, std::string>{});
    CHECK(render_to_string(*f, sample(req, none)) ==
          "{\"code\":503,\"ua\":\"a \\\"quoted\\\"\\\\agent\",\"missing\":null,"
          "\"mixed\":\"GET took 7ms\",\"attempts\":3}\n");
    CHECK_FALSE(parse_json_format({{"bad", "%WHAT%"}}, err));
    CHECK(err.message.find("key \"bad\"") != std::string::npos);
}

TEST_CASE("format: values are bounded", "[unit][access_log]") {
    format_parse_error err;
    const auto f = parse_text_format("%REQ(user-agent)%", err);
    REQUIRE(f);
    const map_headers req(std::map<std::string, std::string>{{"user-agent", std::string(100000, 'a')}});
    const map_headers none(std::map<std::string, std::string>{});
    CHECK(render_to_string(*f, sample(req, none)).size() == max_value_len + 1);
}

TEST_CASE("format: %GRPC_STATUS% in Envoy's three forms, '-' when the call had none",
          "[unit][access_log]") {
    format_parse_error err;
    const auto f = parse_text_format(
        "%GRPC_STATUS% %GRPC_STATUS(CAMEL_STRING)% %GRPC_STATUS(SNAKE_STRING)% %GRPC_STATUS(NUMBER)%", err);
    REQUIRE(f);
    const map_headers none(std::map<std::string, std::string>{});
    log_record r = sample(none, none);
    CHECK(render_to_string(*f, r) == "- - - -\n");
    r.grpc_status = 0;
    CHECK(render_to_string(*f, r) == "Ok Ok OK 0\n");
    r.grpc_status = 1;
    CHECK(render_to_string(*f, r) == "Canceled Canceled CANCELLED 1\n");
    r.grpc_status = 4;
    CHECK(render_to_string(*f, r) == "DeadlineExceeded DeadlineExceeded DEADLINE_EXCEEDED 4\n");
    r.grpc_status = 16;
    CHECK(render_to_string(*f, r) == "Unauthenticated Unauthenticated UNAUTHENTICATED 16\n");
    r.grpc_status = 42;  // not a known code: its number
    CHECK(render_to_string(*f, r) == "42 42 42 42\n");
    const auto j = parse_json_format({{"grpc", "%GRPC_STATUS(NUMBER)%"}}, err);
    REQUIRE(j);
    r.grpc_status = 14;
    CHECK(render_to_string(*j, r) == "{\"grpc\":14}\n");
    CHECK_FALSE(parse_text_format("%GRPC_STATUS(LOUD)%", err));
    CHECK(err.message.find("CAMEL_STRING, SNAKE_STRING or NUMBER") != std::string::npos);
}
