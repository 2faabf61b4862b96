// The CLI as users and the acceptance tests drive it: validate, explain, version, usage errors.
// Most cases call the command functions in-process with captured streams; a few run the real
// binary to check exit codes end to end.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

#include "cli/commands.hpp"

namespace fs = std::filesystem;
using outrigger::cli::args_t;

namespace {

const std::string canary = std::string(OUTRIGGER_SOURCE_DIR) + "/examples/canary/mesh.yaml";

struct result {
    int code;
    std::string out;
    std::string err;
};

template <typename F>
result call(F f, const args_t& args) {
    std::ostringstream out;
    std::ostringstream err;
    const int code = f(args, out, err);
    return {code, out.str(), err.str()};
}

/// A temporary directory removed at the end of the test.
struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string tmpl = (fs::temp_directory_path() / "outrigger-cli-XXXXXX").string();
        path = mkdtemp(tmpl.data());
    }
    ~temp_dir() { fs::remove_all(path); }
    std::string write(const std::string& name, const std::string& text) const {
        const fs::path p = path / name;
        fs::create_directories(p.parent_path());
        std::ofstream(p) << text;
        return p.string();
    }
};

/// Runs the real binary; returns exit code and combined output.
result run_binary(const std::string& args) {
    const std::string cmd = std::string(OUTRIGGER_BINARY) + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    std::array<char, 4096> buf{};
    while (auto n = fread(buf.data(), 1, buf.size(), p)) {
        out.append(buf.data(), n);
    }
    const int status = pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, ""};
}

const std::string bad_router = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata:
  name: m
spec:
  namespaceSelector: {}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: a
  namespace: ns
spec:
  listeners:
    - portMapping: {port: 8080, protocol: http}
  serviceDiscovery: {dns: {hostname: a.ns}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata:
  name: r
  namespace: ns
spec:
  listeners:
    - portMapping: {port: 8080, protocol: http}
  routes:
    - name: one
      httpRoute:
        match:
          prefix: /
        action:
          weightedTargets:
            - virtualNodeRef:
                name: a
              weight: 150
            - virtualNodeRef:
                name: missing-node
              weight: 10
)";

}  // namespace

TEST_CASE("validate accepts the canary example", "[cli]") {
    auto r = call(outrigger::cli::validate_command, {canary});
    CHECK(r.code == 0);
    CHECK(r.out.find("0 errors") != std::string::npos);
}

TEST_CASE("validate reports every error with file:line:col, kind, name and field path", "[cli]") {
    temp_dir dir;
    const std::string file = dir.write("bad.yaml", bad_router);
    auto r = call(outrigger::cli::validate_command, {file});
    CHECK(r.code == 1);
    INFO(r.out);
    // weight 150 at line 35 (the `weight:` key), col 15.
    CHECK(r.out.find(file + ":35:23: error: VirtualRouter ns/r: "
                            "spec.routes[0].httpRoute.action.weightedTargets[0].weight: ") != std::string::npos);
    CHECK(r.out.find("VirtualRouter ns/r: spec.routes[0].httpRoute.action.weightedTargets[1]") !=
          std::string::npos);
    CHECK(r.out.find("missing-node") != std::string::npos);
    CHECK(r.out.find("2 errors") != std::string::npos);
}

TEST_CASE("validate of a directory reads every yaml below it", "[cli]") {
    temp_dir dir;
    dir.write("a/mesh.yaml", bad_router);
    dir.write("b/ignored.txt", "not yaml: [");
    auto r = call(outrigger::cli::validate_command, {dir.path.string()});
    CHECK(r.code == 1);
    CHECK(r.out.find("a/mesh.yaml:") != std::string::npos);
    CHECK(r.out.find("ignored.txt") == std::string::npos);
}

TEST_CASE("usage errors exit 2 with a hint", "[cli]") {
    auto r = call(outrigger::cli::validate_command, {"--nod", "x", canary});
    CHECK(r.code == 2);
    CHECK(r.err.find("unknown flag \"--nod\" (did you mean \"--node\"?)") != std::string::npos);
    CHECK(call(outrigger::cli::validate_command, {}).code == 2);
    CHECK(call(outrigger::cli::explain_command, {"--mesh", canary, "GET"}).code == 2);
    CHECK(call(outrigger::cli::explain_command, {"--mesh", canary, "GET", "/relative"}).code == 2);
}

TEST_CASE("explain shows the canary route and its 90%/10% split", "[cli]") {
    auto r = call(outrigger::cli::explain_command,
                  {"--mesh", canary, "GET", "http://my-interview-service.my-app:8080/"});
    INFO(r.out << r.err);
    CHECK(r.code == 0);
    CHECK(r.out.find("my-interview-service.my-app") != std::string::npos);
    CHECK(r.out.find("canary") != std::string::npos);
    CHECK(r.out.find("MATCHED") != std::string::npos);
    CHECK(r.out.find("my-app/my-interview-service-v1-node:8080  weight 90  90.0%") != std::string::npos);
    CHECK(r.out.find("my-app/my-interview-service-v2-node:8080  weight 10  10.0%") != std::string::npos);
    CHECK(r.out.find("perRequest 15s") != std::string::npos);
    CHECK(r.out.find("App Mesh default policy: 2 retries") != std::string::npos);
    CHECK(r.out.find("my-interview-service-v1.my-app.svc.cluster.local:8080") != std::string::npos);
}

TEST_CASE("explain --json is machine-readable", "[cli]") {
    auto r = call(outrigger::cli::explain_command,
                  {"--mesh", canary, "--json", "GET", "http://my-interview-service.my-app:8080/x?y=1"});
    REQUIRE(r.code == 0);
    const auto v = boost::json::parse(r.out);
    const auto& o = v.as_object();
    CHECK(o.at("outcome").as_string() == "routed");
    CHECK(o.at("route").as_string() == "canary");
    CHECK(o.at("port").as_int64() == 8080);
    const auto& t = o.at("targets").as_array();
    REQUIRE(t.size() == 2);
    CHECK(t[0].as_object().at("probability").as_double() == Approx(90.0));
    CHECK(t[1].as_object().at("probability").as_double() == Approx(10.0));
}

TEST_CASE("explain of an unknown host is refused with exit 3 and names the closest service", "[cli]") {
    auto r = call(outrigger::cli::explain_command,
                  {"--mesh", canary, "GET", "http://my-interview-servce.my-app:8080/"});
    CHECK(r.code == 3);
    CHECK(r.out.find("404 NR") != std::string::npos);
    CHECK(r.out.find("did you mean \"my-interview-service.my-app\"") != std::string::npos);
    // An allowed host passes as unmodelled egress (exit 0).
    auto a = call(outrigger::cli::explain_command,
                  {"--mesh", canary, "GET", "http://s3.us-west-2.amazonaws.com/bucket"});
    CHECK(a.code == 0);
    CHECK(a.out.find("unmodelled egress") != std::string::npos);
}

TEST_CASE("explain with headers follows header routes", "[cli]") {
    temp_dir dir;
    const std::string file = dir.write("h.yaml", R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: m}
spec: {namespaceSelector: {}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: a, namespace: ns}
spec:
  listeners: [{portMapping: {port: 80, protocol: http}}]
  serviceDiscovery: {dns: {hostname: a.ns}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: b, namespace: ns}
spec:
  listeners: [{portMapping: {port: 80, protocol: http}}]
  serviceDiscovery: {dns: {hostname: b.ns}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: r, namespace: ns}
spec:
  listeners: [{portMapping: {port: 80, protocol: http}}]
  routes:
    - name: beta
      priority: 0
      httpRoute:
        match: {prefix: /, headers: [{name: x-group, match: {exact: beta}}]}
        action: {weightedTargets: [{virtualNodeRef: {name: b}, weight: 1}]}
    - name: rest
      priority: 1
      httpRoute:
        match: {prefix: /}
        action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: s, namespace: ns}
spec: {provider: {virtualRouter: {virtualRouterRef: {name: r}}}}
)");
    auto beta = call(outrigger::cli::explain_command,
                     {"--mesh", file, "-H", "X-Group: beta", "--json", "GET", "http://s.ns/"});
    REQUIRE(beta.code == 0);
    CHECK(boost::json::parse(beta.out).at("route").as_string() == "beta");
    auto rest = call(outrigger::cli::explain_command, {"--mesh", file, "GET", "http://s.ns/"});
    CHECK(rest.code == 0);
    CHECK(rest.out.find("no: header x-group equals \"beta\": false") != std::string::npos);
}

TEST_CASE("explain of an invalid mesh exits 1 with the errors", "[cli]") {
    temp_dir dir;
    const std::string file = dir.write("bad.yaml", bad_router);
    auto r = call(outrigger::cli::explain_command, {"--mesh", file, "GET", "http://s.ns/"});
    CHECK(r.code == 1);
    CHECK(r.err.find("weight") != std::string::npos);
}

TEST_CASE("the real binary: version, unknown command, validate exit codes", "[cli][binary]") {
    auto v = run_binary("version");
    CHECK(v.code == 0);
    CHECK(v.out.starts_with("outrigger "));
    CHECK(run_binary("--version").code == 0);
    auto u = run_binary("frobnicate");
    CHECK(u.code == 2);
    CHECK(u.out.find("unknown command") != std::string::npos);
    CHECK(run_binary("validate " + canary).code == 0);
    CHECK(run_binary("explain --mesh " + canary + " GET http://nope.my-app:8080/").code == 3);
}
