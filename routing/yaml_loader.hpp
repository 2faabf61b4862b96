#pragma once
// Reads App Mesh manifests (files and directories, multi-document YAML, Kubernetes lists) into
// `mesh_input`. The only place that uses yaml-cpp (through routing/yaml_tree, internal).
// Documents of kinds other than the App Mesh ones and `Namespace` are skipped silently
// (DECISIONS.md §1); `kind: List` and typed lists (`VirtualNodeList`, ...) are unpacked and each
// item is read as a document of its own, with its own positions. The fields the API server and
// the App Mesh controller add (`status`, metadata such as uid, resourceVersion, managedFields and
// annotations, `spec.meshRef.uid`) are accepted silently. Unknown keys inside App Mesh specs
// produce a warning naming the key and the closest known one. Structural errors (wrong type,
// missing required scalar, bad enum) are reported here with file:line:col and field path; the
// semantic rules live in validate.cpp.
//
// Thread-affinity: control thread only; no shared state.

#include <string>
#include <utility>
#include <vector>

#include "routing/config_error.hpp"
#include "routing/mesh_model.hpp"

namespace outrigger::routing {

/// What a list of input paths stands for. A file path stands for itself. A directory stands for
/// every `*.yaml`/`*.yml` below it in sorted order, with symlinks followed (files and
/// directories) and entries whose name starts with `.` skipped (kubelet's `..data` and
/// `..<timestamp>` of ConfigMap and Secret volumes, editor files). No real file appears twice,
/// however many paths lead to it.
struct input_files {
    std::vector<std::string> files;        // in read order, as reached (not resolved)
    std::vector<std::string> directories;  // every directory walked, as reached
    std::vector<std::string> ignored;      // directory entries not read (other names, dangling)
    std::vector<std::pair<std::string, std::string>> unreadable;  // directory, why
};
[[nodiscard]] input_files list_inputs(const std::vector<std::string>& paths);

/// Loads every file `paths` stand for (see `input_files`), appending to `out` and `diags`.
/// Unreadable paths and YAML syntax errors are errors; so is an input in which no App Mesh object
/// is found at all (the error names the paths and what they held instead).
void load_paths(const std::vector<std::string>& paths, mesh_input& out, diagnostics& diags);

/// Loads YAML text as if it were the file `filename` (used by tests and by reload). Finding no
/// App Mesh object in it is not an error here (callers combine several texts).
void load_string(const std::string& yaml, const std::string& filename, mesh_input& out,
                 diagnostics& diags);

}  // namespace outrigger::routing
