#pragma once
// Field rules of spec §9 (webhook and App Mesh API rules) and DECISIONS.md §3 on a resolved
// `mesh_input`: weights, durations, enums, ranges, unions (exactly one of ...), route kind vs
// listener protocol, ports of multi-listener routers/targets, regexes that do not compile,
// AWS-only sources (ACM, SDS, Cloud Map) as DECISIONS §3.10 says. All errors at once.
//
// Thread-affinity: control thread only.

#include <optional>

#include "routing/config_error.hpp"
#include "routing/mesh_model.hpp"
#include "routing/resolve.hpp"

namespace outrigger::routing {

struct validate_options {
    /// The node being run or validated with --node (index into input.virtual_nodes); AWS-only
    /// sources are errors only for what this node needs (DECISIONS §3.10).
    std::optional<std::size_t> node;
    /// The gateway being run (index into input.virtual_gateways): as `node`, for that gateway.
    std::optional<std::size_t> gateway;
};

void validate(const mesh_input& in, const mesh_index& index, const validate_options& opts,
              diagnostics& diags);

}  // namespace outrigger::routing
