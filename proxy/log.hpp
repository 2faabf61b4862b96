#pragma once
// Minimal diagnostic log to stderr; the level is checked before anything is formatted.

#include <atomic>
#include <cstdio>

#include <fmt/core.h>

#include "proxy/config.hpp"

namespace outrigger::proxy {

/// Process-wide level (a plain integer, set once at start-up).
inline std::atomic<int> g_log_level{static_cast<int>(log_level::warn)};

inline bool log_enabled(log_level l) {
    return static_cast<int>(l) <= g_log_level.load(std::memory_order_relaxed);
}

template <typename... Args>
void log(log_level l, fmt::format_string<Args...> f, Args&&... args) {
    if (!log_enabled(l)) {
        return;
    }
    std::string line = fmt::format(f, std::forward<Args>(args)...);
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace outrigger::proxy
