// `outrigger inject` on files and stdin, through the real binary: goldens over the corpus's own
// Deployments (tests/data/inject/, regenerate with OUTRIGGER_UPDATE_GOLDENS=1 and review the
// diff line by line), App Mesh's selection rules, annotations, idempotence, lists and every
// workload kind, usage errors; and the YAML <-> JSON layer it stands on.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <cstdlib>
#include <functional>
#include <set>

#include "cli/inject/admission.hpp"
#include "cli/inject/json_patch.hpp"
#include "cli/inject/json_to_yaml.hpp"
#include "cli/inject/yaml_to_json.hpp"
#include "tests/integration/cli/inject_support.hpp"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace outrigger::test::inject;

const fs::path corpus = OUTRIGGER_CORPUS_DIR;
const fs::path goldens = fs::path(OUTRIGGER_SOURCE_DIR) / "tests/data/inject";

/// The JSON value at `pointer` ("/a/0/b"), or null when absent.
const json::value* at(const json::value& v, const std::string& pointer) {
    boost::system::error_code ec;
    return v.find_pointer(pointer, ec);
}

std::string text_at(const json::value& v, const std::string& pointer) {
    const json::value* x = at(v, pointer);
    if (x == nullptr) {
        return "<absent>";
    }
    return x->is_string() ? std::string(x->get_string()) : json::serialize(*x);
}

/// The env value NAME of the container called CONTAINER in the pod spec at `spec`.
std::string env_of(const json::value& spec, const std::string& list, const std::string& container,
                   const std::string& name) {
    const json::value* cs = at(spec, "/" + list);
    if (cs == nullptr || !cs->is_array()) {
        return "<no " + list + ">";
    }
    for (const auto& c : cs->get_array()) {
        if (text_at(c, "/name") != container) {
            continue;
        }
        const json::value* env = at(c, "/env");
        if (env == nullptr) {
            return "<no env>";
        }
        for (const auto& e : env->get_array()) {
            if (text_at(e, "/name") == name) {
                return text_at(e, "/value");
            }
        }
        return "<unset>";
    }
    return "<no container " + container + ">";
}

/// Every APPMESH_VIRTUAL_NODE_NAME set in the documents.
void node_names(const json::value& v, std::set<std::string>& out) {
    if (v.is_object()) {
        const auto& o = v.get_object();
        if (const auto* n = o.if_contains("name"); n && n->is_string() &&
                                                   n->get_string() == "APPMESH_VIRTUAL_NODE_NAME") {
            out.insert(std::string(o.at("value").as_string()));
        }
        for (const auto& kv : o) {
            node_names(kv.value(), out);
        }
    } else if (v.is_array()) {
        for (const auto& e : v.get_array()) {
            node_names(e, out);
        }
    }
}

void check_golden(const std::string& file, const std::string& text) {
    const fs::path p = goldens / file;
    if (std::getenv("OUTRIGGER_UPDATE_GOLDENS") != nullptr) {
        fs::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << text;
        WARN("updated " << p.string());
        return;
    }
    REQUIRE(fs::exists(p));
    CHECK(read_file(p) == text);
}

/// How another YAML reader (PyYAML, YAML 1.1 like kubectl's go-yaml v2) reads `yaml`: the
/// documents as a JSON array. Our output must read the same everywhere, not only with our parser.
json::value pyyaml_reads(const std::string& yaml) {
    scratch io;
    const std::string in = io.write("in.yaml", yaml);
    const std::string out = (io.path / "out.json").string();
    const std::string cmd =
        "/usr/bin/python3 -c 'import sys, json, yaml; print(json.dumps([d for d in "
        "yaml.safe_load_all(open(sys.argv[1])) if d is not None]))' " +
        shell_quote(in) + " > " + shell_quote(out);
    REQUIRE(std::system(cmd.c_str()) == 0);  // python3-yaml: scripts/setup.sh
    return json::parse(read_file(out));
}

json::value as_array(const std::vector<json::value>& docs) {
    return json::value(json::array(docs.begin(), docs.end()));
}

const std::string small_mesh = R"(apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    mesh: m
---
apiVersion: v1
kind: Namespace
metadata:
  name: other
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata:
  name: m
spec:
  namespaceSelector:
    matchLabels:
      mesh: m
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  listeners: [{portMapping: {port: 8080, protocol: http}}]
  serviceDiscovery: {dns: {hostname: web.shop.svc.cluster.local}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: api, namespace: shop}
spec:
  podSelector:
    matchExpressions:
      - {key: app, operator: In, values: [api, api-canary]}
  listeners:
    - portMapping: {port: 9090, protocol: http}
    - portMapping: {port: 9091, protocol: grpc}
  serviceDiscovery: {dns: {hostname: api.shop.svc.cluster.local}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: dup-a, namespace: shop}
spec:
  podSelector: {matchLabels: {app: dup}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: dup-b, namespace: shop}
spec:
  podSelector: {matchLabels: {app: dup, tier: x}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: no-selector, namespace: shop}
spec: {}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: web, namespace: other}
spec:
  podSelector: {matchLabels: {app: web}}
  listeners: [{portMapping: {port: 8080, protocol: http}}]
  serviceDiscovery: {dns: {hostname: web.other.svc.cluster.local}}
)";

std::string deployment(const std::string& name, const std::string& ns, const std::string& labels,
                       const std::string& annotations = "") {
    std::string d = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\n";
    if (!ns.empty()) {
        d += "  namespace: " + ns + "\n";
    }
    d += "spec:\n  template:\n    metadata:\n      labels: " + labels + "\n";
    if (!annotations.empty()) {
        d += "      annotations: " + annotations + "\n";
    }
    d += "    spec:\n      containers:\n        - name: app\n          image: app:1\n";
    return d;
}

struct injected_pod {
    run_result run;
    std::vector<json::value> docs;
};

injected_pod inject(const std::string& mesh_file, const std::string& input,
                    std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"inject", "--mesh", mesh_file};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("-");
    injected_pod p;
    p.run = run_outrigger(args, input);
    INFO(p.run.err);
    p.docs = documents(p.run.out);
    return p;
}

constexpr const char* tmpl = "/spec/template/spec";

}  // namespace

TEST_CASE("inject: goldens over the corpus's own Deployments", "[cli][inject]") {
    struct golden {
        std::string name;
        std::string file;
        std::vector<std::string> extra;
        int code;
    };
    const std::vector<golden> cases = {
        {"http-headers", "howto-k8s-http-headers_v1beta2_manifest.yaml", {}, 0},
        {"mtls-file-based", "howto-k8s-mtls-file-based_v1beta2_manifest.yaml", {}, 0},
        {"multiple-listeners", "howto-k8s-multiple-listeners_manifest.yaml", {}, 0},
        {"egress", "howto-k8s-egress_v1beta2_manifest.yaml", {}, 0},
        // The namespace's labels live in another file of that walkthrough.
        {"metrics-extension-v5",
         "howto-k8s-metrics-extension_deploy_djapp-v5.yaml",
         {"--namespace-labels", "yelb=mesh=yelb"},
         0},
        // One Deployment names a secret "/certs/front.pem" in secretMounts: refused, exit 1.
        {"tls-file-based", "howto-k8s-tls-file-based_v1beta2_manifest.yaml", {}, 1},
    };
    for (const auto& g : cases) {
        SECTION(g.name) {
            std::vector<std::string> args{"inject", "--mesh", g.file};
            args.insert(args.end(), g.extra.begin(), g.extra.end());
            args.push_back(g.file);
            const run_result r = run_outrigger(args, "", corpus.string());
            INFO(r.err);
            CHECK(r.code == g.code);
            check_golden(g.name + ".yaml", r.out);
            check_golden(g.name + ".notes", r.err);

            // Every original field is still there, in every document, in the same order.
            const auto before = documents(read_file(corpus / g.file));
            const auto after = documents(r.out);
            REQUIRE(before.size() == after.size());
            for (std::size_t i = 0; i < before.size(); ++i) {
                std::string where;
                INFO("document " << i << ": " << where);
                CHECK(survives(before[i], after[i], where));
            }

            // Another YAML reader reads the output as we do.
            CHECK(pyyaml_reads(r.out) == as_array(after));

            // Each node the sidecars are told to run as is a node of the mesh.
            std::set<std::string> nodes;
            for (const auto& d : after) {
                node_names(d, nodes);
            }
            CHECK(!nodes.empty());
            for (const auto& n : nodes) {
                const auto v =
                    run_outrigger({"validate", "--node", n, g.file}, "", corpus.string());
                INFO(n << ": " << v.out << v.err);
                CHECK(v.code == 0);
            }

            // Injecting the output again changes nothing.
            std::vector<std::string> again{"inject", "--mesh", g.file};
            again.insert(again.end(), g.extra.begin(), g.extra.end());
            again.push_back("-");
            const run_result r2 = run_outrigger(again, r.out, corpus.string());
            CHECK(r2.out == r.out);
            CHECK(r2.err.find(": injected: ") == std::string::npos);
            CHECK(r2.err.find("\n0 injected, ") != std::string::npos);
        }
    }
}

TEST_CASE("inject: the namespaceSelector decides which namespaces are in", "[cli][inject]") {
    scratch dir;
    const std::string mesh = dir.write("mesh.yaml", small_mesh);
    const std::string input = deployment("web", "shop", "{app: web}") + "---\n" +
                              deployment("web", "other", "{app: web}");
    auto p = inject(mesh, input);
    CHECK(p.run.code == 0);
    REQUIRE(p.docs.size() == 2);
    CHECK(env_of(*at(p.docs[0], tmpl), "initContainers", "outrigger",
                 "APPMESH_VIRTUAL_NODE_NAME") == "mesh/m/virtualNode/web_shop");
    CHECK(at(p.docs[1], std::string(tmpl) + "/initContainers") == nullptr);
    CHECK(p.run.err.find("<stdin>:15:1: note: Deployment other/web: not injected: namespace other "
                         "is in no mesh (Mesh m's namespaceSelector wants mesh=m; namespace other "
                         "has labels {})") != std::string::npos);
    CHECK(p.run.err.find("1 injected, 1 not injected, 0 errors") != std::string::npos);

    // --namespace-labels puts it in (and replaces what the Namespace document said).
    auto q = inject(mesh, input, {"--namespace-labels", "other=mesh=m,team=x"});
    CHECK(env_of(*at(q.docs[1], tmpl), "initContainers", "outrigger",
                 "APPMESH_VIRTUAL_NODE_NAME") == "mesh/m/virtualNode/web_other");
    auto out = inject(mesh, input, {"--namespace-labels", "shop="});
    CHECK(at(out.docs[0], std::string(tmpl) + "/initContainers") == nullptr);
}

TEST_CASE("inject: namespace labels come from Namespace documents of the inputs", "[cli][inject]") {
    scratch dir;
    // The same mesh without its Namespace documents (as `kubectl get meshes,virtualnodes` gives).
    const std::string mesh_only = small_mesh.substr(small_mesh.find("apiVersion: appmesh"));
    const std::string mesh = dir.write("mesh.yaml", mesh_only);
    const std::string web = deployment("web", "shop", "{app: web}");
    auto unknown = inject(mesh, web);
    CHECK(unknown.run.err.find("namespace shop has no known labels: add its Namespace document "
                               "or --namespace-labels shop=KEY=VALUE") != std::string::npos);
    auto known = inject(mesh, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
                              "  labels: {mesh: m}\n---\n" + web);
    REQUIRE(known.docs.size() == 2);
    CHECK(known.docs[0] == documents("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
                                     "  labels: {mesh: m}\n")[0]);
    CHECK(env_of(*at(known.docs[1], tmpl), "initContainers", "outrigger",
                 "APPMESH_VIRTUAL_NODE_NAME") == "mesh/m/virtualNode/web_shop");
}

TEST_CASE("inject: the podSelector picks the node, none or several leave the pod alone",
          "[cli][inject]") {
    scratch dir;
    const std::string mesh = dir.write("mesh.yaml", small_mesh);

    auto api = inject(mesh, deployment("api", "shop", "{app: api-canary, v: '2'}"));
    CHECK(api.run.code == 0);
    const json::value& spec = *at(api.docs[0], tmpl);
    CHECK(env_of(spec, "initContainers", "outrigger", "APPMESH_VIRTUAL_NODE_NAME") ==
          "mesh/m/virtualNode/api_shop");
    CHECK(env_of(spec, "initContainers", "outrigger-init", "APPMESH_APP_PORTS") == "9090,9091");

    auto none = inject(mesh, deployment("x", "shop", "{app: nothing}"));
    CHECK(none.run.code == 0);
    CHECK(at(none.docs[0], std::string(tmpl) + "/initContainers") == nullptr);
    CHECK(none.run.err.find("not injected: no VirtualNode's podSelector selects the pod's labels "
                            "{app=nothing} (nodes there: web, api, dup-a, dup-b, no-selector)") !=
          std::string::npos);

    // App Mesh refuses a pod that two nodes select; so do we, and exit 1.
    const std::string dup = deployment("dup", "shop", "{app: dup, tier: x}");
    auto both = inject(mesh, dup);
    CHECK(both.run.code == 1);
    CHECK(both.docs[0] == documents(dup)[0]);
    CHECK(both.run.err.find("error: Deployment shop/dup: not injected: the pod's labels {app=dup, "
                            "tier=x} are selected by 2 VirtualNodes (shop/dup-a, shop/dup-b)") !=
          std::string::npos);
    // A workload without a namespace is in --namespace (default "default").
    auto defaulted = inject(mesh, deployment("web", "", "{app: web}"), {"-n", "shop"});
    CHECK(env_of(*at(defaulted.docs[0], tmpl), "initContainers", "outrigger",
                 "APPMESH_VIRTUAL_NODE_NAME") == "mesh/m/virtualNode/web_shop");
    CHECK(text_at(defaulted.docs[0], "/metadata/namespace") == "<absent>");
    auto in_default = inject(mesh, deployment("web", "", "{app: web}"));
    CHECK(in_default.run.err.find("Deployment default/web: not injected") != std::string::npos);
}

TEST_CASE("inject: sidecarInjectorWebhook annotation and namespace label", "[cli][inject]") {
    scratch dir;
    const std::string mesh = dir.write("mesh.yaml", small_mesh);
    const std::string disabled =
        deployment("web", "shop", "{app: web}",
                   "{appmesh.k8s.aws/sidecarInjectorWebhook: disabled}");
    auto d = inject(mesh, disabled);
    CHECK(d.run.code == 0);
    CHECK(d.docs[0] == documents(disabled)[0]);
    CHECK(d.run.err.find("not injected: injection disabled (annotation "
                         "appmesh.k8s.aws/sidecarInjectorWebhook: disabled)") != std::string::npos);

    // Namespace default `disabled`, pod annotation `enabled` wins.
    const std::vector<std::string> ns_disabled{
        "--namespace-labels", "shop=mesh=m,appmesh.k8s.aws/sidecarInjectorWebhook=disabled"};
    auto plain = inject(mesh, deployment("web", "shop", "{app: web}"), ns_disabled);
    CHECK(at(plain.docs[0], std::string(tmpl) + "/initContainers") == nullptr);
    CHECK(
        plain.run.err.find("(namespace label appmesh.k8s.aws/sidecarInjectorWebhook: disabled)") !=
        std::string::npos);
    auto enabled = inject(mesh,
                          deployment("web", "shop", "{app: web}",
                                     "{appmesh.k8s.aws/sidecarInjectorWebhook: Enabled}"),
                          ns_disabled);
    CHECK(at(enabled.docs[0], std::string(tmpl) + "/initContainers/1/name") != nullptr);

    // `enabled` and no node: App Mesh rejects the pod; an error here.
    auto missing = inject(mesh, deployment("x", "shop", "{app: nothing}"),
                          {"--namespace-labels",
                           "shop=mesh=m,appmesh.k8s.aws/sidecarInjectorWebhook=enabled"});
    CHECK(missing.run.code == 1);
    CHECK(missing.run.err.find("requires a node") != std::string::npos);
}

TEST_CASE("inject: App Mesh's annotations", "[cli][inject]") {
    scratch dir;
    const std::string mesh = dir.write("mesh.yaml", small_mesh);
    const std::string input = R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata:
      labels: {app: web}
      annotations:
        appmesh.k8s.aws/ports: "8080, 8443"
        appmesh.k8s.aws/egressIgnoredPorts: "22,5432"
        appmesh.k8s.aws/egressIgnoredIPs: "10.0.0.0/8,fd00::/8"
        appmesh.k8s.aws/ipv6: disabled
        appmesh.k8s.aws/cpuRequest: 100m
        appmesh.k8s.aws/memoryLimit: 1Gi
        appmesh.k8s.aws/sidecarEnv: "DD_ENV=prod, TEAM=shop"
        appmesh.k8s.aws/secretMounts: "web-tls:/certs"
        appmesh.k8s.aws/volumeMounts: "cache:/cache"
        appmesh.k8s.aws/virtualNode: web
    spec:
      volumes:
        - name: cache
          emptyDir: {}
      containers:
        - name: app
          image: app:1
          securityContext: {runAsUser: 1337}
)";
    auto p = inject(mesh, input);
    CHECK(p.run.code == 0);
    const json::value& spec = *at(p.docs[0], tmpl);
    CHECK(env_of(spec, "initContainers", "outrigger-init", "APPMESH_APP_PORTS") == "8080,8443");
    CHECK(env_of(spec, "initContainers", "outrigger-init", "APPMESH_EGRESS_IGNORED_PORTS") ==
          "22,5432");
    CHECK(env_of(spec, "initContainers", "outrigger-init", "APPMESH_EGRESS_IGNORED_IP") ==
          "10.0.0.0/8,fd00::/8");
    CHECK(env_of(spec, "initContainers", "outrigger-init", "APPMESH_ENABLE_IPV6") == "0");
    CHECK(env_of(spec, "initContainers", "outrigger", "DD_ENV") == "prod");
    CHECK(env_of(spec, "initContainers", "outrigger", "TEAM") == "shop");
    CHECK(text_at(spec, "/initContainers/1/args") == R"(["--transparent"])");
    CHECK(text_at(spec, "/initContainers/1/resources") ==
          R"({"requests":{"cpu":"100m","memory":"32Mi"},"limits":{"memory":"1Gi"}})");
    CHECK(text_at(spec, "/volumes") ==
          R"([{"name":"cache","emptyDir":{}},)"
          R"({"name":"outrigger-mesh","configMap":{"name":"outrigger-mesh"}},)"
          R"({"name":"web-tls","secret":{"secretName":"web-tls"}}])");
    CHECK(text_at(spec, "/initContainers/1/volumeMounts") ==
          R"([{"name":"outrigger-mesh","mountPath":"/etc/outrigger","readOnly":true},)"
          R"({"name":"web-tls","mountPath":"/certs","readOnly":true},)"
          R"({"name":"cache","mountPath":"/cache","readOnly":true}])");
    CHECK(p.run.err.find("warning: Deployment shop/web: annotation appmesh.k8s.aws/virtualNode is "
                         "App Mesh v1beta1's and is ignored") != std::string::npos);
    CHECK(p.run.err.find("warning: Deployment shop/web: container app runs as UID 1337") !=
          std::string::npos);

    // Without annotations: App Mesh's defaults, and IPv6 on (dual-stack egress socket).
    auto plain = inject(mesh, deployment("web", "shop", "{app: web}"));
    const json::value& ps = *at(plain.docs[0], tmpl);
    CHECK(env_of(ps, "initContainers", "outrigger-init", "APPMESH_EGRESS_IGNORED_PORTS") == "22");
    CHECK(env_of(ps, "initContainers", "outrigger-init", "APPMESH_EGRESS_IGNORED_IP") ==
          "169.254.169.254");
    CHECK(env_of(ps, "initContainers", "outrigger-init", "APPMESH_ENABLE_IPV6") == "1");
    CHECK(text_at(ps, "/initContainers/1/args") == R"(["--transparent","--egress-address","::"])");
    CHECK(text_at(ps, "/initContainers/1/restartPolicy") == "Always");
    CHECK(text_at(ps, "/initContainers/1/securityContext/runAsUser") == "1337");

    // Flags name the images and the ConfigMap.
    auto flags = inject(mesh, deployment("web", "shop", "{app: web}"),
                        {"--image", "reg/o:1", "--init-image", "reg/i:1", "--configmap", "cm",
                         "--configmap-key", "all.yaml"});
    const json::value& fs_ = *at(flags.docs[0], tmpl);
    CHECK(text_at(fs_, "/initContainers/0/image") == "reg/i:1");
    CHECK(text_at(fs_, "/initContainers/1/image") == "reg/o:1");
    CHECK(text_at(fs_, "/volumes/0/configMap/name") == "cm");
    CHECK(env_of(fs_, "initContainers", "outrigger", "OUTRIGGER_MESH") ==
          "/etc/outrigger/all.yaml");

    // Malformed annotations are errors and leave the pod alone.
    for (const std::string bad :
         {"{appmesh.k8s.aws/ports: '80,http'}", "{appmesh.k8s.aws/sidecarEnv: 'A=1=2'}",
          "{appmesh.k8s.aws/secretMounts: 'no-path'}", "{appmesh.k8s.aws/volumeMounts: 'nope:/x'}",
          "{appmesh.k8s.aws/appmeshCNI: enabled}"}) {
        const std::string d = deployment("web", "shop", "{app: web}", bad);
        auto r = inject(mesh, d);
        INFO(bad << ": " << r.run.err);
        CHECK(r.run.code == 1);
        CHECK(r.docs[0] == documents(d)[0]);
    }
}

TEST_CASE("inject: stdin, kind: List and every workload kind, other kinds pass through",
          "[cli][inject]") {
    scratch dir;
    const std::string mesh = dir.write("mesh.yaml", small_mesh);
    auto tmpl_of = [](const std::string& kind, const std::string& api) {
        std::string spec = "  template:\n    metadata: {labels: {app: web}}\n"
                           "    spec: {containers: [{name: app, image: a}]}\n";
        std::string s = "- apiVersion: " + api + "\n  kind: " + kind +
                        "\n  metadata: {name: w, namespace: shop}\n  spec:\n";
        if (kind == "CronJob") {
            return s + "    schedule: '*/5 * * * *'\n    jobTemplate:\n      spec:\n" +
                   "        template:\n          metadata: {labels: {app: web}}\n" +
                   "          spec: {containers: [{name: app, image: a}], restartPolicy: Never}\n";
        }
        std::string indented;
        std::istringstream in(spec);
        for (std::string line; std::getline(in, line);) {
            indented += "  " + line + "\n";
        }
        return s + indented;
    };
    std::string list = "apiVersion: v1\nkind: List\nitems:\n";
    for (const auto& [kind, api] :
         std::vector<std::pair<std::string, std::string>>{{"Deployment", "apps/v1"},
                                                          {"StatefulSet", "apps/v1"},
                                                          {"DaemonSet", "apps/v1"},
                                                          {"ReplicaSet", "apps/v1"},
                                                          {"Job", "batch/v1"},
                                                          {"CronJob", "batch/v1"}}) {
        list += tmpl_of(kind, api);
    }
    list += "- apiVersion: v1\n  kind: Pod\n  metadata: {name: p, namespace: shop, labels: {app: "
            "web}}\n  spec: {containers: [{name: app, image: a}]}\n";
    list += "- apiVersion: v1\n  kind: Service\n  metadata: {name: web, namespace: shop}\n"
            "  spec: {selector: {app: web}, ports: [{port: 8080}]}\n";
    list += "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c, namespace: shop}\n"
            "  data: {a: 'yes', b: '0644', c: \"line 1\\nline 2\\n\"}\n";
    list += "metadata: {resourceVersion: ''}\n";

    auto p = inject(mesh, list);
    INFO(p.run.err);
    CHECK(p.run.code == 0);
    CHECK(p.run.err.find("7 injected, 0 not injected, 0 errors") != std::string::npos);
    REQUIRE(p.docs.size() == 1);
    const json::value& items = *at(p.docs[0], "/items");
    const std::vector<std::string> paths = {
        "/items/0/spec/template/spec", "/items/1/spec/template/spec", "/items/2/spec/template/spec",
        "/items/3/spec/template/spec", "/items/4/spec/template/spec",
        "/items/5/spec/jobTemplate/spec/template/spec", "/items/6/spec"};
    for (const auto& path : paths) {
        INFO(path);
        CHECK(env_of(*at(p.docs[0], path), "initContainers", "outrigger",
                     "APPMESH_VIRTUAL_NODE_NAME") == "mesh/m/virtualNode/web_shop");
    }
    const auto original = documents(list)[0];
    CHECK(items.get_array()[7] == original.at_pointer("/items/7"));
    CHECK(items.get_array()[8] == original.at_pointer("/items/8"));
    CHECK(text_at(p.docs[0], "/items/8/data/a") == "yes");
    CHECK(text_at(p.docs[0], "/items/8/data/b") == "0644");
    std::string where;
    CHECK(survives(original, p.docs[0], where));
    // Notes name each item's own line.
    CHECK(p.run.err.find(
              "<stdin>:4:3: injected: Deployment shop/w: as mesh/m/virtualNode/web_shop") !=
          std::string::npos);
}

TEST_CASE("inject: injecting twice changes nothing", "[cli][inject]") {
    scratch dir;
    const std::string mesh = dir.write("mesh.yaml", small_mesh);
    const std::string input = deployment("web", "shop", "{app: web}") + "---\n" +
                              deployment("api", "shop", "{app: api}", "{a: '1'}") + "---\n" +
                              deployment("x", "shop", "{app: nothing}");
    const std::string path = dir.write("in.yaml", input);
    const auto once = run_outrigger({"inject", "--mesh", mesh, path});
    const auto twice = run_outrigger({"inject", "--mesh", mesh, "-"}, once.out);
    CHECK(once.code == 0);
    CHECK(twice.code == 0);
    CHECK(twice.out == once.out);
    CHECK(twice.err.find("not injected: it already has the outrigger sidecar") !=
          std::string::npos);
    CHECK(twice.err.find("0 injected, 3 not injected, 0 errors") != std::string::npos);
}

TEST_CASE("inject: --report says what would change, and writes no YAML", "[cli][inject]") {
    scratch dir;
    const std::string mesh = dir.write("mesh.yaml", small_mesh);
    auto r = run_outrigger({"inject", "--report", "--mesh", mesh, "-"},
                           deployment("web", "shop", "{app: web}"));
    CHECK(r.code == 0);
    CHECK(r.err.empty());
    CHECK(r.out.find("apiVersion") == std::string::npos);
    CHECK(
        r.out ==
        "<stdin>:1:1: injected: Deployment shop/web: as mesh/m/virtualNode/web_shop\n"
        "    + volume outrigger-mesh (ConfigMap outrigger-mesh)\n"
        "    + init container outrigger-init (outrigger-init:latest): APPMESH_APP_PORTS=8080 "
        "APPMESH_IGNORE_UID=1337 APPMESH_ENVOY_INGRESS_PORT=15000 APPMESH_ENVOY_EGRESS_PORT=15001 "
        "APPMESH_EGRESS_IGNORED_PORTS=22 APPMESH_EGRESS_IGNORED_IP=169.254.169.254 "
        "APPMESH_ENABLE_IPV6=1\n"
        "    + native sidecar outrigger (outrigger:latest): --transparent --egress-address ::; "
        "OUTRIGGER_MESH=/etc/outrigger/mesh.yaml "
        "APPMESH_VIRTUAL_NODE_NAME=mesh/m/virtualNode/web_shop\n"
        "1 injected, 0 not injected, 0 errors\n");
}

TEST_CASE("inject: directories, usage errors, invalid meshes and broken YAML", "[cli][inject]") {
    scratch dir;
    const std::string mesh = dir.write("mesh.yaml", small_mesh);
    dir.write("in/b.yaml", deployment("web", "shop", "{app: web}"));
    dir.write("in/a/c.yml", deployment("api", "shop", "{app: api}"));
    dir.write("in/..data/d.yaml", deployment("hidden", "shop", "{app: web}"));
    dir.write("in/notes.txt", "not yaml: [");
    auto d = run_outrigger({"inject", "--mesh", mesh, (dir.path / "in").string()});
    CHECK(d.code == 0);
    const auto docs = documents(d.out);
    REQUIRE(docs.size() == 2);
    CHECK(text_at(docs[0], "/metadata/name") == "api");  // a/c.yml sorts before b.yaml
    CHECK(text_at(docs[1], "/metadata/name") == "web");

    auto help = run_outrigger({"inject", "--help"});
    CHECK(help.code == 0);
    CHECK(help.out.find("usage: outrigger inject --mesh PATH...") == 0);
    auto unknown = run_outrigger({"inject", "--mesh", mesh, "--namespace-label", "a=b=c", "-"});
    CHECK(unknown.code == 2);
    CHECK(unknown.err == "outrigger inject: unknown flag \"--namespace-label\" (did you mean "
                         "\"--namespace-labels\"?) (see outrigger inject --help)\n");
    CHECK(run_outrigger({"inject", "-"}).code == 2);
    CHECK(run_outrigger({"inject", "--mesh", mesh}).code == 2);
    CHECK(run_outrigger({"inject", "--mesh", mesh, "--namespace-labels", "shop", "-"}).code == 2);
    CHECK(run_outrigger({"inject", "--mesh", mesh, "--webhook"}).code == 2);
    CHECK(run_outrigger({"inject", "--mesh", mesh, "--listen", ":1", "-"}).code == 2);
    CHECK(run_outrigger({"inject", "--mesh", mesh, "-", "-"}).code == 2);
    CHECK(run_outrigger({"inject", "--mesh", mesh, (dir.path / "missing.yaml").string()}).code ==
          1);

    // An invalid mesh: its errors, exit 1, nothing on stdout.
    const std::string bad = dir.write("bad.yaml", small_mesh +
                                                      "---\napiVersion: appmesh.k8s.aws/"
                                                      "v1beta2\nkind: VirtualService\n"
                                                      "metadata: {name: s, namespace: shop}\n"
                                                      "spec: {provider: {virtualNode: "
                                                      "{virtualNodeRef: {name: nope}}}}\n");
    auto invalid =
        run_outrigger({"inject", "--mesh", bad, "-"}, deployment("web", "shop", "{app: web}"));
    CHECK(invalid.code == 1);
    CHECK(invalid.out.empty());
    CHECK(invalid.err.find("error: VirtualService shop/s") != std::string::npos);

    // Broken YAML in an input: FILE:LINE:COL, exit 1, and nothing on stdout at all.
    const std::string broken = dir.write("broken.yaml", deployment("web", "shop", "{app: web}") +
                                                            "---\nkind: [unclosed\n");
    auto syntax = run_outrigger({"inject", "--mesh", mesh, broken});
    CHECK(syntax.code == 1);
    CHECK(syntax.out.empty());
    CHECK(syntax.err.find(broken + ":") == 0);
    CHECK(syntax.err.find(": error: invalid YAML: ") != std::string::npos);
}

TEST_CASE("inject: YAML reads as kubectl reads it and writes back to the same value",
          "[cli][inject][yaml]") {
    const std::string text = R"(plain: yes
quoted: "yes"
single: 'on'
octal: 0644
hex: 0x1F
under: 1_000
float: 1.5
exp: 1e3
big: 18446744073709551615
neg: -12
nul: ~
empty:
str_num: "8080"
dotted: 0.0.0.0:8080
quantity: 50m
colon: "a: b"
hash: "a #b"
lead: " x"
trail: "x "
dash: -c
dashnum: "-1"
star: "*x"
blank: ""
tab: "a\tb"
ctrl: "a\u0001b"
inf: .inf
"8080": key
literal: |
  line 1
    more   
  last
strip: |-
  no newline
keep: |+
  two

folded: >
  a
  b

    indented
seq: [a, 'b', 3]
map: {}
list: []
"weird key: x": 1
)";
    const auto docs = documents(text);
    REQUIRE(docs.size() == 1);
    const json::value& v = docs[0];
    CHECK(v.at("plain") == true);
    CHECK(v.at("quoted") == "yes");
    CHECK(v.at("single") == "on");
    CHECK(v.at("octal") == 420);
    CHECK(v.at("hex") == 31);
    CHECK(v.at("under") == 1000);
    CHECK(v.at("float") == 1.5);
    CHECK(v.at("exp") == 1000.0);
    CHECK(v.at("big").is_uint64());
    CHECK(v.at("neg") == -12);
    CHECK(v.at("nul").is_null());
    CHECK(v.at("empty").is_null());
    CHECK(v.at("str_num") == "8080");
    CHECK(v.at("dotted") == "0.0.0.0:8080");
    CHECK(v.at("dash") == "-c");
    CHECK(v.at("inf") == ".inf");
    CHECK(v.at("8080") == "key");
    CHECK(v.at("literal") == "line 1\n  more   \nlast\n");
    CHECK(v.at("strip") == "no newline");
    CHECK(v.at("keep") == "two\n\n");
    CHECK(v.at("folded") == "a b\n\n  indented\n");

    const std::string yaml = outrigger::inject::to_yaml(v);
    INFO(yaml);
    const auto back = documents(yaml);
    REQUIRE(back.size() == 1);
    CHECK(back[0] == v);
    CHECK(pyyaml_reads(yaml) == json::array{v});
    // Strings that would read as something else are quoted; the rest is plain.
    CHECK(yaml.find("quoted: \"yes\"\n") != std::string::npos);
    CHECK(yaml.find("str_num: \"8080\"\n") != std::string::npos);
    CHECK(yaml.find("quantity: 50m\n") != std::string::npos);
    CHECK(yaml.find("dash: -c\n") != std::string::npos);
    CHECK(yaml.find("octal: 420\n") != std::string::npos);
    CHECK(yaml.find("exp: 1000.0\n") != std::string::npos);
    CHECK(yaml.find("ctrl: \"a\\x01b\"\n") != std::string::npos);
    CHECK(yaml.find("literal: |\n  line 1\n    more   \n  last\n") != std::string::npos);
    CHECK(yaml.find("seq:\n  - a\n  - b\n  - 3\n") != std::string::npos);
    CHECK(yaml.find("map: {}\nlist: []\n") != std::string::npos);
}

TEST_CASE("inject: anchors, aliases and merge keys expand, duplicates are errors",
          "[cli][inject][yaml]") {
    const auto docs = documents(R"(base: &b {a: 1, b: 2}
copy: *b
merged:
  <<: *b
  b: 3
many:
  <<: [{x: 1}, {x: 2, z: 2}]
)");
    REQUIRE(docs.size() == 1);
    CHECK(json::serialize(docs[0]) ==
          R"({"base":{"a":1,"b":2},"copy":{"a":1,"b":2},"merged":{"b":3,"a":1},)"
          R"("many":{"x":1,"z":2}})");
    auto dup = outrigger::inject::parse_yaml_documents("a: 1\nb: 2\na: 3\n");
    CHECK(dup.error == "duplicate key \"a\"");
    CHECK(dup.error_at.line == 3);
    CHECK(dup.documents.empty());
    auto bomb = outrigger::inject::parse_yaml_documents(
        "a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n");
    CHECK(bomb.error == "aliases expand to too many nodes");
}

TEST_CASE("inject: the JSON patch turns before into after, base64 is RFC 4648's",
          "[cli][inject][webhook]") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"({"a":1,"b":{"c":[1,2]}})", R"({"a":1,"b":{"c":[1,2,3,{"d":null}]}})"},
        {R"({"a":1,"b":2})", R"({"b":3,"e/f~g":true})"},
        {R"({"l":[1,2,3]})", R"({"l":[1,9,3]})"},
        {R"({"l":[1,2,3]})", R"({"l":[1]})"},
        {R"({"l":[],"m":{}})", R"({"l":{},"m":[]})"},
        {R"({"x":{"y":{"z":"s"}}})", R"({"x":{"y":{"z":"t","w":[{}]}}})"},
    };
    for (const auto& [b, a] : cases) {
        const json::value before = json::parse(b);
        const json::value after = json::parse(a);
        const json::array patch = outrigger::inject::json_patch(before, after);
        INFO(b << " -> " << a << ": " << json::serialize(patch));
        CHECK(apply_patch(before, patch) == after);
    }
    CHECK(outrigger::inject::json_patch(json::parse(R"({"a":[1]})"), json::parse(R"({"a":[1]})"))
              .empty());
    const std::vector<std::pair<std::string, std::string>> vectors = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (const auto& [plain, encoded] : vectors) {
        CHECK(outrigger::inject::base64_encode(plain) == encoded);
        CHECK(base64_decode(encoded) == plain);
    }
}
