// `outrigger validate [--node NODE] PATH...` and `outrigger version`.
#include <ostream>
#include <string>

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
    "FIELD: message, then what it loaded and a count. Kubernetes lists (kubectl get -o yaml) are\n"
    "read item by item; an input without any App Mesh object is invalid. Directories are walked\n"
    "with symlinks followed and names starting with \".\" skipped (ConfigMap volumes).\n"
    "Exit 0 when valid, 1 when not, 2 on a usage error.\n"
    "\n"
    "  --node NODE   validate as the proxy of this VirtualNode (name, namespace/name, or\n"
    "                mesh/MESH/virtualNode/NAME): AWS-only sources it needs become errors\n";

std::string counted(std::size_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

/// `loaded 1 mesh, 6 virtual nodes, 2 routers, 3 services from 2 files` (gateways, gateway
/// routes and backend groups when there are any). Empty when nothing was loaded: the loader's
/// "no App Mesh object found" error says so.
std::string loaded_summary(const routing::mesh_input& in) {
    std::size_t meshes = 0;
    bool implicit = false;
    for (const auto& m : in.meshes) {
        implicit = implicit || m.implicit;
        meshes += m.implicit ? 0 : 1;
    }
    const std::size_t objects = meshes + in.virtual_nodes.size() + in.virtual_routers.size() +
                                in.virtual_services.size() + in.virtual_gateways.size() +
                                in.gateway_routes.size() + in.backend_groups.size();
    if (objects == 0) {
        return {};
    }
    std::string s = "loaded ";
    s += implicit && meshes == 0 ? std::string("1 implicit mesh")
                                 : counted(meshes, "mesh", "meshes");
    s += ", " + counted(in.virtual_nodes.size(), "virtual node", "virtual nodes");
    s += ", " + counted(in.virtual_routers.size(), "router", "routers");
    s += ", " + counted(in.virtual_services.size(), "service", "services");
    if (!in.virtual_gateways.empty()) {
        s += ", " + counted(in.virtual_gateways.size(), "gateway", "gateways");
    }
    if (!in.gateway_routes.empty()) {
        s += ", " + counted(in.gateway_routes.size(), "gateway route", "gateway routes");
    }
    if (!in.backend_groups.empty()) {
        s += ", " + counted(in.backend_groups.size(), "backend group", "backend groups");
    }
    s += " from " + counted(in.files.size(), "file", "files");
    return s;
}

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
    for (const auto& d : diags.items()) {
        out << routing::format(d, in.files) << '\n';
    }
    const std::string summary = loaded_summary(in);
    if (!summary.empty()) {
        out << summary << '\n';
    }
    out << routing::format_count(diags) << '\n';  // the last line, as before
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
