// `outrigger inject`: App Mesh's sidecar injector as a command (files -> stdout) and as a
// mutating admission webhook (DECISIONS.md §5). The injection itself is cli/inject/injector.*;
// this file reads flags and files and writes the results. docs/inject.md is the user's guide.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/inject/injector.hpp"
#include "cli/inject/json_to_yaml.hpp"
#include "cli/inject/webhook_server.hpp"
#include "cli/inject/workloads.hpp"
#include "cli/inject/yaml_to_json.hpp"
#include "routing/resolve.hpp"
#include "routing/validate.hpp"
#include "routing/yaml_loader.hpp"

namespace outrigger::cli {

namespace fs = std::filesystem;
namespace json = boost::json;
using inject::label_map;

namespace {

constexpr const char* inject_usage =
    "usage: outrigger inject --mesh PATH... [options] FILE|DIR|-...\n"
    "       outrigger inject --webhook --mesh PATH... --listen ADDR:PORT --tls-cert FILE "
    "--tls-key FILE\n"
    "\n"
    "Adds the outrigger sidecar to the pods of Kubernetes manifests, as App Mesh's injector did:\n"
    "a pod template in a namespace that the Mesh's namespaceSelector selects, whose labels one\n"
    "VirtualNode's podSelector selects, gets the iptables init container, the native sidecar\n"
    "running as that node (APPMESH_VIRTUAL_NODE_NAME) and the mesh ConfigMap volume. App Mesh's\n"
    "annotations are honoured (appmesh.k8s.aws/sidecarInjectorWebhook: disabled, ports,\n"
    "egressIgnoredPorts, egressIgnoredIPs, ...; see docs/inject.md). Pods that match nothing\n"
    "are left as they are, with a note on stderr; other documents pass through unchanged.\n"
    "Writes YAML to stdout (comments are not kept; key order is). Injecting twice changes\n"
    "nothing. Exit 0 ok, 1 invalid mesh or a pod App Mesh would refuse, 2 usage error.\n"
    "\n"
    "  FILE|DIR|-                 manifests: files, directories (*.yaml, *.yml, *.json below\n"
    "                             them) or - for stdin; multi-document and `kind: List`\n"
    "  --mesh PATH                the mesh, as for `outrigger run` (repeatable)\n"
    "  --namespace-labels NS=K=V,...  labels of namespace NS (repeatable); they replace what\n"
    "                             Namespace documents in --mesh and the inputs say\n"
    "  -n, --namespace NS         namespace of documents that name none (default \"default\")\n"
    "  --image IMAGE              sidecar image (default outrigger:latest)\n"
    "  --init-image IMAGE         iptables init image (default outrigger-init:latest)\n"
    "  --configmap NAME           ConfigMap holding the mesh YAML (default outrigger-mesh)\n"
    "  --configmap-key KEY        its key (default mesh.yaml): OUTRIGGER_MESH=/etc/outrigger/KEY\n"
    "  --report                   print what each pod would get to stdout, instead of YAML\n"
    "\n"
    "webhook (admission.k8s.io/v1, POST /mutate-v1-pod, GET /healthz; reloads changed mesh and\n"
    "certificate files; deploy/kubernetes/webhook/ has its Deployment and configuration):\n"
    "  --webhook                  serve instead of reading files\n"
    "  --listen ADDR:PORT         e.g. 0.0.0.0:8443 ([::]:8443 for IPv6; port 0: any)\n"
    "  --tls-cert FILE, --tls-key FILE   the serving certificate chain and key (PEM)\n";

constexpr std::initializer_list<const char*> known_flags = {
    "--mesh",       "--namespace-labels", "--namespace", "--image",    "--init-image",
    "--configmap",  "--configmap-key",    "--report",    "--webhook",  "--listen",
    "--tls-cert",   "--tls-key",          "--help"};

struct inject_args {
    std::vector<std::string> mesh_paths;
    std::map<std::string, label_map> namespace_labels;
    std::string default_namespace = "default";
    inject::injector_options opts;
    bool report = false;
    bool webhook = false;
    std::string listen;
    std::string tls_cert;
    std::string tls_key;
    std::vector<std::string> inputs;
};

/// `NS=K=V,K2=V2` (or `NS=` for a namespace without labels).
bool parse_namespace_labels(const std::string& v, std::map<std::string, label_map>& out,
                            std::string& err) {
    const auto eq = v.find('=');
    if (eq == std::string::npos || eq == 0) {
        err = "--namespace-labels needs NS=KEY=VALUE[,KEY=VALUE...], got \"" + v + "\"";
        return false;
    }
    label_map& labels = out[v.substr(0, eq)];
    std::string_view rest = std::string_view(v).substr(eq + 1);
    while (!rest.empty()) {
        const auto comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        if (item.empty()) {
            continue;
        }
        const auto keq = item.find('=');
        if (keq == std::string_view::npos || keq == 0) {
            err = "--namespace-labels: \"" + std::string(item) + "\" is not KEY=VALUE";
            return false;
        }
        labels[std::string(item.substr(0, keq))] = std::string(item.substr(keq + 1));
    }
    return true;
}

/// Returns -1 to go on, else the exit code (help, usage error).
int parse_args(const args_t& args, inject_args& a, std::ostream& out, std::ostream& err) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--help" || arg == "-h") {
            out << inject_usage;
            return 0;
        }
        if (arg == "-" || !arg.starts_with("-")) {
            a.inputs.push_back(arg);
            continue;
        }
        if (arg == "--report") {
            a.report = true;
            continue;
        }
        if (arg == "--webhook") {
            a.webhook = true;
            continue;
        }
        // Flags with a value: `--flag VALUE` or `--flag=VALUE`.
        std::string name = arg;
        std::string value;
        bool has_value = false;
        if (const auto eq = arg.find('='); eq != std::string::npos && arg.starts_with("--")) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
            has_value = true;
        }
        if (name == "-n") {
            name = "--namespace";
        }
        static const std::set<std::string> with_value = {
            "--mesh",      "--namespace-labels", "--namespace", "--image",   "--init-image",
            "--configmap", "--configmap-key",    "--listen",    "--tls-cert", "--tls-key"};
        if (with_value.count(name) == 0) {
            return usage_error(err, "inject", unknown_flag_message(arg, known_flags));
        }
        if (!has_value) {
            if (i + 1 >= args.size()) {
                return usage_error(err, "inject", name + " needs a value");
            }
            value = args[++i];
        }
        if (name == "--mesh") {
            a.mesh_paths.push_back(value);
        } else if (name == "--namespace-labels") {
            std::string e;
            if (!parse_namespace_labels(value, a.namespace_labels, e)) {
                return usage_error(err, "inject", e);
            }
        } else if (name == "--namespace") {
            a.default_namespace = value;
        } else if (name == "--image") {
            a.opts.image = value;
        } else if (name == "--init-image") {
            a.opts.init_image = value;
        } else if (name == "--configmap") {
            a.opts.configmap = value;
        } else if (name == "--configmap-key") {
            a.opts.configmap_key = value;
        } else if (name == "--listen") {
            a.listen = value;
        } else if (name == "--tls-cert") {
            a.tls_cert = value;
        } else if (name == "--tls-key") {
            a.tls_key = value;
        }
        if (value.empty() && name != "--namespace-labels") {
            return usage_error(err, "inject", name + " needs a non-empty value");
        }
    }
    if (a.mesh_paths.empty()) {
        return usage_error(err, "inject", "no --mesh PATH given");
    }
    if (a.webhook) {
        if (!a.inputs.empty()) {
            return usage_error(err, "inject", "--webhook reads no FILE (got \"" + a.inputs[0] +
                                                  "\")");
        }
        if (a.report) {
            return usage_error(err, "inject", "--report is for files, not --webhook");
        }
        if (a.listen.empty() || a.tls_cert.empty() || a.tls_key.empty()) {
            return usage_error(err, "inject", "--webhook needs --listen, --tls-cert and --tls-key");
        }
    } else {
        if (!a.listen.empty() || !a.tls_cert.empty() || !a.tls_key.empty()) {
            return usage_error(err, "inject", "--listen, --tls-cert and --tls-key need --webhook");
        }
        if (a.inputs.empty()) {
            return usage_error(err, "inject", "no FILE, DIR or - given");
        }
        if (std::count(a.inputs.begin(), a.inputs.end(), "-") > 1) {
            return usage_error(err, "inject", "- (stdin) given twice");
        }
    }
    return -1;
}

/// ADDR:PORT, [V6]:PORT or :PORT.
bool parse_listen(const std::string& v, std::string& address, std::uint16_t& port) {
    const auto colon = v.rfind(':');
    if (colon == std::string::npos) {
        return false;
    }
    address = v.substr(0, colon);
    const std::string p = v.substr(colon + 1);
    if (address.size() >= 2 && address.front() == '[' && address.back() == ']') {
        address = address.substr(1, address.size() - 2);
    }
    if (address.empty()) {
        address = "0.0.0.0";
    }
    if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) {
        return false;
    }
    const unsigned long n = std::stoul(p);
    if (n > 65535) {
        return false;
    }
    port = static_cast<std::uint16_t>(n);
    return true;
}

/// Loads, resolves and validates the mesh as `run` does; prints the diagnostics (all of them
/// when there is an error, the warnings otherwise) to `err`.
bool load_mesh(const std::vector<std::string>& paths, routing::mesh_input& in, std::ostream& err) {
    routing::diagnostics diags;
    routing::load_paths(paths, in, diags);
    routing::resolve(in, {}, diags);
    const routing::mesh_index index(in);
    routing::validate(in, index, {}, diags);
    diags.sort_and_dedupe(in.files);
    if (diags.has_errors()) {
        print_diagnostics(err, diags, in.files);
        return false;
    }
    for (const auto& d : diags.items()) {
        err << routing::format(d, in.files) << '\n';
    }
    return true;
}

std::map<std::string, label_map> mesh_namespaces(const routing::mesh_input& in) {
    std::map<std::string, label_map> out;
    for (const auto& n : in.namespaces) {
        out[n.name] = n.labels;
    }
    return out;
}

/// Every manifest file of the inputs, in order: a directory gives its *.yaml, *.yml and *.json
/// below it in sorted order, skipping names that start with `.` (kubelet's `..data`); a file
/// reached twice (symlinks) is read once.
bool expand_inputs(const std::vector<std::string>& inputs, std::vector<std::string>& files,
                   std::ostream& err) {
    std::set<std::string> seen;
    auto add = [&](const fs::path& p) {
        std::error_code ec;
        const fs::path real = fs::canonical(p, ec);
        if (seen.insert(ec ? p.string() : real.string()).second) {
            files.push_back(p.string());
        }
    };
    for (const auto& in : inputs) {
        if (in == "-") {
            files.push_back("-");
            continue;
        }
        std::error_code ec;
        if (fs::is_directory(in, ec)) {
            std::vector<fs::path> found;
            fs::recursive_directory_iterator it(in, fs::directory_options::follow_directory_symlink,
                                                ec);
            for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
                const std::string name = it->path().filename().string();
                if (name.starts_with(".")) {
                    if (it->is_directory(ec)) {
                        it.disable_recursion_pending();
                    }
                    continue;
                }
                const std::string ext = it->path().extension().string();
                if (it->is_regular_file(ec) &&
                    (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
                    found.push_back(it->path());
                }
            }
            if (ec) {
                err << in << ": error: cannot read the directory: " << ec.message() << '\n';
                return false;
            }
            std::sort(found.begin(), found.end());
            for (const auto& f : found) {
                add(f);
            }
        } else if (fs::exists(in, ec)) {
            add(in);
        } else {
            err << in << ": error: no such file or directory\n";
            return false;
        }
    }
    return true;
}

struct parsed_input {
    std::string name;  // as printed: the path, or <stdin>
    std::vector<inject::yaml_document> docs;
};

bool read_inputs(const std::vector<std::string>& files, std::vector<parsed_input>& out,
                 std::ostream& err) {
    bool ok = true;
    for (const auto& f : files) {
        std::string text;
        parsed_input p;
        if (f == "-") {
            p.name = "<stdin>";
            text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        } else {
            p.name = f;
            std::ifstream in(f, std::ios::binary);
            if (!in) {
                err << f << ": error: cannot read the file\n";
                ok = false;
                continue;
            }
            text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        }
        auto r = inject::parse_yaml_documents(text);
        if (!r.error.empty()) {
            err << fmt::format("{}:{}:{}: error: invalid YAML: {}\n", p.name, r.error_at.line,
                               r.error_at.col, r.error);
            ok = false;
            continue;
        }
        p.docs = std::move(r.documents);
        out.push_back(std::move(p));
    }
    return ok;
}

int run_files(const inject_args& a, std::ostream& out, std::ostream& err) {
    routing::mesh_input mesh;
    if (!load_mesh(a.mesh_paths, mesh, err)) {
        return 1;
    }
    std::vector<std::string> files;
    std::vector<parsed_input> inputs;
    if (!expand_inputs(a.inputs, files, err) || !read_inputs(files, inputs, err)) {
        return 1;  // nothing on stdout: a stream is applied whole or not at all
    }
    // Namespace labels: the mesh's Namespace documents, then the inputs', then the flags.
    std::map<std::string, label_map> namespaces = mesh_namespaces(mesh);
    for (const auto& in : inputs) {
        for (const auto& d : in.docs) {
            inject::collect_namespaces(d.root, namespaces);
        }
    }
    for (const auto& [ns, labels] : a.namespace_labels) {
        namespaces[ns] = labels;
    }
    const inject::injector inj(mesh, a.opts, std::move(namespaces));

    std::ostream& notes = a.report ? out : err;
    std::string yaml;
    std::size_t injected = 0;
    std::size_t unchanged = 0;
    std::size_t errors = 0;
    for (auto& in : inputs) {
        for (auto& d : in.docs) {
            const auto results = inject::inject_document(inj, d.root, a.default_namespace);
            for (const auto& w : results) {
                const auto at = d.where(w.pointer);
                const std::string where = fmt::format("{}:{}:{}", in.name, at.line, at.col);
                const std::string who = fmt::format("{} {}/{}", w.kind, w.ns, w.name);
                const auto& r = w.result;
                switch (r.status) {
                case inject::pod_result::status_t::injected:
                    ++injected;
                    notes << fmt::format("{}: injected: {}: as {}\n", where, who, r.message);
                    if (a.report) {
                        for (const auto& c : r.changes) {
                            notes << "    + " << c << '\n';
                        }
                    }
                    break;
                case inject::pod_result::status_t::unchanged:
                    ++unchanged;
                    notes << fmt::format("{}: note: {}: not injected: {}\n", where, who, r.message);
                    break;
                case inject::pod_result::status_t::error:
                    ++errors;
                    notes << fmt::format("{}: error: {}: not injected: {}\n", where, who,
                                         r.message);
                    break;
                }
                for (const auto& warning : r.warnings) {
                    notes << fmt::format("{}: warning: {}: {}\n", where, who, warning);
                }
            }
            if (d.root.is_null()) {
                continue;  // an empty document (only comments, or `---` twice)
            }
            if (!yaml.empty()) {
                yaml += "---\n";
            }
            yaml += inject::to_yaml(d.root);
        }
    }
    notes << fmt::format("{} injected, {} not injected, {} {}\n", injected, unchanged, errors,
                         errors == 1 ? "error" : "errors");
    if (!a.report) {
        out << yaml;
    }
    out.flush();
    return errors > 0 ? 1 : 0;
}

int run_webhook(const inject_args& a, std::ostream& out, std::ostream& err) {
    inject::webhook_options wo;
    if (!parse_listen(a.listen, wo.address, wo.port)) {
        return usage_error(err, "inject", "--listen needs ADDR:PORT, got \"" + a.listen + "\"");
    }
    wo.cert_file = a.tls_cert;
    wo.key_file = a.tls_key;
    const inject::webhook_loader load =
        [&a](std::ostream& lerr) -> std::shared_ptr<const inject::webhook_state> {
        auto state = std::make_shared<inject::webhook_state>();
        if (!load_mesh(a.mesh_paths, state->mesh, lerr)) {
            return nullptr;
        }
        std::map<std::string, label_map> namespaces = mesh_namespaces(state->mesh);
        for (const auto& [ns, labels] : a.namespace_labels) {
            namespaces[ns] = labels;
        }
        state->inj = std::make_unique<inject::injector>(state->mesh, a.opts, std::move(namespaces));
        state->files = state->mesh.files;
        return state;
    };
    return inject::serve_webhook(load, wo, out, err);
}

}  // namespace

int inject_command(const args_t& args, std::ostream& out, std::ostream& err) {
    inject_args a;
    if (const int code = parse_args(args, a, out, err); code >= 0) {
        return code;
    }
    return a.webhook ? run_webhook(a, out, err) : run_files(a, out, err);
}

}  // namespace outrigger::cli
