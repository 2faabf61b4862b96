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

}  // namespace outrigger::proxy
