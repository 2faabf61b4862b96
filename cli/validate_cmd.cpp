// `outrigger validate [--node NODE] PATH...` and `outrigger version`.
#include <ostream>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "routing/compile.hpp"
#include "routing/resolve.hpp"
#include "routing/validate.hpp"
#include "routing/yaml_loader.hpp"

namespace outrigger::cli {

namespace {

constexpr const char* validate_usage =
    "usage: outrigger validate [--node NODE] PATH...\n"
    "\n"
    "Loads every App Mesh manifest in PATH (files, or directories of *.yaml/*.yml), resolves and\n"
    "validates them, and prints every error and warning as FILE:LINE:COL: error: KIND NS/NAME:\n"
    "FIELD: message, then a count. Exit 0 when valid, 1 when not, 2 on a usage error.\n"
    "\n"
    "  --node NODE   validate as the proxy of this VirtualNode (name, namespace/name, or\n"
    "                mesh/MESH/virtualNode/NAME): AWS-only sources it needs become errors\n";

}  // namespace

int validate_command(const args_t& args, std::ostream& out, std::ostream& err) {
    std::string node;
    std::vector<std::string> paths;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--help" || a == "-h") {
            out << validate_usage;
            return 0;
        }
        if (a == "--node") {
            if (i + 1 >= args.size()) {
                return usage_error(err, "validate", "--node needs a value");
            }
            node = args[++i];
        } else if (a.starts_with("--node=")) {
            node = a.substr(7);
        } else if (a.starts_with("-") && a != "-") {
            return usage_error(err, "validate", unknown_flag_message(a, {"--node", "--help"}));
        } else {
            paths.push_back(a);
        }
    }
    if (paths.empty()) {
        return usage_error(err, "validate", "no PATH given");
    }
    routing::mesh_input in;
    routing::diagnostics diags;
    routing::load_paths(paths, in, diags);
    routing::resolve_options ro;
    ro.node = node;
    const auto which = routing::resolve(in, ro, diags);
    const routing::mesh_index index(in);
    routing::validate_options vo;
    vo.node = which.node;
    routing::validate(in, index, vo, diags);
    diags.sort_and_dedupe(in.files);
    print_diagnostics(out, diags, in.files);
    return diags.has_errors() ? 1 : 0;
}

int version_command(const args_t& args, std::ostream& out, std::ostream& err) {
    if (!args.empty() && args[0] != "--help") {
        return usage_error(err, "version", "takes no arguments");
    }
    out << "outrigger " << OUTRIGGER_VERSION << " (App Mesh appmesh.k8s.aws/v1beta2)\n";
    return 0;
}

}  // namespace outrigger::cli
