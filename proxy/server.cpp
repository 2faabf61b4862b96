#include "proxy/server.hpp"

#include <fmt/format.h>

#include "proxy/log.hpp"

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
        log(log_level::warn, "outrigger: tls: {}", e);
    }
    rotator_ = std::make_unique<tls_rotator>(
        built.contexts, [this](const tls_rotator::contexts_ptr& t) {
            for (auto& w : workers_) {
                w->publish_tls(t);
            }
        });
    const unsigned n = cfg_.workers == 0 ? 1 : cfg_.workers;
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
        auto* rot = rotator_.get();
        raw->publish_tls(built.contexts);  // runs before the accept loops (FIFO)
        // Reload: the first subscriber call builds the new snapshot's TLS contexts, the others
        // get the same object; snapshot and contexts reach the worker in one handler.
        store_.subscribe([raw, rot](snapshot_store::snapshot_ptr s) {
            raw->publish_tls(rot->contexts_for(s));
        });
        workers_.push_back(std::move(w));
    }
    for (auto& w : workers_) {
        w->start();
    }
    rotator_->start();
    started_ = true;
    return true;
}

void server::stop() {
    if (rotator_) {
        rotator_->stop();  // no rotation may post to workers being torn down
    }
    for (auto& w : workers_) {
        w->stop();
    }
    for (auto& w : workers_) {
        w->join();
    }
    store_.clear_subscribers();
    workers_.clear();
    rotator_.reset();
    started_ = false;
}

}  // namespace outrigger::proxy
