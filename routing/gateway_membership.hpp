#pragma once
// Which VirtualGateway a GatewayRoute belongs to (spec §8, §9; the controller's
// `virtualgateway.MembershipDesignator`): the gateways whose `namespaceSelector` matches the
// route's namespace labels (absent selector: none; `{}`: all) and whose `gatewayRouteSelector`
// (absent: every route) matches the route's labels. Exactly one is required; `validate` reports
// zero or several. A `spec.virtualGatewayRef` (written by the webhook, kept in exported manifests)
// names the gateway directly instead.
//
// Namespace labels come from Namespace documents, as for mesh membership. When the input has no
// Namespace document for the route's namespace its labels are unknown: a present
// `namespaceSelector` is then taken to match (as the single-mesh shortcut does for meshes), so a
// manifest set without Namespace documents still attaches its routes to its one gateway.
//
// Thread-affinity: pure functions over an immutable input.

#include <vector>

#include "routing/mesh_model.hpp"
#include "routing/resolve.hpp"

namespace outrigger::routing {

struct gateway_membership {
    /// The gateway the route attaches to; null when none or several select it.
    const virtual_gateway* gateway = nullptr;
    /// Every gateway that selects the route (by selectors; or the referenced one, when found).
    std::vector<const virtual_gateway*> candidates;
    /// `spec.virtualGatewayRef` decided (then `candidates` holds at most the referenced gateway).
    bool by_ref = false;
    /// False when no Namespace document gives the labels of the route's namespace.
    bool namespace_labels_known = true;
};

[[nodiscard]] gateway_membership gateway_of(const mesh_input& in, const mesh_index& index,
                                            const gateway_route& route);

/// The GatewayRoutes attached to `gateway`, in input order.
[[nodiscard]] std::vector<const gateway_route*> routes_of(const mesh_input& in,
                                                          const mesh_index& index,
                                                          const virtual_gateway& gateway);

/// Why `gateway` does not select `route` (for the "selected by no VirtualGateway" error), e.g.
/// `namespaceSelector {gateway=a} does not match namespace "x" (labels: mesh=m)`; empty when it
/// does select it.
[[nodiscard]] std::string why_not_selected(const mesh_input& in, const virtual_gateway& gateway,
                                           const gateway_route& route);

}  // namespace outrigger::routing
