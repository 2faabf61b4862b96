#include "routing/matchers.hpp"

#include <charconv>

#include <re2/re2.h>

namespace outrigger::routing {

regex_matcher::regex_matcher(const std::string& pattern) : pattern_(pattern) {
    RE2::Options opts;
    opts.set_log_errors(false);
    auto re = std::make_shared<const re2::RE2>(pattern, opts);
    if (!re->ok()) {
        error_ = re->error();
    }
    re_ = std::move(re);
}

bool regex_matcher::full_match(std::string_view input) const {
    if (!ok() || input.size() > max_regex_input) {
        return false;
    }
    return RE2::FullMatch(re2::StringPiece(input.data(), input.size()), *re_);
}

std::string regex_error(const std::string& pattern) {
    RE2::Options opts;
    opts.set_log_errors(false);
    const re2::RE2 re(pattern, opts);
    return re.ok() ? std::string{} : re.error();
}

bool parse_int64(std::string_view s, std::int64_t& out) {
    if (s.empty()) {
        return false;
    }
    const char* first = s.data();
    const char* last = s.data() + s.size();
    if (*first == '+') {
        ++first;
    }
    auto [ptr, ec] = std::from_chars(first, last, out);
    return ec == std::errc{} && ptr == last;
}

}  // namespace outrigger::routing
