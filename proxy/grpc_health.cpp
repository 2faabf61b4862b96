#include "proxy/grpc_health.hpp"

#include <cstdint>

namespace outrigger::proxy {

namespace {

/// Reads a base-128 varint at `p`; false when it runs past the end or beyond 64 bits.
bool read_varint(std::string_view s, std::size_t& p, std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p >= s.size()) {
            return false;
        }
        const auto b = static_cast<std::uint8_t>(s[p++]);
        v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::optional<int> parse_grpc_health_response(std::string_view body) {
    if (body.size() < 5 || body[0] != 0) {
        return std::nullopt;  // too short, or compressed (we never offered an encoding)
    }
    const std::uint32_t len = (static_cast<std::uint32_t>(static_cast<std::uint8_t>(body[1])) << 24) |
                              (static_cast<std::uint32_t>(static_cast<std::uint8_t>(body[2])) << 16) |
                              (static_cast<std::uint32_t>(static_cast<std::uint8_t>(body[3])) << 8) |
                              static_cast<std::uint32_t>(static_cast<std::uint8_t>(body[4]));
    if (body.size() - 5 < len) {
        return std::nullopt;
    }
    const std::string_view msg = body.substr(5, len);
    int status = static_cast<int>(grpc_serving_status::unknown);
    std::size_t p = 0;
    while (p < msg.size()) {
        std::uint64_t tag = 0;
        if (!read_varint(msg, p, tag)) {
            return std::nullopt;
        }
        const auto field = tag >> 3;
        std::uint64_t v = 0;
        switch (tag & 7) {
        case 0:  // varint
            if (!read_varint(msg, p, v)) {
                return std::nullopt;
            }
            if (field == 1) {
                status = static_cast<int>(static_cast<std::int32_t>(v));  // enum: int32 on the wire
            }
            break;
        case 1:  // 64-bit
            if (msg.size() - p < 8) {
                return std::nullopt;
            }
            p += 8;
            break;
        case 2:  // length-delimited: an unknown field of a newer schema, skipped
            if (!read_varint(msg, p, v) || msg.size() - p < v) {
                return std::nullopt;
            }
            p += static_cast<std::size_t>(v);
            break;
        case 5:  // 32-bit
            if (msg.size() - p < 4) {
                return std::nullopt;
            }
            p += 4;
            break;
        default:
            return std::nullopt;
        }
    }
    return status;
}

std::string_view grpc_serving_status_name(int status) {
    switch (status) {
    case 0:
        return "UNKNOWN";
    case 1:
        return "SERVING";
    case 2:
        return "NOT_SERVING";
    case 3:
        return "SERVICE_UNKNOWN";
    default:
        return "an unknown status";
    }
}

}  // namespace outrigger::proxy
