#pragma once
// Compiles a resolved and validated mesh into the immutable `snapshot` for one node, or for the
// mesh-wide client (every virtual service of the mesh is a backend) when no node is given.
//
// Thread-affinity: control thread only; the result is immutable and shareable.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "routing/config_error.hpp"
#include "routing/mesh_model.hpp"
#include "routing/resolve.hpp"
#include "routing/snapshot.hpp"

namespace outrigger::routing {

[[nodiscard]] std::shared_ptr<const snapshot> compile(const mesh_input& in, const mesh_index& index,
                                                      const resolve_result& which,
                                                      const compile_options& opts);

/// The outbound snapshot of a virtual gateway (spec §7, §10.15): every virtual service in
/// `targets` (the targets of its GatewayRoutes) is a backend, and the gateway's
/// `backendDefaults.clientPolicy` is the client policy toward every target (gateways have no
/// per-backend policy). Otherwise exactly what `compile` builds for a node's egress side: the
/// gateway's request continues as a normal outbound request. `gateway_name` is set, `node_name`
/// is not, there are no ingress listeners; the gateway's `logging` becomes `access_log`.
[[nodiscard]] std::shared_ptr<snapshot> compile_gateway_outbound(
    const mesh_input& in, const mesh_index& index, std::size_t mesh, const virtual_gateway& gateway,
    const std::vector<const virtual_service*>& targets, const compile_options& opts);

/// A header (or gRPC metadata) match as the route tables use it (regexes compiled once).
[[nodiscard]] compiled_header_match compile_header_match(const header_match& h);

/// Everything from paths to snapshot in one call: load, resolve, validate, compile. Returns null
/// (with the errors in `diags`) when the mesh is invalid.
struct load_options {
    std::vector<std::string> paths;
    std::string node;  // as --node
    /// As --gateway: only for load_and_compile_gateway (routing/gateway_compile.hpp); exclusive
    /// with `node`.
    std::string gateway;
    compile_options compile;
};
[[nodiscard]] std::shared_ptr<const snapshot> load_and_compile(const load_options& opts,
                                                               mesh_input& in, diagnostics& diags);

}  // namespace outrigger::routing
