#include "proxy/local_reply.hpp"

namespace outrigger::proxy {

namespace http = boost::beast::http;

http::response<http::string_body> make_local_reply(errc e, std::string_view sentence,
                                                   std::uint32_t extra_flags, bool keep_alive,
                                                   std::uint32_t& flags_out) {
    const reply_class rc = classify(e);
    flags_out = static_cast<std::uint32_t>(rc.flag) | extra_flags;
    char flag_text[64];
    const std::size_t flag_len = format_flags(flags_out, flag_text);

    http::response<http::string_body> res{static_cast<http::status>(rc.status), 11};
    res.set(http::field::content_type, "text/plain");
    if (e == errc::pool_overflow) {
        res.set("x-envoy-overloaded", "true");
    }
    std::string body;
    body.reserve(sentence.size() + flag_len + 4);
    body.append(sentence);
    body.append(" [");
    body.append(flag_text, flag_len);
    body.append("]\n");
    res.body() = std::move(body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    return res;
}

unsigned grpc_status_of(errc e) {
    switch (e) {
    case errc::upstream_timeout:
    case errc::per_try_timeout:
    case errc::idle_timeout:
        return 4;  // DEADLINE_EXCEEDED
    case errc::header_too_large:
    case errc::body_too_large:
        return 8;  // RESOURCE_EXHAUSTED
    case errc::no_route:
    case errc::egress_denied:
    case errc::ambiguous_port:
    case errc::no_listener:
    case errc::unsupported:
        return 12;  // UNIMPLEMENTED
    case errc::connect_denied:
    case errc::listener_tls_mismatch:
        return 7;  // PERMISSION_DENIED
    case errc::downstream_reset:
        return 1;  // CANCELLED (never sent: the stream is gone)
    case errc::not_grpc:
        return 12;  // UNIMPLEMENTED (never sent: the request is not gRPC)
    case errc::downstream_protocol_error:
    case errc::upstream_protocol_error:
        return 13;  // INTERNAL
    case errc::no_provider:
    case errc::no_endpoint:
    case errc::upstream_connect_failed:
    case errc::upstream_tls_failed:
    case errc::upstream_reset:
    case errc::pool_overflow:
        return 14;  // UNAVAILABLE
    case errc::ok:
        return 0;
    }
    return 2;  // UNKNOWN
}

std::string grpc_message(std::string_view sentence) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(sentence.size());
    for (const char ch : sentence) {
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c <= 0x7e && c != '%') {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

}  // namespace outrigger::proxy
