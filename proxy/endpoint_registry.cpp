#include "proxy/endpoint_registry.hpp"

#include <algorithm>
#include <charconv>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace outrigger::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr std::size_t max_entries = 4096;

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i];
        char y = b[i];
        if (x >= 'A' && x <= 'Z') {
            x = static_cast<char>(x - 'A' + 'a');
        }
        if (y >= 'A' && y <= 'Z') {
            y = static_cast<char>(y - 'A' + 'a');
        }
        if (x != y) {
            return false;
        }
    }
    return true;
}

}  // namespace

endpoint_registry::endpoint_registry(net::io_context& ioc, const server_config& cfg)
    : ioc_(ioc), cfg_(cfg) {}

endpoint_registry::entry& endpoint_registry::find_or_create(std::string_view host,
                                                            std::uint16_t port) {
    key_buf_.assign(host);
    key_buf_.push_back(':');
    char digits[8];
    auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), port);
    (void)ec;  // cannot fail: a uint16 fits in 8 characters
    key_buf_.append(digits, end);
    auto it = entries_.find(key_buf_);
    if (it != entries_.end()) {
        return *it->second;
    }
    if (entries_.size() >= max_entries) {
        // Bounded under ALLOW_ALL traffic to arbitrary hosts: forget every entry that is not
        // being resolved right now (a resolving entry is referenced by a suspended coroutine).
        std::erase_if(entries_, [](const auto& kv) { return !kv.second->resolving; });
    }
    auto e = std::make_unique<entry>();
    e->host.assign(host);
    e->port = port;
    std::vector<tcp::endpoint> statics;  // several literal rules: a static endpoint list
    bool all_literal = true;
    bool matched = false;
    for (const auto& rule : cfg_.connect_to) {
        if ((rule.host.empty() || iequals(rule.host, host)) && (rule.port == 0 || rule.port == port)) {
            if (!matched) {
                matched = true;
                e->host = rule.addr;
                if (rule.addr_port != 0) {
                    e->port = rule.addr_port;
                }
            }
            std::string_view a = rule.addr;
            if (a.size() >= 2 && a.front() == '[' && a.back() == ']') {
                a = a.substr(1, a.size() - 2);
            }
            boost::system::error_code aec;
            const auto addr = net::ip::make_address(std::string(a), aec);
            if (aec) {
                all_literal = false;
            } else {
                statics.emplace_back(addr, rule.addr_port != 0 ? rule.addr_port : port);
            }
        }
    }
    if (statics.size() > 1 && all_literal) {
        e->literal = true;
        e->addrs = std::move(statics);
        auto& sref = *e;
        entries_.emplace(key_buf_, std::move(e));
        return sref;
    }
    std::string_view h = e->host;
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
        h = h.substr(1, h.size() - 2);
    }
    boost::system::error_code ec2;
    const auto literal = net::ip::make_address(std::string(h), ec2);
    if (!ec2) {
        e->literal = true;
        e->addrs.emplace_back(literal, e->port);
    }
    auto& ref = *e;
    entries_.emplace(key_buf_, std::move(e));
    return ref;
}

net::awaitable<void> endpoint_registry::refresh(entry& e) {
    e.resolving = true;
    std::vector<tcp::endpoint> fresh;
    std::vector<net::ip::address> hooked;
    if (cfg_.resolve_override_for_test && cfg_.resolve_override_for_test(e.host, hooked)) {
        for (const auto& a : hooked) {
            fresh.emplace_back(a, e.port);
        }
    } else {
        tcp::resolver resolver(ioc_);
        auto [ec, results] = co_await resolver.async_resolve(
            e.host, std::to_string(e.port), tcp::resolver::numeric_service,
            net::as_tuple(net::use_awaitable));
        if (!ec) {
            for (const auto& r : results) {
                const auto ep = r.endpoint();
                if (std::find(fresh.begin(), fresh.end(), ep) == fresh.end()) {
                    fresh.push_back(ep);
                }
            }
            // IPv4 first (stable), matching App Mesh's IPv4-preferred default.
            std::stable_partition(fresh.begin(), fresh.end(),
                                  [](const tcp::endpoint& ep) { return ep.address().is_v4(); });
        }
        // A failed lookup leaves the result empty: the name has no endpoint (503 UH) until the
        // next refresh succeeds; stale addresses are deliberately not kept past a failure.
    }
    e.addrs = std::move(fresh);
    e.resolved_at = std::chrono::steady_clock::now();
    e.resolving = false;
}

net::awaitable<endpoint_registry::address_set> endpoint_registry::resolve(std::string_view host,
                                                                         std::uint16_t port,
                                                                         bool rotate) {
    entry& e = find_or_create(host, port);
    if (!e.literal) {
        const auto now = std::chrono::steady_clock::now();
        const bool never = e.resolved_at == std::chrono::steady_clock::time_point{};
        if (never) {
            co_await refresh(e);
        } else if (e.addrs.empty()) {
            // Retry an empty answer at most once a second, not once per request.
            if (!e.resolving && now - e.resolved_at >= std::chrono::seconds(1)) {
                co_await refresh(e);
            }
        } else if (!e.resolving && now - e.resolved_at >= cfg_.dns_refresh) {
            // Stale but usable: answer now, refresh in the background.
            net::co_spawn(ioc_, refresh(e), net::detached);
        }
    }
    address_set out;
    out.addrs = e.addrs;
    out.start = rotate ? e.next++ : e.next;
    co_return out;
}

net::awaitable<tcp::endpoint> endpoint_registry::pick(std::string_view host, std::uint16_t port,
                                                      bool all_addresses) {
    const address_set set = co_await resolve(host, port, all_addresses);
    if (set.addrs.empty()) {
        co_return tcp::endpoint{};
    }
    if (!all_addresses) {
        co_return set.addrs.front();
    }
    co_return set.addrs[set.start % set.addrs.size()];
}

}  // namespace outrigger::proxy
