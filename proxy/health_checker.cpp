#include "proxy/health_checker.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

#include "proxy/endpoint_registry.hpp"
#include "proxy/flex_stream.hpp"
#include "proxy/grpc_health.hpp"
#include "proxy/http2/h2_connection.hpp"
#include "proxy/log.hpp"
#include "tls/context_factory.hpp"

namespace outrigger::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

using http2::clock_type;

namespace {

constexpr auto tok = net::as_tuple(net::use_awaitable);

std::string job_key(const routing::upstream_target& t) {
    return t.cluster_name + "|" + t.endpoints.hostname + ":" + std::to_string(t.port);
}

}  // namespace

struct health_checker::impl {
    struct host_state {
        std::uint32_t failures = 0;
        std::uint32_t successes = 0;
        bool unhealthy = false;
    };
    struct job {
        std::string key;
        bool alive = true;
        std::map<tcp::endpoint, host_state> hosts;  // traffic endpoints
    };

    impl(const server_config& c, snapshot_store& s, tls_source t)
        : cfg(c), store(s), tls_now(std::move(t)), ioc(std::make_unique<net::io_context>(1)),
          reg(*ioc, c) {}
    ~impl() {
        // Destroy suspended coroutine frames (they reference the members below) first.
        ioc.reset();
    }

    const server_config& cfg;
    snapshot_store& store;
    tls_source tls_now;
    std::unique_ptr<net::io_context> ioc;
    endpoint_registry reg;
    std::vector<subscriber> subs;
    std::map<std::string, std::shared_ptr<job>> jobs;
    std::atomic<std::uint64_t> probes{0};
    std::atomic<std::uint64_t> transitions{0};
    std::uint64_t generation = 0;

    const routing::upstream_target* find_target(const routing::snapshot& snap,
                                                const std::string& key) const {
        for (const auto& t : snap.targets) {
            if (t.health && job_key(t) == key) {
                return &t;
            }
        }
        return nullptr;
    }

    /// The client TLS context the workers use toward `t`. `set` was built for its own snapshot,
    /// which may be a reload older or newer than `snap`: the target is then found there by key.
    static const tls::client_context* client_context_for(const tls_contexts* set,
                                                         const routing::snapshot& snap,
                                                         const routing::upstream_target& t,
                                                         const std::string& key) {
        if (set == nullptr || !set->snapshot()) {
            return nullptr;
        }
        if (set->snapshot().get() == &snap) {
            return set->client(t);
        }
        for (const auto& other : set->snapshot()->targets) {
            if (other.health && job_key(other) == key) {
                return set->client(other);
            }
        }
        return nullptr;
    }

    void publish() {
        auto v = std::make_shared<health_view>();
        for (const auto& [key, j] : jobs) {
            for (const auto& [ep, h] : j->hosts) {
                if (h.unhealthy) {
                    v->unhealthy.push_back(ep);
                }
            }
        }
        std::sort(v->unhealthy.begin(), v->unhealthy.end());
        v->generation = ++generation;
        std::shared_ptr<const health_view> cv = std::move(v);
        for (const auto& s : subs) {
            s(cv);
        }
    }

    /// One probe's connection. Shared with the HTTP/2 connection's coroutine, which may
    /// outlive the probe (it sends GOAWAY and ends on its own).
    struct probe_conn {
        explicit probe_conn(const net::any_io_executor& ex) : io(ex) {}
        flex_stream io;
        std::shared_ptr<http2::connection> h2;
    };

    /// What one probe needs to know about its target (copied out of the snapshot each round).
    struct probe_spec {
        routing::health_check hc;
        std::string host;                          // discovery hostname: Host / :authority
        const tls::client_context* tls = nullptr;  // the workers' origination context, or none
        std::chrono::milliseconds timeout{};
    };

    /// Client TLS toward the endpoint exactly as a worker originates it (spec §10.7; SNI and
    /// SAN checks armed by the context), without session resumption. h2 and grpc checks offer
    /// only h2 by ALPN, as the workers do toward an http2/grpc listener. "" or why it failed.
    static net::awaitable<std::string> handshake(flex_stream& io, const tls::client_context& ctx,
                                                 bool h2) {
        auto& ts = io.start_tls(ctx.native());
        if (auto err = tls::prepare_client_stream(ts, ctx); !err.empty()) {
            co_return err;
        }
        if (h2 && !tls::offer_h2(ts)) {
            co_return std::string("cannot offer h2 by ALPN");
        }
        auto [ec] = co_await ts.async_handshake(net::ssl::stream_base::client, tok);
        if (ec) {
            std::string why = tls::verify_failure_reason(ts);
            if (why.empty()) {
                why = ec == beast::error::timeout ? std::string("handshake timeout") : ec.message();
            }
            co_return fmt::format("TLS handshake failed: {}", why);
        }
        if (h2 && tls::negotiated_alpn(ts) != "h2") {
            co_return fmt::format("the endpoint did not agree to h2 by ALPN (it chose \"{}\")",
                                  tls::negotiated_alpn(ts));
        }
        co_return std::string{};
    }

    /// `GET path` over HTTP/1.1; healthy = 200. "" or why not.
    static net::awaitable<std::string> probe_http1(flex_stream& io, const probe_spec& ps) {
        http::request<http::empty_body> req{http::verb::get, ps.hc.path.value_or("/"), 11};
        req.set(http::field::host, ps.host);
        req.set(http::field::user_agent, "outrigger-health-check");
        req.keep_alive(false);
        auto [wec, wn] = co_await http::async_write(io, req, tok);
        if (wec) {
            co_return fmt::format("write failed: {}", wec.message());
        }
        beast::flat_buffer buf;
        http::response_parser<http::empty_body> p;
        p.skip(true);  // the status is all we need
        auto [rec, rn] = co_await http::async_read_header(io, buf, p, tok);
        if (rec) {
            co_return rec == beast::error::timeout ? std::string("timeout")
                                                   : fmt::format("no response: {}", rec.message());
        }
        boost::system::error_code ignored;  // closing after the verdict; nothing to report
        io.socket().shutdown(tcp::socket::shutdown_both, ignored);
        const auto st = p.get().result_int();
        co_return st == 200 ? std::string{} : fmt::format("HTTP status {}", st);
    }

    /// One request on a fresh HTTP/2 connection (the proxy's own driver, client role, on the
    /// checker's io_context): `GET path` for http2 (healthy = :status 200), or the unary call
    /// grpc.health.v1.Health/Check for grpc (healthy = grpc-status 0 and SERVING). "" or why not.
    net::awaitable<std::string> probe_h2(const std::shared_ptr<probe_conn>& pc, const probe_spec& ps,
                                         clock_type::time_point deadline) {
        const bool grpc = ps.hc.protocol == "grpc";
        http2::limits l;
        l.max_concurrent_streams = 1;  // we accept no pushed or peer-initiated streams anyway
        l.idle = ps.timeout;
        pc->h2 = std::make_shared<http2::connection>(pc->io, http2::role::client, l);
        // The coroutine keeps the connection and its socket alive until it ends.
        net::co_spawn(*ioc, [pc]() -> net::awaitable<void> { co_await pc->h2->run(); }, net::detached);
        message_head req;
        if (grpc) {
            req.set_request_line(http::verb::post, "POST", grpc_health_check_path, 20);
            req.set(http::field::content_type, "application/grpc");
            req.set(http::field::te, "trailers");
        } else {
            req.set_request_line(http::verb::get, "GET", ps.hc.path.value_or("/"), 20);
        }
        req.set(http::field::host, ps.host);
        req.set(http::field::user_agent, "outrigger-health-check");
        const auto st = pc->h2->open(req, ps.tls != nullptr ? "https" : "http", !grpc);
        if (!st) {
            pc->h2->go_away();
            co_return std::string("cannot open an HTTP/2 stream");
        }
        if (grpc) {
            pc->h2->send_data(*st, grpc_health_check_request, true);
        }
        // http2: the head is the verdict. grpc: the whole response (message and trailers).
        bool expired = false;
        while (!st->closed && !(grpc ? st->in_end : st->head_done) && !expired) {
            const bool woken = co_await st->ev.wait(deadline);
            expired = !woken;
            if (st->in.size() > 64 * 1024) {
                break;  // a health answer is a few bytes: this is not one
            }
        }
        std::string why = expired ? std::string("timeout") : check_h2_answer(*st, grpc);
        pc->h2->release(*st);
        pc->h2->go_away();
        if (expired) {
            // The peer may not read what we queue (RST_STREAM, GOAWAY): end the connection.
            boost::system::error_code ignored;  // closing anyway
            pc->io.socket().shutdown(tcp::socket::shutdown_both, ignored);
            pc->io.socket().cancel(ignored);
        }
        co_return why;
    }

    /// "" when the stream's answer is a healthy one.
    static std::string check_h2_answer(const http2::stream& st, bool grpc) {
        if (!st.head_done) {
            return st.error != 0 ? fmt::format("HTTP/2 stream reset (error code {})", st.error)
                                 : std::string("the connection ended before a response");
        }
        if (st.head.status() != 200) {
            return fmt::format("HTTP status {}", st.head.status());
        }
        if (!grpc) {
            return {};
        }
        if (st.in.size() > 64 * 1024) {
            return "the answer is not a health check response (over 64 KiB)";
        }
        if (!st.in_end) {
            return st.error != 0 ? fmt::format("HTTP/2 stream reset (error code {})", st.error)
                                 : std::string("the call did not end");
        }
        // grpc-status in the trailers, or in the head of a trailers-only answer.
        auto gs = st.has_trailers ? st.trailers.find(std::string_view("grpc-status"))
                                  : std::optional<std::string_view>{};
        if (!gs) {
            gs = st.head.find(std::string_view("grpc-status"));
        }
        if (!gs) {
            return "no grpc-status in the answer";
        }
        if (*gs != "0") {
            auto msg = st.has_trailers ? st.trailers.find(std::string_view("grpc-message"))
                                       : std::optional<std::string_view>{};
            if (!msg) {
                msg = st.head.find(std::string_view("grpc-message"));
            }
            return fmt::format("grpc-status {}{}{}", *gs, msg ? ": " : "",
                               msg ? msg->substr(0, 200) : std::string_view{});
        }
        const auto status = parse_grpc_health_response(st.in);
        if (!status) {
            return "the answer is not a HealthCheckResponse";
        }
        if (*status != static_cast<int>(grpc_serving_status::serving)) {
            return fmt::format("health status {}", grpc_serving_status_name(*status));
        }
        return {};
    }

    /// One probe of `ep`: "" when healthy, otherwise why not (for the transition log line).
    net::awaitable<std::string> probe(const probe_spec& ps, const tcp::endpoint& ep) {
        ++probes;
        const auto deadline = clock_type::now() + ps.timeout;
        auto pc = std::make_shared<probe_conn>(ioc->get_executor());
        flex_stream& io = pc->io;
        io.expires_at(deadline);
        auto [cec] = co_await io.async_connect(ep, tok);
        if (cec) {
            co_return cec == beast::error::timeout ? std::string("connect timeout")
                                                   : fmt::format("connect failed: {}", cec.message());
        }
        if (ps.hc.protocol == "tcp") {
            co_return std::string{};  // a tcp check is the connect (no TLS handshake, as before)
        }
        const bool h2 = ps.hc.protocol == "http2" || ps.hc.protocol == "grpc";
        boost::system::error_code opt_ec;
        io.socket().set_option(tcp::no_delay(true), opt_ec);  // latency only
        if (ps.tls != nullptr) {
            std::string why = co_await handshake(io, *ps.tls, h2);
            if (!why.empty()) {
                co_return why;
            }
        }
        if (!h2) {
            co_return co_await probe_http1(io, ps);
        }
        co_return co_await probe_h2(pc, ps, deadline);
    }

    net::awaitable<void> run_job(std::shared_ptr<job> j) {
        net::steady_timer timer(*ioc);
        while (j->alive) {
            const auto snap = store.current();
            const routing::upstream_target* t = snap ? find_target(*snap, j->key) : nullptr;
            if (t == nullptr) {
                break;
            }
            const routing::health_check hc = *t->health;
            const std::string host = t->endpoints.hostname;
            // TLS as the workers originate it toward this target (spec §10.7): the probe passes
            // through the target's sidecar like traffic does. The contexts are kept for the round.
            const auto tls_set = t->tls.mode != routing::tls_origination::mode_t::plaintext && tls_now
                                     ? tls_now()
                                     : std::shared_ptr<const tls_contexts>{};
            probe_spec ps{hc, host, client_context_for(tls_set.get(), *snap, *t, j->key),
                          std::chrono::milliseconds(std::max<std::int64_t>(hc.timeout_ms, 1))};
            const bool tls_missing =
                t->tls.mode != routing::tls_origination::mode_t::plaintext && ps.tls == nullptr;
            const std::uint16_t port = t->port;
            const bool all = t->endpoints.all_addresses;
            const auto interval =
                cfg.health_check_interval_override_for_test.count() > 0
                    ? cfg.health_check_interval_override_for_test
                    : std::chrono::milliseconds(std::max<std::int64_t>(hc.interval_ms, 1));
            const auto unhealthy_after = static_cast<std::uint32_t>(std::max<std::int64_t>(hc.unhealthy_threshold, 1));
            const auto healthy_after = static_cast<std::uint32_t>(std::max<std::int64_t>(hc.healthy_threshold, 1));

            std::vector<tcp::endpoint> traffic;
            if (!host.empty()) {
                const auto set = co_await reg.resolve(host, port, false);
                traffic.assign(set.addrs.begin(), set.addrs.end());
            }
            if (!all && traffic.size() > 1) {
                traffic.resize(1);  // LOADBALANCER: one logical host
            }
            const auto hc_port = static_cast<std::uint16_t>(hc.port.value_or(port));
            std::vector<tcp::endpoint> probe_eps = traffic;
            if (hc_port != port && !traffic.empty()) {
                const auto set = co_await reg.resolve(host, hc_port, false);
                for (std::size_t i = 0; i < traffic.size(); ++i) {
                    probe_eps[i] = set.addrs.empty() ? tcp::endpoint(traffic[i].address(), hc_port)
                                                     : set.addrs[i % set.addrs.size()];
                }
            }
            bool changed = false;
            for (std::size_t i = 0; i < traffic.size() && j->alive; ++i) {
                // Without its TLS context (files that cannot be loaded) the workers refuse to
                // send plaintext (503 UF); so does the probe: the endpoint cannot be reached.
                std::string why = "no TLS context toward the target";
                if (!tls_missing) {
                    why = co_await probe(ps, probe_eps[i]);
                }
                host_state& h = j->hosts[traffic[i]];
                if (why.empty()) {
                    h.failures = 0;
                    if (h.unhealthy && ++h.successes >= healthy_after) {
                        h.unhealthy = false;
                        h.successes = 0;
                        changed = true;
                        ++transitions;
                        log(log_level::info, "outrigger: health check: {}:{} of {} is healthy again",
                            traffic[i].address().to_string(), traffic[i].port(), t->node_name);
                    }
                } else {
                    h.successes = 0;
                    if (!h.unhealthy && ++h.failures >= unhealthy_after) {
                        h.unhealthy = true;
                        h.failures = 0;
                        changed = true;
                        ++transitions;
                        log(log_level::warn, "outrigger: health check: {}:{} of {} is unhealthy ({} {}: {})",
                            traffic[i].address().to_string(), traffic[i].port(), t->node_name,
                            hc.protocol, probe_eps[i].port(), why);
                    }
                }
            }
            // Forget endpoints that discovery no longer returns.
            for (auto it = j->hosts.begin(); it != j->hosts.end();) {
                if (std::find(traffic.begin(), traffic.end(), it->first) == traffic.end()) {
                    changed = changed || it->second.unhealthy;
                    it = j->hosts.erase(it);
                } else {
                    ++it;
                }
            }
            if (changed) {
                publish();
            }
            timer.expires_after(interval);
            auto [ec] = co_await timer.async_wait(tok);
            if (ec) {
                break;
            }
        }
        const bool had_unhealthy = std::any_of(j->hosts.begin(), j->hosts.end(),
                                               [](const auto& kv) { return kv.second.unhealthy; });
        jobs.erase(j->key);
        if (had_unhealthy) {
            publish();
        }
    }

    /// Every scan period: start a job per target with a health check, end jobs of targets
    /// that a reload removed.
    net::awaitable<void> scan() {
        net::steady_timer timer(*ioc);
        for (;;) {
            const auto snap = store.current();
            std::vector<std::string> wanted;
            if (snap) {
                for (const auto& t : snap->targets) {
                    if (t.health) {
                        wanted.push_back(job_key(t));
                    }
                }
            }
            for (auto& [key, j] : jobs) {
                if (std::find(wanted.begin(), wanted.end(), key) == wanted.end()) {
                    j->alive = false;
                }
            }
            for (const auto& key : wanted) {
                if (jobs.count(key) == 0) {
                    auto j = std::make_shared<job>();
                    j->key = key;
                    jobs.emplace(key, j);
                    net::co_spawn(*ioc, run_job(j), net::detached);
                }
            }
            timer.expires_after(std::chrono::seconds(1));
            auto [ec] = co_await timer.async_wait(tok);
            if (ec) {
                co_return;
            }
        }
    }
};

health_checker::health_checker(const server_config& cfg, snapshot_store& store, tls_source tls)
    : impl_(std::make_unique<impl>(cfg, store, std::move(tls))) {}

health_checker::~health_checker() { stop(); }

void health_checker::subscribe(subscriber s) { impl_->subs.push_back(std::move(s)); }

void health_checker::start() {
    net::co_spawn(*impl_->ioc, impl_->scan(), net::detached);
    thread_ = std::thread([this] { impl_->ioc->run(); });
}

void health_checker::stop() {
    if (impl_->ioc) {
        impl_->ioc->stop();
    }
    if (thread_.joinable()) {
        thread_.join();
    }
}

std::uint64_t health_checker::probes() const { return impl_->probes.load(); }
std::uint64_t health_checker::transitions() const { return impl_->transitions.load(); }

}  // namespace outrigger::proxy
