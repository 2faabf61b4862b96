#pragma once
// Pre-compiled matchers used by route tables: RE2 regexes (linear time, Envoy/App Mesh syntax),
// compiled once when the snapshot is compiled and matched against request data with an input
// length cap. RE2 stays behind this header.
//
// Thread-affinity: immutable after construction; safe to share between workers.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace outrigger::routing {

/// Longest input a regex is run on; longer inputs do not match (a header or path that long is
/// already suspicious and RE2 would still be linear, but bounded work per request is the rule).
inline constexpr std::size_t max_regex_input = 8192;

class regex_matcher {
public:
    regex_matcher() = default;
    /// Compiles `pattern` as an anchored (whole-input) RE2 regex. Check `ok()` / `error()`.
    explicit regex_matcher(const std::string& pattern);

    [[nodiscard]] bool ok() const { return re_ != nullptr && error_.empty(); }
    [[nodiscard]] bool empty() const { return re_ == nullptr; }
    [[nodiscard]] const std::string& error() const { return error_; }
    [[nodiscard]] const std::string& pattern() const { return pattern_; }
    /// Whole-input match. False for an empty (default-constructed) matcher.
    [[nodiscard]] bool full_match(std::string_view input) const;

private:
    std::shared_ptr<const re2::RE2> re_;  // shared: copies of a compiled route share one program
    std::string pattern_;
    std::string error_;
};

/// Returns an error message when `pattern` does not compile as RE2, empty when it does.
[[nodiscard]] std::string regex_error(const std::string& pattern);

/// Parses a whole string as a signed 64-bit integer (for header `range` matches).
[[nodiscard]] bool parse_int64(std::string_view s, std::int64_t& out);

}  // namespace outrigger::routing
