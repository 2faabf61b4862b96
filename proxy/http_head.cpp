#include "proxy/http_head.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>

#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/status.hpp>

#include "proxy/http_util.hpp"

namespace outrigger::proxy {

namespace http = boost::beast::http;

void message_head::clear() noexcept {
    arena_.clear();
    fields_.clear();
    method_ = http::verb::unknown;
    method_text_ = {};
    target_ = {};
    reason_ = {};
    version_ = 11;
    status_ = 0;
}

message_head::span_ref message_head::store(std::string_view s) {
    // Heads are bounded by the parsers' header limits (64 KiB): offsets fit 32 bits with room.
    const auto off = static_cast<std::uint32_t>(arena_.size());
    arena_.append(s);
    return {off, static_cast<std::uint32_t>(s.size())};
}

void message_head::set_request_line(http::verb method, std::string_view method_string,
                                    std::string_view target, unsigned version) {
    method_ = method;
    method_text_ = store(method_string);
    target_ = store(target);
    version_ = version;
}

void message_head::set_status_line(unsigned status, std::string_view reason, unsigned version) {
    status_ = status;
    reason_ = store(reason);
    version_ = version;
}

std::optional<std::string_view> message_head::find(field id) const noexcept {
    for (const auto& f : fields_) {
        if (f.id == id) {
            return value(f);
        }
    }
    return std::nullopt;
}

std::optional<std::string_view> message_head::find(std::string_view n) const noexcept {
    for (const auto& f : fields_) {
        if (f.name_len == n.size() && iequals_ascii(name(f), n)) {
            return value(f);
        }
    }
    return std::nullopt;
}

std::size_t message_head::count(field id) const noexcept {
    std::size_t n = 0;
    for (const auto& f : fields_) {
        n += f.id == id ? 1 : 0;
    }
    return n;
}

void message_head::append(field id, std::string_view n, std::string_view v) {
    const span_ref name_ref = store(n);
    const span_ref value_ref = store(v);
    fields_.push_back({id, name_ref.off, name_ref.len, value_ref.off, value_ref.len});
}

void message_head::set(field id, std::string_view v) {
    erase(id);
    const auto n = http::to_string(id);
    append(id, {n.data(), n.size()}, v);
}

void message_head::set(std::string_view n, std::string_view v) {
    erase_if([n](const message_head& h, const head_field& f) {
        return f.name_len == n.size() && iequals_ascii(h.name(f), n);
    });
    append(http::string_to_field({n.data(), n.size()}), n, v);
}

void message_head::erase(field id) noexcept {
    erase_if([id](const message_head&, const head_field& f) { return f.id == id; });
}

void message_head::content_length(std::uint64_t n) {
    char text[24];
    const auto r = std::to_chars(text, text + sizeof(text), n);
    set(field::content_length, std::string_view(text, static_cast<std::size_t>(r.ptr - text)));
}

void message_head::assign_fields(const message_head& other) {
    arena_.clear();
    fields_.clear();
    method_text_ = target_ = reason_ = {};
    for (const auto& f : other.fields_) {
        append(f.id, other.name(f), other.value(f));
    }
}

namespace {

void append_version(std::string& out, unsigned version) {
    out.append("HTTP/");
    out.push_back(static_cast<char>('0' + (version / 10) % 10));
    out.push_back('.');
    out.push_back(static_cast<char>('0' + version % 10));
}

}  // namespace

void message_head::append_fields(std::string& out) const {
    for (const auto& f : fields_) {
        out.append(name(f));
        out.append(": ");
        out.append(value(f));
        out.append("\r\n");
    }
    out.append("\r\n");
}

void message_head::serialize_request(std::string& out) const {
    out.clear();
    out.append(method_string());
    out.push_back(' ');
    out.append(target());
    out.push_back(' ');
    append_version(out, version_);
    out.append("\r\n");
    append_fields(out);
}

void message_head::serialize_response(std::string& out) const {
    out.clear();
    append_version(out, version_);
    out.push_back(' ');
    char code[4];
    const auto r = std::to_chars(code, code + sizeof(code), status_);
    out.append(code, r.ptr);
    out.push_back(' ');
    if (reason_.len > 0) {
        out.append(reason());
    } else {
        const auto std_reason = http::obsolete_reason(static_cast<http::status>(status_));
        out.append(std_reason.data(), std_reason.size());
    }
    out.append("\r\n");
    append_fields(out);
}

template <bool isRequest>
std::size_t head_parser<isRequest>::take(string_view body, error_code& ec) {
    // buffer_body's rule: copy what fits; need_buffer tells the caller the window is full.
    if (data_ == nullptr || left_ == 0) {
        ec = http::error::need_buffer;
        return 0;
    }
    const std::size_t n = std::min(left_, body.size());
    std::memcpy(data_, body.data(), n);
    data_ += n;
    left_ -= n;
    if (n == body.size()) {
        ec = {};
    } else {
        ec = http::error::need_buffer;
    }
    return n;
}

template class head_parser<true>;
template class head_parser<false>;

std::size_t chunk_size_line(std::size_t n, char* out) noexcept {
    const auto r = std::to_chars(out, out + 16, n, 16);
    char* p = r.ptr;
    *p++ = '\r';
    *p++ = '\n';
    return static_cast<std::size_t>(p - out);
}

void remove_chunked(message_head& h) {
    const auto te = h.find(http::field::transfer_encoding);
    if (!te) {
        return;
    }
    // Keep every coding but the last when the last is chunked ("gzip, chunked" → "gzip").
    std::string_view last;
    std::string kept;
    for (auto tok : http::token_list{boost::beast::string_view(te->data(), te->size())}) {
        if (!last.empty()) {
            if (!kept.empty()) {
                kept.append(", ");
            }
            kept.append(last);
        }
        last = std::string_view(tok.data(), tok.size());
    }
    if (!iequals_ascii(last, "chunked")) {
        return;
    }
    if (kept.empty()) {
        h.erase(http::field::transfer_encoding);
    } else {
        h.set(http::field::transfer_encoding, kept);
    }
}

void add_chunked(message_head& h) {
    const auto te = h.find(http::field::transfer_encoding);
    if (!te || te->empty()) {
        h.set(http::field::transfer_encoding, "chunked");
        return;
    }
    std::string v(*te);
    v.append(", chunked");
    h.set(http::field::transfer_encoding, v);
}

}  // namespace outrigger::proxy
