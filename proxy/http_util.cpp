#include "proxy/http_util.hpp"

#include <array>
#include <charconv>
#include <string>

#include <boost/beast/http/rfc7230.hpp>

namespace outrigger::proxy {

namespace http = boost::beast::http;

namespace {

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.size() >= prefix.size() && iequals_ascii(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

}  // namespace

bool iequals_ascii(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

bool parse_authority(std::string_view text, authority& out) {
    out = {};
    if (text.empty()) {
        return false;
    }
    std::string_view port_text;
    if (text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos) {
            return false;
        }
        out.host = text.substr(1, close - 1);
        const auto rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return false;
            }
            port_text = rest.substr(1);
        }
    } else {
        const auto colon = text.rfind(':');
        if (colon != std::string_view::npos) {
            if (text.find(':') != colon) {
                return false;  // bare IPv6 without brackets
            }
            out.host = text.substr(0, colon);
            port_text = text.substr(colon + 1);
        } else {
            out.host = text;
        }
    }
    if (out.host.empty()) {
        return false;
    }
    for (const char ch : out.host) {
        if (ch == ' ' || ch == '\t' || ch == '/' || ch == '@') {
            return false;
        }
    }
    if (!port_text.empty()) {
        unsigned v = 0;
        auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), v);
        if (ec != std::errc{} || end != port_text.data() + port_text.size() || v == 0 || v > 65535) {
            return false;
        }
        out.port = static_cast<std::uint16_t>(v);
    }
    return true;
}

bool split_absolute_form(std::string_view target, std::string_view& authority_text,
                         std::string_view& origin_form) {
    static constexpr std::string_view scheme = "http://";
    if (!istarts_with(target, scheme)) {
        return false;
    }
    const auto rest = target.substr(scheme.size());
    const auto end = rest.find_first_of("/?#");
    authority_text = rest.substr(0, end);
    if (end == std::string_view::npos) {
        origin_form = "/";
    } else if (rest[end] == '/') {
        origin_form = rest.substr(end);
    } else {
        origin_form = rest.substr(end);  // "?q" without a path: the caller prefixes "/"
    }
    return !authority_text.empty();
}

bool is_chunked_final(std::string_view te_value) {
    std::string_view last;
    for (auto tok : http::token_list{te_value}) {
        last = std::string_view(tok.data(), tok.size());
    }
    return iequals_ascii(trim(last), "chunked");
}

bool is_chunked_only(std::string_view te_value) {
    int n = 0;
    bool chunked = false;
    for (auto tok : http::token_list{te_value}) {
        ++n;
        chunked = iequals_ascii(trim(std::string_view(tok.data(), tok.size())), "chunked");
    }
    return n == 1 && chunked;
}

namespace {

/// Hop-by-hop by name alone: the fixed list of RFC 9110 §7.6.1 (plus Expect, answered by the
/// proxy itself) and every Proxy-* header.
bool hop_by_hop_by_name(const message_head& h, const head_field& f) noexcept {
    switch (f.id) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::te:
    case http::field::trailer:
    case http::field::upgrade:
    case http::field::expect:
    case http::field::proxy_connection:
    case http::field::proxy_authorization:
    case http::field::proxy_authenticate:
        return true;
    default:
        return istarts_with(h.name(f), "proxy-");
    }
}

}  // namespace

void strip_hop_by_hop(message_head& h) {
    // Headers named by Connection: views into the head's arena, which erasing never touches.
    // At most a few; `close` / `keep-alive` tokens name no real header and are skipped.
    std::array<std::string_view, 8> named;
    std::size_t named_count = 0;
    bool any = false;
    for (const auto& f : h.fields()) {
        any = any || hop_by_hop_by_name(h, f);
        if (f.id != http::field::connection) {
            continue;
        }
        const std::string_view v = h.value(f);
        if (iequals_ascii(v, "keep-alive") || iequals_ascii(v, "close")) {
            continue;  // the usual values: no header named, no token list to walk
        }
        for (auto tok : http::token_list{boost::beast::string_view(v.data(), v.size())}) {
            const std::string_view t(tok.data(), tok.size());
            if (iequals_ascii(t, "close") || iequals_ascii(t, "keep-alive") ||
                iequals_ascii(t, "transfer-encoding") || named_count == named.size()) {
                continue;
            }
            named[named_count++] = t;
        }
    }
    if (!any) {
        return;  // the common case: one pass, nothing to erase
    }
    h.erase_if([&](const message_head& m, const head_field& f) {
        if (hop_by_hop_by_name(m, f)) {
            return true;
        }
        const std::string_view name = m.name(f);
        for (std::size_t i = 0; i < named_count; ++i) {
            if (iequals_ascii(name, named[i])) {
                return true;
            }
        }
        return false;
    });
}

}  // namespace outrigger::proxy
