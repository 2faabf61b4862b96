#pragma once
// One proxy worker in-process, without the server: compiled snapshot, metrics, TLS contexts,
// access log (a temp file), ingress pool limits, and a test acceptor on 127.0.0.1:0 whose
// connections go to one entry point of proxy/tcp (run_tcp_listen_session, run_tcp_session with
// plan_tcp_ingress, run_transparent_egress, ...). This is exactly how the listeners will call
// those entry points.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/access_log.hpp"
#include "proxy/access_log_format.hpp"
#include "proxy/app_pool_limits.hpp"
#include "proxy/metrics.hpp"
#include "proxy/tls_contexts.hpp"
#include "proxy/worker.hpp"
#include "tests/integration/tcp/tcp_support.hpp"
#include "tests/support/proxy_under_test.hpp"

namespace outrigger::test::tcp {

namespace net = boost::asio;

/// The TCP fields of Envoy's access log, space separated, one line per connection.
inline const char* tcp_log_format =
    "%DOWNSTREAM_REMOTE_ADDRESS% %UPSTREAM_HOST% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "
    "%RESPONSE_FLAGS% %UPSTREAM_ATTEMPTS% %UPSTREAM_CLUSTER% %ROUTE_NAME% %VIRTUAL_SERVICE% "
    "%LISTENER% %REQUESTED_SERVER_NAME% %DOWNSTREAM_LOCAL_ADDRESS%\n";

/// One access-log line split into its fields (by tcp_log_format).
struct log_line {
    std::string remote, upstream, rx, tx, duration, flags, attempts, cluster, route, service,
        listener, sni, local;
};
inline std::vector<log_line> parse_log(const std::string& text) {
    std::vector<log_line> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream f(line);
        log_line l;
        f >> l.remote >> l.upstream >> l.rx >> l.tx >> l.duration >> l.flags >> l.attempts >>
            l.cluster >> l.route >> l.service >> l.listener >> l.sni >> l.local;
        out.push_back(std::move(l));
    }
    return out;
}

using entry_fn = std::function<net::awaitable<void>(proxy::worker&, net::ip::tcp::socket)>;

class tcp_proxy {
public:
    tcp_proxy(const std::string& yaml, const proxy_options& opts, entry_fn entry,
              std::function<void(proxy::server_config&)> tweak = {},
              const char* format = tcp_log_format)
        : metrics_(1) {
        snap_ = compile_mesh(yaml, opts);
        cfg_.connect_to = opts.connect_to;
        cfg_.app_address = "127.0.0.1";
        if (tweak) {
            tweak(cfg_);
        }
        char path[] = "/tmp/outrigger-tcp-log-XXXXXX";
        const int fd = ::mkstemp(path);
        REQUIRE(fd >= 0);
        ::close(fd);
        log_path_ = path;
        log_ = std::make_unique<proxy::access_log>(log_path_, 1);
        REQUIRE(log_->ok());
        limits_ = std::make_unique<proxy::app_pool_limits>(snap_.get());
        auto built = proxy::build_tls_contexts(snap_, nullptr);
        for (const auto& e : built.new_errors) {
            WARN(e);
        }
        tls_ = built.contexts;
        auto ops = std::make_shared<proxy::worker::ops_state>();
        ops->stats = metrics_.map_for(*snap_);
        proxy::format_parse_error err;
        ops->format = proxy::parse_text_format(format, err);
        REQUIRE(ops->format);
        w_ = std::make_unique<proxy::worker>(0, cfg_, snap_, log_.get());
        w_->attach_ops(&metrics_, ops);
        w_->set_pool_limits(limits_.get());
        w_->publish_tls(tls_);
        acceptor_ = std::make_unique<net::ip::tcp::acceptor>(
            w_->ioc(), net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        port_ = acceptor_->local_endpoint().port();
        net::co_spawn(
            w_->ioc(),
            [this, entry = std::move(entry)]() -> net::awaitable<void> {
                for (;;) {
                    auto [ec, s] = co_await acceptor_->async_accept(net::as_tuple(net::use_awaitable));
                    if (ec) {
                        co_return;
                    }
                    net::co_spawn(w_->ioc(), entry(*w_, std::move(s)), net::detached);
                }
            },
            net::detached);
        w_->start();
    }
    ~tcp_proxy() {
        w_->stop();
        w_->join();
        acceptor_.reset();
        w_.reset();
        log_.reset();
        ::unlink(log_path_.c_str());
    }
    tcp_proxy(const tcp_proxy&) = delete;
    tcp_proxy& operator=(const tcp_proxy&) = delete;

    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] const routing::snapshot& snapshot() const { return *snap_; }
    [[nodiscard]] proxy::metrics& metrics() { return metrics_; }
    [[nodiscard]] const proxy::app_pool_limits& limits() const { return *limits_; }

    /// Every access-log line written so far (the sink is flushed first).
    std::vector<log_line> log_lines() {
        log_->flush();
        std::ifstream f(log_path_);
        std::stringstream ss;
        ss << f.rdbuf();
        return parse_log(ss.str());
    }
    std::string log_text() {
        log_->flush();
        std::ifstream f(log_path_);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    }
    /// Waits (deadline) until the log holds `n` lines; returns them.
    std::vector<log_line> wait_log(std::size_t n, std::chrono::milliseconds timeout = 10s) {
        const auto deadline = clock_type::now() + timeout;
        auto lines = log_lines();
        while (lines.size() < n && clock_type::now() < deadline) {
            pollfd none{-1, 0, 0};
            ::poll(&none, 0, 10);  // the session logs after both sockets closed
            lines = log_lines();
        }
        return lines;
    }

private:
    proxy::server_config cfg_;
    std::shared_ptr<const routing::snapshot> snap_;
    proxy::metrics metrics_;
    std::string log_path_;
    std::unique_ptr<proxy::access_log> log_;
    std::unique_ptr<proxy::app_pool_limits> limits_;
    std::shared_ptr<const proxy::tls_contexts> tls_;
    std::unique_ptr<proxy::worker> w_;
    std::unique_ptr<net::ip::tcp::acceptor> acceptor_;
    std::uint16_t port_ = 0;
};

}  // namespace outrigger::test::tcp
