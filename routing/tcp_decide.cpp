#include "routing/tcp_decide.hpp"

#include <algorithm>

namespace outrigger::routing {

void index_tcp_ports(snapshot& snap) {
    snap.tcp_ports.clear();
    snap.l7_ports.clear();
    for (std::uint32_t s = 0; s < snap.services.size(); ++s) {
        for (const auto& p : snap.services[s].ports) {
            if (p.proto != protocol::tcp) {
                snap.l7_ports.push_back(p.port);
                continue;
            }
            auto it = std::find_if(snap.tcp_ports.begin(), snap.tcp_ports.end(),
                                   [&](const auto& o) { return o.port == p.port; });
            if (it == snap.tcp_ports.end()) {
                snap.tcp_ports.push_back(snapshot::tcp_port_owner{p.port, s, {}});
            } else if (it->service != s) {
                it->shadowed.push_back(s);
            }
        }
    }
    // Stable: the owner of a port stays the first backend that claimed it.
    std::stable_sort(snap.tcp_ports.begin(), snap.tcp_ports.end(),
                     [](const auto& a, const auto& b) { return a.port < b.port; });
    std::sort(snap.l7_ports.begin(), snap.l7_ports.end());
    snap.l7_ports.erase(std::unique(snap.l7_ports.begin(), snap.l7_ports.end()), snap.l7_ports.end());
}

bool snapshot::is_l7_port(std::uint16_t port) const {
    return std::binary_search(l7_ports.begin(), l7_ports.end(), port);
}

const snapshot::tcp_port_owner* snapshot::find_tcp_port(std::uint16_t port) const {
    const auto it = std::lower_bound(tcp_ports.begin(), tcp_ports.end(), port,
                                     [](const tcp_port_owner& o, std::uint16_t p) { return o.port < p; });
    return it != tcp_ports.end() && it->port == port ? &*it : nullptr;
}

tcp_decision decide_tcp_port(const snapshot& snap, const service_entry& service,
                             const service_port& port, std::uint32_t random) {
    tcp_decision d;
    d.service = &service;
    d.port = &port;
    if (port.proto != protocol::tcp) {
        d.outcome = tcp_decision::outcome_t::not_tcp;
        return d;
    }
    switch (service.provider) {
        case service_entry::provider_t::none:
            d.outcome = tcp_decision::outcome_t::no_provider;
            return d;
        case service_entry::provider_t::node:
            if (!port.node_target) {
                d.outcome = tcp_decision::outcome_t::no_provider;
                return d;
            }
            d.target = &snap.targets[*port.node_target];
            d.retry = &port.node_retry;
            d.idle_timeout = port.node_idle;
            d.outcome = tcp_decision::outcome_t::routed;
            return d;
        case service_entry::provider_t::router:
            break;
    }
    // A tcpRoute matches on nothing but the port (spec §5.5); the first one for this port wins.
    for (const std::uint32_t id : port.route_ids) {
        const compiled_route& r = snap.routes[id];
        if (r.kind != route_kind::tcp || (r.port && *r.port != port.port)) {
            continue;
        }
        if (r.target_ids.empty() || r.total_weight == 0) {
            break;  // nothing to send to (validation reports why)
        }
        d.route = &r;
        d.target_index = pick_weighted(r.cumulative, r.total_weight, random);
        d.target = &snap.targets[r.target_ids[d.target_index]];
        d.retry = &r.retry;
        d.idle_timeout = r.idle_timeout;
        d.outcome = tcp_decision::outcome_t::routed;
        return d;
    }
    d.outcome = tcp_decision::outcome_t::no_route;
    return d;
}

tcp_decision decide_tcp(const snapshot& snap, std::uint16_t port, std::uint32_t random) {
    const snapshot::tcp_port_owner* owner = snap.find_tcp_port(port);
    if (owner == nullptr) {
        return tcp_decision{};
    }
    const service_entry& se = snap.services[owner->service];
    for (const auto& p : se.ports) {
        if (p.port == port && p.proto == protocol::tcp) {
            return decide_tcp_port(snap, se, p, random);
        }
    }
    return tcp_decision{};  // unreachable: the table was built from these ports
}

tcp_decision decide_tcp_service(const snapshot& snap, std::string_view service, std::uint16_t port,
                                std::uint32_t random) {
    tcp_decision d;
    d.service = snap.find_service(service);
    if (d.service == nullptr) {
        return d;
    }
    for (const auto& p : d.service->ports) {
        if (p.port == port) {
            return decide_tcp_port(snap, *d.service, p, random);
        }
    }
    return d;  // not_tcp: no listener on that port at all
}

}  // namespace outrigger::routing
