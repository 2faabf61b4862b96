#include "cli/inject/webhook_server.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <exception>
#include <mutex>
#include <ostream>
#include <sstream>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "cli/inject/admission.hpp"
#include "tls/cert_watcher.hpp"
#include "tls/context_factory.hpp"

namespace outrigger::inject {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto handshake_timeout = 10s;
constexpr auto request_timeout = 10s;
constexpr auto idle_timeout = 30s;
constexpr auto stop_grace = 5s;
constexpr std::size_t header_limit = 16 * 1024;
constexpr std::size_t body_limit = 4 * 1024 * 1024;

constexpr auto tuple = net::as_tuple(net::use_awaitable);

using tls_stream = beast::ssl_stream<beast::tcp_stream>;

/// The running server: the current TLS context and state, swapped whole on reload.
/// Thread-affinity: `run` on the caller's thread, which becomes one of the io_context's
/// threads; connections on their own strands; `tls_`/`state_` behind `mu_`, the log behind
/// `log_mu_`; the acceptor and signals on the `control` strand.
class webhook {
public:
    webhook(const webhook_loader& load, const webhook_options& opts, std::ostream& out,
            std::ostream& err)
        : load_(load), opts_(opts), out_(out), err_(err) {}

    int run() {
        state_ = load_(err_);
        if (!state_) {
            return 1;
        }
        mesh_watch_ = tls::cert_watcher(state_->files);
        if (const std::string e = build_tls(); !e.empty()) {
            log(e);
            return 1;
        }
        // The acceptor and the signal handler share a strand: close() never races an accept.
        auto control = net::make_strand(ioc_);
        tcp::acceptor acceptor(control);
        boost::system::error_code ec;
        const auto addr = net::ip::make_address(opts_.address, ec);
        if (ec) {
            log("invalid --listen address \"" + opts_.address + "\"");
            return 1;
        }
        const tcp::endpoint ep(addr, opts_.port);
        if (acceptor.open(ep.protocol(), ec); !ec) {
            acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
            if (acceptor.bind(ep, ec); !ec) {
                acceptor.listen(net::socket_base::max_listen_connections, ec);
            }
        }
        if (ec) {
            log("cannot listen on " + opts_.address + ":" + std::to_string(opts_.port) + ": " +
                ec.message());
            return 1;
        }
        net::signal_set signals(ioc_, SIGINT, SIGTERM);
        net::steady_timer stop_timer(control);
        signals.async_wait(net::bind_executor(control, [&](const boost::system::error_code& sec,
                                                            int) {
            if (sec) {
                return;
            }
            log("stopping: no new connections; in-flight requests have " +
                std::to_string(stop_grace.count()) + " s");
            stopping_ = true;  // the reload check stops re-arming
            boost::system::error_code ignored;  // closing a listening socket cannot fail usefully
            acceptor.close(ignored);
            if (active_ == 0) {
                ioc_.stop();
                return;
            }
            stop_timer.expires_after(stop_grace);
            stop_timer.async_wait([this](const boost::system::error_code& tec) {
                if (!tec) {
                    ioc_.stop();
                }
            });
        }));
        // Printed once the signal handler is in place: a supervisor may signal right away.
        const auto port = acceptor.local_endpoint().port();
        {
            std::lock_guard lock(log_mu_);
            out_ << "outrigger inject: webhook listening on " << opts_.address << ':' << port
                 << std::endl;
        }

        net::co_spawn(control, accept_loop(acceptor), [this](const std::exception_ptr& e) {
            report(e, "accept loop");
        });
        schedule_reload_check();

        std::vector<std::thread> threads;
        for (unsigned i = 1; i < std::max(1u, opts_.threads); ++i) {
            threads.emplace_back([this] { ioc_.run(); });
        }
        ioc_.run();
        ioc_.stop();  // when the main thread ran out of work first, release the others
        for (auto& t : threads) {
            t.join();
        }
        return 0;
    }

private:
    void log(const std::string& line) {
        std::lock_guard lock(log_mu_);
        err_ << "outrigger inject: webhook: " << line << std::endl;
    }

    void report(const std::exception_ptr& e, const char* what) {
        if (!e) {
            return;
        }
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log(std::string(what) + ": internal error: " + ex.what());
        } catch (...) {
            log(std::string(what) + ": internal error");
        }
    }

    /// Builds the TLS context from the files; returns the error, or "" when published.
    std::string build_tls() {
        routing::listener_tls cfg;
        cfg.mode = "STRICT";
        cfg.certificate.kind = routing::tls_source::kind_t::file;
        cfg.certificate.kinds_given = 1;
        cfg.certificate.certificate_chain = opts_.cert_file;
        cfg.certificate.private_key = opts_.key_file;
        auto ctx = tls::make_server_context(cfg);
        if (!ctx) {
            return ctx.error();
        }
        std::lock_guard lock(mu_);
        tls_ = std::move(ctx).value();
        return {};
    }

    /// Every second: certificate rotation and mesh changes. Runs on one chain of handlers, so
    /// `mesh_watch_` and `cert_error_` need no lock.
    void schedule_reload_check() {
        reload_timer_.expires_after(1s);
        reload_timer_.async_wait([this](const boost::system::error_code& ec) {
            if (ec || stopping_) {
                return;
            }
            tls::server_context_ptr ctx;
            {
                std::lock_guard lock(mu_);
                ctx = tls_;
            }
            if (ctx->watcher().changed()) {
                // A half-written file fails; the old context stays and the next tick retries.
                const std::string err = build_tls();
                if (err.empty()) {
                    log("certificate reloaded");
                } else if (err != cert_error_) {
                    log("certificate reload failed, keeping the old one: " + err);
                }
                cert_error_ = err;
            }
            if (mesh_watch_.changed()) {
                std::ostringstream why;
                auto fresh = load_(why);
                if (fresh) {
                    mesh_watch_ = tls::cert_watcher(fresh->files);
                    std::lock_guard lock(mu_);
                    state_ = std::move(fresh);
                    log("mesh reloaded");
                } else {
                    // Not retried until the files change again.
                    mesh_watch_ = tls::cert_watcher(mesh_watch_.files());
                    log("mesh reload failed, keeping the old mesh:\n" + why.str());
                }
            }
            schedule_reload_check();
        });
    }

    net::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
        for (;;) {
            // Each connection on its own strand: Beast's stream and its timer are not thread-safe.
            auto [ec, socket] = co_await acceptor.async_accept(net::make_strand(ioc_), tuple);
            if (ec) {
                if (stopping_ || ec == net::error::operation_aborted) {
                    co_return;
                }
                log("accept: " + ec.message());
                continue;  // e.g. EMFILE: the next accept may succeed
            }
            auto ex = socket.get_executor();
            net::co_spawn(ex, session(std::move(socket)),
                          [this](const std::exception_ptr& e) { report(e, "connection"); });
        }
    }

    http::response<http::string_body> handle(const http::request<http::string_body>& req) {
        http::response<http::string_body> res;
        res.version(11);
        res.set(http::field::server, "outrigger-inject");
        std::string_view target = req.target();
        target = target.substr(0, target.find('?'));  // the API server adds ?timeout=10s
        auto text = [&](http::status s, std::string body) {
            res.result(s);
            res.set(http::field::content_type, "text/plain; charset=utf-8");
            res.body() = std::move(body);
        };
        if (target == "/healthz") {
            if (req.method() != http::verb::get && req.method() != http::verb::head) {
                text(http::status::method_not_allowed, "GET /healthz\n");
            } else {
                text(http::status::ok, "ok\n");
            }
        } else if (target == "/mutate-v1-pod") {
            if (req.method() != http::verb::post) {
                text(http::status::method_not_allowed, "POST an AdmissionReview\n");
            } else {
                std::shared_ptr<const webhook_state> state;
                {
                    std::lock_guard lock(mu_);
                    state = state_;
                }
                admission_answer a = review_admission(*state->inj, req.body());
                log(a.log_line);
                res.result(static_cast<http::status>(a.http_status));
                res.set(http::field::content_type, a.content_type);
                res.body() = std::move(a.body);
            }
        } else {
            text(http::status::not_found, "not found: POST /mutate-v1-pod, GET /healthz\n");
        }
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        return res;
    }

    /// Counts live connections so that a stop does not wait out the grace time for nothing.
    struct active_guard {
        webhook& w;
        explicit active_guard(webhook& wh) : w(wh) { ++w.active_; }
        ~active_guard() {
            if (--w.active_ == 0 && w.stopping_) {
                w.ioc_.stop();
            }
        }
        active_guard(const active_guard&) = delete;
        active_guard& operator=(const active_guard&) = delete;
    };

    net::awaitable<void> session(tcp::socket socket) {
        const active_guard guard(*this);
        tls::server_context_ptr ctx;
        {
            std::lock_guard lock(mu_);
            ctx = tls_;
        }
        tls_stream stream(std::move(socket), ctx->native());
        beast::get_lowest_layer(stream).expires_after(handshake_timeout);
        if (auto [ec] = co_await stream.async_handshake(net::ssl::stream_base::server, tuple); ec) {
            log("TLS handshake failed: " + ec.message());
            co_return;
        }
        beast::flat_buffer buffer;
        bool first = true;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(header_limit);
            parser.body_limit(body_limit);
            // Idle keep-alive wait first, then the request itself.
            beast::get_lowest_layer(stream).expires_after(first ? request_timeout : idle_timeout);
            first = false;
            auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, tuple);
            if (!hec) {
                beast::get_lowest_layer(stream).expires_after(request_timeout);
                auto [bec, bn] = co_await http::async_read(stream, buffer, parser, tuple);
                hec = bec;
            }
            if (hec == http::error::end_of_stream || hec == net::ssl::error::stream_truncated ||
                hec == net::error::eof) {
                break;  // the client closed between requests
            }
            if (hec == http::error::body_limit || hec == http::error::header_limit) {
                http::response<http::string_body> res{
                    hec == http::error::body_limit ? http::status::payload_too_large
                                                   : http::status::request_header_fields_too_large,
                    11};
                res.set(http::field::content_type, "text/plain; charset=utf-8");
                res.body() = "request too large\n";
                res.keep_alive(false);
                res.prepare_payload();
                log("request too large: " + hec.message());
                beast::get_lowest_layer(stream).expires_after(request_timeout);
                co_await http::async_write(stream, res, tuple);
                break;
            }
            if (hec) {
                if (hec != beast::error::timeout) {
                    log("bad request: " + hec.message());
                }
                break;
            }
            auto res = handle(parser.get());
            beast::get_lowest_layer(stream).expires_after(request_timeout);
            auto [wec, wn] = co_await http::async_write(stream, res, tuple);
            if (wec || !res.keep_alive()) {
                break;
            }
        }
        // Best effort close_notify: the peer may already be gone, and nothing depends on it.
        beast::get_lowest_layer(stream).expires_after(2s);
        co_await stream.async_shutdown(tuple);
    }

    const webhook_loader& load_;
    const webhook_options& opts_;
    std::ostream& out_;
    std::ostream& err_;
    net::io_context ioc_;
    net::steady_timer reload_timer_{ioc_};
    std::mutex mu_;  // guards tls_ and state_ (read per connection/request, written on reload)
    tls::server_context_ptr tls_;
    std::shared_ptr<const webhook_state> state_;
    tls::cert_watcher mesh_watch_;  // reload timer only
    std::string cert_error_;        // reload timer only: the last failure logged
    std::atomic<bool> stopping_{false};
    std::atomic<int> active_{0};
    std::mutex log_mu_;
};

}  // namespace

int serve_webhook(const webhook_loader& load, const webhook_options& opts, std::ostream& out,
                  std::ostream& err) {
    webhook w(load, opts, out, err);
    return w.run();
}

}  // namespace outrigger::inject
