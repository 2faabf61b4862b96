#include "proxy/original_dst.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace outrigger::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>; spelled out here
// because those kernel headers clash with glibc's <netinet/in.h>. Both are 80 in the kernel ABI.
constexpr int so_original_dst = 80;
constexpr int ip6t_so_original_dst = 80;

}  // namespace

std::optional<tcp::endpoint> original_destination(tcp::socket& socket) {
    boost::system::error_code ec;
    const tcp::endpoint local = socket.local_endpoint(ec);
    if (ec) {
        return std::nullopt;
    }
    const int fd = socket.native_handle();
    const net::ip::address la = local.address();
    const bool v4 = la.is_v4() || la.to_v6().is_v4_mapped();
    std::optional<tcp::endpoint> out;
    if (v4) {
        sockaddr_in sa{};
        socklen_t len = sizeof(sa);
        if (::getsockopt(fd, SOL_IP, so_original_dst, &sa, &len) != 0 || sa.sin_family != AF_INET) {
            return std::nullopt;
        }
        net::ip::address_v4::bytes_type b;
        std::memcpy(b.data(), &sa.sin_addr, b.size());
        out.emplace(net::ip::address_v4(b), ntohs(sa.sin_port));
    } else {
        sockaddr_in6 sa{};
        socklen_t len = sizeof(sa);
        if (::getsockopt(fd, SOL_IPV6, ip6t_so_original_dst, &sa, &len) != 0 ||
            sa.sin6_family != AF_INET6) {
            return std::nullopt;
        }
        net::ip::address_v6::bytes_type b;
        std::memcpy(b.data(), &sa.sin6_addr, b.size());
        out.emplace(net::ip::address_v6(b, sa.sin6_scope_id), ntohs(sa.sin6_port));
    }
    // A tracked connection that was not NATed reports its own destination: not redirected.
    tcp::endpoint local_plain = local;
    if (la.is_v6() && la.to_v6().is_v4_mapped()) {
        local_plain = tcp::endpoint(net::ip::make_address_v4(net::ip::v4_mapped, la.to_v6()),
                                    local.port());
    }
    if (*out == local_plain) {
        return std::nullopt;
    }
    return out;
}

}  // namespace outrigger::proxy
