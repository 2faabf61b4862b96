#pragma once
// Fast worker-local PRNG (splitmix64): route picks, round robin jitter, x-request-id UUIDs.
// Thread-affinity: worker-local, never shared.

#include <cstdint>

namespace outrigger::proxy {

class fast_rng {
public:
    explicit fast_rng(std::uint64_t seed) : state_(seed) {}

    std::uint64_t next64() noexcept {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    std::uint32_t next32() noexcept { return static_cast<std::uint32_t>(next64() >> 32); }

    /// Writes a random (version 4) UUID as 36 lower-case hex characters with dashes.
    void uuid_v4(char out[36]) noexcept {
        static constexpr char hex[] = "0123456789abcdef";
        std::uint64_t hi = next64();
        std::uint64_t lo = next64();
        hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
        lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
        unsigned char bytes[16];
        for (int i = 0; i < 8; ++i) {
            bytes[i] = static_cast<unsigned char>(hi >> (56 - 8 * i));
            bytes[8 + i] = static_cast<unsigned char>(lo >> (56 - 8 * i));
        }
        int o = 0;
        for (int i = 0; i < 16; ++i) {
            if (i == 4 || i == 6 || i == 8 || i == 10) {
                out[o++] = '-';
            }
            out[o++] = hex[bytes[i] >> 4];
            out[o++] = hex[bytes[i] & 0xf];
        }
    }

private:
    std::uint64_t state_;
};

}  // namespace outrigger::proxy
