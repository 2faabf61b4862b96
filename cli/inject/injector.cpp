#include "cli/inject/injector.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <string_view>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace outrigger::inject {

namespace json = boost::json;

namespace {

// App Mesh's names (pkg/inject/constants.go).
constexpr std::string_view inject_key = "appmesh.k8s.aws/sidecarInjectorWebhook";
constexpr std::string_view ports_key = "appmesh.k8s.aws/ports";
constexpr std::string_view egress_ports_key = "appmesh.k8s.aws/egressIgnoredPorts";
constexpr std::string_view egress_ips_key = "appmesh.k8s.aws/egressIgnoredIPs";
constexpr std::string_view ipv6_key = "appmesh.k8s.aws/ipv6";
constexpr std::string_view cpu_request_key = "appmesh.k8s.aws/cpuRequest";
constexpr std::string_view memory_request_key = "appmesh.k8s.aws/memoryRequest";
constexpr std::string_view cpu_limit_key = "appmesh.k8s.aws/cpuLimit";
constexpr std::string_view memory_limit_key = "appmesh.k8s.aws/memoryLimit";
constexpr std::string_view env_key = "appmesh.k8s.aws/sidecarEnv";
constexpr std::string_view env_json_key = "appmesh.k8s.aws/sidecarEnvJson";
constexpr std::string_view secret_mounts_key = "appmesh.k8s.aws/secretMounts";
constexpr std::string_view volume_mounts_key = "appmesh.k8s.aws/volumeMounts";
constexpr std::string_view cni_key = "appmesh.k8s.aws/appmeshCNI";
// v1beta1's injector named the node and mesh by annotation; v1beta2 (and outrigger) match by
// podSelector and ignore them.
constexpr std::string_view legacy_node_key = "appmesh.k8s.aws/virtualNode";
constexpr std::string_view legacy_mesh_key = "appmesh.k8s.aws/mesh";

// App Mesh's injector defaults (pkg/inject/proxy.go, config.go), as deploy/iptables-init.sh
// and `outrigger run` use them.
constexpr std::string_view proxy_uid = "1337";
constexpr std::string_view ingress_port = "15000";
constexpr std::string_view egress_port = "15001";
constexpr std::string_view default_egress_ignored_ports = "22";
constexpr std::string_view default_egress_ignored_ips = "169.254.169.254";

constexpr std::string_view sidecar_name = "outrigger";
constexpr std::string_view init_name = "outrigger-init";
constexpr std::string_view mesh_volume = "outrigger-mesh";
constexpr std::string_view mesh_dir = "/etc/outrigger";

// The admin API is on 127.0.0.1:9901, which the kubelet's httpGet cannot reach; the image has
// bash but no curl (deploy/kubernetes/20-my-interview-service-v1.yaml).
constexpr std::string_view ready_command =
    "exec 3<>/dev/tcp/127.0.0.1/9901 && printf 'GET /ready HTTP/1.0\\r\\n\\r\\n' >&3 && "
    "head -1 <&3 | grep -q ' 200 '";
constexpr std::string_view drain_command =
    "exec 3<>/dev/tcp/127.0.0.1/9901 && printf 'POST /drain_listeners?graceful "
    "HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3 >/dev/null; sleep 5";

std::string to_lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
    return out;
}

std::string_view trim(std::string_view s) {
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string_view::npos) {
        return {};
    }
    const auto e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
        const auto at = s.find(sep, start);
        out.push_back(s.substr(start, at == std::string_view::npos ? at : at - start));
        if (at == std::string_view::npos) {
            return out;
        }
        start = at + 1;
    }
}

/// A label or annotation value as text (Kubernetes wants strings; a number given unquoted is
/// compared by its text).
std::string text_of(const json::value& v) {
    if (v.is_string()) {
        return std::string(v.get_string());
    }
    return json::serialize(v);
}

label_map string_map(const json::object* meta, std::string_view field) {
    label_map out;
    if (meta == nullptr) {
        return out;
    }
    if (const json::value* m = meta->if_contains(field); m != nullptr && m->is_object()) {
        for (const auto& kv : m->get_object()) {
            out.emplace(std::string(kv.key()), text_of(kv.value()));
        }
    }
    return out;
}

const json::object* object_at(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
}

const json::array* array_at(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return v != nullptr && v->is_array() ? &v->get_array() : nullptr;
}

std::string name_of(const json::value& item) {
    if (item.is_object()) {
        if (const json::value* n = item.get_object().if_contains("name"); n && n->is_string()) {
            return std::string(n->get_string());
        }
    }
    return {};
}

bool has_named(const json::array* list, std::string_view name) {
    return list != nullptr && std::any_of(list->begin(), list->end(), [&](const json::value& c) {
               return name_of(c) == name;
           });
}

std::string describe_labels(const label_map& labels) {
    if (labels.empty()) {
        return "{}";
    }
    std::string out = "{";
    for (const auto& [k, v] : labels) {
        out += (out.size() > 1 ? ", " : "") + k + "=" + v;
    }
    return out + "}";
}

std::string describe_selector(const routing::label_selector& s) {
    std::vector<std::string> parts;
    for (const auto& [k, v] : s.match_labels) {
        parts.push_back(k + "=" + v);
    }
    for (const auto& e : s.match_expressions) {
        std::string values;
        for (const auto& v : e.values) {
            values += (values.empty() ? "" : ",") + v;
        }
        parts.push_back(e.key + " " + e.op + (values.empty() ? "" : " (" + values + ")"));
    }
    if (parts.empty()) {
        return "{} (every namespace)";
    }
    std::string out;
    for (const auto& p : parts) {
        out += (out.empty() ? "" : ", ") + p;
    }
    return out;
}

bool is_port_list(std::string_view list, std::string& normalized) {
    normalized.clear();
    if (trim(list).empty()) {
        return true;
    }
    for (const auto item : split(list, ',')) {
        const auto p = trim(item);
        if (p.empty()) {
            continue;
        }
        if (p.size() > 5 || p.find_first_not_of("0123456789") != std::string_view::npos) {
            return false;
        }
        const int v = std::stoi(std::string(p));
        if (v < 1 || v > 65535) {
            return false;
        }
        normalized += (normalized.empty() ? "" : ",") + std::string(p);
    }
    return true;
}

bool is_cidr_list(std::string_view list, std::string& normalized) {
    normalized.clear();
    for (const auto item : split(list, ',')) {
        const auto p = trim(item);
        if (p.empty()) {
            continue;
        }
        if (p.find_first_not_of("0123456789abcdefABCDEF.:/") != std::string_view::npos) {
            return false;
        }
        normalized += (normalized.empty() ? "" : ",") + std::string(p);
    }
    return true;
}

/// RFC 1123 label: what a volume name must be.
bool is_dns_label(std::string_view s) {
    if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') {
        return false;
    }
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
}

json::object env_var(std::string_view name, std::string_view value) {
    return {{"name", name}, {"value", value}};
}

json::object exec_probe(int period_seconds, int failure_threshold) {
    return {{"exec", {{"command", json::array{"bash", "-c", ready_command}}}},
            {"periodSeconds", period_seconds},
            {"failureThreshold", failure_threshold}};
}

/// Everything the annotations decide, parsed and checked before the pod is touched.
struct pod_settings {
    std::string app_ports;
    std::string egress_ignored_ports{default_egress_ignored_ports};
    std::string egress_ignored_ips{default_egress_ignored_ips};
    bool ipv6 = true;
    std::string cpu_request = "50m";
    std::string memory_request = "32Mi";
    std::string cpu_limit;
    std::string memory_limit = "256Mi";
    std::vector<std::pair<std::string, std::string>> env;            // sidecarEnv(Json)
    std::vector<std::pair<std::string, std::string>> secret_mounts;  // secret -> path
    std::vector<std::pair<std::string, std::string>> volume_mounts;  // volume -> path
};

/// Parses `name:path,name:path` (App Mesh: exactly one `:` per item).
std::optional<std::string> parse_mounts(std::string_view key, std::string_view value,
                                        std::vector<std::pair<std::string, std::string>>& out) {
    for (const auto item : split(value, ',')) {
        const auto pair = split(item, ':');
        if (pair.size() != 2 || trim(pair[0]).empty() || trim(pair[1]).empty()) {
            return fmt::format("annotation {}: \"{}\" is not NAME:MOUNT_PATH", key, trim(item));
        }
        const std::string name(trim(pair[0]));
        if (!is_dns_label(name)) {
            return fmt::format("annotation {}: \"{}\" cannot name a volume (lower-case letters, "
                               "digits and '-', at most 63)",
                               key, name);
        }
        out.emplace_back(name, std::string(trim(pair[1])));
    }
    return std::nullopt;
}

/// Reads App Mesh's annotations; returns an error message for a malformed one.
std::optional<std::string> read_settings(const label_map& ann, const routing::virtual_node& vn,
                                         pod_settings& s, std::vector<std::string>& warnings) {
    auto get = [&](std::string_view k) -> const std::string* {
        const auto it = ann.find(std::string(k));
        return it == ann.end() ? nullptr : &it->second;
    };
    if (const auto* v = get(cni_key); v != nullptr && to_lower(*v) == "enabled") {
        return fmt::format("annotation {}: enabled asks for App Mesh's CNI plugin instead of an "
                           "init container; outrigger needs the NET_ADMIN init container "
                           "(remove the annotation)",
                           cni_key);
    }
    if (const auto* v = get(ports_key)) {
        if (!is_port_list(*v, s.app_ports)) {
            return fmt::format("annotation {}: \"{}\" is not a comma-separated list of ports",
                               ports_key, *v);
        }
    } else {
        for (const auto& l : vn.listeners) {
            s.app_ports += (s.app_ports.empty() ? "" : ",") +
                           std::to_string(l.port_mapping.port);
        }
    }
    if (const auto* v = get(egress_ports_key)) {
        if (!is_port_list(*v, s.egress_ignored_ports)) {
            return fmt::format("annotation {}: \"{}\" is not a comma-separated list of ports",
                               egress_ports_key, *v);
        }
    }
    if (const auto* v = get(egress_ips_key)) {
        if (!is_cidr_list(*v, s.egress_ignored_ips)) {
            return fmt::format("annotation {}: \"{}\" is not a comma-separated list of IPs or "
                               "CIDRs",
                               egress_ips_key, *v);
        }
    }
    if (const auto* v = get(ipv6_key)) {
        if (*v == "disabled") {
            s.ipv6 = false;
        } else {
            warnings.push_back(fmt::format("annotation {}: only \"disabled\" has a meaning (as in "
                                           "App Mesh); \"{}\" ignored",
                                           ipv6_key, *v));
        }
    }
    if (const auto* v = get(cpu_request_key)) {
        s.cpu_request = *v;
    }
    if (const auto* v = get(memory_request_key)) {
        s.memory_request = *v;
    }
    if (const auto* v = get(cpu_limit_key)) {
        s.cpu_limit = *v;
    }
    if (const auto* v = get(memory_limit_key)) {
        s.memory_limit = *v;
    }
    if (const auto* v = get(env_key)) {
        for (const auto item : split(*v, ',')) {
            const auto pair = split(item, '=');
            if (pair.size() != 2 || trim(pair[0]).empty()) {
                return fmt::format("annotation {}: \"{}\" is not NAME=VALUE", env_key, trim(item));
            }
            s.env.emplace_back(std::string(trim(pair[0])), std::string(trim(pair[1])));
        }
    }
    if (const auto* v = get(env_json_key)) {
        boost::system::error_code ec;
        const json::value parsed = json::parse(*v, ec);
        const std::string expected = fmt::format(
            "annotation {}: expected a list of objects of strings, like "
            "[{{\"DD_ENV\":\"prod\"}}]",
            env_json_key);
        if (ec || !parsed.is_array()) {
            return expected;
        }
        for (const auto& item : parsed.get_array()) {
            if (!item.is_object()) {
                return expected;
            }
            for (const auto& kv : item.get_object()) {
                if (!kv.value().is_string()) {
                    return expected;
                }
                s.env.emplace_back(std::string(kv.key()), std::string(kv.value().get_string()));
            }
        }
    }
    if (const auto* v = get(secret_mounts_key)) {
        if (auto err = parse_mounts(secret_mounts_key, *v, s.secret_mounts)) {
            return err;
        }
    }
    if (const auto* v = get(volume_mounts_key)) {
        if (auto err = parse_mounts(volume_mounts_key, *v, s.volume_mounts)) {
            return err;
        }
    }
    for (const auto key : {legacy_node_key, legacy_mesh_key}) {
        if (get(key) != nullptr) {
            warnings.push_back(fmt::format("annotation {} is App Mesh v1beta1's and is ignored: "
                                           "the node is the one whose podSelector matches",
                                           key));
        }
    }
    return std::nullopt;
}

/// App containers that run as the proxy's UID bypass the redirect (iptables-init.sh exempts it).
void warn_about_uid(const json::object& spec, std::vector<std::string>& warnings) {
    auto uid_of = [](const json::object* sc) -> std::optional<std::string> {
        if (sc == nullptr) {
            return std::nullopt;
        }
        const json::value* u = sc->if_contains("runAsUser");
        return u == nullptr ? std::nullopt : std::optional<std::string>(text_of(*u));
    };
    const auto pod_uid = uid_of(object_at(spec, "securityContext"));
    const json::array* containers = array_at(spec, "containers");
    if (containers == nullptr) {
        return;
    }
    for (const auto& c : *containers) {
        if (!c.is_object()) {
            continue;
        }
        const auto uid = uid_of(object_at(c.get_object(), "securityContext"));
        if (uid.value_or(pod_uid.value_or("")) == proxy_uid) {
            warnings.push_back(fmt::format("container {} runs as UID {}, the proxy's: its "
                                           "connections bypass the sidecar",
                                           name_of(c), proxy_uid));
        }
    }
}

json::object init_container(const injector_options& o, const pod_settings& s) {
    json::array env;
    env.push_back(env_var("APPMESH_APP_PORTS", s.app_ports));
    env.push_back(env_var("APPMESH_IGNORE_UID", proxy_uid));
    env.push_back(env_var("APPMESH_ENVOY_INGRESS_PORT", ingress_port));
    env.push_back(env_var("APPMESH_ENVOY_EGRESS_PORT", egress_port));
    env.push_back(env_var("APPMESH_EGRESS_IGNORED_PORTS", s.egress_ignored_ports));
    env.push_back(env_var("APPMESH_EGRESS_IGNORED_IP", s.egress_ignored_ips));
    env.push_back(env_var("APPMESH_ENABLE_IPV6", s.ipv6 ? "1" : "0"));
    json::object c;
    c["name"] = init_name;
    c["image"] = o.init_image;
    c["env"] = std::move(env);
    c["securityContext"] = {{"runAsUser", 0},
                            {"runAsNonRoot", false},
                            {"capabilities", {{"add", json::array{"NET_ADMIN", "NET_RAW"}}}}};
    return c;
}

json::object sidecar_container(const injector_options& o, const pod_settings& s,
                               const std::string& node_name) {
    json::array args{"--transparent"};
    if (s.ipv6) {
        // iptables-init.sh redirects IPv6 too (to [::1]:15001): one dual-stack socket takes both.
        args.push_back("--egress-address");
        args.push_back("::");
    }
    json::array env;
    env.push_back(env_var("OUTRIGGER_MESH", std::string(mesh_dir) + "/" + o.configmap_key));
    env.push_back(env_var("APPMESH_VIRTUAL_NODE_NAME", node_name));
    for (const auto& var : s.env) {
        auto it = std::find_if(env.begin(), env.end(),
                               [&](const json::value& e) { return name_of(e) == var.first; });
        if (it != env.end()) {
            it->get_object()["value"] = var.second;
        } else {
            env.push_back(env_var(var.first, var.second));
        }
    }
    json::array mounts;
    mounts.push_back({{"name", mesh_volume}, {"mountPath", mesh_dir}, {"readOnly", true}});
    for (const auto& [name, path] : s.secret_mounts) {
        mounts.push_back({{"name", name}, {"mountPath", path}, {"readOnly", true}});
    }
    for (const auto& [name, path] : s.volume_mounts) {
        mounts.push_back({{"name", name}, {"mountPath", path}, {"readOnly", true}});
    }
    json::object requests{{"cpu", s.cpu_request}, {"memory", s.memory_request}};
    json::object limits;
    if (!s.cpu_limit.empty()) {
        limits["cpu"] = s.cpu_limit;
    }
    if (!s.memory_limit.empty()) {
        limits["memory"] = s.memory_limit;
    }
    json::object resources{{"requests", std::move(requests)}};
    if (!limits.empty()) {
        resources["limits"] = std::move(limits);
    }

    json::object c;
    c["name"] = sidecar_name;
    c["image"] = o.image;
    // A native sidecar (Kubernetes >= 1.29): starts before the app containers, stops after them.
    c["restartPolicy"] = "Always";
    c["args"] = std::move(args);
    c["env"] = std::move(env);
    c["volumeMounts"] = std::move(mounts);
    c["securityContext"] = {{"runAsUser", 1337},
                            {"runAsGroup", 1337},
                            {"runAsNonRoot", true},
                            {"allowPrivilegeEscalation", false},
                            {"readOnlyRootFilesystem", true},
                            {"capabilities", {{"drop", json::array{"ALL"}}}}};
    // The app containers start once the sidecar is started, i.e. once this probe passed: the
    // app's first connection finds the proxy listening.
    c["startupProbe"] = exec_probe(1, 30);
    c["readinessProbe"] = exec_probe(2, 2);
    c["lifecycle"] = {
        {"preStop", {{"exec", {{"command", json::array{"bash", "-c", drain_command}}}}}}};
    c["resources"] = std::move(resources);
    return c;
}

json::array& array_field(json::object& o, std::string_view key) {
    json::value& v = o[key];
    if (!v.is_array()) {
        v = json::array();
    }
    return v.get_array();
}

std::string join_env(const json::object& container) {
    std::string out;
    for (const auto& e : container.at("env").get_array()) {
        const auto& eo = e.get_object();
        // Appended piecewise (g++ 12 -Wrestrict false positive at -O3, see join_args).
        if (!out.empty()) {
            out += ' ';
        }
        out += eo.at("name").get_string();
        out += '=';
        out += eo.at("value").get_string();
    }
    return out;
}

std::string join_args(const json::object& container) {
    std::string out;
    for (const auto& a : container.at("args").get_array()) {
        // Appended piecewise: `const char* + std::string` trips g++ 12's -Wrestrict false
        // positive at -O3 (GCC bug 105329) in Release builds.
        if (!out.empty()) {
            out += ' ';
        }
        out += a.get_string();
    }
    return out;
}

}  // namespace

injector::injector(const routing::mesh_input& mesh, injector_options opts,
                   std::map<std::string, label_map> namespaces)
    : mesh_(mesh), opts_(std::move(opts)), namespaces_(std::move(namespaces)) {}

pod_result injector::inject(json::object& pod, const std::string& ns) const {
    using status = pod_result::status_t;
    pod_result r;
    auto done = [&](status st, std::string message) {
        r.status = st;
        r.message = std::move(message);
        r.changes.clear();
        return r;
    };
    const json::object* meta = object_at(pod, "metadata");
    json::value* spec_v = pod.if_contains("spec");
    if (spec_v == nullptr || !spec_v->is_object()) {
        return done(status::error, "the pod has no spec");
    }
    json::object& spec = spec_v->get_object();
    const json::array* inits = array_at(spec, "initContainers");
    const json::array* containers = array_at(spec, "containers");
    if (has_named(inits, sidecar_name) || has_named(containers, sidecar_name) ||
        has_named(inits, init_name) || has_named(containers, init_name)) {
        return done(status::unchanged, "it already has the outrigger sidecar");
    }
    if (has_named(containers, "envoy") || has_named(inits, "proxyinit")) {
        return done(status::unchanged,
                    "it has a container named envoy: a pod App Mesh injected (inject the workload "
                    "that creates it instead) or a VirtualGateway's Envoy (outrigger runs "
                    "gateways with `outrigger run --gateway`, not by injection)");
    }

    const auto ns_it = namespaces_.find(ns);
    const bool ns_known = ns_it != namespaces_.end();
    static const label_map no_labels;
    const label_map& ns_labels = ns_known ? ns_it->second : no_labels;
    const label_map annotations = string_map(meta, "annotations");
    const label_map pod_labels = string_map(meta, "labels");

    // 2. Mode: namespace label, then pod annotation (App Mesh's determineSidecarInjectMode).
    std::string mode;
    std::string mode_from;
    if (const auto it = ns_labels.find(std::string(inject_key)); it != ns_labels.end()) {
        mode = to_lower(it->second);
        mode_from = fmt::format("namespace label {}: {}", inject_key, it->second);
    }
    if (const auto it = annotations.find(std::string(inject_key)); it != annotations.end()) {
        mode = to_lower(it->second);
        mode_from = fmt::format("annotation {}: {}", inject_key, it->second);
    }
    if (mode == "disabled") {
        return done(status::unchanged, "injection disabled (" + mode_from + ")");
    }
    const bool required = mode == "enabled";
    const status missing = required ? status::error : status::unchanged;
    const std::string required_note = required ? " (" + mode_from + " requires a node)" : "";

    // 3. Mesh.
    std::vector<const routing::mesh*> meshes;
    for (const auto& m : mesh_.meshes) {
        const bool selects =
            m.implicit || (m.namespace_selector && m.namespace_selector->matches(ns_labels));
        const bool seen = std::any_of(meshes.begin(), meshes.end(), [&](const routing::mesh* x) {
            return x->meta.name == m.meta.name;
        });
        if (selects && !seen) {
            meshes.push_back(&m);
        }
    }
    if (meshes.empty()) {
        std::string why;
        for (const auto& m : mesh_.meshes) {
            why += fmt::format("{}Mesh {}'s namespaceSelector wants {}", why.empty() ? "" : "; ",
                               m.meta.name,
                               m.namespace_selector ? describe_selector(*m.namespace_selector)
                                                    : "nothing (it has none)");
        }
        const std::string labels =
            ns_known ? "has labels " + describe_labels(ns_labels)
                     : fmt::format("has no known labels: add its Namespace document or "
                                   "--namespace-labels {}=KEY=VALUE",
                                   ns);
        return done(missing, fmt::format("namespace {} is in no mesh ({}; namespace {} {}){}", ns,
                                         why, ns, labels, required_note));
    }
    if (meshes.size() > 1) {
        return done(status::error,
                    fmt::format("namespace {} is selected by {} meshes ({} and {}); each namespace "
                                "must belong to exactly one Mesh",
                                ns, meshes.size(), meshes[0]->meta.name, meshes[1]->meta.name));
    }
    const routing::mesh& mesh = *meshes.front();

    // 4. Node.
    std::vector<const routing::virtual_node*> nodes;
    std::vector<std::string> in_ns;
    for (const auto& vn : mesh_.virtual_nodes) {
        if (vn.meta.ns != ns || vn.meta.mesh_ref != mesh.meta.name) {
            continue;
        }
        in_ns.push_back(vn.meta.name);
        if (vn.pod_selector && vn.pod_selector->matches(pod_labels)) {
            nodes.push_back(&vn);
        }
    }
    if (nodes.empty()) {
        std::string there = "the mesh has no VirtualNode in namespace " + ns;
        if (!in_ns.empty()) {
            there = "nodes there: ";
            for (std::size_t i = 0; i < in_ns.size(); ++i) {
                there += (i == 0 ? "" : ", ") + in_ns[i];
            }
        }
        return done(missing, fmt::format("no VirtualNode's podSelector selects the pod's labels "
                                         "{} ({}){}",
                                         describe_labels(pod_labels), there, required_note));
    }
    if (nodes.size() > 1) {
        std::string names;
        for (const auto* n : nodes) {
            names += (names.empty() ? "" : ", ") + ns + "/" + n->meta.name;
        }
        return done(status::error, fmt::format("the pod's labels {} are selected by {} "
                                               "VirtualNodes ({}); App Mesh refuses such a pod: "
                                               "make their podSelectors disjoint",
                                               describe_labels(pod_labels), nodes.size(), names));
    }
    const routing::virtual_node& vn = *nodes.front();
    const std::string node_name =
        fmt::format("mesh/{}/virtualNode/{}", mesh.aws_name, vn.aws_name);

    // 5. Annotations.
    pod_settings settings;
    if (auto err = read_settings(annotations, vn, settings, r.warnings)) {
        return done(status::error, *err);
    }
    warn_about_uid(spec, r.warnings);

    // Check the volumes before touching anything.
    const json::array* volumes = array_at(spec, "volumes");
    auto volume = [&](std::string_view name) -> const json::object* {
        if (volumes == nullptr) {
            return nullptr;
        }
        for (const auto& v : *volumes) {
            if (name_of(v) == name && v.is_object()) {
                return &v.get_object();
            }
        }
        return nullptr;
    };
    std::vector<std::string> new_secret_volumes;
    for (const auto& [secret, path] : settings.secret_mounts) {
        if (path == mesh_dir) {
            return done(status::error, fmt::format("annotation {}: {} is where the sidecar "
                                                   "mounts the mesh",
                                                   secret_mounts_key, path));
        }
        if (const json::object* v = volume(secret)) {
            const json::object* sv = object_at(*v, "secret");
            const json::value* sn = sv != nullptr ? sv->if_contains("secretName") : nullptr;
            if (sn == nullptr || text_of(*sn) != secret) {
                return done(status::error, fmt::format("annotation {}: the pod already has a "
                                                       "volume {} that is not Secret {}",
                                                       secret_mounts_key, secret, secret));
            }
        } else if (std::find(new_secret_volumes.begin(), new_secret_volumes.end(), secret) ==
                   new_secret_volumes.end()) {
            new_secret_volumes.push_back(secret);
        }
    }
    for (const auto& [name, path] : settings.volume_mounts) {
        const bool added = std::find(new_secret_volumes.begin(), new_secret_volumes.end(),
                                     name) != new_secret_volumes.end();
        if (volume(name) == nullptr && !added) {
            return done(status::error, fmt::format("annotation {}: the pod has no volume {}",
                                                   volume_mounts_key, name));
        }
        if (path == mesh_dir) {
            return done(status::error, fmt::format("annotation {}: {} is where the sidecar "
                                                   "mounts the mesh",
                                                   volume_mounts_key, path));
        }
    }
    const bool have_mesh_volume = volume(mesh_volume) != nullptr;

    // 6. Mutate.
    json::array& vols = array_field(spec, "volumes");
    if (have_mesh_volume) {
        r.changes.push_back(fmt::format("volume {}: the pod's own, kept", mesh_volume));
    } else {
        vols.push_back({{"name", mesh_volume}, {"configMap", {{"name", opts_.configmap}}}});
        r.changes.push_back(fmt::format("volume {} (ConfigMap {})", mesh_volume, opts_.configmap));
    }
    for (const auto& secret : new_secret_volumes) {
        vols.push_back({{"name", secret}, {"secret", {{"secretName", secret}}}});
        r.changes.push_back(fmt::format("volume {} (Secret {})", secret, secret));
    }
    json::object init = init_container(opts_, settings);
    json::object sidecar = sidecar_container(opts_, settings, node_name);
    r.changes.push_back(
        fmt::format("init container {} ({}): {}", init_name, opts_.init_image, join_env(init)));
    r.changes.push_back(fmt::format("native sidecar {} ({}): {}; {}", sidecar_name, opts_.image,
                                    join_args(sidecar), join_env(sidecar)));
    json::array& init_list = array_field(spec, "initContainers");
    // After the pod's own init containers, as App Mesh put its proxyinit: they run before the
    // redirect, with the network they had under App Mesh.
    init_list.push_back(std::move(init));
    init_list.push_back(std::move(sidecar));
    r.status = status::injected;
    r.message = node_name;
    return r;
}

}  // namespace outrigger::inject
