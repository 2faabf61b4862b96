#include "proxy/metrics.hpp"

#include <algorithm>
#include <bit>
#include <iterator>

#include <fmt/format.h>

#include "proxy/errors.hpp"
#include "routing/gateway.hpp"

namespace outrigger::proxy {

namespace {

constexpr std::size_t first_chunk = 64;

/// chunk k covers [64·(2^k − 1), 64·(2^(k+1) − 1)).
std::pair<std::size_t, std::size_t> locate(std::uint32_t i) {
    const std::size_t q = i / first_chunk + 1;
    const std::size_t k = static_cast<std::size_t>(std::bit_width(q)) - 1;
    const std::size_t base = first_chunk * ((std::size_t{1} << k) - 1);
    return {k, i - base};
}

std::size_t chunk_size(std::size_t k) { return first_chunk << k; }

std::string key_of(const std::vector<std::pair<std::string, std::string>>& labels) {
    std::string k;
    for (const auto& [n, v] : labels) {
        k += n;
        k.push_back('\x1f');
        k += v;
        k.push_back('\x1e');
    }
    return k;
}

/// Short names of the response flags, by bit (derived from format_flags so a flag added to the
/// error enum shows up here without an edit).
const std::array<std::string, max_flags>& flag_names() {
    static const std::array<std::string, max_flags> names = [] {
        std::array<std::string, max_flags> n;
        for (std::size_t b = 0; b < max_flags; ++b) {
            char buf[64];
            const std::size_t len = format_flags(1u << b, buf);
            const std::string s(buf, len);
            if (s != "-") {
                n[b] = s;
            }
        }
        return n;
    }();
    return names;
}

std::uint64_t load(const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); }

}  // namespace

void stat_slot::record(unsigned status, std::uint32_t flag_bits, std::uint32_t attempts,
                       std::chrono::microseconds duration) {
    inc(rq_total);
    if (status >= 100 && status < 600) {
        inc(rq_xx[status / 100 - 1]);
    }
    for (std::uint32_t bits = flag_bits; bits != 0; bits &= bits - 1) {
        const auto b = static_cast<std::size_t>(std::countr_zero(bits));
        if (b < max_flags) {
            inc(flags[b]);
        }
    }
    if (attempts > 1) {
        inc(rq_retry, attempts - 1);
    }
    if ((flag_bits & flag_ut) != 0) {
        inc(rq_timeout);
    }
    if ((flag_bits & flag_uo) != 0) {
        inc(rq_pending_overflow);
    }
    const double ms = static_cast<double>(duration.count()) / 1000.0;
    std::size_t b = 0;
    while (b < duration_buckets_ms.size() && ms > duration_buckets_ms[b]) {
        ++b;
    }
    inc(rq_time[b]);
    inc(rq_time_sum_us, static_cast<std::uint64_t>(std::max<std::int64_t>(0, duration.count())));
}

metrics::slot_array::slot_array() {
    for (auto& c : chunks_) {
        c.store(nullptr, std::memory_order_relaxed);
    }
}

metrics::slot_array::~slot_array() {
    for (auto& c : chunks_) {
        delete[] c.load(std::memory_order_relaxed);
    }
}

void metrics::slot_array::ensure(std::size_t n) {
    if (n == 0) {
        return;
    }
    const auto [last, off] = locate(static_cast<std::uint32_t>(n - 1));
    (void)off;
    for (std::size_t k = 0; k <= last && k < max_chunks; ++k) {
        if (chunks_[k].load(std::memory_order_relaxed) == nullptr) {
            chunks_[k].store(new stat_slot[chunk_size(k)], std::memory_order_release);
        }
    }
}

stat_slot& metrics::slot_array::at(std::uint32_t i) {
    const auto [k, off] = locate(i);
    return chunks_[k].load(std::memory_order_acquire)[off];
}

metrics::metrics(unsigned workers) : workers_(workers == 0 ? 1 : workers) {
    for (std::size_t i = 0; i < workers_ * stat_family_count; ++i) {
        arrays_.push_back(std::make_unique<slot_array>());
    }
}

metrics::~metrics() = default;

std::uint32_t metrics::slot_locked(stat_family f,
                                   const std::vector<std::pair<std::string, std::string>>& labels,
                                   std::uint32_t parent) {
    auto& fam = names_[static_cast<std::size_t>(f)];
    const std::string key = key_of(labels);
    const auto it = fam.by_key.find(key);
    if (it != fam.by_key.end()) {
        return it->second;
    }
    const auto idx = static_cast<std::uint32_t>(fam.labels.size());
    // Allocate the storage in every worker before the index escapes.
    for (unsigned w = 0; w < workers_; ++w) {
        arrays_[w * stat_family_count + static_cast<std::size_t>(f)]->ensure(idx + 1);
    }
    fam.by_key.emplace(key, idx);
    fam.labels.push_back(labels);
    fam.parent.push_back(parent);
    return idx;
}

std::uint32_t metrics::slot(stat_family f, const std::vector<std::pair<std::string, std::string>>& labels) {
    std::lock_guard<std::mutex> lk(mu_);
    return slot_locked(f, labels, UINT32_MAX);
}

std::uint32_t metrics::endpoint_slot(std::uint32_t cluster, const std::string& endpoint) {
    std::lock_guard<std::mutex> lk(mu_);
    const auto& cl = names_[static_cast<std::size_t>(stat_family::cluster)];
    std::string cluster_name;
    if (cluster < cl.labels.size() && !cl.labels[cluster].empty()) {
        cluster_name = cl.labels[cluster].front().second;
    }
    return slot_locked(stat_family::endpoint,
                       {{"envoy_cluster_name", cluster_name}, {"endpoint", endpoint}}, cluster);
}

std::shared_ptr<const stats_map> metrics::map_for(const routing::snapshot& snap) {
    // The lock is taken per slot, never for the whole mesh (~14 ms at 10,000 services): a worker
    // that needs a new endpoint slot meanwhile waits for one slot at most.
    auto m = std::make_shared<stats_map>();
    m->listener_egress = slot(stat_family::listener, {{"listener", "egress"}});
    m->listener_ingress = slot(stat_family::listener, {{"listener", "ingress"}});
    for (const auto& s : snap.services) {
        m->services.push_back(slot(stat_family::vhost, {{"virtual_service", s.name}}));
    }
    for (const auto& r : snap.routes) {
        m->routes.push_back(slot(stat_family::route,
                                 {{"virtual_router", r.router_name}, {"route", r.name}}));
    }
    for (const auto& t : snap.targets) {
        m->targets.push_back(slot(stat_family::cluster, {{"envoy_cluster_name", t.cluster_name},
                                                         {"virtual_node", t.node_name}}));
    }
    const std::string node = snap.node_name.value_or("");
    for (const auto& l : snap.ingress) {
        m->ingress.push_back(slot(
            stat_family::cluster,
            {{"envoy_cluster_name", fmt::format("cds_ingress_{}_{}_{}_{}", snap.mesh_name,
                                                snap.node_aws_name, routing::to_string(l.proto), l.port)},
             {"virtual_node", node}}));
    }
    m->passthrough =
        slot(stat_family::cluster, {{"envoy_cluster_name", "egress_passthrough"}, {"virtual_node", ""}});
    // TCP proxy prefixes: only tcp members get a slot (an HTTP mesh of 10,000 services adds none).
    for (const auto& t : snap.targets) {
        m->tcp_targets.push_back(t.proto == routing::protocol::tcp
                                     ? slot(stat_family::tcp, {{"envoy_tcp_prefix", t.cluster_name}})
                                     : UINT32_MAX);
    }
    for (const auto& l : snap.ingress) {
        m->tcp_ingress.push_back(
            l.proto == routing::protocol::tcp
                ? slot(stat_family::tcp,
                       {{"envoy_tcp_prefix", fmt::format("cds_ingress_{}_{}_tcp_{}", snap.mesh_name,
                                                         snap.node_aws_name, l.port)}})
                : UINT32_MAX);
    }
    m->tcp_passthrough = slot(stat_family::tcp, {{"envoy_tcp_prefix", "egress_passthrough"}});
    if (snap.gateway != nullptr) {
        for (const auto& l : snap.gateway->listeners) {
            m->listener_gateway.emplace_back(
                l.port, slot(stat_family::listener, {{"listener", fmt::format("gateway_{}", l.port)}}));
        }
        for (const auto& r : snap.gateway->routes) {
            m->gateway_routes.push_back(slot(stat_family::gateway_route,
                                             {{"virtual_gateway", snap.gateway->gateway_name},
                                              {"gateway_route", r.name}}));
        }
    }
    return m;
}

std::vector<metrics::member> metrics::collect() const {
    std::vector<member> out;
    std::lock_guard<std::mutex> lk(mu_);
    for (std::size_t f = 0; f < stat_family_count; ++f) {
        const auto& fam = names_[f];
        for (std::uint32_t i = 0; i < fam.labels.size(); ++i) {
            member m{static_cast<stat_family>(f), fam.labels[i], fam.parent[i], {}};
            for (unsigned w = 0; w < workers_; ++w) {
                stat_slot& s = arrays_[w * stat_family_count + f]->at(i);
                m.t.rq_total += load(s.rq_total);
                m.t.rq_retry += load(s.rq_retry);
                m.t.rq_timeout += load(s.rq_timeout);
                m.t.ejections += load(s.ejections);
                m.t.overflow += load(s.rq_pending_overflow);
                m.t.rq_active += load(s.rq_active);
                m.t.cx_total += load(s.cx_total);
                m.t.cx_active += load(s.cx_active);
                m.t.cx_rx_bytes += load(s.cx_rx_bytes);
                m.t.cx_tx_bytes += load(s.cx_tx_bytes);
                m.t.rq_time_sum_us += load(s.rq_time_sum_us);
                for (std::size_t k = 0; k < 5; ++k) {
                    m.t.rq_xx[k] += load(s.rq_xx[k]);
                }
                for (std::size_t k = 0; k < max_flags; ++k) {
                    m.t.flags[k] += load(s.flags[k]);
                }
                for (std::size_t k = 0; k < m.t.rq_time.size(); ++k) {
                    m.t.rq_time[k] += load(s.rq_time[k]);
                }
            }
            out.push_back(std::move(m));
        }
    }
    return out;
}

// ---- rendering ------------------------------------------------------------------------------

namespace {

struct family_info {
    const char* prom_prefix;   // Prometheus name prefix
    const char* envoy_prefix;  // /stats name prefix
    const char* what;          // HELP text subject
};

constexpr family_info families[stat_family_count] = {
    {"envoy_http_downstream_", "http", "listener"},
    {"envoy_vhost_", "vhost", "virtual service"},
    {"envoy_route_", "route", "route"},
    {"envoy_cluster_upstream_", "cluster", "target cluster"},
    {"envoy_cluster_endpoint_upstream_", "cluster_endpoint", "endpoint"},
    {"envoy_tcp_", "tcp", "TCP proxy prefix"},
    {"envoy_gateway_route_", "gateway_route", "gateway route"},
};

/// TCP proxy counters: Envoy's tcp_proxy names; the flag counters are the connections that ended
/// with that response flag (UF = upstream_cx_connect_fail, as Envoy's cluster counter).
struct tcp_counter {
    const char* name;
    const char* help;
    std::uint32_t flag;  // 0: not a flag counter
};
constexpr tcp_counter tcp_flag_counters[] = {
    {"downstream_cx_no_route", "Connections refused by the egress filter or without a route (NR)", flag_nr},
    {"upstream_cx_none_healthy", "Connections with no healthy upstream endpoint (UH)", flag_uh},
    {"upstream_cx_connect_fail", "Connections whose upstream connect failed after retries (UF)", flag_uf},
    {"upstream_cx_overflow", "Connections over connectionPool.tcp.maxConnections (UO)", flag_uo},
    {"upstream_cx_destroy_remote", "Connections the upstream reset (UC)", flag_uc},
    {"idle_timeout", "Connections closed by the idle timeout (SI)", flag_si},
};

std::size_t bit_of(std::uint32_t flag) { return static_cast<std::size_t>(std::countr_zero(flag)); }

void escape_label(std::string& out, std::string_view v) {
    for (const char c : v) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out.push_back(c);
        }
    }
}

std::string label_text(const std::vector<std::pair<std::string, std::string>>& labels,
                       std::string_view extra_name = {}, std::string_view extra_value = {}) {
    std::string s = "{";
    bool first = true;
    for (const auto& [n, v] : labels) {
        if (!first) {
            s.push_back(',');
        }
        first = false;
        s += n;
        s += "=\"";
        escape_label(s, v);
        s.push_back('"');
    }
    if (!extra_name.empty()) {
        if (!first) {
            s.push_back(',');
        }
        s += extra_name;
        s += "=\"";
        escape_label(s, extra_value);
        s.push_back('"');
    }
    s.push_back('}');
    return s;
}

/// Envoy-style dotted name of a member: labels joined with '.', dots in values kept.
std::string envoy_name(const metrics::member& m) {
    std::string s = families[static_cast<std::size_t>(m.family)].envoy_prefix;
    for (const auto& [n, v] : m.labels) {
        if (n == "virtual_node") {
            continue;  // implied by the cluster name
        }
        s.push_back('.');
        s += v.empty() ? std::string("_") : v;
    }
    return s;
}

}  // namespace

std::string metrics::render_prometheus(const std::vector<std::pair<std::string, double>>& gauges) const {
    const auto members = collect();
    std::string out;
    auto emit_family = [&](std::size_t f, const char* suffix, const char* type, const char* help,
                           auto&& body) {
        const std::string name = std::string(families[f].prom_prefix) + suffix;
        out += fmt::format("# HELP {} {} per {}.\n# TYPE {} {}\n", name, help, families[f].what, name, type);
        for (const auto& m : members) {
            if (static_cast<std::size_t>(m.family) == f) {
                body(name, m);
            }
        }
    };
    const auto& fnames = flag_names();
    for (std::size_t f = 0; f < stat_family_count; ++f) {
        if (f == static_cast<std::size_t>(stat_family::tcp)) {
            continue;  // connections, not requests: below
        }
        emit_family(f, "rq_total", "counter", "Requests", [&](const std::string& n, const member& m) {
            out += fmt::format("{}{} {}\n", n, label_text(m.labels), m.t.rq_total);
        });
        emit_family(f, "rq_xx", "counter", "Responses by status class", [&](const std::string& n, const member& m) {
            for (std::size_t k = 0; k < 5; ++k) {
                out += fmt::format("{}{} {}\n", n,
                                   label_text(m.labels, "envoy_response_code_class", std::to_string(k + 1)),
                                   m.t.rq_xx[k]);
            }
        });
        emit_family(f, "rq_response_flags", "counter", "Responses by Envoy response flag",
                    [&](const std::string& n, const member& m) {
                        for (std::size_t k = 0; k < max_flags; ++k) {
                            if (!fnames[k].empty()) {
                                out += fmt::format("{}{} {}\n", n, label_text(m.labels, "flag", fnames[k]),
                                                   m.t.flags[k]);
                            }
                        }
                    });
        emit_family(f, "rq_retry", "counter", "Retries", [&](const std::string& n, const member& m) {
            out += fmt::format("{}{} {}\n", n, label_text(m.labels), m.t.rq_retry);
        });
        emit_family(f, "rq_timeout", "counter", "Requests that timed out (UT)", [&](const std::string& n, const member& m) {
            out += fmt::format("{}{} {}\n", n, label_text(m.labels), m.t.rq_timeout);
        });
        emit_family(f, "rq_pending_overflow", "counter", "Connection pool overflows (UO)",
                    [&](const std::string& n, const member& m) {
                        out += fmt::format("{}{} {}\n", n, label_text(m.labels), m.t.overflow);
                    });
        emit_family(f, "outlier_ejections", "counter", "Outlier ejections", [&](const std::string& n, const member& m) {
            out += fmt::format("{}{} {}\n", n, label_text(m.labels), m.t.ejections);
        });
        emit_family(f, "rq_active", "gauge", "Requests in flight", [&](const std::string& n, const member& m) {
            out += fmt::format("{}{} {}\n", n, label_text(m.labels), m.t.rq_active);
        });
        if (f == static_cast<std::size_t>(stat_family::listener)) {
            emit_family(f, "cx_total", "counter", "Downstream connections accepted",
                        [&](const std::string& n, const member& m) {
                            out += fmt::format("{}{} {}\n", n, label_text(m.labels), m.t.cx_total);
                        });
            emit_family(f, "cx_active", "gauge", "Downstream connections open",
                        [&](const std::string& n, const member& m) {
                            out += fmt::format("{}{} {}\n", n, label_text(m.labels), m.t.cx_active);
                        });
        }
        emit_family(f, "rq_time", "histogram", "Request duration in milliseconds",
                    [&](const std::string& n, const member& m) {
                        std::uint64_t cum = 0;
                        for (std::size_t k = 0; k < duration_buckets_ms.size(); ++k) {
                            cum += m.t.rq_time[k];
                            out += fmt::format("{}_bucket{} {}\n", n,
                                               label_text(m.labels, "le", fmt::format("{}", duration_buckets_ms[k])),
                                               cum);
                        }
                        cum += m.t.rq_time.back();
                        out += fmt::format("{}_bucket{} {}\n", n, label_text(m.labels, "le", "+Inf"), cum);
                        out += fmt::format("{}_sum{} {}\n", n, label_text(m.labels),
                                           static_cast<double>(m.t.rq_time_sum_us) / 1000.0);
                        out += fmt::format("{}_count{} {}\n", n, label_text(m.labels), cum);
                    });
    }
    {
        const std::size_t f = static_cast<std::size_t>(stat_family::tcp);
        const auto value = [&](const char* suffix, const char* type, const char* help, auto&& get) {
            emit_family(f, suffix, type, help, [&](const std::string& n, const member& m) {
                out += fmt::format("{}{} {}\n", n, label_text(m.labels), get(m.t));
            });
        };
        value("downstream_cx_total", "counter", "TCP connections", [](const totals& t) { return t.cx_total; });
        value("downstream_cx_active", "gauge", "TCP connections open", [](const totals& t) { return t.cx_active; });
        value("downstream_cx_rx_bytes_total", "counter", "Bytes received from downstream",
              [](const totals& t) { return t.cx_rx_bytes; });
        value("downstream_cx_tx_bytes_total", "counter", "Bytes sent to downstream",
              [](const totals& t) { return t.cx_tx_bytes; });
        value("upstream_cx_connect_retry", "counter", "Upstream connect retries",
              [](const totals& t) { return t.rq_retry; });
        for (const auto& c : tcp_flag_counters) {
            const std::size_t b = bit_of(c.flag);
            value(c.name, "counter", c.help, [b](const totals& t) { return t.flags[b]; });
        }
    }
    auto counter = [&](const char* name, const char* help, std::uint64_t v) {
        out += fmt::format("# HELP {} {}\n# TYPE {} counter\n{} {}\n", name, help, name, name, v);
    };
    counter("envoy_server_config_reload_success", "Reloads that published a new snapshot.",
            config_reload_success.load());
    counter("envoy_server_config_reload_failed", "Reloads refused (invalid mesh); the old snapshot stays.",
            config_reload_failed.load());
    counter("envoy_server_config_reload_skipped", "Reloads skipped because the mesh files did not change.",
            config_reload_skipped.load());
    for (const auto& [name, v] : gauges) {
        out += fmt::format("# TYPE {} gauge\n{} {}\n", name, name, v);
    }
    return out;
}

std::string metrics::render_envoy(const std::vector<std::pair<std::string, double>>& gauges) const {
    const auto members = collect();
    std::vector<std::string> lines;
    const auto& fnames = flag_names();
    for (const auto& m : members) {
        const std::string base = envoy_name(m);
        if (m.family == stat_family::tcp) {
            lines.push_back(fmt::format("{}.downstream_cx_total: {}", base, m.t.cx_total));
            lines.push_back(fmt::format("{}.downstream_cx_active: {}", base, m.t.cx_active));
            lines.push_back(fmt::format("{}.downstream_cx_rx_bytes_total: {}", base, m.t.cx_rx_bytes));
            lines.push_back(fmt::format("{}.downstream_cx_tx_bytes_total: {}", base, m.t.cx_tx_bytes));
            lines.push_back(fmt::format("{}.upstream_cx_connect_retry: {}", base, m.t.rq_retry));
            for (const auto& c : tcp_flag_counters) {
                lines.push_back(fmt::format("{}.{}: {}", base, c.name, m.t.flags[bit_of(c.flag)]));
            }
            continue;
        }
        const bool up = m.family == stat_family::cluster || m.family == stat_family::endpoint;
        const std::string rq = up ? "upstream_rq" : (m.family == stat_family::listener ? "downstream_rq" : "rq");
        lines.push_back(fmt::format("{}.{}_total: {}", base, rq, m.t.rq_total));
        for (std::size_t k = 0; k < 5; ++k) {
            lines.push_back(fmt::format("{}.{}_{}xx: {}", base, rq, k + 1, m.t.rq_xx[k]));
        }
        for (std::size_t k = 0; k < max_flags; ++k) {
            if (!fnames[k].empty() && m.t.flags[k] > 0) {
                lines.push_back(fmt::format("{}.{}_flag_{}: {}", base, rq, fnames[k], m.t.flags[k]));
            }
        }
        lines.push_back(fmt::format("{}.{}_retry: {}", base, rq, m.t.rq_retry));
        lines.push_back(fmt::format("{}.{}_timeout: {}", base, rq, m.t.rq_timeout));
        lines.push_back(fmt::format("{}.{}_pending_overflow: {}", base, rq, m.t.overflow));
        lines.push_back(fmt::format("{}.{}_active: {}", base, rq, m.t.rq_active));
        if (up) {
            lines.push_back(fmt::format("{}.outlier_detection.ejections_total: {}", base, m.t.ejections));
        }
        if (m.family == stat_family::listener) {
            lines.push_back(fmt::format("{}.downstream_cx_total: {}", base, m.t.cx_total));
            lines.push_back(fmt::format("{}.downstream_cx_active: {}", base, m.t.cx_active));
        }
    }
    lines.push_back(fmt::format("server.config_reload_success: {}", config_reload_success.load()));
    lines.push_back(fmt::format("server.config_reload_failed: {}", config_reload_failed.load()));
    lines.push_back(fmt::format("server.config_reload_skipped: {}", config_reload_skipped.load()));
    for (const auto& [name, v] : gauges) {
        std::string n = name;
        if (n.rfind("envoy_", 0) == 0) {
            n = n.substr(6);
        }
        const auto us = n.find('_');
        if (us != std::string::npos) {
            n[us] = '.';
        }
        lines.push_back(fmt::format("{}: {}", n, v));
    }
    std::sort(lines.begin(), lines.end());
    std::string out;
    for (const auto& l : lines) {
        out += l;
        out.push_back('\n');
    }
    return out;
}

}  // namespace outrigger::proxy
