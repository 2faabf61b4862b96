#include "proxy/worker.hpp"

#include <sys/socket.h>

#include <random>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/downstream_session.hpp"
#include "proxy/log.hpp"
#include "proxy/tcp/listener_entry.hpp"
#include "proxy/tcp/tcp_listen.hpp"

#include <fmt/format.h>

namespace outrigger::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::uint64_t seed_for(unsigned index) {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ (0x9e37ULL * (index + 1));
}

/// `spec`: a --tcp-listen acceptor (its connections go to that TCP backend); null: the egress,
/// ingress or gateway listener (`kind`; `gateway_listener`: the gateway listener's manifest port).
net::awaitable<void> accept_loop(worker& w, tcp::acceptor& acceptor, listener_kind kind,
                                 const tcp_listen_spec* spec, std::uint16_t gateway_listener) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
        if (ec) {
            if (ec == net::error::operation_aborted || !acceptor.is_open()) {
                co_return;
            }
            // EMFILE and friends: log and keep accepting; the kernel keeps the queue.
            log(log_level::warn, "outrigger: worker {}: accept failed: {}", w.index(), ec.message());
            continue;
        }
        boost::system::error_code opt_ec;
        socket.set_option(tcp::no_delay(true), opt_ec);  // best effort: a failure only costs latency
        // One session per connection, chosen here (if/else: GCC 12 miscompiles conditional
        // expressions over awaitables in coroutines).
        net::awaitable<void> session;
        if (spec != nullptr) {
            session = run_tcp_listen_session(w, std::move(socket), *spec);
        } else if (kind == listener_kind::gateway) {
            session = run_downstream_session(w, std::move(socket), kind, boost::beast::flat_buffer{},
                                             gateway_listener);
        } else {
            session = accepted_connection(w, std::move(socket), kind);
        }
        net::co_spawn(w.ioc(), std::move(session),
                      [&w](std::exception_ptr ep) {
                          // Coroutine boundary (STYLE §3.4): nothing escapes a session.
                          if (!ep) {
                              return;
                          }
                          try {
                              std::rethrow_exception(ep);
                          } catch (const std::exception& e) {
                              log(log_level::error, "outrigger: worker {}: session error: {}",
                                  w.index(), e.what());
                          }
                      });
    }
}

}  // namespace

worker::worker(unsigned index, const server_config& cfg,
               std::shared_ptr<const routing::snapshot> snap, access_log* log)
    : index_(index),
      cfg_(cfg),
      // One thread runs it, and only that thread does I/O on its sockets (other threads only
      // post): no locking in the reactor's per-descriptor I/O; the scheduler keeps its lock.
      ioc_(std::make_unique<net::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO)),
      snap_(std::move(snap)),
      pool_(cfg.upstream_idle, cfg.max_idle_per_endpoint),
      buffers_(cfg.replay_buffer),
      endpoints_(std::make_unique<endpoint_registry>(*ioc_, cfg)),
      rng_(seed_for(index)),
      log_(log) {}

worker::~worker() {
    stop();
    join();
    // Destroy everything that owns sockets or coroutine frames referencing us before the
    // io_context goes away: pooled connections, acceptors, timer, then the pending handlers.
    pool_.clear();
    h2_pool_.clear();
    egress_.reset();
    ingress_.reset();
    tcp_listen_.clear();
    gateways_.clear();
    sweeper_.reset();
    ioc_.reset();
}

namespace {

/// Opens, binds (SO_REUSEADDR, SO_REUSEPORT) and listens; `ec` says why it could not.
void open_acceptor(tcp::acceptor& slot, const tcp::endpoint& ep, boost::system::error_code& ec) {
    slot.open(ep.protocol(), ec);
    if (!ec) {
        slot.set_option(net::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
        using reuse_port = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
        slot.set_option(reuse_port(true), ec);
    }
    if (!ec) {
        slot.bind(ep, ec);
    }
    if (!ec) {
        slot.listen(net::socket_base::max_listen_connections, ec);
    }
}

}  // namespace

std::uint16_t worker::listen_gateway(std::uint16_t listener_port, const tcp::endpoint& ep,
                                     std::string& error) {
    auto acc = std::make_unique<tcp::acceptor>(*ioc_);
    boost::system::error_code ec;
    open_acceptor(*acc, ep, ec);
    if (ec) {
        error = ec.message();
        return 0;
    }
    const std::uint16_t port = acc->local_endpoint().port();
    gateways_.push_back({listener_port, std::move(acc)});
    return port;
}

std::uint16_t worker::listen(listener_kind kind, const tcp::endpoint& ep, std::string& error) {
    return bind_acceptor(kind == listener_kind::egress ? egress_ : ingress_, ep, error);
}

std::uint16_t worker::listen_tcp(std::size_t spec_index, const tcp::endpoint& ep, std::string& error) {
    std::optional<tcp::acceptor> slot;
    const std::uint16_t port = bind_acceptor(slot, ep, error);
    if (port != 0) {
        tcp_listen_.push_back({spec_index, std::make_unique<tcp::acceptor>(std::move(*slot))});
    }
    return port;
}

std::uint16_t worker::bind_acceptor(std::optional<tcp::acceptor>& slot, const tcp::endpoint& ep,
                                    std::string& error) {
    slot.emplace(*ioc_);
    boost::system::error_code ec;
    slot->open(ep.protocol(), ec);
    if (!ec) {
        slot->set_option(net::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
        using reuse_port = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
        slot->set_option(reuse_port(true), ec);
    }
    if (!ec) {
        slot->bind(ep, ec);
    }
    if (!ec) {
        slot->listen(net::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        error = ec.message();
        slot.reset();
        return 0;
    }
    return slot->local_endpoint().port();
}

void worker::start_sweeper() {
    sweeper_.emplace(*ioc_);
    net::co_spawn(
        *ioc_,
        [this]() -> net::awaitable<void> {
            for (;;) {
                sweeper_->expires_after(std::chrono::seconds(5));
                auto [ec] = co_await sweeper_->async_wait(net::as_tuple(net::use_awaitable));
                if (ec) {
                    co_return;
                }
                pool_.sweep();
            }
        },
        net::detached);
}

void worker::start() {
    if (egress_) {
        net::co_spawn(*ioc_, accept_loop(*this, *egress_, listener_kind::egress, nullptr, 0),
                      net::detached);
    }
    if (ingress_) {
        net::co_spawn(*ioc_, accept_loop(*this, *ingress_, listener_kind::ingress, nullptr, 0),
                      net::detached);
    }
    for (auto& [index, acceptor] : tcp_listen_) {
        net::co_spawn(*ioc_,
                      accept_loop(*this, *acceptor, listener_kind::egress, &cfg_.tcp_listen.at(index), 0),
                      net::detached);
    }
    for (auto& g : gateways_) {
        net::co_spawn(*ioc_, accept_loop(*this, *g.acceptor, listener_kind::gateway, nullptr, g.listener_port),
                      net::detached);
    }
    start_sweeper();
    thread_ = std::thread([this] { ioc_->run(); });
}

void worker::stop() {
    if (ioc_) {
        ioc_->stop();
    }
}

void worker::join() {
    if (thread_.joinable()) {
        thread_.join();
    }
}

void worker::attach_ops(metrics* m, std::shared_ptr<const ops_state> ops) {
    metrics_ = m;
    ops_ = std::move(ops);
}

void worker::publish(std::shared_ptr<const routing::snapshot> snap,
                     std::shared_ptr<const ops_state> ops, std::shared_ptr<const tls_contexts> tls) {
    // Captures the worker, which outlives its io_context's handlers (see ~worker).
    net::post(*ioc_, [this, s = std::move(snap), o = std::move(ops), t = std::move(tls)]() mutable {
        if (s != snap_) {
            // A new mesh may no longer use some endpoints: close the idle pooled connections
            // (connections in use finish their request and go back, or are swept when idle).
            pool_.clear();
        }
        // The replaced objects go to the reclaimer: dropping the last reference to a large
        // snapshot here would stall this worker's requests for the whole destruction.
        replace(snap_, std::move(s));
        replace(ops_, std::move(o));
        replace(tls_, std::move(t));
    });
}

template <class T>
void worker::replace(std::shared_ptr<const T>& slot, std::shared_ptr<const T> next) {
    if (slot == next) {
        return;  // same object (e.g. the start-up TLS publish): nothing to hand over
    }
    std::shared_ptr<const T> old = std::exchange(slot, std::move(next));
    if (reclaimer_ != nullptr) {
        reclaimer_->retire(std::move(old));
    }
}

void worker::close_listeners() {
    net::post(*ioc_, [this] {
        boost::system::error_code ignored;  // closing: a failure leaves nothing to undo
        if (egress_) {
            egress_->close(ignored);
        }
        if (ingress_) {
            ingress_->close(ignored);
        }
        for (auto& t : tcp_listen_) {
            t.acceptor->close(ignored);
        }
        for (auto& g : gateways_) {
            g.acceptor->close(ignored);
        }
    });
}

std::size_t worker::endpoint_key_hash::operator()(const endpoint_key& k) const noexcept {
    std::size_t h = std::hash<std::uint32_t>{}(k.cluster) * 0x9e3779b97f4a7c15ULL;
    if (k.ep.address().is_v4()) {
        h ^= std::hash<std::uint32_t>{}(k.ep.address().to_v4().to_uint());
    } else {
        const auto b = k.ep.address().to_v6().to_bytes();
        for (const auto c : b) {
            h = h * 131 + c;
        }
    }
    return h ^ (static_cast<std::size_t>(k.ep.port()) << 20);
}

std::uint32_t worker::endpoint_slot(std::uint32_t cluster, const tcp::endpoint& ep) {
    const endpoint_key key{cluster, ep};
    const auto it = endpoint_slots_.find(key);
    if (it != endpoint_slots_.end()) {
        return it->second;
    }
    const std::uint32_t slot =
        metrics_->endpoint_slot(cluster, fmt::format("{}:{}", ep.address().to_string(), ep.port()));
    if (endpoint_slots_.size() < 4096) {  // bounded: beyond that, every miss takes the mutex
        endpoint_slots_.emplace(key, slot);
    }
    return slot;
}

void worker::publish_health(std::shared_ptr<const health_view> view) {
    // Same lifetime rule as `publish`.
    net::post(*ioc_, [this, v = std::move(view)]() mutable { health_ = std::move(v); });
}

void worker::publish_tls(std::shared_ptr<const tls_contexts> tls) {
    // Captures the worker, which outlives its io_context's handlers (see ~worker).
    net::post(*ioc_, [this, t = std::move(tls)]() mutable {
        if (t) {
            replace(snap_, t->snapshot());
        }
        replace(tls_, std::move(t));
    });
}

}  // namespace outrigger::proxy
