#pragma once
// The data plane: N workers sharing the egress and ingress ports through SO_REUSEPORT, and the
// snapshot store that feeds them. Port 0 is resolved by the first worker; the others bind the
// port it got.
//
// Thread-affinity: control thread (the one that calls start/stop).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/access_log.hpp"
#include "proxy/app_pool_limits.hpp"
#include "proxy/config.hpp"
#include "proxy/health_checker.hpp"
#include "proxy/resilience_counters.hpp"
#include "proxy/snapshot_store.hpp"
#include "proxy/worker.hpp"

namespace outrigger::proxy {

class server {
public:
    server(server_config cfg, std::shared_ptr<const routing::snapshot> snap);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Binds every listener and starts the workers. False with `error()` set (one line) when a
    /// listener cannot be bound (e.g. the port is in use) or the access log cannot be opened.
    [[nodiscard]] bool start();
    void stop();

    [[nodiscard]] std::uint16_t egress_port() const { return egress_port_; }
    [[nodiscard]] std::uint16_t ingress_port() const { return ingress_port_; }
    [[nodiscard]] const std::string& error() const { return error_; }
    [[nodiscard]] const server_config& config() const { return cfg_; }
    [[nodiscard]] snapshot_store& store() { return store_; }
    /// Sum of the workers' resilience counters; filled by `stop` (zero before).
    [[nodiscard]] const resilience_counters& resilience_totals() const { return totals_; }
    /// Health-check probes sent so far.
    [[nodiscard]] std::uint64_t health_probes() const;

private:
    server_config cfg_;
    snapshot_store store_;
    std::unique_ptr<access_log> log_;
    std::unique_ptr<app_pool_limits> limits_;
    std::unique_ptr<health_checker> health_;
    resilience_counters totals_;
    std::vector<std::unique_ptr<worker>> workers_;
    std::uint16_t egress_port_ = 0;
    std::uint16_t ingress_port_ = 0;
    std::string error_;
    bool started_ = false;
};

}  // namespace outrigger::proxy
