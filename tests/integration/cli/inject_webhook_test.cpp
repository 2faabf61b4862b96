// `outrigger inject --webhook`: the real binary serving HTTPS with certificates from
// scripts/gen-test-certs.sh, driven by curl with real admission.k8s.io/v1 AdmissionReviews. The
// JSONPatch it answers is applied by the test's own applier and must give exactly what
// `outrigger inject` gives for the same pod on the command line.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <chrono>
#include <algorithm>
#include <map>
#include <regex>

#include "tests/integration/cli/inject_support.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/generated_certs.hpp"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace outrigger::test::inject;
using namespace std::chrono_literals;

const std::string canary = std::string(OUTRIGGER_SOURCE_DIR) + "/examples/canary/mesh.yaml";

const fs::path& certs() {
    static const outrigger::test::generated_certs c("outrigger-inject-webhook");
    return c.dir();
}

/// The webhook as a child process; stderr goes to the same pipe so the test can wait for logs.
struct webhook_process {
    outrigger::test::child_process child;
    std::string port;

    explicit webhook_process(const std::string& mesh)
        : child({"/bin/sh", "-c",
                 "exec " + shell_quote(OUTRIGGER_BINARY) + " inject --webhook --mesh " +
                     shell_quote(mesh) + " --listen 127.0.0.1:0 --tls-cert " +
                     shell_quote((certs() / "server.pem").string()) + " --tls-key " +
                     shell_quote((certs() / "server.key").string()) + " 2>&1"}) {
        port = child.wait_for(std::regex("webhook listening on 127\\.0\\.0\\.1:(\\d+)"), 20s);
        REQUIRE(!port.empty());
    }
    [[nodiscard]] std::string url(const std::string& path) const {
        return "https://127.0.0.1:" + port + path;
    }
};

struct http_answer {
    int status = 0;
    std::string body;
};

/// POSTs `body` (or GETs when `method` is GET) with curl, trusting the test CA.
http_answer curl(const std::string& url, const std::string& body,
                 const std::string& method = "POST") {
    scratch io;
    const std::string in = io.write("body", body);
    const std::string out = (io.path / "out").string();
    const std::string code = (io.path / "code").string();
    std::string cmd = "curl -sS --max-time 20 --cacert " +
                      shell_quote((certs() / "ca.pem").string()) + " -o " + shell_quote(out) +
                      " -w '%{http_code}' ";
    if (method == "POST") {
        cmd += "-H 'Content-Type: application/json' --data-binary @" + shell_quote(in) + " ";
    } else {
        cmd += "-X " + method + " ";
    }
    cmd += shell_quote(url) + " >" + shell_quote(code) + " 2>/dev/null";
    const int rc = std::system(cmd.c_str());
    http_answer a;
    const std::string c = read_file(code);
    a.status = rc == 0 && !c.empty() ? std::stoi(c) : -1;
    a.body = read_file(out);
    return a;
}

json::object pod(const std::string& version, const std::string& ns = "") {
    json::object meta{{"generateName", "my-interview-service-" + version + "-5d9c8-"},
                      {"labels", {{"app", "my-interview-service"}, {"version", version}}},
                      {"annotations", {{"team", "interviews"}}}};
    if (!ns.empty()) {
        meta["namespace"] = ns;
    }
    return {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", std::move(meta)},
            {"spec",
             {{"volumes", json::array{{{"name", "data"}, {"emptyDir", json::object()}}}},
              {"initContainers", json::array{{{"name", "migrate"}, {"image", "migrate:1"}}}},
              {"containers",
               json::array{{{"name", "app"},
                            {"image", "app:1"},
                            {"ports", json::array{{{"containerPort", 8080}}}}}}},
              {"restartPolicy", "Always"}}}};
}

std::string review(const json::object& object, const std::string& ns,
                   const std::string& operation = "CREATE", const std::string& kind = "Pod",
                   const std::string& uid = "705ab4f5-6393-11e8-b7cc-42010a800002") {
    json::object req{{"uid", uid},
                     {"kind", {{"group", ""}, {"version", "v1"}, {"kind", kind}}},
                     {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
                     {"requestKind", {{"group", ""}, {"version", "v1"}, {"kind", kind}}},
                     {"namespace", ns},
                     {"operation", operation},
                     {"userInfo", {{"username", "system:serviceaccount:kube-system:replicaset"}}},
                     {"object", object},
                     {"oldObject", nullptr},
                     {"dryRun", false}};
    return json::serialize(json::object{{"apiVersion", "admission.k8s.io/v1"},
                                        {"kind", "AdmissionReview"},
                                        {"request", std::move(req)}});
}

json::object response_of(const http_answer& a) {
    INFO(a.status << " " << a.body);
    REQUIRE(a.status == 200);
    json::value v = json::parse(a.body);
    REQUIRE(v.at("apiVersion") == "admission.k8s.io/v1");
    REQUIRE(v.at("kind") == "AdmissionReview");
    return v.at("response").as_object();
}

}  // namespace

TEST_CASE("webhook: the JSONPatch gives what `outrigger inject` gives for the same pod",
          "[cli][inject][webhook]") {
    webhook_process wh(canary);
    const json::object original = pod("v1");
    const auto res =
        response_of(curl(wh.url("/mutate-v1-pod?timeout=10s"), review(original, "my-app")));
    CHECK(res.at("uid") == "705ab4f5-6393-11e8-b7cc-42010a800002");
    CHECK(res.at("allowed") == true);
    REQUIRE(res.at("patchType") == "JSONPatch");
    const json::value patch = json::parse(base64_decode(std::string(res.at("patch").as_string())));
    REQUIRE(patch.is_array());
    // Appends only: the pod's own volumes and init containers stay where they were.
    for (const auto& op : patch.as_array()) {
        CHECK(op.at("op") == "add");
    }
    const json::value patched = apply_patch(original, patch.as_array());

    // The same pod through the command line (namespace given as the API server gives it).
    scratch dir;
    const std::string file = dir.write("pod.json", json::serialize(original));
    const run_result cli = run_outrigger({"inject", "--mesh", canary, "-n", "my-app", file});
    INFO(cli.err);
    REQUIRE(cli.code == 0);
    const auto docs = documents(cli.out);
    REQUIRE(docs.size() == 1);
    CHECK(patched == docs[0]);
    std::string where;
    CHECK(survives(original, patched, where));
    CHECK(patched.at_pointer("/spec/initContainers/0/name") == "migrate");
    CHECK(patched.at_pointer("/spec/initContainers/2/env/1/value") ==
          "mesh/my-app-mesh/virtualNode/my-interview-service-v1-node_my-app");
    CHECK(!wh.child
               .wait_for(
                   std::regex("(Pod my-app/my-interview-service-v1-5d9c8-\\*: injected as "
                              "mesh/my-app-mesh/virtualNode/my-interview-service-v1-node_my-app)"),
                   10s)
               .empty());

    // Injecting what the webhook made changes nothing (a reinvocation is harmless).
    const auto again =
        response_of(curl(wh.url("/mutate-v1-pod"), review(patched.as_object(), "my-app")));
    CHECK(again.at("allowed") == true);
    CHECK(again.if_contains("patch") == nullptr);

    CHECK(wh.child.terminate(10s) == 0);
}

TEST_CASE("webhook: pods it does not inject are allowed unchanged", "[cli][inject][webhook]") {
    webhook_process wh(canary);
    // No node selects version v9.
    auto r = response_of(curl(wh.url("/mutate-v1-pod"), review(pod("v9"), "my-app")));
    CHECK(r.at("allowed") == true);
    CHECK(r.if_contains("patch") == nullptr);
    CHECK(r.if_contains("warnings") == nullptr);
    // A namespace outside the mesh.
    r = response_of(curl(wh.url("/mutate-v1-pod"), review(pod("v1"), "elsewhere")));
    CHECK(r.at("allowed") == true);
    CHECK(r.if_contains("patch") == nullptr);
    // Disabled by annotation.
    json::object disabled = pod("v1");
    disabled["metadata"].as_object()["annotations"].as_object()
        ["appmesh.k8s.aws/sidecarInjectorWebhook"] = "disabled";
    r = response_of(curl(wh.url("/mutate-v1-pod"), review(disabled, "my-app")));
    CHECK(r.if_contains("patch") == nullptr);
    // A pod App Mesh would refuse is still allowed (never block), with the reason as a warning.
    json::object malformed = pod("v1");
    malformed["metadata"].as_object()["annotations"].as_object()["appmesh.k8s.aws/ports"] = "http";
    r = response_of(curl(wh.url("/mutate-v1-pod"), review(malformed, "my-app")));
    CHECK(r.at("allowed") == true);
    CHECK(r.if_contains("patch") == nullptr);
    REQUIRE(r.if_contains("warnings") != nullptr);
    CHECK(std::string(r.at("warnings").as_array()[0].as_string())
              .find("outrigger inject: not injected: annotation appmesh.k8s.aws/ports") == 0);
    // Not a CREATE, not a Pod.
    r = response_of(curl(wh.url("/mutate-v1-pod"), review(pod("v1"), "my-app", "UPDATE")));
    CHECK(r.if_contains("patch") == nullptr);
    r = response_of(
        curl(wh.url("/mutate-v1-pod"), review(pod("v1"), "my-app", "CREATE", "Service")));
    CHECK(r.if_contains("patch") == nullptr);
    CHECK(wh.child.terminate(10s) == 0);
}

TEST_CASE("webhook: bad input gets clear answers and the server keeps serving",
          "[cli][inject][webhook]") {
    webhook_process wh(canary);
    auto a = curl(wh.url("/mutate-v1-pod"), "{not json");
    CHECK(a.status == 400);
    CHECK(a.body.find("the body is not JSON") == 0);
    a = curl(wh.url("/mutate-v1-pod"),
             R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview",)"
             R"("request":{"uid":"x"}})");
    CHECK(a.status == 400);
    CHECK(a.body.find("only admission.k8s.io/v1") != std::string::npos);
    a = curl(wh.url("/mutate-v1-pod"),
             R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}})");
    CHECK(a.status == 400);
    a = curl(wh.url("/mutate-v1-pod"), R"([1,2,3])");
    CHECK(a.status == 400);
    // Deeply nested: no crash, a 400.
    a = curl(wh.url("/mutate-v1-pod"), std::string(100000, '[') + std::string(100000, ']'));
    CHECK(a.status == 400);
    // A pod whose spec is of the wrong type is allowed with a warning.
    json::object odd = pod("v1");
    odd["spec"] = "nonsense";
    auto r = response_of(curl(wh.url("/mutate-v1-pod"), review(odd, "my-app")));
    CHECK(r.at("allowed") == true);
    CHECK(r.if_contains("patch") == nullptr);

    CHECK(curl(wh.url("/healthz"), "", "GET").status == 200);
    CHECK(curl(wh.url("/healthz"), "", "GET").body == "ok\n");
    CHECK(curl(wh.url("/mutate-v1-pod"), "", "GET").status == 405);
    CHECK(curl(wh.url("/nope"), "", "GET").status == 404);
    CHECK(curl(wh.url("/mutate-v1-pod"), std::string(5 * 1024 * 1024, 'x')).status == 413);
    // Plain HTTP on the TLS port: the handshake fails, nothing else happens.
    CHECK(std::system(("curl -sS --max-time 5 http://127.0.0.1:" + wh.port +
                       "/healthz >/dev/null 2>&1")
                          .c_str()) != 0);

    auto ok = response_of(curl(wh.url("/mutate-v1-pod"), review(pod("v2"), "my-app")));
    CHECK(ok.at("patchType") == "JSONPatch");
    CHECK(wh.child.terminate(10s) == 0);
}

TEST_CASE("webhook: concurrent requests are all answered", "[cli][inject][webhook]") {
    webhook_process wh(canary);
    scratch io;
    constexpr int n = 24;
    std::string script = "for i in $(seq " + std::to_string(n) + "); do curl -sS --max-time 30 "
                         "--cacert " + shell_quote((certs() / "ca.pem").string()) +
                         " -H 'Content-Type: application/json' --data-binary @" +
                         shell_quote(io.write("body", review(pod("v2"), "my-app"))) + " -o " +
                         shell_quote((io.path / "out.").string()) + "$i " +
                         shell_quote(wh.url("/mutate-v1-pod")) + " & done; wait";
    REQUIRE(std::system(script.c_str()) == 0);
    for (int i = 1; i <= n; ++i) {
        const std::string body = read_file(io.path / ("out." + std::to_string(i)));
        INFO(i << ": " << body);
        REQUIRE(!body.empty());
        const auto r = json::parse(body).at("response").as_object();
        CHECK(r.at("patchType") == "JSONPatch");
    }
    CHECK(curl(wh.url("/healthz"), "", "GET").status == 200);
    CHECK(wh.child.terminate(10s) == 0);
}

TEST_CASE("webhook: a changed mesh file is picked up without a restart", "[cli][inject][webhook]") {
    scratch dir;
    const std::string text = read_file(canary);
    const std::string mesh = dir.write("mesh.yaml", text);
    webhook_process wh(mesh);
    auto r = response_of(curl(wh.url("/mutate-v1-pod"), review(pod("v3"), "my-app")));
    CHECK(r.if_contains("patch") == nullptr);

    // Rewrite it as kubelet does (a new file renamed over the old): v2's node now selects v3.
    std::string changed = text;
    const auto at = changed.find("version: v2");
    REQUIRE(at != std::string::npos);
    changed.replace(at, 11, "version: v3");
    dir.write("mesh.yaml.new", changed);
    fs::rename(dir.path / "mesh.yaml.new", dir.path / "mesh.yaml");
    REQUIRE(!wh.child.wait_for(std::regex("(mesh reloaded)"), 20s).empty());
    r = response_of(curl(wh.url("/mutate-v1-pod"), review(pod("v3"), "my-app")));
    REQUIRE(r.if_contains("patch") != nullptr);
    const json::value patch = json::parse(base64_decode(std::string(r.at("patch").as_string())));
    const json::value patched = apply_patch(pod("v3"), patch.as_array());
    CHECK(patched.at_pointer("/spec/initContainers/2/env/1/value") ==
          "mesh/my-app-mesh/virtualNode/my-interview-service-v2-node_my-app");

    // A broken mesh keeps the old one.
    dir.write("mesh.yaml.new", changed + "---\nkind: VirtualNode\napiVersion: appmesh.k8s.aws/"
                                         "v1beta2\nmetadata: {name: x, namespace: my-app}\n"
                                         "spec: {listeners: [{portMapping: {port: 0}}]}\n");
    fs::rename(dir.path / "mesh.yaml.new", dir.path / "mesh.yaml");
    REQUIRE(
        !wh.child.wait_for(std::regex("(mesh reload failed, keeping the old mesh)"), 20s).empty());
    r = response_of(curl(wh.url("/mutate-v1-pod"), review(pod("v3"), "my-app")));
    CHECK(r.if_contains("patch") != nullptr);
    CHECK(wh.child.terminate(10s) == 0);
}

TEST_CASE("webhook: start-up errors exit 1", "[cli][inject][webhook]") {
    auto r = run_outrigger({"inject", "--webhook", "--mesh", canary, "--listen", "127.0.0.1:0",
                            "--tls-cert", (certs() / "garbage.pem").string(), "--tls-key",
                            (certs() / "server.key").string()});
    CHECK(r.code == 1);
    CHECK(r.err.find("garbage.pem") != std::string::npos);
    r = run_outrigger({"inject", "--webhook", "--mesh", canary, "--listen", "nonsense",
                       "--tls-cert", (certs() / "server.pem").string(), "--tls-key",
                       (certs() / "server.key").string()});
    CHECK(r.code == 2);
    r = run_outrigger({"inject", "--webhook", "--mesh", canary, "--listen", "256.1.1.1:0",
                       "--tls-cert", (certs() / "server.pem").string(), "--tls-key",
                       (certs() / "server.key").string()});
    CHECK(r.code == 1);
}

TEST_CASE("webhook: deploy/kubernetes/webhook/ is consistent and its command line serves",
          "[cli][inject][webhook][deploy]") {
    const fs::path dir = fs::path(OUTRIGGER_SOURCE_DIR) / "deploy/kubernetes/webhook";
    std::map<std::string, json::value> by_kind;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir)) {
        files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        for (auto& d : documents(read_file(f))) {
            by_kind[std::string(d.at("kind").as_string())] = d;
        }
    }
    REQUIRE(by_kind.count("Deployment") == 1);
    REQUIRE(by_kind.count("Service") == 1);
    REQUIRE(by_kind.count("ConfigMap") == 1);
    REQUIRE(by_kind.count("MutatingWebhookConfiguration") == 1);
    const json::value& deploy = by_kind["Deployment"];
    const json::value& service = by_kind["Service"];
    const json::value& mwc = by_kind["MutatingWebhookConfiguration"];
    const json::value& container = deploy.at_pointer("/spec/template/spec/containers/0");
    const json::value& hook = mwc.at_pointer("/webhooks/0");

    // The configuration calls the Service, which reaches the container's port.
    CHECK(hook.at_pointer("/clientConfig/service/name") == service.at_pointer("/metadata/name"));
    CHECK(hook.at_pointer("/clientConfig/service/namespace") ==
          service.at_pointer("/metadata/namespace"));
    CHECK(hook.at_pointer("/clientConfig/service/path") == "/mutate-v1-pod");
    CHECK(hook.at_pointer("/clientConfig/service/port") ==
          service.at_pointer("/spec/ports/0/port"));
    CHECK(service.at_pointer("/spec/ports/0/targetPort") ==
          container.at_pointer("/ports/0/containerPort"));
    CHECK(hook.at("failurePolicy") == "Ignore");
    CHECK(hook.at("admissionReviewVersions") == json::array{"v1"});
    CHECK(service.at_pointer("/spec/selector") ==
          deploy.at_pointer("/spec/template/metadata/labels"));

    // Its mesh validates.
    scratch io;
    const std::string mesh = io.write("mesh.yaml", std::string(by_kind["ConfigMap"].at_pointer(
                                                       "/data/mesh.yaml").as_string()));
    CHECK(run_outrigger({"validate", mesh}).code == 0);

    // The container's command line, with its files and port swapped for the test's, serves.
    std::string cmd = "exec";
    for (const auto& part : container.at("command").as_array()) {
        std::string p(part.as_string());
        cmd += " " + shell_quote(p == "/usr/local/bin/outrigger" ? OUTRIGGER_BINARY : p);
    }
    for (const auto& arg : container.at("args").as_array()) {
        std::string a(arg.as_string());
        if (a == "/etc/outrigger/mesh.yaml") {
            a = mesh;
        } else if (a == "/etc/outrigger-tls/tls.crt") {
            a = (certs() / "server.pem").string();
        } else if (a == "/etc/outrigger-tls/tls.key") {
            a = (certs() / "server.key").string();
        } else if (a == "0.0.0.0:8443") {
            a = "127.0.0.1:0";
        }
        cmd += " " + shell_quote(a);
    }
    outrigger::test::child_process child({"/bin/sh", "-c", cmd + " 2>&1"});
    const std::string port =
        child.wait_for(std::regex("webhook listening on 127\\.0\\.0\\.1:(\\d+)"), 20s);
    REQUIRE(!port.empty());
    const std::string base = "https://127.0.0.1:" + port;
    CHECK(curl(base + std::string(container.at_pointer("/readinessProbe/httpGet/path").as_string()),
               "", "GET")
              .status == 200);
    const auto r = response_of(curl(base + "/mutate-v1-pod", review(pod("v1"), "my-app")));
    REQUIRE(r.if_contains("patch") != nullptr);
    const json::value patched = apply_patch(
        pod("v1"), json::parse(base64_decode(std::string(r.at("patch").as_string()))).as_array());
    CHECK(patched.at_pointer("/spec/initContainers/1/image") == "outrigger-init:0.1.0");
    CHECK(patched.at_pointer("/spec/initContainers/2/image") == "outrigger:0.1.0");
    CHECK(child.terminate(10s) == 0);
}
