// The real App Mesh manifests of /work/shared/corpus/appmesh-examples (aws-app-mesh-examples
// walkthroughs) through load_paths + resolve + validate, each with an explicit expectation: either
// valid (no errors) or the exact list of errors (file line + field path fragment). Unexpected
// errors fail the test. The AWS-only files are also validated with --node set to the node that
// needs ACM or SDS, where DECISIONS §3.10 turns those sources into errors.
//
// Result at the time of writing: 36 of the 37 files validate without errors (Cloud Map, ACM and
// SDS give warnings only); howto-k8s-cross-cluster_v1beta2_cluster1.yaml keeps the walkthrough's
// placeholder `virtualServiceARN: colorapp-service-ARN`, which resolve rejects. With --node, the
// ACM/SDS nodes of tls-acm (2 nodes) and mtls-sds-based (4 nodes) fail with the expected errors.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "routing/config_error.hpp"
#include "routing/mesh_model.hpp"
#include "routing/resolve.hpp"
#include "routing/validate.hpp"
#include "routing/yaml_loader.hpp"

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
