#pragma once
// Reads App Mesh manifests (files and directories, multi-document YAML) into `mesh_input`.
// The only place that includes yaml-cpp. Documents of kinds other than the App Mesh ones and
// `Namespace` are skipped silently (DECISIONS.md §1). Unknown keys inside App Mesh specs produce a
// warning naming the key and the closest known one. Structural errors (wrong type, missing
// required scalar, bad enum) are reported here with file:line:col and field path; the semantic
// rules live in validate.cpp.
//
// Thread-affinity: control thread only; no shared state.

#include <string>
#include <vector>

#include "routing/config_error.hpp"
#include "routing/mesh_model.hpp"

namespace outrigger::routing {

/// Loads every path (a file, or a directory: every `*.yaml`/`*.yml` below it in sorted order),
/// appending to `out` and `diags`. Unreadable paths and YAML syntax errors are errors.
void load_paths(const std::vector<std::string>& paths, mesh_input& out, diagnostics& diags);

/// Loads YAML text as if it were the file `filename` (used by tests and by reload).
void load_string(const std::string& yaml, const std::string& filename, mesh_input& out,
                 diagnostics& diags);

}  // namespace outrigger::routing
