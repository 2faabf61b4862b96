#include "proxy/server.hpp"

#include <fmt/format.h>

namespace outrigger::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;

server::server(server_config cfg, std::shared_ptr<const routing::snapshot> snap)
    : cfg_(std::move(cfg)), store_(std::move(snap)) {}

server::~server() { stop(); }

bool server::start() {
    if (!cfg_.access_log_path.empty()) {
        log_ = std::make_unique<access_log>(cfg_.access_log_path, cfg_.access_log_format == "json");
        if (!log_->ok()) {
            error_ = fmt::format("cannot open access log {}", cfg_.access_log_path);
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
    const unsigned n = cfg_.workers == 0 ? 1 : cfg_.workers;
    limits_ = std::make_unique<app_pool_limits>(store_.current().get());
    health_ = std::make_unique<health_checker>(cfg_, store_);
    egress_port_ = cfg_.egress_port;
    ingress_port_ = cfg_.ingress_port;
    for (unsigned i = 0; i < n; ++i) {
        auto w = std::make_unique<worker>(i, cfg_, store_.current(), log_.get());
        std::string err;
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
        auto* raw = w.get();
        store_.subscribe([raw](snapshot_store::snapshot_ptr s) { raw->publish(std::move(s)); });
        health_->subscribe([raw](health_checker::view_ptr v) { raw->publish_health(std::move(v)); });
        raw->set_pool_limits(limits_.get());
        workers_.push_back(std::move(w));
    }
    for (auto& w : workers_) {
        w->start();
    }
    health_->start();
    started_ = true;
    return true;
}

void server::stop() {
    if (health_) {
        health_->stop();  // first: it posts to the workers
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
    started_ = false;
}

std::uint64_t server::health_probes() const { return health_ ? health_->probes() : 0; }

}  // namespace outrigger::proxy
