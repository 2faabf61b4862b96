// libFuzzer target: arbitrary bytes from a client on the egress listener. The proxy must answer
// (or close) and never crash, leak, or forward a malformed request.
#include <cstddef>
#include <cstdint>

#include "fuzz/harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto& h = outrigger::fuzz::harness::get();
    outrigger::fuzz::harness::exchange(
        h.egress_port(), std::string(reinterpret_cast<const char*>(data), size));
    return 0;
}
