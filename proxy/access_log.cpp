#include "proxy/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <ctime>

#include <fmt/format.h>

#include "proxy/errors.hpp"

namespace outrigger::proxy {

access_log::access_log(const std::string& path, bool json) : json_(json) {
    if (path == "-") {
        fd_ = STDOUT_FILENO;
    } else {
        fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        owns_ = fd_ >= 0;
    }
}

access_log::~access_log() {
    if (owns_) {
        ::close(fd_);
    }
}

namespace {

std::string_view dash(std::string_view s) { return s.empty() ? std::string_view("-") : s; }

void append_json_string(fmt::memory_buffer& out, std::string_view s) {
    out.push_back('"');
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (static_cast<unsigned char>(c) < 0x20) {
            fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        } else {
            out.push_back(c);
        }
    }
    out.push_back('"');
}

}  // namespace

void access_log::write(const access_entry& e) {
    if (fd_ < 0) {
        return;
    }
    const auto secs = std::chrono::system_clock::to_time_t(e.start);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        e.start.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char when[40];
    const std::size_t wl = std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    char flags[64];
    format_flags(e.flags, flags);

    fmt::memory_buffer out;
    // Cap user-controlled fields so a line stays bounded (STYLE §4.11).
    auto cap = [](std::string_view s) { return s.substr(0, 1024); };
    if (!json_) {
        fmt::format_to(std::back_inserter(out),
                       "[{}.{:03}Z] \"{} {} {}\" {} {} {} {} {} {} \"{}\" \"{}\" \"{}\" \"{}\"\n",
                       std::string_view(when, wl), ms, dash(e.method), cap(dash(e.path)),
                       dash(e.protocol), e.status, flags, e.bytes_received, e.bytes_sent,
                       e.duration_ms, e.attempts, cap(dash(e.user_agent)), cap(dash(e.request_id)),
                       cap(dash(e.authority)), dash(e.upstream_host));
    } else {
        fmt::format_to(std::back_inserter(out), "{{\"start_time\":\"{}.{:03}Z\",\"listener\":",
                       std::string_view(when, wl), ms);
        append_json_string(out, e.listener);
        out.append(std::string_view(",\"method\":"));
        append_json_string(out, e.method);
        out.append(std::string_view(",\"path\":"));
        append_json_string(out, cap(e.path));
        fmt::format_to(std::back_inserter(out),
                       ",\"protocol\":\"{}\",\"response_code\":{},\"response_flags\":\"{}\","
                       "\"bytes_received\":{},\"bytes_sent\":{},\"duration\":{},\"attempts\":{},"
                       "\"user_agent\":",
                       e.protocol, e.status, flags, e.bytes_received, e.bytes_sent, e.duration_ms,
                       e.attempts);
        append_json_string(out, cap(e.user_agent));
        out.append(std::string_view(",\"request_id\":"));
        append_json_string(out, cap(e.request_id));
        out.append(std::string_view(",\"authority\":"));
        append_json_string(out, cap(e.authority));
        out.append(std::string_view(",\"upstream_host\":"));
        append_json_string(out, e.upstream_host);
        out.append(std::string_view("}\n"));
    }
    // A failed or short write loses one log line; there is nothing better to do on the data
    // path (no retry loop, no blocking), and the request itself is unaffected.
    const ssize_t n = ::write(fd_, out.data(), out.size());
    (void)n;
}

}  // namespace outrigger::proxy
