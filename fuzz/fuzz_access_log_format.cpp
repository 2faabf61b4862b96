// libFuzzer target: arbitrary bytes as an access-log format (text, and as one JSON value), parsed
// and rendered against a fixed record. Parse errors are values; rendering is bounded.
#include <cstddef>
#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "proxy/access_log_format.hpp"

namespace {

class fixed_headers : public outrigger::proxy::header_source {
public:
    std::optional<std::string_view> find(std::string_view name) const override {
        if (name == ":method") return std::string_view("GET");
        if (name == ":path") return std::string_view("/a?b=c");
        if (name == ":authority") return std::string_view("svc.ns:8080");
        if (name == "x-request-id") return std::string_view("0f0e0d0c-0b0a-4908-8706-050403020100");
        if (name == "user-agent") return std::string_view(long_value_);
        return std::nullopt;
    }

private:
    std::string long_value_ = std::string(5000, 'u');  // longer than max_value_len
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace outrigger::proxy;
    const std::string text(reinterpret_cast<const char*>(data), size);
    fixed_headers req;
    fixed_headers resp;
    log_record r;
    r.start = std::chrono::system_clock::time_point(std::chrono::seconds(1764115200));
    r.protocol = "HTTP/1.1";
    r.status = 503;
    r.flags = "UF,URX";
    r.bytes_received = 12;
    r.bytes_sent = 345;
    r.duration = std::chrono::microseconds(1500);
    r.upstream_host = "127.0.0.1:8080";
    r.upstream_cluster = "cds_egress_m_a_ns_http_8080";
    r.downstream_remote = "127.0.0.1:5555";
    r.attempts = 3;
    r.request = &req;
    r.response = &resp;
    fmt::memory_buffer out;
    format_parse_error err;
    if (auto f = parse_text_format(text, err)) {
        render(*f, r, out);
    }
    format_parse_error jerr;
    if (auto j = parse_json_format({{"k", text}, {"status", "%RESPONSE_CODE%"}}, jerr)) {
        render(*j, r, out);
    }
    return 0;
}
