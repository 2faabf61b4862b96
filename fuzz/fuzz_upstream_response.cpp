// libFuzzer target: arbitrary bytes as the upstream's response to a valid request. The proxy
// must give the client a well-formed reply (the upstream's, or a local 502/503) and never crash,
// leak, or pass bytes of a broken response through as if it were valid.
#include <cstddef>
#include <cstdint>

#include "fuzz/harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto& h = outrigger::fuzz::harness::get();
    h.set_response(std::string(reinterpret_cast<const char*>(data), size));
    outrigger::fuzz::harness::exchange(
        h.egress_port(), "GET /api/x?q=1 HTTP/1.1\r\nHost: svc.ns:8080\r\nx-v: ab\r\n\r\n");
    return 0;
}
