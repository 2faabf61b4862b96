#include "routing/gateway_membership.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace outrigger::routing {

namespace {

const namespace_doc* namespace_of(const mesh_input& in, const std::string& ns) {
    for (const auto& d : in.namespaces) {
        if (d.name == ns) {
            return &d;
        }
    }
    return nullptr;
}

bool namespace_selects(const virtual_gateway& g, const namespace_doc* ns) {
    if (!g.namespace_selector) {
        return false;  // absent: no GatewayRoutes (spec §7)
    }
    return ns == nullptr || g.namespace_selector->matches(ns->labels);
}

bool route_selects(const virtual_gateway& g, const gateway_route& r) {
    return !g.gateway_route_selector || g.gateway_route_selector->matches(r.meta.labels);
}

std::string labels_text(const std::map<std::string, std::string>& labels) {
    std::vector<std::string> parts;
    for (const auto& [k, v] : labels) {
        parts.push_back(k + "=" + v);
    }
    return parts.empty() ? std::string("none") : fmt::format("{}", fmt::join(parts, ", "));
}

std::string selector_text(const label_selector& s) {
    std::vector<std::string> parts;
    for (const auto& [k, v] : s.match_labels) {
        parts.push_back(k + "=" + v);
    }
    for (const auto& e : s.match_expressions) {
        parts.push_back(fmt::format("{} {} ({})", e.key, e.op, fmt::join(e.values, ", ")));
    }
    return fmt::format("{{{}}}", fmt::join(parts, ", "));
}

}  // namespace

gateway_membership gateway_of(const mesh_input& in, const mesh_index& index,
                              const gateway_route& route) {
    gateway_membership m;
    if (route.virtual_gateway_ref) {
        m.by_ref = true;
        if (const virtual_gateway* g = index.gateway(*route.virtual_gateway_ref)) {
            m.gateway = g;
            m.candidates.push_back(g);
        }
        return m;
    }
    const namespace_doc* ns = namespace_of(in, route.meta.ns);
    m.namespace_labels_known = ns != nullptr;
    for (const auto& g : in.virtual_gateways) {
        // A gateway defined twice is reported as a duplicate by resolve, and counts once here.
        const bool seen = std::any_of(m.candidates.begin(), m.candidates.end(), [&](auto* c) {
            return c->meta.ns == g.meta.ns && c->meta.name == g.meta.name;
        });
        if (!seen && namespace_selects(g, ns) && route_selects(g, route)) {
            m.candidates.push_back(&g);
        }
    }
    if (m.candidates.size() == 1) {
        m.gateway = m.candidates.front();
    }
    return m;
}

std::vector<const gateway_route*> routes_of(const mesh_input& in, const mesh_index& index,
                                            const virtual_gateway& gateway) {
    std::vector<const gateway_route*> out;
    for (const auto& r : in.gateway_routes) {
        if (gateway_of(in, index, r).gateway == &gateway) {
            out.push_back(&r);
        }
    }
    return out;
}

std::string why_not_selected(const mesh_input& in, const virtual_gateway& gateway,
                             const gateway_route& route) {
    const namespace_doc* ns = namespace_of(in, route.meta.ns);
    if (!gateway.namespace_selector) {
        return "it has no namespaceSelector (which selects no namespace)";
    }
    if (!namespace_selects(gateway, ns)) {
        return fmt::format("its namespaceSelector {} does not match namespace \"{}\" (labels: {})",
                           selector_text(*gateway.namespace_selector), route.meta.ns,
                           labels_text(ns->labels));
    }
    if (!route_selects(gateway, route)) {
        return fmt::format("its gatewayRouteSelector {} does not match the route's labels ({})",
                           selector_text(*gateway.gateway_route_selector),
                           labels_text(route.meta.labels));
    }
    return {};
}

}  // namespace outrigger::routing
