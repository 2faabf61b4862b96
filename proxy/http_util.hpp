#pragma once
// Small HTTP/1.1 helpers of the data path: authority parsing and hop-by-hop header removal.
// Allocation-free on the common path.
//
// Thread-affinity: stateless.

#include <cstdint>
#include <optional>
#include <string_view>

#include "proxy/http_head.hpp"

namespace outrigger::proxy {

struct authority {
    std::string_view host;  // without brackets for IPv6 literals
    std::optional<std::uint16_t> port;
};

/// Splits `host[:port]` / `[v6][:port]`. False when malformed (empty host, bad port).
[[nodiscard]] bool parse_authority(std::string_view text, authority& out);

/// Splits an absolute-form target `http://authority/path?query` into authority and the
/// origin-form rest (which is "/" when absent). False when `target` is not absolute-form http.
[[nodiscard]] bool split_absolute_form(std::string_view target, std::string_view& authority_text,
                                       std::string_view& origin_form);

/// Removes hop-by-hop headers (RFC 9110 §7.6.1): Connection and every header it names,
/// Keep-Alive, TE, Trailer, Upgrade, Expect (100-continue is answered by the proxy itself) and
/// Proxy-*. Transfer-Encoding is kept: the serializer re-frames the body with it.
void strip_hop_by_hop(message_head& h);

/// True when `value` is a comma-separated list whose last coding is `chunked`.
[[nodiscard]] bool is_chunked_final(std::string_view te_value);

/// True when `value` is exactly the one coding `chunked` (any case): the only transfer coding
/// the proxy understands in a request (docs/decisions.md "Hardening").
[[nodiscard]] bool is_chunked_only(std::string_view te_value);

[[nodiscard]] bool iequals_ascii(std::string_view a, std::string_view b) noexcept;

}  // namespace outrigger::proxy
