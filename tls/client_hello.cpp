#include "tls/client_hello.hpp"

namespace outrigger::tls {

namespace {

constexpr std::uint8_t content_handshake = 22;
constexpr std::uint8_t handshake_client_hello = 1;
constexpr std::size_t record_header = 5;
constexpr std::size_t max_record = 16 * 1024;  // TLSPlaintext.length limit (RFC 8446 §5.1)
constexpr std::uint16_t ext_server_name = 0;
constexpr std::uint16_t ext_alpn = 16;

enum class step { ok, more, bad };

/// Reads the handshake bytes carried by consecutive handshake records, skipping the record
/// headers, so that a ClientHello fragmented over several records reads like one buffer. Every
/// read says whether the bytes were there (`ok`), are still to come (`more`), or the record layer
/// is broken (`bad`, with `error`).
class handshake_reader {
public:
    explicit handshake_reader(std::span<const std::byte> data) : data_(data) {}

    step u8(std::uint8_t& out) {
        if (pos_ == rec_end_) {
            if (const step s = next_record(); s != step::ok) {
                return s;
            }
        }
        if (pos_ >= data_.size()) {
            return step::more;
        }
        out = std::to_integer<std::uint8_t>(data_[pos_++]);
        ++read_;
        return step::ok;
    }
    step u16(std::uint16_t& out) {
        std::uint8_t a = 0;
        std::uint8_t b = 0;
        if (const step s = u8(a); s != step::ok) {
            return s;
        }
        if (const step s = u8(b); s != step::ok) {
            return s;
        }
        out = static_cast<std::uint16_t>((a << 8) | b);
        return step::ok;
    }
    step u24(std::uint32_t& out) {
        std::uint8_t a = 0;
        std::uint16_t bc = 0;
        if (const step s = u8(a); s != step::ok) {
            return s;
        }
        if (const step s = u16(bc); s != step::ok) {
            return s;
        }
        out = (static_cast<std::uint32_t>(a) << 16) | bc;
        return step::ok;
    }
    step skip(std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            std::uint8_t ignored = 0;
            if (const step s = u8(ignored); s != step::ok) {
                return s;
            }
        }
        return step::ok;
    }
    /// Handshake bytes read so far (record headers excluded).
    [[nodiscard]] std::size_t read() const { return read_; }
    /// Offset in `data` just after the last byte read.
    [[nodiscard]] std::size_t offset() const { return pos_; }
    [[nodiscard]] const char* error() const { return error_; }

private:
    step next_record() {
        if (data_.size() - pos_ < record_header) {
            // Check what is there already, so that garbage is refused as early as possible.
            if (pos_ < data_.size() && std::to_integer<std::uint8_t>(data_[pos_]) != content_handshake) {
                return fail("a non-handshake record inside the ClientHello");
            }
            return step::more;
        }
        const auto b = [&](std::size_t i) { return std::to_integer<std::uint8_t>(data_[pos_ + i]); };
        if (b(0) != content_handshake) {
            return fail("a non-handshake record inside the ClientHello");
        }
        if (b(1) != 3) {
            return fail("record version is not 3.x");
        }
        const std::size_t len = (static_cast<std::size_t>(b(3)) << 8) | b(4);
        if (len == 0) {
            return fail("empty handshake record");
        }
        if (len > max_record) {
            return fail("record longer than 16 KiB");
        }
        pos_ += record_header;
        rec_end_ = pos_ + len;
        return step::ok;
    }
    step fail(const char* why) {
        error_ = why;
        return step::bad;
    }

    std::span<const std::byte> data_;
    std::size_t pos_ = 0;
    std::size_t rec_end_ = 0;  // end of the current record's payload (== pos_: read a header)
    std::size_t read_ = 0;
    const char* error_ = nullptr;
};

bool printable(std::uint8_t c) { return c >= 0x21 && c <= 0x7e; }

}  // namespace

client_hello parse_client_hello(std::span<const std::byte> data) {
    client_hello out;
    const auto at = [&](std::size_t i) { return std::to_integer<std::uint8_t>(data[i]); };
    // Same first-byte test as tls::classify_first_bytes: handshake record, version 3.0–3.4.
    if (!data.empty() && at(0) != content_handshake) {
        out.status = hello_status::not_tls;
        return out;
    }
    if (data.size() >= 2 && at(1) != 3) {
        out.status = hello_status::not_tls;
        return out;
    }
    if (data.size() >= 3 && at(2) > 4) {
        out.status = hello_status::not_tls;
        return out;
    }

    handshake_reader r(data);
    const char* why = nullptr;
    // Turns a reader step into the result: `more` → need_more, `bad` → malformed.
    const auto stop = [&](step s) {
        out.sni.clear();
        out.alpn.clear();
        if (s == step::more) {
            out.status = hello_status::need_more;
        } else {
            out.status = hello_status::malformed;
            out.error = why != nullptr ? why : r.error();
        }
        return out;
    };
    const auto bad = [&](const char* reason) {
        why = reason;
        return stop(step::bad);
    };
#define OUTRIGGER_READ(expr)              \
    do {                                  \
        if (const step s_ = (expr); s_ != step::ok) { \
            return stop(s_);              \
        }                                 \
    } while (false)

    std::uint8_t type = 0;
    OUTRIGGER_READ(r.u8(type));
    if (type != handshake_client_hello) {
        return bad("the first handshake message is not a ClientHello");
    }
    std::uint32_t length = 0;
    OUTRIGGER_READ(r.u24(length));
    if (length > max_client_hello) {
        return bad("ClientHello larger than 16 KiB");
    }
    const std::size_t body_start = r.read();
    const auto left = [&]() -> std::size_t {
        const std::size_t used = r.read() - body_start;
        return used >= length ? 0 : length - used;
    };

    if (length < 2 + 32 + 1 + 2 + 1) {
        return bad("ClientHello shorter than its fixed fields");
    }
    OUTRIGGER_READ(r.u16(out.legacy_version));
    if ((out.legacy_version >> 8) != 3) {
        return bad("ClientHello version is not 3.x");
    }
    if (left() < 32) {
        return bad("ClientHello shorter than its random");
    }
    OUTRIGGER_READ(r.skip(32));

    std::uint8_t sid_len = 0;
    OUTRIGGER_READ(r.u8(sid_len));  // fits: the fixed fields were checked above
    if (sid_len > 32) {
        return bad("session id longer than 32 bytes");
    }
    if (sid_len > left()) {
        return bad("session id runs past the ClientHello");
    }
    OUTRIGGER_READ(r.skip(sid_len));

    std::uint16_t cs_len = 0;
    if (left() < 2) {
        return bad("ClientHello ends before its cipher suites");
    }
    OUTRIGGER_READ(r.u16(cs_len));
    if (cs_len < 2 || cs_len % 2 != 0) {
        return bad("cipher suite list is empty or of odd length");
    }
    if (cs_len > left()) {
        return bad("cipher suites run past the ClientHello");
    }
    OUTRIGGER_READ(r.skip(cs_len));

    std::uint8_t cm_len = 0;
    if (left() < 1) {
        return bad("ClientHello ends before its compression methods");
    }
    OUTRIGGER_READ(r.u8(cm_len));
    if (cm_len < 1) {
        return bad("no compression method");
    }
    if (cm_len > left()) {
        return bad("compression methods run past the ClientHello");
    }
    OUTRIGGER_READ(r.skip(cm_len));

    if (left() > 0) {
        // Extensions (optional before TLS 1.3; RFC 5246 §7.4.1.2).
        std::uint16_t ext_total = 0;
        if (left() < 2) {
            return bad("truncated extensions length");
        }
        OUTRIGGER_READ(r.u16(ext_total));
        if (ext_total != left()) {
            return bad("extensions length does not match the ClientHello length");
        }
        bool seen_sni = false;
        bool seen_alpn = false;
        while (left() > 0) {
            if (left() < 4) {
                return bad("truncated extension header");
            }
            std::uint16_t ext_type = 0;
            std::uint16_t ext_len = 0;
            OUTRIGGER_READ(r.u16(ext_type));
            OUTRIGGER_READ(r.u16(ext_len));
            if (ext_len > left()) {
                return bad("extension runs past the ClientHello");
            }
            const std::size_t ext_end = r.read() + ext_len;
            if (ext_type == ext_server_name) {
                if (seen_sni) {
                    return bad("two server_name extensions");
                }
                seen_sni = true;
                std::uint16_t list_len = 0;
                if (ext_len < 2) {
                    return bad("server_name extension too short");
                }
                OUTRIGGER_READ(r.u16(list_len));
                if (list_len != ext_len - 2) {
                    return bad("server_name list length does not match the extension");
                }
                bool host_seen = false;
                while (r.read() < ext_end) {
                    if (ext_end - r.read() < 3) {
                        return bad("truncated server_name entry");
                    }
                    std::uint8_t name_type = 0;
                    std::uint16_t name_len = 0;
                    OUTRIGGER_READ(r.u8(name_type));
                    OUTRIGGER_READ(r.u16(name_len));
                    if (name_len > ext_end - r.read()) {
                        return bad("server name runs past its extension");
                    }
                    if (name_type != 0) {
                        OUTRIGGER_READ(r.skip(name_len));  // unknown name types are ignored
                        continue;
                    }
                    if (host_seen) {
                        return bad("two host_name entries in server_name");
                    }
                    host_seen = true;
                    if (name_len == 0 || name_len > 255) {
                        return bad("host_name is empty or longer than 255 bytes");
                    }
                    out.sni.reserve(name_len);
                    for (std::uint16_t i = 0; i < name_len; ++i) {
                        std::uint8_t c = 0;
                        OUTRIGGER_READ(r.u8(c));
                        if (!printable(c)) {
                            return bad("host_name has a byte that is not printable ASCII");
                        }
                        out.sni.push_back(static_cast<char>(c));
                    }
                }
            } else if (ext_type == ext_alpn) {
                if (seen_alpn) {
                    return bad("two ALPN extensions");
                }
                seen_alpn = true;
                std::uint16_t list_len = 0;
                if (ext_len < 2) {
                    return bad("ALPN extension too short");
                }
                OUTRIGGER_READ(r.u16(list_len));
                if (list_len != ext_len - 2 || list_len < 2) {
                    return bad("ALPN list length does not match the extension");
                }
                while (r.read() < ext_end) {
                    std::uint8_t name_len = 0;
                    OUTRIGGER_READ(r.u8(name_len));
                    if (name_len == 0 || name_len > ext_end - r.read()) {
                        return bad("ALPN protocol name is empty or runs past its extension");
                    }
                    if (out.alpn.size() >= max_alpn_names) {
                        OUTRIGGER_READ(r.skip(name_len));
                        continue;
                    }
                    std::string name;
                    name.reserve(name_len);
                    for (std::uint8_t i = 0; i < name_len; ++i) {
                        std::uint8_t c = 0;
                        OUTRIGGER_READ(r.u8(c));
                        name.push_back(static_cast<char>(c));
                    }
                    out.alpn.push_back(std::move(name));
                }
            } else {
                OUTRIGGER_READ(r.skip(ext_len));
            }
        }
    }
#undef OUTRIGGER_READ
    out.status = hello_status::tls;
    out.consumed = r.offset();
    return out;
}

}  // namespace outrigger::tls
