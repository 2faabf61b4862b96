#include "tls/detect.hpp"

namespace outrigger::tls {

first_bytes_kind classify_first_bytes(std::span<const std::byte> data) noexcept {
    constexpr auto handshake_record = std::byte{0x16};
    constexpr auto major_version = std::byte{0x03};
    if (data.empty()) {
        return first_bytes_kind::need_more;
    }
    if (data[0] != handshake_record) {
        return first_bytes_kind::plaintext;
    }
    if (data.size() < 2) {
        return first_bytes_kind::need_more;
    }
    if (data[1] != major_version) {
        return first_bytes_kind::plaintext;
    }
    if (data.size() < 3) {
        return first_bytes_kind::need_more;
    }
    // Minor version 0x00..0x04 (the record layer of TLS 1.3 still says 0x01 or 0x03).
    return std::to_integer<unsigned>(data[2]) <= 0x04 ? first_bytes_kind::tls
                                                      : first_bytes_kind::plaintext;
}

}  // namespace outrigger::tls
