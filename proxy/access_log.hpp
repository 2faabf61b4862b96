#pragma once
// One line per request (`--access-log PATH|-`, `--access-log-format envoy|json`). Envoy's
// default text format, or a flat JSON object with the same fields. Each line is one write(2) on
// an O_APPEND descriptor, so workers need no lock (lines are far below PIPE_BUF-sized tearing
// concerns for regular files and pipes). Formatting is skipped entirely when the log is off.
//
// Thread-affinity: `write` may be called from any worker.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace outrigger::proxy {

struct access_entry {
    std::chrono::system_clock::time_point start;
    std::string_view listener;  // "egress" / "ingress"
    std::string_view method;
    std::string_view path;
    std::string_view protocol;  // "HTTP/1.1"
    unsigned status = 0;
    std::uint32_t flags = 0;
    std::uint64_t bytes_received = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t duration_ms = 0;
    std::uint32_t attempts = 0;
    std::string_view user_agent;
    std::string_view request_id;
    std::string_view authority;
    std::string upstream_host;  // "addr:port" or "-"
};

class access_log {
public:
    /// Opens `path` ("-" = stdout). `json` selects the JSON format.
    access_log(const std::string& path, bool json);
    ~access_log();
    access_log(const access_log&) = delete;
    access_log& operator=(const access_log&) = delete;

    [[nodiscard]] bool ok() const { return fd_ >= 0; }
    void write(const access_entry& e);

private:
    int fd_ = -1;
    bool owns_ = false;
    bool json_ = false;
};

}  // namespace outrigger::proxy
