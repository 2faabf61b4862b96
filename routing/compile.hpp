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

/// Everything from paths to snapshot in one call: load, resolve, validate, compile. Returns null
/// (with the errors in `diags`) when the mesh is invalid.
struct load_options {
    std::vector<std::string> paths;
    std::string node;  // as --node
    compile_options compile;
};
[[nodiscard]] std::shared_ptr<const snapshot> load_and_compile(const load_options& opts,
                                                               mesh_input& in, diagnostics& diags);

}  // namespace outrigger::routing
