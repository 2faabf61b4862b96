// `outrigger explain --mesh ... [--node NODE] tcp://HOST:PORT` (DECISIONS §5): the TCP backend,
// route, weights, endpoints, TLS, timeouts; exit 0 routed (or passed), 3 refused, 2 usage.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <boost/json.hpp>

#include "cli/commands.hpp"
#include "tests/integration/tcp/tcp_meshes.hpp"

using namespace outrigger::test::tcp;

namespace {

struct result {
    int code;
    std::string out;
    std::string err;
};

struct mesh_file {
    explicit mesh_file(const std::string& yaml) {
        char tmpl[] = "/tmp/outrigger-tcp-explain-XXXXXX.yaml";
        const int fd = ::mkstemps(tmpl, 5);
        REQUIRE(fd >= 0);
        ::close(fd);
        path = tmpl;
        std::ofstream(path) << yaml;
    }
    ~mesh_file() { ::unlink(path.c_str()); }
    std::string path;
};

result explain(const mesh_file& m, std::vector<std::string> extra) {
    outrigger::cli::args_t args = {"--mesh", m.path, "--node", "yelb/yelb-appserver"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::ostringstream out;
    std::ostringstream err;
    const int code = outrigger::cli::explain_command(args, out, err);
    return {code, out.str(), err.str()};
}

}  // namespace

TEST_CASE("explain tcp://: a backend's awsName and port name the TCP route", "[tcp][explain]") {
    yelb_options o;
    o.weight_v1 = 90;
    o.weight_v2 = 10;
    o.route_extra = "        timeout:\n          idle: {unit: s, value: 30}\n";
    const mesh_file m(yelb_mesh(o));
    const auto r = explain(m, {"tcp://redis-server.yelb.svc.cluster.local:6379"});
    INFO(r.out << r.err);
    CHECK(r.code == 0);
    CHECK_THAT(r.out, Catch::Contains("lookup:           explicit: virtual service \"redis-server.yelb.svc.cluster.local\" port 6379"));
    CHECK_THAT(r.out, Catch::Contains("provider:         virtualRouter yelb/redis-router"));
    CHECK_THAT(r.out, Catch::Contains("route:            redis-split (tcpRoute"));
    CHECK_THAT(r.out, Catch::Contains("yelb/redis-v1:6379  weight 90  90.0%"));
    CHECK_THAT(r.out, Catch::Contains("yelb/redis-v2:6379  weight 10  10.0%"));
    CHECK_THAT(r.out, Catch::Contains("endpoints: DNS redis-v1.yelb.svc.cluster.local:6379"));
    CHECK_THAT(r.out, Catch::Contains("tls:       plaintext"));
    CHECK_THAT(r.out, Catch::Contains("timeout:          idle 30s (tcpRoute timeout.idle), connect 5000ms"));
    CHECK_THAT(r.out, Catch::Contains("retry:            the connect only"));
    CHECK_THAT(r.out, Catch::Contains("result:           routed via tcpRoute redis-split"));

    SECTION("--json") {
        const auto j = explain(m, {"--json", "tcp://redis-server.yelb.svc.cluster.local:6379"});
        REQUIRE(j.code == 0);
        const auto v = boost::json::parse(j.out).as_object();
        CHECK(v.at("routed").as_bool());
        CHECK(v.at("lookup").as_string() == "explicit");
        CHECK(v.at("route").as_string() == "redis-split");
        REQUIRE(v.at("targets").as_array().size() == 2);
        CHECK(v.at("targets").as_array()[0].as_object().at("probability").as_double() == Approx(90.0));
        CHECK(v.at("timeout_idle").as_string() == "30s (tcpRoute timeout.idle)");
    }
}

TEST_CASE("explain tcp://: any other host is transparent mode, the port decides", "[tcp][explain]") {
    const mesh_file m(yelb_mesh());
    const auto r = explain(m, {"tcp://10.100.3.4:6379"});
    CHECK(r.code == 0);
    CHECK_THAT(r.out, Catch::Contains("transparent: original destination port 6379"));
    CHECK_THAT(r.out, Catch::Contains("virtual service:  redis-server.yelb.svc.cluster.local"));
    // Node provider on the inbound node's port: its listener, the default idle timeout.
    const auto n = explain(m, {"tcp://10.100.3.5:6380"});
    CHECK(n.code == 0);
    CHECK_THAT(n.out, Catch::Contains("routed via the virtual node provider"));
    CHECK_THAT(n.out, Catch::Contains("idle 300s (default"));
}

TEST_CASE("explain tcp://: refusals exit 3, allowed egress exits 0", "[tcp][explain]") {
    const mesh_file drop(yelb_mesh());
    const auto unknown = explain(drop, {"tcp://db.external.example:5432"});
    CHECK(unknown.code == 3);
    CHECK_THAT(unknown.out, Catch::Contains("refused (NR): no TCP backend owns port 5432, the mesh egress "
                                            "filter is DROP_ALL"));
    const auto aws = explain(drop, {"tcp://dynamodb.us-west-2.amazonaws.com:443"});
    CHECK(aws.code == 0);
    CHECK_THAT(aws.out, Catch::Contains("passes only as TLS whose SNI is \"dynamodb.us-west-2.amazonaws.com\""));
    const auto wrong_port = explain(drop, {"tcp://redis-server.yelb.svc.cluster.local:6390"});
    CHECK(wrong_port.code == 3);
    CHECK_THAT(wrong_port.out, Catch::Contains("has no tcp listener on port 6390 (it listens on 6379 (tcp))"));

    yelb_options o;
    o.egress = "ALLOW_ALL";
    const mesh_file allow(yelb_mesh(o));
    const auto passed = explain(allow, {"tcp://db.external.example:5432"});
    CHECK(passed.code == 0);
    CHECK_THAT(passed.out, Catch::Contains("passed unchanged to db.external.example:5432 (ALLOW_ALL"));
}

TEST_CASE("explain tcp://: malformed URLs are usage errors", "[tcp][explain]") {
    const mesh_file m(yelb_mesh());
    for (const char* bad : {"tcp://redis", "tcp://redis:0", "tcp://redis:70000", "tcp://:6379", "tcp://r:x"}) {
        INFO(bad);
        const auto r = explain(m, {bad});
        CHECK(r.code == 2);
        CHECK_THAT(r.err, Catch::Contains("tcp://HOST:PORT"));
    }
}
