#include "proxy/server.hpp"

#include <fmt/format.h>

#include "proxy/log.hpp"
#include "routing/gateway.hpp"

namespace outrigger::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;

server::server(server_config cfg, std::shared_ptr<const routing::snapshot> snap)
    : cfg_(std::move(cfg)),
      store_(std::move(snap)),
      metrics_(std::make_unique<metrics>(cfg_.workers == 0 ? 1 : cfg_.workers)) {}

server::~server() { stop(); }

namespace {

/// The JSON format used by `--access-log-format json` when the node has no JSON format: Envoy's
/// default fields under readable keys, plus ours (and, in gateway mode, the GatewayRoute).
std::vector<std::pair<std::string, std::string>> default_json_fields(bool gateway) {
    std::vector<std::pair<std::string, std::string>> f = {{"start_time", "%START_TIME%"},
            {"method", "%REQ(:METHOD)%"},
            {"path", "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"},
            {"protocol", "%PROTOCOL%"},
            {"response_code", "%RESPONSE_CODE%"},
            {"response_flags", "%RESPONSE_FLAGS%"},
            {"bytes_received", "%BYTES_RECEIVED%"},
            {"bytes_sent", "%BYTES_SENT%"},
            {"duration", "%DURATION%"},
            {"upstream_service_time", "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%"},
            {"x_forwarded_for", "%REQ(X-FORWARDED-FOR)%"},
            {"user_agent", "%REQ(USER-AGENT)%"},
            {"request_id", "%REQ(X-REQUEST-ID)%"},
            {"authority", "%REQ(:AUTHORITY)%"},
            {"upstream_host", "%UPSTREAM_HOST%"},
            {"upstream_cluster", "%UPSTREAM_CLUSTER%"},
            {"upstream_attempts", "%UPSTREAM_ATTEMPTS%"},
            {"listener", "%LISTENER%"}};
    if (gateway) {
        f.emplace_back("gateway_route", "%GATEWAY_ROUTE%");
    }
    return f;
}

}  // namespace

std::shared_ptr<const worker::ops_state> server::make_ops(const routing::snapshot& snap,
                                                          std::string& err) {
    auto ops = std::make_shared<worker::ops_state>();
    ops->stats = metrics_->map_for(snap);
    // Format precedence: --access-log-format, else the node's logging.accessLog.file.format,
    // else Envoy's default text format.
    format_parse_error perr;
    const bool node_log = snap.access_log.has_value();
    if (cfg_.access_log_format_set) {
        ops->format = cfg_.access_log_format == "json"
                          ? parse_json_format(default_json_fields(snap.gateway != nullptr), perr)
                          : parse_text_format(envoy_default_format, perr);
    } else if (node_log && snap.access_log->text_format) {
        ops->format = parse_text_format(*snap.access_log->text_format, perr);
        if (!ops->format) {
            err = fmt::format("logging.accessLog.file.format.text: column {}: {}", perr.offset + 1,
                              perr.message);
            return nullptr;
        }
    } else if (node_log && !snap.access_log->json_format.empty()) {
        ops->format = parse_json_format(snap.access_log->json_format, perr);
        if (!ops->format) {
            err = fmt::format("logging.accessLog.file.format.json: {}", perr.message);
            return nullptr;
        }
    } else {
        ops->format = parse_text_format(envoy_default_format, perr);
    }
    return ops;
}

std::shared_ptr<const worker::ops_state> server::ops_for(const snapshot_store::snapshot_ptr& s) {
    std::lock_guard<std::mutex> lk(ops_mu_);
    if (s != ops_snap_ || !ops_) {
        // Published through store() directly (tests): derive the state here; a format error
        // falls back to Envoy's default (publish() reports it instead).
        std::string err;
        auto ops = s ? make_ops(*s, err) : nullptr;
        if (!ops) {
            auto fallback = std::make_shared<worker::ops_state>();
            fallback->stats = s ? metrics_->map_for(*s) : std::make_shared<stats_map>();
            format_parse_error perr;
            fallback->format = parse_text_format(envoy_default_format, perr);
            ops = std::move(fallback);
        }
        ops_snap_ = s;
        ops_ = std::move(ops);
        ++generation_;
    }
    return ops_;
}

bool server::publish(std::shared_ptr<const routing::snapshot> snap, std::string& err) {
    auto ops = snap ? make_ops(*snap, err) : nullptr;
    if (!ops) {
        if (err.empty()) {
            err = "no snapshot";
        }
        return false;
    }
    publish_prepared(std::move(snap), std::move(ops));
    return true;
}

void server::publish_prepared(std::shared_ptr<const routing::snapshot> snap,
                              std::shared_ptr<const worker::ops_state> ops) {
    {
        std::lock_guard<std::mutex> lk(ops_mu_);
        ops_snap_ = snap;
        ops_ = std::move(ops);
        ++generation_;
    }
    store_.publish(std::move(snap));
}

bool server::ready() const {
    return running_.load() && !draining_.load() && !healthcheck_failed_.load() &&
           !listeners_closed_.load() && store_.current() != nullptr;
}

void server::begin_drain() {
    draining_.store(true);
    for (auto& w : workers_) {
        w->set_draining();
    }
}

void server::close_listeners() {
    listeners_closed_.store(true);
    for (auto& w : workers_) {
        w->close_listeners();
    }
}

std::uint64_t server::active_requests() {
    std::uint64_t n = 0;
    for (const auto& m : metrics_->collect()) {
        if (m.family == stat_family::listener) {
            n += m.t.rq_active;
        }
    }
    return n;
}

std::vector<std::pair<std::string, double>> server::server_gauges() {
    const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now() - started_at_)
                            .count();
    return {{"envoy_server_live", ready() ? 1.0 : 0.0},
            {"envoy_server_draining", draining() ? 1.0 : 0.0},
            {"envoy_server_uptime", static_cast<double>(uptime)},
            {"envoy_server_snapshot_generation", static_cast<double>(generation())},
            {"envoy_access_log_dropped", log_ ? static_cast<double>(log_->dropped()) : 0.0}};
}

bool server::listen_gateway(worker& w, const net::ip::address& addr) {
    // Port 0 is resolved by the first worker; the others bind the port it got.
    for (auto& b : gateway_bindings_) {
        std::string err;
        const auto gp = w.listen_gateway(b.listener_port, tcp::endpoint(addr, b.local_port), err);
        if (gp == 0) {
            error_ = fmt::format("cannot listen on {}:{} (gateway listener {}): {}",
                                 cfg_.gateway_address, b.local_port, b.listener_port, err);
            store_.clear_subscribers();
            workers_.clear();
            return false;
        }
        b.local_port = gp;
    }
    return true;
}

bool server::start() {
    const unsigned nworkers = cfg_.workers == 0 ? 1 : cfg_.workers;
    const auto first = store_.current();
    std::string ops_err;
    auto first_ops = first ? make_ops(*first, ops_err) : nullptr;
    if (first && !first_ops) {
        error_ = ops_err;
        return false;
    }
    if (first_ops) {
        std::lock_guard<std::mutex> lk(ops_mu_);
        ops_snap_ = first;
        ops_ = first_ops;
        generation_ = 1;
    }
    // --access-log wins over the node's logging.accessLog.file.path. The path is fixed for the
    // process lifetime (a reload that changes it is reported, not applied).
    std::string log_path = cfg_.access_log_path;
    if (log_path.empty() && first && first->access_log && !first->access_log->path.empty()) {
        log_path = first->access_log->path;
    }
    if (!log_path.empty()) {
        log_ = std::make_unique<access_log>(log_path, nworkers);
        if (!log_->ok()) {
            error_ = fmt::format("cannot open access log {}", log_path);
            return false;
        }
    }
    boost::system::error_code ec;
    const auto egress_addr = net::ip::make_address(cfg_.egress_address, ec);
    if (ec) {
        error_ = fmt::format("invalid egress address {}", cfg_.egress_address);
        return false;
    }
    const auto ingress_addr = net::ip::make_address(cfg_.ingress_address, ec);
    if (ec) {
        error_ = fmt::format("invalid ingress address {}", cfg_.ingress_address);
        return false;
    }
    // TLS contexts of the initial snapshot, built here on the control thread (STYLE §2.8). A
    // listener whose certificate cannot be loaded stops the start; a backend's origination
    // context that cannot be built only fails requests to it (503 UF naming the reason).
    auto built = build_tls_contexts(store_.current(), nullptr);
    if (built.ingress_failed) {
        error_ = built.new_errors.empty() ? std::string("cannot build listener TLS context")
                                          : built.new_errors.front();
        return false;
    }
    for (const auto& e : built.new_errors) {
        proxy::log(log_level::warn, "outrigger: tls: {}", e);
    }
    rotator_ = std::make_unique<tls_rotator>(
        built.contexts, [this](const tls_rotator::contexts_ptr& t) {
            for (auto& w : workers_) {
                w->publish_tls(t);
            }
        });
    const unsigned n = nworkers;
    limits_ = std::make_unique<app_pool_limits>(store_.current().get());
    conn_limit_ = std::make_unique<connection_limit>(cfg_.max_connections);
    health_ = std::make_unique<health_checker>(
        cfg_, store_, [rot = rotator_.get()]() { return rot->current(); });
    egress_port_ = cfg_.egress_port;
    ingress_port_ = cfg_.ingress_port;
    tcp_listen_ports_.clear();
    for (const auto& spec : cfg_.tcp_listen) {
        tcp_listen_ports_.push_back(spec.local_port);
    }
    // Gateway mode: one listener per VirtualGateway listener instead of egress and ingress.
    const routing::gateway_snapshot* gw = first ? first->gateway : nullptr;
    net::ip::address gateway_addr;
    if (gw != nullptr) {
        gateway_addr = net::ip::make_address(cfg_.gateway_address, ec);
        if (ec) {
            error_ = fmt::format("invalid gateway address {}", cfg_.gateway_address);
            return false;
        }
        egress_port_ = 0;
        ingress_port_ = 0;
        gateway_bindings_.clear();
        for (const auto& l : gw->listeners) {
            gateway_bindings_.push_back({l.port, cfg_.gateway_local_port(l.port)});
        }
    }
    for (unsigned i = 0; i < n; ++i) {
        auto w = std::make_unique<worker>(i, cfg_, store_.current(), log_.get());
        std::string err;
        if (gw != nullptr && !listen_gateway(*w, gateway_addr)) {
            return false;
        }
        if (gw == nullptr) {  // node mode: egress and ingress (body not re-indented: small diff)
        const auto ep = w->listen(listener_kind::egress, tcp::endpoint(egress_addr, egress_port_), err);
        if (ep == 0) {
            error_ = fmt::format("cannot listen on {}:{} (egress): {}", cfg_.egress_address,
                                 egress_port_, err);
            store_.clear_subscribers();
            workers_.clear();
            return false;
        }
        egress_port_ = ep;
        const auto ip = w->listen(listener_kind::ingress, tcp::endpoint(ingress_addr, ingress_port_), err);
        if (ip == 0) {
            error_ = fmt::format("cannot listen on {}:{} (ingress): {}", cfg_.ingress_address,
                                 ingress_port_, err);
            store_.clear_subscribers();
            workers_.clear();
            return false;
        }
        ingress_port_ = ip;
        // --tcp-listen ports (issue 17): the first worker resolves port 0, the others share it.
        for (std::size_t t = 0; t < cfg_.tcp_listen.size(); ++t) {
            const auto& spec = cfg_.tcp_listen[t];
            const auto addr = net::ip::make_address(spec.address, ec);
            const auto tp = ec ? 0 : w->listen_tcp(t, tcp::endpoint(addr, tcp_listen_ports_[t]), err);
            if (tp == 0) {
                error_ = fmt::format("cannot listen on {}:{} (--tcp-listen {}): {}", spec.address,
                                     tcp_listen_ports_[t], spec.text, ec ? ec.message() : err);
                store_.clear_subscribers();
                workers_.clear();
                return false;
            }
            tcp_listen_ports_[t] = tp;
        }
        }  // node mode
        w->attach_ops(metrics_.get(), first_ops);
        auto* raw = w.get();
        auto* rot = rotator_.get();
        raw->publish_tls(built.contexts);  // runs before the accept loops (FIFO)
        // Reload: snapshot, its counter slots and its TLS contexts reach the worker in one handler
        // (the first subscriber call builds the contexts, the others get the same object).
        store_.subscribe([this, raw, rot](snapshot_store::snapshot_ptr s) {
            auto ops = ops_for(s);
            auto tls = rot->contexts_for(s);
            raw->publish(std::move(s), std::move(ops), std::move(tls));
        });
        health_->subscribe([raw](health_checker::view_ptr v) { raw->publish_health(std::move(v)); });
        raw->set_pool_limits(limits_.get());
        raw->set_connection_limit(conn_limit_.get());
        raw->set_reclaimer(background_.get());
        workers_.push_back(std::move(w));
    }
    for (auto& w : workers_) {
        w->start();
    }
    rotator_->start();
    health_->start();
    started_ = true;
    running_.store(true);
    started_at_ = std::chrono::steady_clock::now();
    return true;
}

void server::stop() {
    running_.store(false);
    if (health_) {
        health_->stop();  // first: it posts to the workers
    }
    if (rotator_) {
        rotator_->stop();  // no rotation may post to workers being torn down
    }
    for (auto& w : workers_) {
        w->stop();
    }
    for (auto& w : workers_) {
        w->join();
    }
    for (auto& w : workers_) {
        totals_ += w->counters_after_join();
    }
    if (limits_) {
        totals_.overflows = limits_->overflows();
    }
    store_.clear_subscribers();
    workers_.clear();
    rotator_.reset();
    started_ = false;
}

std::uint64_t server::health_probes() const { return health_ ? health_->probes() : 0; }

}  // namespace outrigger::proxy
