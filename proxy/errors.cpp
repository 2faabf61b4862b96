#include "proxy/errors.hpp"

#include <cstring>
#include <string>

namespace outrigger::proxy {

namespace {

class category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "outrigger.proxy"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::ok: return "ok";
        case errc::no_route: return "no route matched";
        case errc::egress_denied: return "egress denied by the mesh egress filter";
        case errc::connect_denied: return "CONNECT denied by the mesh egress filter";
        case errc::ambiguous_port: return "request names no port and the provider has several";
        case errc::no_listener: return "no listener on this port";
        case errc::no_provider: return "virtual service has no provider";
        case errc::no_endpoint: return "no healthy upstream";
        case errc::upstream_connect_failed: return "upstream connect failed";
        case errc::upstream_tls_failed: return "upstream TLS failed";
        case errc::upstream_reset: return "upstream closed or reset before a response";
        case errc::upstream_timeout: return "upstream request timeout";
        case errc::per_try_timeout: return "upstream per-try timeout";
        case errc::upstream_protocol_error: return "upstream protocol error";
        case errc::pool_overflow: return "upstream connection pool overflow";
        case errc::downstream_protocol_error: return "malformed request";
        case errc::header_too_large: return "request headers too large";
        case errc::body_too_large: return "request body too large";
        case errc::idle_timeout: return "idle timeout before a response";
        case errc::unsupported: return "not supported";
        case errc::listener_tls_mismatch: return "listener TLS mode refuses this transport";
        case errc::downstream_reset: return "the client reset the stream";
        case errc::not_grpc: return "not a gRPC request";
        }
        return "unknown outrigger.proxy error";
    }
};

}  // namespace

const boost::system::error_category& proxy_category() noexcept {
    static const category_impl cat;  // trivial, immutable: the one allowed static
    return cat;
}

boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), proxy_category()};
}

reply_class classify(errc e) noexcept {
    switch (e) {
    case errc::ok: return {200, flag_none};
    case errc::no_route:
    case errc::egress_denied:
    case errc::ambiguous_port:
    case errc::no_listener: return {404, flag_nr};
    case errc::connect_denied: return {403, flag_nr};
    case errc::no_provider:
    case errc::no_endpoint: return {503, flag_uh};
    case errc::upstream_connect_failed:
    case errc::upstream_tls_failed: return {503, flag_uf};
    case errc::upstream_reset: return {503, flag_uc};
    case errc::upstream_timeout:
    case errc::per_try_timeout: return {504, flag_ut};
    case errc::upstream_protocol_error: return {502, flag_upe};
    case errc::pool_overflow: return {503, flag_uo};
    case errc::downstream_protocol_error: return {400, flag_dpe};
    case errc::header_too_large: return {431, flag_dpe};
    case errc::body_too_large: return {413, flag_dpe};
    case errc::idle_timeout: return {408, flag_si};
    case errc::unsupported: return {501, flag_dpe};
    case errc::listener_tls_mismatch: return {403, flag_none};
    case errc::downstream_reset: return {0, flag_dc};
    case errc::not_grpc: return {415, flag_none};
    }
    return {500, flag_none};
}

std::size_t format_flags(std::uint32_t flags, char* out) noexcept {
    static constexpr struct {
        std::uint32_t bit;
        const char* text;
    } names[] = {{flag_nr, "NR"},   {flag_uh, "UH"}, {flag_uf, "UF"}, {flag_uc, "UC"},
                 {flag_uo, "UO"},   {flag_ut, "UT"}, {flag_urx, "URX"}, {flag_si, "SI"},
                 {flag_dpe, "DPE"}, {flag_upe, "UPE"},
                 {flag_bnr, "BNR"}, {flag_dc, "DC"}};
    std::size_t n = 0;
    for (const auto& entry : names) {
        if ((flags & entry.bit) == 0) {
            continue;
        }
        if (n != 0) {
            out[n++] = ',';
        }
        const std::size_t len = std::strlen(entry.text);
        std::memcpy(out + n, entry.text, len);
        n += len;
    }
    if (n == 0) {
        out[n++] = '-';
    }
    out[n] = '\0';
    return n;
}

}  // namespace outrigger::proxy
