#pragma once
// The data path's own HTTP/1.1 message head (issue 7): the request or status line and the header
// fields of one message, their text kept in one reused arena.
//
// Beast's `http::fields` allocates one node per field and keeps them in a case-insensitive
// multiset; in a profile of the proxy under wrk that (allocation, `iless` compares, erase) was
// about a fifth of the user-space instructions per request. A proxy only needs a head it can
// scan, edit a little (Host, hop-by-hop, x-request-id) and write out again, so the head here is
// a vector of offsets into one string: nothing is allocated per request once a connection has
// seen its largest head. Lookups go by Beast's field token (computed by Beast's parser for
// every field it reads) and fall back to an ASCII case-insensitive compare for other names.
//
// `head_parser` is a `beast::http::basic_parser`: Beast still does the parsing and framing work
// (request smuggling rules, chunked decoding, limits); only the storage is ours. Body bytes go
// into a caller-supplied window, as with Beast's `buffer_body`.
//
// Thread-affinity: none; each connection owns its heads and parsers.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

namespace outrigger::proxy {

/// One header line; its text lives in the owning `message_head`'s arena.
struct head_field {
    boost::beast::http::field id = boost::beast::http::field::unknown;
    std::uint32_t name_off = 0;
    std::uint32_t name_len = 0;
    std::uint32_t value_off = 0;
    std::uint32_t value_len = 0;
};

class message_head {
public:
    using field = boost::beast::http::field;

    /// Forgets the message (keeps the capacity): version 1.1, no fields.
    void clear() noexcept;

    // ---- Start line -----------------------------------------------------------------------
    void set_request_line(boost::beast::http::verb method, std::string_view method_string,
                          std::string_view target, unsigned version);
    void set_status_line(unsigned status, std::string_view reason, unsigned version);
    [[nodiscard]] boost::beast::http::verb method() const noexcept { return method_; }
    [[nodiscard]] std::string_view method_string() const noexcept { return text(method_text_); }
    [[nodiscard]] std::string_view target() const noexcept { return text(target_); }
    void target(std::string_view t) { target_ = store(t); }
    [[nodiscard]] unsigned version() const noexcept { return version_; }
    void version(unsigned v) noexcept { version_ = v; }
    [[nodiscard]] unsigned status() const noexcept { return status_; }
    [[nodiscard]] std::string_view reason() const noexcept { return text(reason_); }

    // ---- Fields (in arrival order) --------------------------------------------------------
    [[nodiscard]] const std::vector<head_field>& fields() const noexcept { return fields_; }
    [[nodiscard]] std::size_t size() const noexcept { return fields_.size(); }
    [[nodiscard]] std::string_view name(const head_field& f) const noexcept {
        return {arena_.data() + f.name_off, f.name_len};
    }
    [[nodiscard]] std::string_view value(const head_field& f) const noexcept {
        return {arena_.data() + f.value_off, f.value_len};
    }
    /// The first value of a field, if present.
    [[nodiscard]] std::optional<std::string_view> find(field id) const noexcept;
    /// Same by name (ASCII case-insensitive).
    [[nodiscard]] std::optional<std::string_view> find(std::string_view name) const noexcept;
    /// The first value of a field, "" when absent.
    [[nodiscard]] std::string_view operator[](field id) const noexcept {
        return find(id).value_or(std::string_view{});
    }
    [[nodiscard]] std::size_t count(field id) const noexcept;

    /// Adds a line as received: `id` is Beast's token for `name` (field::unknown if none).
    void append(field id, std::string_view name, std::string_view value);
    /// Replaces every line of a known field with one (named by Beast's canonical spelling).
    void set(field id, std::string_view value);
    /// Replaces every line named `name` (case-insensitive) with one, spelled as given.
    void set(std::string_view name, std::string_view value);
    void erase(field id) noexcept;
    /// One Content-Length line with `n` (replacing any there were).
    void content_length(std::uint64_t n);
    /// Drops every line for which `drop(*this, line)` is true; keeps the order of the rest.
    template <class Pred>
    void erase_if(Pred drop) {
        std::size_t out = 0;
        for (std::size_t i = 0; i < fields_.size(); ++i) {
            if (!drop(*this, fields_[i])) {
                fields_[out++] = fields_[i];
            }
        }
        fields_.resize(out);
    }
    /// Copies the other head's fields (not its start line) over this one's.
    void assign_fields(const message_head& other);

    // ---- Wire form ------------------------------------------------------------------------
    /// "METHOD target HTTP/x.y\r\n", every field as "Name: value\r\n", "\r\n" (`out` cleared).
    void serialize_request(std::string& out) const;
    /// "HTTP/x.y code reason\r\n" (the received reason, or the standard one), fields, "\r\n".
    void serialize_response(std::string& out) const;

private:
    struct span_ref {
        std::uint32_t off = 0;
        std::uint32_t len = 0;
    };
    span_ref store(std::string_view s);
    [[nodiscard]] std::string_view text(span_ref r) const noexcept {
        return {arena_.data() + r.off, r.len};
    }
    void append_fields(std::string& out) const;

    std::string arena_;
    std::vector<head_field> fields_;
    boost::beast::http::verb method_ = boost::beast::http::verb::unknown;
    span_ref method_text_;
    span_ref target_;
    span_ref reason_;
    unsigned version_ = 11;
    unsigned status_ = 0;
};

/// Beast's parser with a `message_head` for storage and a caller-supplied body window. The head
/// outlives the parser (a connection keeps one head and makes a fresh parser per message); the
/// constructor clears it.
template <bool isRequest>
class head_parser final : public boost::beast::http::basic_parser<isRequest> {
public:
    explicit head_parser(message_head& h) : head_(h) { head_.clear(); }

    [[nodiscard]] message_head& head() noexcept { return head_; }
    [[nodiscard]] const message_head& head() const noexcept { return head_; }

    /// The next body bytes go to [data, data + size); the parser stops (need_buffer) when full.
    void body_window(char* data, std::size_t size) noexcept {
        data_ = data;
        left_ = size;
    }
    /// Room left in the body window.
    [[nodiscard]] std::size_t body_left() const noexcept { return left_; }

private:
    using error_code = boost::system::error_code;
    using string_view = boost::beast::string_view;

    void on_request_impl(boost::beast::http::verb method, string_view method_str,
                         string_view target, int version, error_code& ec) override {
        head_.set_request_line(method, {method_str.data(), method_str.size()},
                               {target.data(), target.size()}, static_cast<unsigned>(version));
        ec = {};
    }
    void on_response_impl(int code, string_view reason, int version, error_code& ec) override {
        head_.set_status_line(static_cast<unsigned>(code), {reason.data(), reason.size()},
                              static_cast<unsigned>(version));
        ec = {};
    }
    void on_field_impl(boost::beast::http::field id, string_view name, string_view value,
                       error_code& ec) override {
        head_.append(id, {name.data(), name.size()}, {value.data(), value.size()});
        ec = {};
    }
    void on_header_impl(error_code& ec) override { ec = {}; }
    void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code& ec) override {
        ec = {};
    }
    std::size_t on_body_impl(string_view body, error_code& ec) override { return take(body, ec); }
    void on_chunk_header_impl(std::uint64_t, string_view, error_code& ec) override { ec = {}; }
    std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code& ec) override {
        return take(body, ec);
    }
    void on_finish_impl(error_code& ec) override { ec = {}; }

    std::size_t take(string_view body, error_code& ec);

    message_head& head_;
    char* data_ = nullptr;
    std::size_t left_ = 0;
};

using request_head_parser = head_parser<true>;
using response_head_parser = head_parser<false>;

extern template class head_parser<true>;
extern template class head_parser<false>;

/// Chunked transfer coding, written by the proxy itself: the chunk-size line for `n` data bytes
/// ("1a2b\r\n") into `out` (at least 18 bytes); returns its length.
std::size_t chunk_size_line(std::size_t n, char* out) noexcept;
inline constexpr std::string_view chunk_end = "\r\n";          // after each chunk's data
inline constexpr std::string_view last_chunk = "0\r\n\r\n";   // the end of the body (no trailers)

/// Removes the final "chunked" coding from Transfer-Encoding (the whole field when it was the
/// only coding): the body is then sent as it comes, delimited by the connection's close.
void remove_chunked(message_head& h);
/// Adds "chunked" as the final coding (to an existing Transfer-Encoding, or as a new field).
void add_chunked(message_head& h);

}  // namespace outrigger::proxy
