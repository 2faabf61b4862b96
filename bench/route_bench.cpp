// Micro-benchmark (not a test): generates a mesh of N virtual services, each with a router and
// two weighted nodes, then times load + resolve + validate + compile and the route decision.
//   build/bench/bench_route_bench [N=10000] [decisions=2000000]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include <fmt/format.h>

#include "routing/compile.hpp"
#include "routing/resolve.hpp"
#include "routing/validate.hpp"
#include "routing/yaml_loader.hpp"

using namespace outrigger::routing;
using clock_type = std::chrono::steady_clock;

namespace {

std::string generate(int n) {
    std::string y;
    y.reserve(static_cast<std::size_t>(n) * 1400);
    y += "apiVersion: v1\nkind: Namespace\nmetadata: {name: bench, labels: {mesh: bench}}\n---\n"
         "apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: {name: bench}\n"
         "spec: {namespaceSelector: {matchLabels: {mesh: bench}}}\n";
    for (int i = 0; i < n; ++i) {
        for (const char* v : {"v1", "v2"}) {
            y += fmt::format(
                "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\n"
                "metadata: {{name: svc{0}-{1}, namespace: bench}}\nspec:\n"
                "  listeners: [{{portMapping: {{port: 8080, protocol: http}}}}]\n"
                "  serviceDiscovery: {{dns: {{hostname: svc{0}-{1}.bench.svc.cluster.local}}}}\n",
                i, v);
        }
        y += fmt::format(
            "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualRouter\n"
            "metadata: {{name: svc{0}, namespace: bench}}\nspec:\n"
            "  listeners: [{{portMapping: {{port: 8080, protocol: http}}}}]\n"
            "  routes:\n"
            "    - name: api\n"
            "      priority: 1\n"
            "      httpRoute:\n"
            "        match: {{prefix: /api, headers: [{{name: x-canary, match: {{exact: \"yes\"}}}}]}}\n"
            "        action: {{weightedTargets: [{{virtualNodeRef: {{name: svc{0}-v2}}, weight: 1}}]}}\n"
            "    - name: canary\n"
            "      httpRoute:\n"
            "        match: {{prefix: /}}\n"
            "        action:\n"
            "          weightedTargets:\n"
            "            - {{virtualNodeRef: {{name: svc{0}-v1}}, weight: 90}}\n"
            "            - {{virtualNodeRef: {{name: svc{0}-v2}}, weight: 10}}\n"
            "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService\n"
            "metadata: {{name: svc{0}, namespace: bench}}\n"
            "spec: {{provider: {{virtualRouter: {{virtualRouterRef: {{name: svc{0}}}}}}}}}\n",
            i);
    }
    return y;
}

double ms_since(clock_type::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    const int n = argc > 1 ? std::atoi(argv[1]) : 10000;
    const long decisions = argc > 2 ? std::atol(argv[2]) : 2000000;
    const std::string yaml = generate(n);

    auto t0 = clock_type::now();
    mesh_input in;
    diagnostics diags;
    load_string(yaml, "generated.yaml", in, diags);
    const double load_ms = ms_since(t0);
    auto t1 = clock_type::now();
    const auto which = resolve(in, resolve_options{}, diags);
    const mesh_index index(in);
    validate(in, index, validate_options{}, diags);
    const double validate_ms = ms_since(t1);
    auto t2 = clock_type::now();
    auto snap = compile(in, index, which, compile_options{});
    const double compile_ms = ms_since(t2);
    if (diags.has_errors() || !snap) {
        std::fprintf(stderr, "generated mesh is invalid (%zu errors)\n", diags.error_count());
        return 1;
    }
    std::printf("mesh: %d virtual services, %zu routes, %zu targets, %.1f MB of YAML\n", n,
                snap->routes.size(), snap->targets.size(), static_cast<double>(yaml.size()) / 1e6);
    std::printf("load %.0f ms + resolve/validate %.0f ms + compile %.0f ms = %.0f ms\n", load_ms,
                validate_ms, compile_ms, load_ms + validate_ms + compile_ms);

    // Requests spread over all services; a quarter take the header route. The request views and
    // random values are prepared first (in one contiguous buffer) so the timed loop measures the
    // decision, not the benchmark's own string handling.
    constexpr std::size_t batch = 1 << 16;
    std::string host_buf;
    host_buf.reserve(batch * 16);
    std::vector<std::pair<std::size_t, std::size_t>> host_spans;
    std::mt19937 rng(42);
    for (std::size_t i = 0; i < batch; ++i) {
        const std::string h = fmt::format("svc{}.bench", rng() % static_cast<unsigned>(n));
        host_spans.emplace_back(host_buf.size(), h.size());
        host_buf += h;
    }
    const header_view canary_headers[] = {{"user-agent", "wrk"}, {"x-canary", "yes"}, {"accept", "*/*"}};
    const header_view plain_headers[] = {{"user-agent", "wrk"}, {"accept", "*/*"}};
    std::vector<request_view> reqs(batch);
    std::vector<std::uint32_t> randoms(batch);
    for (std::size_t i = 0; i < batch; ++i) {
        request_view& r = reqs[i];
        r.method = "GET";
        r.path = (i & 3) == 0 ? "/api/items" : "/index.html";
        r.host = std::string_view(host_buf).substr(host_spans[i].first, host_spans[i].second);
        r.port = 8080;
        if ((i & 3) == 0) {
            r.headers = canary_headers;
        } else {
            r.headers = plain_headers;
        }
        randoms[i] = static_cast<std::uint32_t>(rng());
    }
    std::size_t to_v2 = 0;
    auto t3 = clock_type::now();
    for (long i = 0; i < decisions; ++i) {
        const std::size_t k = static_cast<std::size_t>(i) & (batch - 1);
        const auto d = decide(*snap, reqs[k], randoms[k]);
        to_v2 += d.target->node_name.ends_with("-v2") ? 1 : 0;
    }
    const double decide_ms = ms_since(t3);
    std::printf("%ld decisions in %.0f ms: %.0f ns per decision; %.1f%% to v2\n", decisions,
                decide_ms, decide_ms * 1e6 / static_cast<double>(decisions),
                100.0 * static_cast<double>(to_v2) / static_cast<double>(decisions));
    return 0;
}
