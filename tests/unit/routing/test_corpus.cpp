// The real App Mesh manifests of /work/shared/corpus/appmesh-examples (aws-app-mesh-examples
// walkthroughs) through load_paths + resolve + validate, each with an explicit expectation: either
// valid (no errors) or the exact list of errors (file line + field path fragment). Unexpected
// errors fail the test. The AWS-only files are also validated with --node set to the node that
// needs ACM or SDS, where DECISIONS §3.10 turns those sources into errors.
//
// The last test case exports every file as `kubectl get -o yaml` would (one List, the API
// server's and the controller's fields) and checks that it loads exactly like the plain file.
//
// Result at the time of writing: 36 of the 37 files validate without errors (Cloud Map, ACM and
// SDS give warnings only); howto-k8s-cross-cluster_v1beta2_cluster1.yaml keeps the walkthrough's
// placeholder `virtualServiceARN: colorapp-service-ARN`, which resolve rejects. With --node, the
// ACM/SDS nodes of tls-acm (2 nodes) and mtls-sds-based (4 nodes) fail with the expected errors.

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.hpp"
#include "routing/compile.hpp"
#include "routing/config_error.hpp"
#include "routing/mesh_model.hpp"
#include "routing/resolve.hpp"
#include "routing/validate.hpp"
#include "routing/yaml_loader.hpp"
#include "routing/yaml_tree.hpp"

namespace r = outrigger::routing;
namespace fs = std::filesystem;

namespace {

const std::string corpus_dir = OUTRIGGER_CORPUS_DIR;

struct expected_error {
    std::uint32_t line;
    std::string field;     // fragment of the field path
    std::string file = {};  // basename; empty = the case's main file
};

struct corpus_case {
    std::vector<std::string> files;  // basenames, validated together
    std::string node;                // --node, empty for none
    std::vector<expected_error> errors;
};

struct run_result {
    r::mesh_input in;
    r::diagnostics diags;
};

run_result run(const std::vector<std::string>& files, const std::string& node) {
    run_result out;
    std::vector<std::string> paths;
    paths.reserve(files.size());
    for (const auto& f : files) {
        paths.push_back(corpus_dir + "/" + f);
    }
    r::load_paths(paths, out.in, out.diags);
    r::resolve_options ro;
    ro.node = node;
    const r::resolve_result rr = r::resolve(out.in, ro, out.diags);
    const r::mesh_index index(out.in);
    r::validate_options vo;
    vo.node = rr.node;
    r::validate(out.in, index, vo, out.diags);
    out.diags.sort_and_dedupe(out.in.files);
    return out;
}

std::string base_name(const std::string& path) {
    return fs::path(path).filename().string();
}

/// Checks that the errors of `c` are exactly `c.errors`; returns true when it is clean.
bool check_case(const corpus_case& c) {
    const run_result res = run(c.files, c.node);
    std::string all;
    for (const auto& e : res.diags.items()) {
        all += r::format(e, res.in.files) + "\n";
    }
    INFO("files: " << c.files.front() << (c.files.size() > 1 ? " + " + c.files.back() : "")
                   << (c.node.empty() ? "" : " --node " + c.node) << "\n"
                   << all);
    std::vector<bool> matched(c.errors.size(), false);
    for (const auto& e : res.diags.items()) {
        if (e.level != r::severity::error) {
            continue;
        }
        const std::string file = e.loc.file < res.in.files.size()
                                     ? base_name(res.in.files[e.loc.file])
                                     : std::string();
        bool expected = false;
        for (std::size_t i = 0; i < c.errors.size(); ++i) {
            const auto& x = c.errors[i];
            const std::string& xfile = x.file.empty() ? c.files.front() : x.file;
            if (!matched[i] && xfile == file && x.line == e.loc.line &&
                e.field.find(x.field) != std::string::npos) {
                matched[i] = true;
                expected = true;
                break;
            }
        }
        INFO("unexpected: " << r::format(e, res.in.files));
        CHECK(expected);
    }
    for (std::size_t i = 0; i < c.errors.size(); ++i) {
        INFO("missing expected error at line " << c.errors[i].line << " field "
                                               << c.errors[i].field);
        CHECK(matched[i]);
    }
    return res.diags.error_count() == 0;
}

const std::string ingress_v2 = "howto-k8s-http-ingress-v2_v1beta2_manifest.yaml";

/// One entry per corpus file (validated without --node). Files not listed fail the test so that a
/// new corpus file cannot go unchecked.
std::map<std::string, corpus_case> expectations() {
    std::map<std::string, corpus_case> m;
    auto valid = [&](const std::string& f) { m[f] = corpus_case{{f}, "", {}}; };
    auto invalid = [&](const std::string& f, std::vector<expected_error> errors) {
        m[f] = corpus_case{{f}, "", std::move(errors)};
    };
    valid("howto-k8s-alb_v1beta2_manifest.yaml");
    valid("howto-k8s-cloudmap_v1beta2_manifest.yaml");  // Cloud Map: warnings
    valid("howto-k8s-connection-pools_v1beta2_manifest.yaml");
    // The walkthrough's placeholder ARN, to be replaced by the user: not an App Mesh ARN.
    invalid("howto-k8s-cross-cluster_v1beta2_cluster1.yaml",
            {{38, "spec.backends[0].virtualService.virtualServiceARN"}});
    valid("howto-k8s-cross-cluster_v1beta2_cluster2.yaml");
    valid("howto-k8s-egress_v1beta2_manifest.yaml");
    valid("howto-k8s-envoy-logging-custom-format_manifest.yaml");
    valid("howto-k8s-fargate_v1beta2_manifest.yaml");
    // A grpc health check with a path: App Mesh ignores it, a warning.
    valid("howto-k8s-grpc-ingress-v2_v1beta2_manifest.yaml");
    valid("howto-k8s-grpc_v1beta2_manifest.yaml");
    valid("howto-k8s-http-headers_v1beta2_manifest.yaml");
    for (const char* route : {"header-match", "method-match", "path-match", "prefix-match",
                              "query-match", "rewrite-path", "rewrite-prefix"}) {
        valid(std::string("howto-k8s-http-ingress-v2_v1beta2_gatewayroutes_") + route + ".yaml");
    }
    valid(ingress_v2);
    valid("howto-k8s-http2_v1beta2_manifest.yaml");
    valid("howto-k8s-ingress-gateway_v1beta2_manifest.yaml");
    valid("howto-k8s-ipv6_v1beta2_cloud_manifest.yaml");
    valid("howto-k8s-ipv6_v1beta2_dns_manifest.yaml");
    for (int v = 1; v <= 5; ++v) {
        valid("howto-k8s-metrics-extension_deploy_djapp-v" + std::to_string(v) + ".yaml");
    }
    valid("howto-k8s-mtls-file-based_v1beta2_manifest.yaml");
    valid("howto-k8s-mtls-sds-based_v1beta2_manifest.yaml");  // SDS: warnings without --node
    valid("howto-k8s-multi-region_v1beta2_manifest.yaml");
    valid("howto-k8s-multiple-listeners_manifest.yaml");
    valid("howto-k8s-outlier-detection_v1beta2_manifest.yaml");
    valid("howto-k8s-retry-policy_v1beta2_manifest.yaml");
    valid("howto-k8s-timeout-policy_v1beta2_manifest.yaml");
    valid("howto-k8s-tls-acm_v1beta2_manifest.yaml");  // ACM: warnings without --node
    valid("howto-k8s-tls-file-based_v1beta2_manifest.yaml");
    // The gateway route fragments are validated with the manifest that holds their gateway.
    for (auto& [f, c] : m) {
        if (f.rfind("howto-k8s-http-ingress-v2_v1beta2_gatewayroutes_", 0) == 0) {
            c.files = {f, ingress_v2};
        }
    }
    return m;
}

}  // namespace

TEST_CASE("corpus: every manifest validates as expected", "[validate][corpus]") {
    const auto table = expectations();
    std::size_t files = 0;
    std::size_t clean = 0;
    for (const auto& entry : fs::directory_iterator(corpus_dir)) {
        if (entry.path().extension() != ".yaml") {
            continue;
        }
        ++files;
        const std::string f = entry.path().filename().string();
        const auto it = table.find(f);
        INFO("no expectation for " << f);
        REQUIRE(it != table.end());
        if (check_case(it->second)) {
            ++clean;
        }
    }
    CHECK(files == 37);
    WARN("corpus: " << clean << " of " << files << " files validate without errors");
}

TEST_CASE("corpus: AWS-only sources are errors for the node that needs them",
          "[validate][corpus][aws]") {
    const std::string acm = "howto-k8s-tls-acm_v1beta2_manifest.yaml";
    const std::string sds = "howto-k8s-mtls-sds-based_v1beta2_manifest.yaml";
    const std::string sds_cert = "tls.certificate.sds.secretName";
    const std::string sds_trust = "tls.validation.trust.sds.secretName";
    const std::vector<corpus_case> cases = {
        // front trusts an ACM private CA in its backendDefaults client policy.
        {{acm},
         "front",
         {{50, "spec.backendDefaults.clientPolicy.tls.validation.trust.acm."
               "certificateAuthorityARNs"}}},
        // blue serves an ACM certificate.
        {{acm}, "howto-app/blue", {{81, "spec.listeners[0].tls.certificate.acm.certificateARN"}}},
        // red needs nothing from AWS (its backends are none, blue's ACM is not its business).
        {{acm}, "red", {}},
        // SDS: front's client certificate and trust, each color node's listener cert and trust.
        {{sds},
         "front",
         {{50, "spec.backendDefaults.clientPolicy." + sds_cert},
          {54, "spec.backendDefaults.clientPolicy." + sds_trust}}},
        {{sds},
         "blue",
         {{90, "spec.listeners[0]." + sds_cert}, {94, "spec.listeners[0]." + sds_trust}}},
        {{sds},
         "red",
         {{128, "spec.listeners[0]." + sds_cert}, {132, "spec.listeners[0]." + sds_trust}}},
        {{sds},
         "green",
         {{166, "spec.listeners[0]." + sds_cert}, {170, "spec.listeners[0]." + sds_trust}}},
        // Cloud Map stays a warning for the node that is run.
        {{"howto-k8s-cloudmap_v1beta2_manifest.yaml"}, "front", {}},
    };
    for (const auto& c : cases) {
        check_case(c);
    }
}

// ---- the corpus as `kubectl get ... -o yaml` exports it ------------------------------------

namespace {

/// A corpus file rewritten as kubectl exports it from a cluster: one `kind: List` whose items
/// are the file's documents, each with the fields the API server and the App Mesh controller
/// add (uid, resourceVersion, generation, creationTimestamp, managedFields, finalizers, the
/// last-applied annotation, spec.meshRef with uid, the awsName the controller defaults, status).
struct wrapped_file {
    std::string text;
    std::vector<std::uint32_t> origin;  // per wrapped line: the original line (1-based), 0 = added
};

/// awsName per object of the plain input (after resolve), and the mesh it belongs to, by
/// `Kind ns/name`.
struct plain_facts {
    std::map<std::string, std::string> mesh_of;
};

std::size_t indent_of(const std::string& line) {
    const std::size_t p = line.find_first_not_of(' ');
    return p == std::string::npos ? line.size() : p;
}

bool is_content(const std::string& line) {
    const std::size_t p = line.find_first_not_of(' ');
    return p != std::string::npos && line[p] != '#';
}

std::string unquote(std::string v) {
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
        return v.substr(1, v.size() - 2);
    }
    return v;
}

const std::set<std::string> appmesh_kinds = {"Mesh",          "VirtualService", "VirtualRouter",
                                             "VirtualNode",   "VirtualGateway", "GatewayRoute",
                                             "BackendGroup"};

wrapped_file wrap_as_list(const std::string& text, const plain_facts& facts,
                          bool block_annotation) {
    // Documents, with their original line numbers.
    std::vector<std::vector<std::pair<std::uint32_t, std::string>>> docs(1);
    {
        std::istringstream in(text);
        std::string line;
        std::uint32_t n = 0;
        while (std::getline(in, line)) {
            ++n;
            if (line == "---" || line.rfind("--- ", 0) == 0) {
                docs.emplace_back();
                continue;
            }
            docs.back().emplace_back(n, line);
        }
    }
    wrapped_file w;
    const auto emit = [&](const std::string& line, std::uint32_t origin) {
        w.text += line + "\n";
        w.origin.push_back(origin);
    };
    emit("apiVersion: v1", 0);
    emit("items:", 0);
    std::uint32_t serial = 0;
    for (const auto& doc : docs) {
        const auto first = std::find_if(doc.begin(), doc.end(),
                                        [](const auto& l) { return is_content(l.second); });
        if (first == doc.end()) {
            continue;
        }
        ++serial;
        // Top-level facts.
        std::string kind;
        std::string api;
        std::string name;
        std::string ns;
        std::size_t metadata_at = doc.size();
        std::size_t spec_at = doc.size();
        std::size_t child_indent = 2;
        bool has_annotations = false;
        bool has_aws_name = false;
        bool has_mesh_ref = false;
        std::string block;  // the top-level key whose block we are in
        for (std::size_t i = 0; i < doc.size(); ++i) {
            const std::string& l = doc[i].second;
            if (!is_content(l)) {
                continue;
            }
            if (indent_of(l) == 0) {
                block = l.substr(0, l.find(':'));
                const std::string value =
                    l.find(": ") == std::string::npos ? "" : unquote(l.substr(l.find(": ") + 2));
                if (block == "kind") {
                    kind = value;
                } else if (block == "apiVersion") {
                    api = value;
                } else if (block == "metadata") {
                    REQUIRE(l == "metadata:");
                    metadata_at = i;
                } else if (block == "spec" && l == "spec:") {
                    spec_at = i;
                }
                continue;
            }
            if (indent_of(l) != child_indent) {
                continue;
            }
            const std::string key = l.substr(child_indent, l.find(':') - child_indent);
            const std::string value =
                l.find(": ") == std::string::npos ? "" : unquote(l.substr(l.find(": ") + 2));
            if (block == "metadata") {
                if (key == "name") {
                    name = value;
                } else if (key == "namespace") {
                    ns = value;
                } else if (key == "annotations") {
                    has_annotations = true;
                }
            } else if (block == "spec") {
                has_aws_name = has_aws_name || key == "awsName";
                has_mesh_ref = has_mesh_ref || key == "meshRef";
            }
        }
        REQUIRE(metadata_at < doc.size());
        const bool appmesh = api == "appmesh.k8s.aws/v1beta2" && appmesh_kinds.count(kind) != 0;
        const std::string id = fmt::format("{:08x}-8d2c-4c4f-9a57-3a1f0d7f2b11", serial);
        const std::string json = fmt::format(
            "{{\"apiVersion\":\"{}\",\"kind\":\"{}\",\"metadata\":{{\"annotations\":{{}},"
            "\"name\":\"{}\",\"namespace\":\"{}\"}},\"spec\":{{}}}}",
            api, kind, name, ns);
        const std::string pad(4 + child_indent, ' ');
        const std::string last_applied = "kubectl.kubernetes.io/last-applied-configuration:";
        const auto emit_last_applied = [&](const std::string& at) {
            if (block_annotation) {
                emit(at + last_applied + " |", 0);
                emit(at + "  " + json, 0);
            } else {
                emit(at + last_applied + " '" + json + "'", 0);
            }
        };
        bool in_annotations = false;
        for (std::size_t i = 0; i < doc.size(); ++i) {
            const auto& [orig, l] = doc[i];
            const bool first_line = &doc[i] == &*first;
            emit(l.empty() ? std::string() : (first_line ? "  - " : "    ") + l, orig);
            if (in_annotations && is_content(l)) {
                in_annotations = false;
            }
            if (i == metadata_at) {
                emit(pad + "uid: " + id, 0);
                emit(pad + "resourceVersion: \"" + std::to_string(1000 + serial) + "\"", 0);
                emit(pad + "generation: 2", 0);
                emit(pad + "creationTimestamp: \"2026-12-02T06:09:58Z\"", 0);
                emit(pad + "selfLink: /apis/x/" + name, 0);
                if (appmesh) {
                    emit(pad + "finalizers:", 0);
                    emit(pad + "- finalizers.appmesh.k8s.aws/aws-resources", 0);
                }
                emit(pad + "managedFields:", 0);
                emit(pad + "- apiVersion: " + api, 0);
                emit(pad + "  fieldsType: FieldsV1", 0);
                emit(pad + "  fieldsV1:", 0);
                emit(pad + "    f:metadata:", 0);
                emit(pad + "      f:annotations:", 0);
                emit(pad + "        .: {}", 0);
                emit(pad + "        f:" + last_applied + " {}", 0);
                emit(pad + "    f:spec:", 0);
                emit(pad + "      .: {}", 0);
                emit(pad + "      k:{\"port\":8080,\"protocol\":\"TCP\"}:", 0);
                emit(pad + "        .: {}", 0);
                emit(pad + "  manager: kubectl-client-side-apply", 0);
                emit(pad + "  operation: Update", 0);
                emit(pad + "  time: \"2026-12-02T06:09:58Z\"", 0);
                if (!has_annotations) {
                    emit(pad + "annotations:", 0);
                    emit_last_applied(pad + "  ");
                }
            }
            if (has_annotations && indent_of(l) == child_indent &&
                l.find("annotations:") == child_indent) {
                // Under the existing annotations, at the indentation of the next line.
                const auto next = std::find_if(doc.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                                               doc.end(),
                                               [](const auto& x) { return is_content(x.second); });
                REQUIRE(next != doc.end());
                emit_last_applied(std::string(4 + indent_of(next->second), ' '));
                in_annotations = true;
            }
            if (i == spec_at && appmesh) {
                const auto mesh = facts.mesh_of.find(kind + " " + ns + "/" + name);
                if (!has_mesh_ref && kind != "Mesh" && mesh != facts.mesh_of.end()) {
                    emit(pad + "meshRef: {name: " + mesh->second +
                             ", uid: 5f1c0d57-0f0a-4a4f-8f5e-1f0e9b1f2c33}",
                         0);
                }
                // The controller's webhook defaults awsName (as outrigger's resolve does).
                if (!has_aws_name && kind != "BackendGroup") {
                    const std::string aws = kind == "Mesh"             ? name
                                            : kind == "VirtualService" ? name + "." + ns
                                                                       : name + "_" + ns;
                    emit(pad + "awsName: " + aws, 0);
                }
            }
        }
        if (appmesh) {
            emit("    status:", 0);
            emit("      conditions:", 0);
            emit("      - lastTransitionTime: \"2026-12-02T06:10:01Z\"", 0);
            emit("        status: \"True\"", 0);
            emit("        type: " + kind + "Active", 0);
            emit("      observedGeneration: 2", 0);
            emit("      arn: arn:aws:appmesh:us-west-2:111122223333:mesh/m/x/" + name, 0);
        } else {
            emit("    status: {}", 0);
        }
    }
    emit("kind: List", 0);
    emit("metadata:", 0);
    emit("  resourceVersion: \"\"", 0);
    return w;
}

/// The routing a snapshot makes, as text: every table compile fills (positions aside).
std::string fingerprint(const r::snapshot& s) {
    std::string o = fmt::format("mesh {} allow_all {} node {} aws {}\n", s.mesh_name,
                                s.allow_all_egress, s.node_name.value_or("-"), s.node_aws_name);
    for (const auto& e : s.egress_allow) {
        o += "allow " + e + "\n";
    }
    const auto retry = [](const r::retry_spec& r) {
        return fmt::format("retry({},{},{},{},{})", r.events, r.max_retries,
                           r.per_try_timeout.count(), r.is_default, r.present);
    };
    for (const auto& sv : s.services) {
        o += fmt::format("service {} {} {} {} {}\n", sv.aws_name, sv.key, sv.name,
                         static_cast<int>(sv.provider), sv.provider_name);
        for (const auto& p : sv.ports) {
            o += fmt::format("  port {} {} routes", p.port, static_cast<int>(p.proto));
            for (const auto id : p.route_ids) {
                o += fmt::format(" {}", id);
            }
            o += fmt::format(" node {} {} {}\n", p.node_target ? int(*p.node_target) : -1,
                             retry(p.node_retry), p.node_timeout.count());
        }
    }
    for (const auto& rt : s.routes) {
        o += fmt::format("route {} {} {} prio {} path {} {} method {} scheme {} port {} {} {} "
                         "idle {}\n",
                         rt.name, rt.router_name, static_cast<int>(rt.kind),
                         rt.priority ? *rt.priority : -1, static_cast<int>(rt.path_type),
                         rt.path_value, rt.method.value_or("-"), rt.scheme.value_or("-"),
                         rt.port ? int(*rt.port) : -1, retry(rt.retry),
                         rt.per_request_timeout.count(),
                         rt.idle_timeout ? rt.idle_timeout->count() : -1);
        for (const auto& h : rt.headers) {
            o += fmt::format("  header {} {} {} {} {} {}\n", h.name_lower, static_cast<int>(h.kind),
                             h.value, h.range_start, h.range_end, h.invert);
        }
        for (const auto& q : rt.query) {
            o += fmt::format("  query {} {}\n", q.name, q.exact.value_or("-"));
        }
        for (std::size_t i = 0; i < rt.target_ids.size(); ++i) {
            o += fmt::format("  target {} weight {}\n", rt.target_ids[i], rt.weights[i]);
        }
    }
    for (const auto& t : s.targets) {
        o += fmt::format("target {} {} {} {} {} {} ep {} {} {} tls {} {} {} {} sni {} {} hc {} od "
                         "{}\n",
                         t.id, t.node_name, t.display, t.node_aws_name, t.port,
                         static_cast<int>(t.proto), static_cast<int>(t.endpoints.kind),
                         t.endpoints.hostname, t.endpoints.all_addresses,
                         static_cast<int>(t.tls.mode), t.tls.certificate_chain, t.tls.trust_file,
                         fmt::join(t.tls.sans, ","), t.tls.sni, t.tls.source, t.health.has_value(),
                         t.outlier.has_value());
    }
    for (const auto& in : s.ingress) {
        o += fmt::format("ingress {} {} {} {} tls {} pool {}\n", in.port,
                         static_cast<int>(in.proto), in.per_request_timeout.count(),
                         in.idle_timeout ? in.idle_timeout->count() : -1, in.tls.has_value(),
                         in.pool.has_value());
    }
    if (s.access_log) {
        o += fmt::format("log {} {} {}\n", s.access_log->path,
                         s.access_log->text_format.value_or("-"), s.access_log->json_format.size());
    }
    o += fmt::format("names {}\n", fmt::join(s.all_service_names, ","));
    return o;
}

/// The gateway side, which has no snapshot yet: what the loader made of gateways and routes.
std::string gateway_fingerprint(const r::mesh_input& in) {
    std::string o;
    for (const auto& g : in.virtual_gateways) {
        o += fmt::format("gateway {}/{} {} listeners {}\n", g.meta.ns, g.meta.name, g.aws_name,
                         g.listeners.size());
    }
    for (const auto& gr : in.gateway_routes) {
        o += fmt::format("gatewayroute {}/{} {} kind {} prefix {} target {}/{} host {} rewrite {} "
                         "{}\n",
                         gr.meta.ns, gr.meta.name, gr.aws_name, static_cast<int>(gr.kind),
                         gr.match.prefix.value_or("-"), gr.target_service.ns,
                         gr.target_service.name, gr.match.hostname_exact.value_or("-"),
                         gr.rewrite_block, gr.rewrite_prefix_value.value_or("-"));
    }
    return o;
}

struct analysis {
    run_result res;
    std::string routing;  // fingerprints of the compiled snapshot (when valid) and gateways
};

analysis analyse(const std::vector<std::string>& paths, const std::string& node) {
    analysis a;
    r::load_paths(paths, a.res.in, a.res.diags);
    r::resolve_options ro;
    ro.node = node;
    const r::resolve_result rr = r::resolve(a.res.in, ro, a.res.diags);
    const r::mesh_index index(a.res.in);
    r::validate_options vo;
    vo.node = rr.node;
    r::validate(a.res.in, index, vo, a.res.diags);
    a.res.diags.sort_and_dedupe(a.res.in.files);
    a.routing = gateway_fingerprint(a.res.in);
    if (!a.res.diags.has_errors() && rr.mesh) {
        const auto snap = r::compile(a.res.in, index, rr, r::compile_options{});
        REQUIRE(snap != nullptr);
        a.routing += fingerprint(*snap);
        // And decide() on every service and port of it.
        for (const auto& s : snap->services) {
            for (const auto& p : s.ports) {
                r::request_view req;
                req.method = "GET";
                req.path = "/";
                req.host = s.aws_name;
                req.port = p.port;
                const auto d = r::decide(*snap, req, 0x9e3779b9u);
                a.routing += fmt::format("decide {}:{} -> {} {} {}\n", s.aws_name, p.port,
                                         static_cast<int>(d.outcome),
                                         d.route != nullptr ? d.route->name : "-",
                                         d.target != nullptr ? d.target->node_name : "-");
            }
        }
    }
    return a;
}

/// Same verdict, diagnostics (with positions mapped back to the plain file) and routing.
void compare(const analysis& plain, const analysis& wrapped,
             const std::map<std::string, wrapped_file>& by_base) {
    const auto& pd = plain.res.diags.items();
    const auto& wd = wrapped.res.diags.items();
    std::string all;
    for (const auto& e : pd) {
        all += "plain:   " + r::format(e, plain.res.in.files) + "\n";
    }
    for (const auto& e : wd) {
        all += "wrapped: " + r::format(e, wrapped.res.in.files) + "\n";
    }
    INFO(all);
    CHECK(plain.res.diags.error_count() == wrapped.res.diags.error_count());
    CHECK(plain.res.diags.warning_count() == wrapped.res.diags.warning_count());
    REQUIRE(pd.size() == wd.size());
    for (std::size_t i = 0; i < pd.size(); ++i) {
        const auto& p = pd[i];
        const auto& w = wd[i];
        CHECK(p.level == w.level);
        CHECK(p.kind == w.kind);
        CHECK(p.ns == w.ns);
        CHECK(p.name == w.name);
        CHECK(p.field == w.field);
        CHECK(p.message == w.message);
        if (p.loc.file == r::no_file || w.loc.file == r::no_file) {
            CHECK(p.loc.file == w.loc.file);
            continue;
        }
        const std::string base = base_name(wrapped.res.in.files.at(w.loc.file));
        CHECK(base_name(plain.res.in.files.at(p.loc.file)) == base);
        const auto it = by_base.find(base);
        REQUIRE(it != by_base.end());
        const std::uint32_t origin = w.loc.line == 0 ? 0 : it->second.origin.at(w.loc.line - 1);
        if (origin == 0) {
            // File-level, or on the List's own lines (the implicit mesh's 1:1): unchanged.
            CHECK(p.loc.line == w.loc.line);
            CHECK(p.loc.col == w.loc.col);
        } else {
            CHECK(p.loc.line == origin);
            CHECK(p.loc.col + 4 == w.loc.col);  // items are indented by 4
        }
    }
    CHECK(plain.routing == wrapped.routing);
}

struct temp_corpus {
    fs::path dir;
    temp_corpus() {
        char tmpl[] = "/tmp/outrigger-corpus-list-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir = tmpl;
    }
    ~temp_corpus() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    temp_corpus(const temp_corpus&) = delete;
    temp_corpus& operator=(const temp_corpus&) = delete;
};

std::string read_all(const std::string& path) {
    std::ifstream f(path);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("corpus: every manifest exported as a kubectl List loads with the same verdict, "
          "diagnostics and routing",
          "[validate][corpus][list]") {
    const auto table = expectations();
    temp_corpus tmp;
    std::size_t cases = 0;
    std::size_t compiled = 0;
    std::size_t fast_path = 0;
    for (const bool block_annotation : {true, false}) {
        for (const auto& [main_file, c] : table) {
            INFO(main_file << (block_annotation ? " (block annotation)" : " (inline annotation)"));
            // Which mesh each object belongs to: the controller writes it into spec.meshRef.
            std::vector<std::string> plain_paths;
            for (const auto& f : c.files) {
                plain_paths.push_back(corpus_dir + "/" + f);
            }
            plain_facts facts;
            {
                const analysis a = analyse(plain_paths, "");
                const auto note = [&](const r::object_meta& m) {
                    if (m.mesh_ref) {
                        facts.mesh_of[m.kind + " " + m.ns + "/" + m.name] = *m.mesh_ref;
                    }
                };
                for (const auto& o : a.res.in.virtual_services) note(o.meta);
                for (const auto& o : a.res.in.virtual_routers) note(o.meta);
                for (const auto& o : a.res.in.virtual_nodes) note(o.meta);
                for (const auto& o : a.res.in.virtual_gateways) note(o.meta);
                for (const auto& o : a.res.in.gateway_routes) note(o.meta);
            }
            std::map<std::string, wrapped_file> by_base;
            std::vector<std::string> wrapped_paths;
            for (const auto& f : c.files) {
                wrapped_file w = wrap_as_list(read_all(corpus_dir + "/" + f), facts,
                                              block_annotation);
                const fs::path p = tmp.dir / f;
                std::ofstream(p) << w.text;
                // One-line annotations keep most exports on the fast YAML path, block ones send
                // them to yaml-cpp: both paths are covered, and agree.
                const auto diff = r::yaml_tree::differential_check(w.text);
                CHECK(diff.difference.empty());
                fast_path += diff.fast_accepted && !block_annotation ? 1 : 0;
                wrapped_paths.push_back(p.string());
                by_base[f] = std::move(w);
            }
            // Without a node (the mesh-wide client), and as every node of the input.
            std::vector<std::string> nodes = {""};
            {
                const analysis a = analyse(plain_paths, "");
                for (const auto& vn : a.res.in.virtual_nodes) {
                    nodes.push_back(vn.meta.ns + "/" + vn.meta.name);
                }
            }
            for (const auto& node : nodes) {
                INFO("--node " << node);
                const analysis plain = analyse(plain_paths, node);
                const analysis wrapped = analyse(wrapped_paths, node);
                CHECK(wrapped.res.in.files.size() == c.files.size());
                compare(plain, wrapped, by_base);
                compiled += plain.routing.find("mesh ") != std::string::npos ? 1 : 0;
            }
            ++cases;
        }
    }
    CHECK(cases == 2 * table.size());
    CHECK(compiled > 100);  // the comparison covered compiled routing, not only verdicts
    CHECK(fast_path > 25);
}

TEST_CASE("corpus: validate ends with what it loaded, then the count", "[validate][corpus][cli]") {
    std::ostringstream out;
    std::ostringstream err;
    const int rc = outrigger::cli::validate_command(
        {corpus_dir + "/howto-k8s-http-ingress-v2_v1beta2_manifest.yaml"}, out, err);
    CHECK(rc == 0);
    std::vector<std::string> lines;
    std::istringstream in(out.str());
    for (std::string l; std::getline(in, l);) {
        lines.push_back(l);
    }
    REQUIRE(lines.size() >= 2);
    CHECK(lines[lines.size() - 2] ==
          "loaded 1 mesh, 5 virtual nodes, 1 router, 4 services, 1 gateway from "
          "1 file");
    CHECK(lines.back() == "0 errors, 0 warnings");

    // An input without App Mesh objects: the error, no summary, exit 1.
    temp_corpus tmp;
    const std::string deployments = (tmp.dir / "deploy.yaml").string();
    std::ofstream(deployments) << "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n";
    std::ostringstream out2;
    const int rc2 = outrigger::cli::validate_command({deployments}, out2, err);
    CHECK(rc2 == 1);
    CHECK(out2.str().find("error: no App Mesh object found in " + deployments +
                          " (1 file read, holding 1 Deployment)") == 0);
    CHECK(out2.str().find("loaded") == std::string::npos);
}
