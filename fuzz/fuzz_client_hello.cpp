// libFuzzer target: arbitrary bytes as the first bytes of a connection, through the ClientHello
// parser (tls/client_hello) and the transparent-egress classifier (proxy/tcp/sniff). Checks, beyond
// "no crash, no out-of-bounds read" (ASan): a complete hello never claims more bytes than it was
// given and every strict prefix of it is `need_more`; a verdict on a prefix is never changed by
// more bytes (the sniffer stops reading at the first verdict, so this is what makes it sound).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "proxy/tcp/sniff.hpp"
#include "tls/client_hello.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using outrigger::tls::hello_status;
    const std::span<const std::byte> all(reinterpret_cast<const std::byte*>(data), size);

    const auto hello = outrigger::tls::parse_client_hello(all);
    if (hello.status == hello_status::tls) {
        if (hello.consumed > size || hello.consumed == 0) {
            std::abort();
        }
        if (outrigger::tls::parse_client_hello(all.first(hello.consumed - 1)).status !=
            hello_status::need_more) {
            std::abort();
        }
        if (hello.sni.size() > 255 || hello.alpn.size() > outrigger::tls::max_alpn_names) {
            std::abort();
        }
    }
    if (hello.status == hello_status::malformed && hello.error == nullptr) {
        std::abort();
    }

    using outrigger::proxy::first_bytes_protocol;
    const auto full = outrigger::proxy::classify_first_bytes(all);
    const auto half = outrigger::proxy::classify_first_bytes(all.first(size / 2));
    if (half != first_bytes_protocol::need_more && half != full) {
        std::abort();
    }
    return 0;
}
