#pragma once
// Compiles the resolved, validated mesh into the immutable `gateway_snapshot` of one
// VirtualGateway (routing/gateway.hpp): its listeners (port, protocol, tls, healthCheck,
// connectionPool), the attached GatewayRoutes per listener in evaluation order, and the outbound
// snapshot of routing/compile.hpp's `compile_gateway_outbound`.
//
// Evaluation order on a listener (docs/gateway.md, DECISIONS §3.2 adapted to gateway routes):
// priority ascending (unset = 1000, the CRD default); then exact path, regex path, prefix; longer
// prefix first; exact hostname, then suffix (longer first), then none; more method/header/query
// conditions first; then input order.
//
// Thread-affinity: control thread only; the result is immutable and shareable.

#include <memory>

#include "routing/compile.hpp"
#include "routing/config_error.hpp"
#include "routing/gateway.hpp"
#include "routing/mesh_model.hpp"
#include "routing/resolve.hpp"

namespace outrigger::routing {

/// `which.gateway` and `which.mesh` must be set; null otherwise.
[[nodiscard]] std::shared_ptr<const gateway_snapshot> compile_gateway(const mesh_input& in,
                                                                      const mesh_index& index,
                                                                      const resolve_result& which,
                                                                      const compile_options& opts);

/// load, resolve (with `opts.gateway`), validate (ACM/SDS are errors for that gateway, DECISIONS
/// §3.10), compile_gateway. Returns null with the errors in `diags` when the mesh is invalid or
/// `opts.gateway` names no gateway.
[[nodiscard]] std::shared_ptr<const gateway_snapshot> load_and_compile_gateway(
    const load_options& opts, mesh_input& in, diagnostics& diags);

}  // namespace outrigger::routing
