// `outrigger explain --gateway` and the gateway flags of `outrigger run` as users drive them: the
// gateway routes in evaluation order with the first failing condition, the rewritten request,
// the outbound explanation, exit codes 0/1/2/3, --json; `run --gateway`'s usage and mesh errors
// (serving is tested with the binary in tests/integration/gateway/).
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

const std::string corpus = OUTRIGGER_CORPUS_DIR;
const std::string ingress_v2 = corpus + "/howto-k8s-http-ingress-v2_v1beta2_manifest.yaml";
const std::string ingress_gw = corpus + "/howto-k8s-ingress-gateway_v1beta2_manifest.yaml";
const std::string grpc_v2 = corpus + "/howto-k8s-grpc-ingress-v2_v1beta2_manifest.yaml";
const std::string listeners2 = corpus + "/howto-k8s-multiple-listeners_manifest.yaml";

std::string variant(const std::string& name) {
    return corpus + "/howto-k8s-http-ingress-v2_v1beta2_gatewayroutes_" + name + ".yaml";
}

struct result {
    int code;
    std::string out;
    std::string err;
};

result explain(const args_t& args) {
    std::ostringstream out;
    std::ostringstream err;
    const int code = outrigger::cli::explain_command(args, out, err);
    return {code, out.str(), err.str()};
}

result run(const args_t& args) {
    std::ostringstream out;
    std::ostringstream err;
    const int code = outrigger::cli::run_command(args, out, err);
    return {code, out.str(), err.str()};
}

/// Runs `ENV outrigger ARGS` through the shell; exit code and combined output.
result run_binary(const std::string& env, const std::string& args) {
    const std::string cmd = env + " " + std::string(OUTRIGGER_BINARY) + " " + args + " 2>&1";
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

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

/// A temporary directory removed at the end of the test.
struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string tmpl = (fs::temp_directory_path() / "outrigger-gwcli-XXXXXX").string();
        path = mkdtemp(tmpl.data());
    }
    ~temp_dir() { fs::remove_all(path); }
    std::string write(const std::string& name, const std::string& text) const {
        const fs::path p = path / name;
        std::ofstream(p) << text;
        return p.string();
    }
};

}  // namespace

TEST_CASE("explain --gateway: routes in order, the match, the rewrite, then the outbound step",
          "[cli][gateway]") {
    const auto r = explain({"--mesh", ingress_v2, "--mesh", variant("prefix-match"), "--mesh",
                            variant("path-match"), "--mesh", variant("rewrite-prefix"),
                            "--gateway", "ingress-gw", "GET", "http://gw.example.com/test/"});
    INFO(r.out << r.err);
    CHECK(r.code == 0);
    CHECK(has(r.out, "gateway:          howto-app/ingress-gw (mesh demo-mesh)"));
    CHECK(has(r.out, "listener:         gateway listener 8088 (http)"));
    // Priority 0 first, then the unset ones (1000) in their order, each with why it failed.
    const auto p1 = r.out.find("1. howto-app/path-match");
    const auto p2 = r.out.find("2. howto-app/prefix-match");
    const auto p3 = r.out.find("3. howto-app/rewrite-prefix");
    REQUIRE(p1 != std::string::npos);
    REQUIRE(p2 != std::string::npos);
    REQUIRE(p3 != std::string::npos);
    CHECK(p1 < p2);
    CHECK(p2 < p3);
    CHECK(has(r.out, "no: path /test/ is not /paths/green"));
    CHECK(has(r.out, "no: path /test/ does not start with /paths"));
    CHECK(has(r.out, "prefix /test/                        MATCHED"));
    CHECK(has(r.out, "rewritten:        GET /red/  Host: color-paths.howto-app.svc.cluster.local"));
    CHECK(has(r.out, "path: prefix /test/ -> /red/; Host: the target's awsName"));
    CHECK(has(r.out, "  virtual service:  color-paths.howto-app.svc.cluster.local"));
    CHECK(has(r.out, "2. color-route-red      priority unset  prefix /red"));
    CHECK(has(r.out, "howto-app/red:8080  weight 1  100.0%"));
    CHECK(has(r.out, "result:           gateway route howto-app/rewrite-prefix -> virtual service "
                     "color-paths.howto-app.svc.cluster.local; routed via route color-route-red"));
}

TEST_CASE("explain --gateway: no gateway route, or a refused outbound step, exits 3",
          "[cli][gateway]") {
    const auto none = explain({"--mesh", ingress_gw, "--gateway", "howto-app/ingress-gw", "GET",
                               "http://gw.example.com:8088/nothing"});
    INFO(none.out << none.err);
    CHECK(none.code == 3);
    CHECK(has(none.out, "no: path /nothing does not start with /headers"));
    CHECK(has(none.out, "refused: 404 NR: no gateway route of howto-app/ingress-gw on listener "
                        "8088 matches"));
    // The gateway matches, but color-paths has no /green route.
    const auto green = explain({"--mesh", ingress_v2, "--mesh", variant("prefix-match"),
                                "--gateway", "ingress-gw", "GET", "http://gw/paths/green"});
    INFO(green.out);
    CHECK(green.code == 3);
    CHECK(has(green.out, "rewritten:        GET /green"));
    CHECK(has(green.out, "refused: 404 NR: no route of howto-app/color-paths matches"));
}

TEST_CASE("explain --gateway --json", "[cli][gateway]") {
    const auto r = explain({"--mesh", ingress_gw, "--gateway",
                            "mesh/demo-mesh/virtualGateway/ingress-gw_howto-app", "--json", "-H",
                            "color_header: red", "GET", "http://gw.example.com/headers?x=1"});
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    const auto v = boost::json::parse(r.out);
    const auto& o = v.as_object();
    CHECK(o.at("gateway").as_string() == "howto-app/ingress-gw");
    CHECK(o.at("listener_port").as_int64() == 8088);
    CHECK(o.at("gateway_route").as_string() == "howto-app/gateway-route-headers");
    CHECK(o.at("routed").as_bool());
    const auto& routes = o.at("gateway_routes").as_array();
    REQUIRE(routes.size() == 1);  // the first one matched
    CHECK(routes[0].as_object().at("priority").as_int64() == 1000);
    CHECK_FALSE(routes[0].as_object().at("priority_given").as_bool());
    const auto& w = o.at("rewritten").as_object();
    CHECK(w.at("path").as_string() == "/");
    CHECK(w.at("query").as_string() == "x=1");
    CHECK(w.at("authority").as_string() == "color-headers.howto-app.svc.cluster.local");
    CHECK(w.at("authority_rewritten").as_bool());
    const auto& ob = o.at("outbound").as_object();
    CHECK(ob.at("route").as_string() == "color-route-red");
    CHECK(ob.at("targets").as_array()[0].as_object().at("node").as_string() == "howto-app/red");
    // Refused: outbound is null and routed false.
    const auto n = explain({"--mesh", ingress_gw, "--gateway", "ingress-gw", "--json", "GET",
                            "http://gw.example.com/nothing"});
    CHECK(n.code == 3);
    const auto nv = boost::json::parse(n.out);
    CHECK(nv.at("outbound").is_null());
    CHECK_FALSE(nv.at("routed").as_bool());
    CHECK(nv.at("gateway_routes").as_array().size() == 2);
}

TEST_CASE("explain --gateway: grpc gateway to the greeter", "[cli][gateway]") {
    const auto r = explain({"--mesh", grpc_v2, "--gateway", "ingress-gw", "-H",
                            "content-type: application/grpc", "POST",
                            "http://gw.example.com:9111/Hello/SayHello"});
    INFO(r.out << r.err);
    CHECK(r.code == 0);
    CHECK(has(r.out, "serviceName Hello"));
    CHECK(has(r.out, "howto-app/greeter:9111  weight 1  100.0%"));
    const auto bad = explain({"--mesh", grpc_v2, "--gateway", "ingress-gw", "POST",
                              "http://gw.example.com/Hello2/SayHello"});
    CHECK(bad.code == 3);
    CHECK(has(bad.out, "no: path /Hello2/SayHello is not a method of service Hello"));
}

TEST_CASE("explain --gateway: Host from -H, hostname rules and defaultTargetHostname DISABLED",
          "[cli][gateway]") {
    temp_dir dir;
    const std::string file = dir.write("gw.yaml", R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: m}
spec: {namespaceSelector: {}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: api, namespace: ns}
spec:
  listeners: [{portMapping: {port: 80, protocol: http}}]
  serviceDiscovery: {dns: {hostname: api.ns}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: api, namespace: ns}
spec: {provider: {virtualNode: {virtualNodeRef: {name: api}}}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualGateway
metadata: {name: gw, namespace: ns}
spec:
  namespaceSelector: {}
  listeners: [{portMapping: {port: 8443, protocol: http}}]
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata: {name: api, namespace: ns}
spec:
  httpRoute:
    match: {prefix: /, hostname: {suffix: .example.com}}
    action:
      target: {virtualService: {virtualServiceRef: {name: api}}}
      rewrite: {hostname: {defaultTargetHostname: DISABLED}}
)");
    const auto r = explain({"--mesh", file, "--gateway", "gw", "-H", "Host: API.example.com:443",
                            "GET", "http://127.0.0.1:8443/v1/x"});
    INFO(r.out << r.err);
    CHECK(r.code == 0);
    CHECK(has(r.out, "(Host: API.example.com:443)"));
    CHECK(has(r.out, "hostname *.example.com"));
    CHECK(has(r.out, "Host: API.example.com:443\n"));
    CHECK(has(r.out, "Host: kept (defaultTargetHostname DISABLED)"));
    CHECK(has(r.out, "virtual service:  api.ns (ns/api)"));
    const auto miss = explain({"--mesh", file, "--gateway", "gw", "GET",
                               "http://127.0.0.1:8443/v1/x"});
    CHECK(miss.code == 3);
    CHECK(has(miss.out, "no: hostname 127.0.0.1 does not end with .example.com"));
}

TEST_CASE("explain --gateway: usage and mesh errors", "[cli][gateway]") {
    const auto both = explain({"--mesh", ingress_gw, "--gateway", "ingress-gw", "--node", "red",
                               "GET", "http://gw/"});
    CHECK(both.code == 2);
    CHECK(has(both.err, "--node and --gateway exclude each other"));
    const auto unknown = explain({"--mesh", ingress_gw, "--gateway", "ingres-gw", "GET",
                                  "http://gw/"});
    CHECK(unknown.code == 1);
    CHECK(has(unknown.err, "error: --gateway: no VirtualGateway \"ingres-gw\" (did you mean "
                           "\"ingress-gw\"?); the input has: howto-app/ingress-gw"));
    const auto ambiguous = explain({"--mesh", listeners2, "--gateway", "colors-gw", "GET",
                                    "http://gw/"});
    CHECK(ambiguous.code == 2);
    CHECK(has(ambiguous.err, "gateway colors/colors-gw listens on 8080, 8090: name the listener "
                             "port in the URL"));
    const auto wrong = explain({"--mesh", listeners2, "--gateway", "colors-gw", "GET",
                                "http://gw:9/"});
    CHECK(wrong.code == 2);
    CHECK(has(wrong.err, "has no listener on port 9 (ports: 8080, 8090)"));
    const auto on8090 = explain({"--mesh", listeners2, "--gateway", "colors-gw", "GET",
                                 "http://gw:8090/"});
    INFO(on8090.out << on8090.err);
    CHECK(on8090.code == 0);
    CHECK(has(on8090.out, "howto-app/gateway-route-main") == false);
    CHECK(has(on8090.out, "colors/gateway-route-main"));
    CHECK(has(explain({"--help"}).out, "--gateway GATEWAY"));
}

TEST_CASE("run --gateway: usage and mesh errors are reported before anything is served",
          "[cli][gateway]") {
    // Serving (flags, App Mesh's env forms) is tested with the binary in
    // tests/integration/gateway/gateway_test.cpp: run_command does not return while it serves.
    CHECK(run({"--mesh", ingress_gw, "--gateway", "ingress-gw", "--gateway-port", "9999=1"}).code ==
          2);
    CHECK(has(run({"--mesh", ingress_gw, "--gateway", "ingress-gw", "--gateway-port", "8088"}).err,
              "expected LISTENER_PORT=LOCAL_PORT"));
    CHECK(run({"--mesh", ingress_gw, "--gateway", "ingress-gw", "--gateway-port", "8088=1",
               "--gateway-port", "8088=2"})
              .code == 2);
    CHECK(has(run({"--mesh", ingress_gw, "--gateway-port", "8088=1"}).err, "need gateway mode"));
    CHECK(run({"--mesh", ingress_gw, "--gateway", "x", "--node", "red"}).code == 2);
    // A bad mesh is reported as for a node: exit 1 with the errors.
    const auto bad = run({"--mesh", ingress_gw, "--gateway", "nope"});
    CHECK(bad.code == 1);
    CHECK(has(bad.err, "no VirtualGateway \"nope\""));
    // The env forms name the gateway too: a gateway the mesh lacks is the same error.
    const auto env = run_binary(
        "env -u OUTRIGGER_NODE -u OUTRIGGER_GATEWAY "
        "APPMESH_RESOURCE_ARN=mesh/demo-mesh/virtualGateway/nope_howto-app",
        "run --mesh " + ingress_gw + " --admin-port 0");
    INFO(env.out);
    CHECK(env.code == 1);
    CHECK(has(env.out, "VirtualGateway"));
}
