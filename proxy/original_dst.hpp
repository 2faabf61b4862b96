#pragma once
// Transparent mode (DECISIONS §1 `--transparent`, §2): the destination a connection was sent to
// before iptables REDIRECT (deploy/iptables-init.sh) turned it towards the egress listener.
// Read once per connection, right after accept, with getsockopt SO_ORIGINAL_DST (IPv4, SOL_IP)
// or IP6T_SO_ORIGINAL_DST (IPv6, SOL_IPV6).
//
// Thread-affinity: any (a pure function of the socket).

#include <optional>

#include <boost/asio/ip/tcp.hpp>

namespace outrigger::proxy {

/// The original destination of an accepted, redirected connection. `std::nullopt` when the
/// connection was not redirected: the getsockopt fails (no NAT entry, conntrack absent) or the
/// answer is the socket's own local endpoint (tracked but not NATed). Such a connection is
/// handled in explicit mode. IPv4-mapped local addresses (dual-stack listener) use the IPv4
/// option; the result is then a plain IPv4 endpoint.
[[nodiscard]] std::optional<boost::asio::ip::tcp::endpoint> original_destination(
    boost::asio::ip::tcp::socket& socket);

}  // namespace outrigger::proxy
