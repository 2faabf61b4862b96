// Diagnostics (config_error.hpp) and the small model helpers of mesh_model.hpp: the DECISIONS §1
// line format, counts, "did you mean", sorting/deduplication, object_meta::where and
// label_selector::matches.

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "routing/config_error.hpp"
#include "routing/mesh_model.hpp"

namespace r = outrigger::routing;

namespace {

r::object_meta sample_meta() {
    r::object_meta m;
    m.kind = "VirtualRouter";
    m.name = "checkout";
    m.ns = "shop";
    m.loc = {0, 3, 1};
    m.field_locs = {
        {"metadata.name", {0, 5, 9}},
        {"spec.routes", {0, 10, 3}},
        {"spec.routes[0]", {0, 11, 7}},
        {"spec.routes[0].httpRoute", {0, 12, 7}},
        {"spec.routes[0].httpRoute.action.weightedTargets[1].weight", {0, 20, 23}},
    };
    return m;
}

r::config_error item(std::uint32_t file, std::uint32_t line, std::uint32_t col, std::string msg) {
    r::config_error e;
    e.loc = {file, line, col};
    e.message = std::move(msg);
    return e;
}

}  // namespace

TEST_CASE("config_error: format prints FILE:LINE:COL: error: KIND NS/NAME: FIELD: message",
          "[routing][config_error]") {
    const std::vector<std::string> files{"a.yaml", "mesh/b.yaml"};
    r::config_error e;
    e.loc = {1, 12, 7};
    e.kind = "VirtualNode";
    e.ns = "shop";
    e.name = "web";
    e.field = "spec.listeners[0].portMapping.port";
    e.message = "expected an integer, got \"abc\"";
    CHECK(r::format(e, files) ==
          "mesh/b.yaml:12:7: error: VirtualNode shop/web: spec.listeners[0].portMapping.port: "
          "expected an integer, got \"abc\"");

    SECTION("warnings say warning") {
        e.level = r::severity::warning;
        CHECK(
            r::format(e, files) ==
            "mesh/b.yaml:12:7: warning: VirtualNode shop/web: spec.listeners[0].portMapping.port: "
            "expected an integer, got \"abc\"");
    }
    SECTION("cluster-scoped objects print KIND NAME") {
        e.kind = "Mesh";
        e.ns.clear();
        e.name = "shop-mesh";
        e.field = "spec.egressFilter.type";
        e.message = "m";
        CHECK(r::format(e, files) ==
              "mesh/b.yaml:12:7: error: Mesh shop-mesh: spec.egressFilter.type: m");
    }
    SECTION("no field: the FIELD part is left out") {
        e.field.clear();
        e.message = "m";
        CHECK(r::format(e, files) == "mesh/b.yaml:12:7: error: VirtualNode shop/web: m");
    }
    SECTION("no object: only position and message") {
        const auto plain = item(0, 3, 4, "invalid YAML: illegal map value");
        CHECK(r::format(plain, files) == "a.yaml:3:4: error: invalid YAML: illegal map value");
    }
    SECTION("no line (a file that cannot be read): FILE: error: message") {
        const auto unreadable = item(0, 0, 0, "cannot read file: No such file or directory");
        CHECK(r::format(unreadable, files) ==
              "a.yaml: error: cannot read file: No such file or directory");
    }
    SECTION("no file (r::no_file): error: message") {
        const auto global = item(r::no_file, 0, 0, "--node: no virtual node named \"x\"");
        CHECK(r::format(global, files) == "error: --node: no virtual node named \"x\"");
    }
}

TEST_CASE("config_error: format_count gets singular and plural right", "[routing][config_error]") {
    r::diagnostics d;
    CHECK(r::format_count(d) == "0 errors, 0 warnings");
    d.error_at({0, 1, 1}, "a");
    d.warning_at({0, 1, 1}, "b");
    CHECK(r::format_count(d) == "1 error, 1 warning");
    d.error_at({0, 2, 1}, "c");
    d.warning_at({0, 2, 1}, "d");
    d.warning_at({0, 3, 1}, "e");
    CHECK(r::format_count(d) == "2 errors, 3 warnings");
    CHECK(d.error_count() == 2);
    CHECK(d.warning_count() == 3);
    CHECK(d.has_errors());
    CHECK_FALSE(r::diagnostics{}.has_errors());
}

TEST_CASE("config_error: closest is a case-insensitive Levenshtein match with a limit",
          "[routing][config_error]") {
    const std::vector<std::string> keys{"awsName", "listeners", "routes", "meshRef"};
    CHECK(r::closest("listener", keys) == "listeners");
    CHECK(r::closest("LISTENERS", keys) == "listeners");
    CHECK(r::closest("awsname", keys) == "awsName");
    CHECK(r::closest("rout", keys) == "routes");
    CHECK(r::closest("routes", keys) == "routes");
    // Limit max(2, len/3): two edits are always allowed, longer words allow a third of their
    // length.
    CHECK(r::closest("rtes", keys) == "routes");
    CHECK(r::closest("xyz", keys).empty());
    CHECK(r::closest("podSelector", keys).empty());
    CHECK(r::closest("lstnrs", keys).empty());          // 3 edits > max(2, 6/3)
    CHECK(r::closest("lstenrs", keys) == "listeners");  // 2 edits
    CHECK(r::closest("backendDefault", {"backendDefaults", "backends"}) == "backendDefaults");
    CHECK(r::closest("healthCheckk", {"healthCheck"}) == "healthCheck");
    CHECK(r::closest("xxxxxxxxxxxx", {"healthCheck"}).empty());
}

TEST_CASE("config_error: sort_and_dedupe orders by file name, line, column and drops duplicates",
          "[routing][config_error]") {
    // File indexes deliberately not in name order: sorting uses the names.
    const std::vector<std::string> files{"z.yaml", "a.yaml"};
    r::diagnostics d;
    d.add(item(0, 1, 1, "z first"));
    d.add(item(1, 9, 2, "a line 9"));
    d.add(item(1, 2, 5, "a 2:5 first"));
    d.add(item(1, 2, 5, "a 2:5 second"));
    d.add(item(1, 2, 3, "a 2:3"));
    d.add(item(1, 2, 5, "a 2:5 first"));  // exact duplicate, not adjacent to its twin
    auto warn = item(1, 2, 5, "a 2:5 first");
    warn.level = r::severity::warning;  // differs in level: kept
    d.add(warn);
    d.sort_and_dedupe(files);
    std::vector<std::string> order;
    for (const auto& e : d.items()) {
        order.push_back(e.message);
    }
    CHECK(order == std::vector<std::string>{"a 2:3", "a 2:5 first", "a 2:5 second", "a 2:5 first",
                                            "a line 9", "z first"});
    CHECK(d.items()[3].level == r::severity::warning);
}

TEST_CASE("config_error: diagnostics::error names the object and finds the field position",
          "[routing][config_error]") {
    const auto meta = sample_meta();
    r::diagnostics d;
    d.error(meta, "spec.routes[0].httpRoute.action.weightedTargets[1].weight",
            "weight out of range");
    d.warning(meta, "spec.routes[0].httpRoute.match.prefix", "w");
    REQUIRE(d.items().size() == 2);
    const auto& e = d.items()[0];
    CHECK(e.level == r::severity::error);
    CHECK(e.kind == "VirtualRouter");
    CHECK(e.ns == "shop");
    CHECK(e.name == "checkout");
    CHECK(e.field == "spec.routes[0].httpRoute.action.weightedTargets[1].weight");
    CHECK(e.loc.line == 20);
    CHECK(e.loc.col == 23);
    // Not recorded: the longest recorded prefix (spec.routes[0].httpRoute).
    CHECK(d.items()[1].level == r::severity::warning);
    CHECK(d.items()[1].loc.line == 12);
    CHECK(r::format(d.items()[0], {"f.yaml"}) ==
          "f.yaml:20:23: error: VirtualRouter shop/checkout: "
          "spec.routes[0].httpRoute.action.weightedTargets[1].weight: weight out of range");
}

TEST_CASE(
    "mesh_model: object_meta::where falls back to the longest recorded prefix, then the object",
    "[routing][model]") {
    const auto meta = sample_meta();
    CHECK(meta.where("metadata.name").line == 5);
    CHECK(meta.where("spec.routes[0]").line == 11);
    CHECK(meta.where("spec.routes[0].name").line == 11);       // strips `.name`
    CHECK(meta.where("spec.routes[3].httpRoute").line == 10);  // strips `.httpRoute`, `[3]`
    CHECK(meta.where("spec.routes[0].httpRoute.match.headers[2].name").line == 12);
    CHECK(meta.where("spec.listeners[0]").line == 3);  // nothing recorded: the object
    CHECK(meta.where("").line == 3);
    CHECK(meta.where("status").col == 1);
}

TEST_CASE("mesh_model: label selectors (matchLabels AND matchExpressions)", "[routing][model]") {
    const std::map<std::string, std::string> labels{{"mesh", "shop"}, {"tier", "web"}};
    r::label_selector empty;
    CHECK(empty.matches(labels));
    CHECK(empty.matches({}));

    r::label_selector s;
    s.match_labels = {{"mesh", "shop"}};
    CHECK(s.matches(labels));
    s.match_labels["tier"] = "db";
    CHECK_FALSE(s.matches(labels));
    s.match_labels["tier"] = "web";
    CHECK(s.matches(labels));
    CHECK_FALSE(s.matches({{"mesh", "shop"}}));

    using expr = r::label_selector::expression;
    const auto only = [](expr e) {
        r::label_selector sel;
        sel.match_expressions.push_back(std::move(e));
        return sel;
    };
    CHECK(only(expr{"tier", "In", {"api", "web"}}).matches(labels));
    CHECK_FALSE(only(expr{"tier", "In", {"api"}}).matches(labels));
    CHECK_FALSE(only(expr{"zone", "In", {"a"}}).matches(labels));
    CHECK(only(expr{"tier", "NotIn", {"db"}}).matches(labels));
    CHECK_FALSE(only(expr{"tier", "NotIn", {"web"}}).matches(labels));
    CHECK(only(expr{"zone", "NotIn", {"a"}}).matches(labels));  // absent key: NotIn holds
    CHECK(only(expr{"mesh", "Exists", {}}).matches(labels));
    CHECK_FALSE(only(expr{"zone", "Exists", {}}).matches(labels));
    CHECK(only(expr{"zone", "DoesNotExist", {}}).matches(labels));
    CHECK_FALSE(only(expr{"mesh", "DoesNotExist", {}}).matches(labels));
    CHECK_FALSE(only(expr{"mesh", "Bogus", {}}).matches(labels));

    // Both parts must hold.
    r::label_selector both = only(expr{"tier", "In", {"web"}});
    both.match_labels = {{"mesh", "other"}};
    CHECK_FALSE(both.matches(labels));
    both.match_labels = {{"mesh", "shop"}};
    CHECK(both.matches(labels));
}

TEST_CASE("mesh_model: to_string of protocols and route kinds", "[routing][model]") {
    CHECK(std::string(r::to_string(r::protocol::http)) == "http");
    CHECK(std::string(r::to_string(r::protocol::http2)) == "http2");
    CHECK(std::string(r::to_string(r::protocol::grpc)) == "grpc");
    CHECK(std::string(r::to_string(r::protocol::tcp)) == "tcp");
    CHECK(std::string(r::to_string(r::route_kind::http)) == "http");
    CHECK(std::string(r::to_string(r::route_kind::http2)) == "http2");
    CHECK(std::string(r::to_string(r::route_kind::grpc)) == "grpc");
    CHECK(std::string(r::to_string(r::route_kind::tcp)) == "tcp");
}
