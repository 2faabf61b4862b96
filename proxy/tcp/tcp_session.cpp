#include "proxy/tcp/tcp_session.hpp"

#include <algorithm>
#include <array>
#include <iterator>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <fmt/format.h>

#include "proxy/access_log.hpp"
#include "proxy/access_log_format.hpp"
#include "proxy/connection_limit.hpp"
#include "proxy/endpoint_select.hpp"
#include "proxy/errors.hpp"
#include "proxy/flex_stream.hpp"
#include "proxy/log.hpp"
#include "proxy/metrics.hpp"
#include "proxy/retry_policy.hpp"
#include "proxy/tcp/sniff.hpp"
#include "proxy/tcp/tunnel.hpp"
#include "tls/session_cache.hpp"

// g++ 12 reports Asio's awaitable frame allocation as mismatched new/delete once small
// coroutines are inlined (the same false positive proxy/forwarder.cpp documents).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace outrigger::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto tok = net::as_tuple(net::use_awaitable);

std::string endpoint_text(const tcp::endpoint& ep) {
    return ep.address().is_v6() ? fmt::format("[{}]:{}", ep.address().to_string(), ep.port())
                                : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

std::chrono::microseconds micros(clock_type::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d);
}

/// The plan's common part: pins, timeouts, counters.
tcp_plan base_plan(worker& w) {
    tcp_plan p;
    p.snapshot = w.snapshot();
    p.tls = w.tls();
    p.ops = w.ops();
    p.connect_timeout = w.config().connect_timeout;
    p.idle_timeout = w.config().downstream_idle;
    if (p.ops && p.ops->stats) {
        p.tcp_slot = p.ops->stats->tcp_passthrough;
    }
    return p;
}

/// Everything the access-log line and the counters of one connection need.
struct outcome {
    std::uint32_t flags = 0;
    std::uint32_t attempts = 0;
    std::uint64_t rx = 0;  // from downstream
    std::uint64_t tx = 0;  // to downstream
    std::optional<tcp::endpoint> upstream;
    std::string downstream_sni;  // SNI of an inbound TLS handshake
};

/// Client TLS on a freshly connected upstream (spec §10.7), as forwarder.cpp's
/// handshake_upstream: SNI, chain and SAN verification armed by the context, a cached session
/// offered. Returns "" or why it failed.
net::awaitable<std::string> originate_tls(worker& w, flex_stream& up, const tls::client_context& ctx,
                                          const tcp::endpoint& ep, std::chrono::milliseconds timeout) {
    auto& ts = up.start_tls(ctx.native());
    if (auto err = tls::prepare_client_stream(ts, ctx); !err.empty()) {
        co_return err;
    }
    const std::string key = endpoint_text(ep);
    const bool offered = w.tls_sessions().resume(ts, ctx, key);
    up.expires_after(timeout);
    auto [ec] = co_await ts.async_handshake(net::ssl::stream_base::client, tok);
    if (!ec) {
        co_return std::string{};
    }
    if (offered) {
        w.tls_sessions().erase(ctx, key);
    }
    std::string why = tls::verify_failure_reason(ts);
    if (why.empty()) {
        why = ec == beast::error::timeout ? std::string("handshake timeout") : ec.message();
    }
    co_return fmt::format("TLS handshake failed: {}", why);
}

class session {
public:
    session(worker& w, tcp::socket&& s, tcp_plan&& plan)
        : w_(w), plan_(std::move(plan)), start_(clock_type::now()),
          start_wall_(std::chrono::system_clock::now()), down_(std::move(s)) {
        boost::system::error_code ec;
        const auto rep = down_.socket().remote_endpoint(ec);
        if (!ec) {
            remote_ = endpoint_text(rep);
        }
        if (plan_.original_destination) {
            local_ = endpoint_text(*plan_.original_destination);
        } else {
            const auto lep = down_.socket().local_endpoint(ec);
            if (!ec) {
                local_ = endpoint_text(lep);
            }
        }
        if (w_.stats() != nullptr && plan_.tcp_slot != UINT32_MAX) {
            slot_ = &w_.stats()->at(w_.index(), stat_family::tcp, plan_.tcp_slot);
            stat_slot::inc(slot_->cx_total);
            stat_slot::inc(slot_->cx_active);
        }
    }
    ~session() {
        if (slot_ != nullptr) {
            stat_slot::dec(slot_->cx_active);
        }
    }
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    net::awaitable<void> run();

private:
    net::awaitable<bool> accept_tls();
    net::awaitable<std::unique_ptr<flex_stream>> connect_upstream();
    void finish();
    void close_down() {
        boost::system::error_code ec;  // the peer may already be gone: nothing left to do
        down_.socket().shutdown(tcp::socket::shutdown_send, ec);
        down_.socket().close(ec);
    }

    worker& w_;
    tcp_plan plan_;
    clock_type::time_point start_;
    std::chrono::system_clock::time_point start_wall_;
    flex_stream down_;
    std::string remote_;
    std::string local_;
    stat_slot* slot_ = nullptr;
    outcome out_;
};

net::awaitable<bool> session::accept_tls() {
    const tls::server_context* ctx = plan_.downstream_tls;
    bool use_tls = true;
    if (plan_.downstream_plaintext_ok) {
        // PERMISSIVE: TLS or plaintext by the first bytes; silence means a server-first protocol.
        switch (co_await detect_tls(down_.socket(), plan_.initial, inbound_tls_detect_deadline)) {
            case tls_detect::tls: break;
            case tls_detect::plaintext: use_tls = false; break;
            case tls_detect::closed: co_return false;
        }
    }
    if (!use_tls) {
        co_return true;  // the bytes read stay in `initial`, sent upstream first
    }
    auto& ts = down_.start_tls(ctx->native());
    down_.expires_after(plan_.connect_timeout);
    auto [ec, used] = co_await ts.async_handshake(net::ssl::stream_base::server, plan_.initial.data(), tok);
    down_.expires_never();
    if (ec) {
        if (log_enabled(log_level::info)) {
            const std::string why = tls::verify_failure_reason(ts);
            log(log_level::info, "outrigger: worker {}: inbound TLS handshake on tcp listener {} from {} "
                "refused: {}", w_.index(), plan_.port, remote_, why.empty() ? ec.message() : why);
        }
        out_.flags |= flag_dpe;
        co_return false;
    }
    plan_.initial.consume(used);
    if (plan_.initial.size() > 0) {
        // Ciphertext that came with the ClientHello cannot be handed to the TLS layer afterwards;
        // a client only sends more after the server's answer, so this is a broken client.
        out_.flags |= flag_dpe;
        co_return false;
    }
    out_.downstream_sni = tls::requested_server_name(ts);
    co_return true;
}

net::awaitable<std::unique_ptr<flex_stream>> session::connect_upstream() {
    const routing::upstream_target* target = plan_.kind == tcp_plan::kind_t::target ? plan_.target : nullptr;
    const routing::outlier_detection* od = target != nullptr && target->outlier ? &*target->outlier : nullptr;
    const bool health_checked = target != nullptr && target->health.has_value();
    auto& counters = w_.counters();
    std::array<tcp::endpoint, 8> tried{};
    std::size_t tried_n = 0;
    retry_state rs;
    std::string last_error;
    const auto record_outcome = [&](const tcp::endpoint& ep, bool failure) -> net::awaitable<void> {
        if (od == nullptr) {
            co_return;
        }
        const auto peers = co_await w_.endpoints().resolve(plan_.host, plan_.port, false);
        const std::span<const tcp::endpoint> group =
            plan_.all_addresses ? peers.addrs : peers.addrs.first(std::min<std::size_t>(1, peers.addrs.size()));
        if (w_.outliers().record(ep, *od, failure, group, clock_type::now())) {
            log(log_level::warn, "outrigger: outlier detection ejected {} of {}", endpoint_text(ep), plan_.what);
        }
    };
    const auto retried = [&] { return rs.retries_done > 0 ? static_cast<std::uint32_t>(flag_urx) : 0u; };
    for (;;) {
        ++out_.attempts;
        tcp::endpoint ep;
        if (plan_.kind == tcp_plan::kind_t::passthrough) {
            ep = plan_.address;
        } else {
            const auto set = co_await w_.endpoints().resolve(plan_.host, plan_.port, plan_.all_addresses);
            if (set.addrs.empty()) {
                out_.flags |= flag_uh | retried();
                log(log_level::info, "outrigger: worker {}: no healthy upstream for {}: \"{}:{}\" has "
                    "no address", w_.index(), plan_.what, plan_.host, plan_.port);
                co_return nullptr;
            }
            const std::size_t n = plan_.all_addresses ? set.addrs.size() : 1;
            const health_view* hv = health_checked ? w_.health() : nullptr;
            const auto now = clock_type::now();
            const auto idx = select_endpoint(
                n, set.start,
                [&](std::size_t i) {
                    const auto& e = set.addrs[i];
                    const bool bad = (hv != nullptr && hv->is_unhealthy(e)) ||
                                     (od != nullptr && w_.outliers().is_ejected(e, *od, now));
                    if (bad) {
                        ++counters.unhealthy_skips;
                    }
                    return !bad;
                },
                [&](std::size_t i) {
                    const auto end = tried.begin() + static_cast<std::ptrdiff_t>(tried_n);
                    return std::find(tried.begin(), end, set.addrs[i]) != end;
                });
            if (!idx) {
                out_.flags |= flag_uh | retried();
                log(log_level::info, "outrigger: worker {}: no healthy upstream for {}: all {} "
                    "endpoint{} are unhealthy or ejected", w_.index(), plan_.what, n, n == 1 ? "" : "s");
                co_return nullptr;
            }
            ep = set.addrs[*idx];
        }
        if (tried_n < tried.size()) {
            tried[tried_n++] = ep;
        } else {
            std::rotate(tried.begin(), tried.begin() + 1, tried.end());
            tried.back() = ep;
        }
        out_.upstream = ep;

        auto up = std::make_unique<flex_stream>(w_.ioc().get_executor());
        up->expires_after(plan_.connect_timeout);
        auto [ec] = co_await up->async_connect(ep, tok);
        std::string why;
        if (ec) {
            why = ec == beast::error::timeout ? std::string("connect timeout") : ec.message();
        } else {
            boost::system::error_code opt_ec;
            up->socket().set_option(tcp::no_delay(true), opt_ec);  // latency only
            if (plan_.upstream_tls != nullptr) {
                why = co_await originate_tls(w_, *up, *plan_.upstream_tls, ep, plan_.connect_timeout);
                if (!why.empty()) {
                    log(log_level::warn, "outrigger: worker {}: {} at {}: {}", w_.index(), plan_.what,
                        endpoint_text(ep), why);
                }
            }
        }
        if (why.empty()) {
            up->expires_never();
            co_await record_outcome(ep, false);
            co_return up;
        }
        co_await record_outcome(ep, true);
        last_error = std::move(why);
        // Nothing went upstream yet: a connect failure is always safe to retry (spec §10.9).
        const attempt_outcome failed{attempt_outcome::kind_t::connect_error, 0};
        if (should_retry(plan_.retry, failed, rs)) {
            ++rs.retries_done;
            ++counters.retries;
            net::steady_timer backoff(w_.ioc());
            backoff.expires_after(retry_backoff(rs.retries_done, w_.rng().next64()));
            auto [tec] = co_await backoff.async_wait(tok);
            (void)tec;  // only expiry completes this local timer
            continue;
        }
        out_.flags |= flag_uf | retried();
        log(log_level::info, "outrigger: worker {}: cannot connect to {} at {}: {}", w_.index(),
            plan_.what, endpoint_text(ep), last_error);
        co_return nullptr;
    }
}

void session::finish() {
    const auto end = clock_type::now();
    if (slot_ != nullptr) {
        stat_slot::inc(slot_->cx_rx_bytes, out_.rx);
        stat_slot::inc(slot_->cx_tx_bytes, out_.tx);
        for (std::uint32_t bits = out_.flags; bits != 0; bits &= bits - 1) {
            const auto b = static_cast<std::size_t>(std::countr_zero(bits));
            if (b < max_flags) {
                stat_slot::inc(slot_->flags[b]);
            }
        }
        if (out_.attempts > 1) {
            stat_slot::inc(slot_->rq_retry, out_.attempts - 1);
        }
    }
    access_log* sink = w_.log();
    const log_format* format = plan_.ops ? plan_.ops->format.get() : nullptr;
    if (sink == nullptr || format == nullptr) {
        return;
    }
    char flags[64];
    const std::size_t fl = format_flags(out_.flags, flags);
    const std::string upstream = out_.upstream ? endpoint_text(*out_.upstream) : std::string();
    log_record r;
    r.start = start_wall_;
    r.protocol = {};  // "-": no HTTP
    r.status = 0;     // Envoy prints 0 for a TCP connection
    r.flags = std::string_view(flags, fl);
    r.bytes_received = out_.rx;
    r.bytes_sent = out_.tx;
    r.duration = micros(end - start_);
    r.upstream_host = upstream;
    r.upstream_cluster = plan_.cluster;
    r.downstream_remote = remote_;
    r.downstream_local = local_;
    r.attempts = out_.attempts;
    r.route_name = plan_.route != nullptr ? std::string_view(plan_.route->name) : std::string_view{};
    r.virtual_service = plan_.service != nullptr ? std::string_view(plan_.service->name) : std::string_view{};
    r.listener = plan_.listener;
    r.requested_server_name = !plan_.sni.empty() ? std::string_view(plan_.sni)
                                                 : std::string_view(out_.downstream_sni);
    fmt::memory_buffer line;
    render(*format, r, line);
    sink->append(w_.index(), std::string_view(line.data(), line.size()));
}

net::awaitable<void> session::run() {
    // --max-connections, as run_downstream_session takes it: one slot per downstream connection.
    connection_limit* limit = w_.conn_limit();
    if (limit != nullptr && !limit->try_acquire()) {
        out_.flags |= flag_uo;
        finish();
        close_down();
        co_return;
    }
    struct limit_guard {
        connection_limit* l;
        ~limit_guard() {
            if (l != nullptr) {
                l->release();
            }
        }
    } lguard{limit};

    if (plan_.kind == tcp_plan::kind_t::refuse) {
        out_.flags |= plan_.refuse_flags;
        log(log_level::info, "outrigger: worker {}: TCP connection from {} refused: {}", w_.index(),
            remote_, plan_.refuse_reason);
        finish();
        close_down();
        co_return;
    }

    // connectionPool.tcp.maxConnections (spec §10.12): beyond it, closed without being proxied.
    open_slot pool_slot;
    if (plan_.limit != nullptr && plan_.max_connections > 0) {
        if (plan_.limit->open.fetch_add(1, std::memory_order_relaxed) < plan_.max_connections) {
            pool_slot = open_slot(plan_.limit);
        } else {
            plan_.limit->open.fetch_sub(1, std::memory_order_relaxed);
            plan_.limit->overflows.fetch_add(1, std::memory_order_relaxed);
            ++w_.counters().overflows;
            out_.flags |= flag_uo;
            log(log_level::info, "outrigger: worker {}: {} is at its connection pool limit "
                "(maxConnections {}); closing the connection from {}", w_.index(), plan_.what,
                plan_.max_connections, remote_);
            finish();
            close_down();
            co_return;
        }
    }

    if (plan_.downstream_tls != nullptr && !co_await accept_tls()) {
        finish();
        close_down();
        co_return;
    }
    if (plan_.kind == tcp_plan::kind_t::target && !plan_.upstream_tls_error.empty()) {
        out_.flags |= flag_uf;
        log(log_level::warn, "outrigger: worker {}: {}: {}", w_.index(), plan_.what, plan_.upstream_tls_error);
        finish();
        close_down();
        co_return;
    }

    std::unique_ptr<flex_stream> up = co_await connect_upstream();
    if (!up) {
        finish();
        close_down();
        co_return;
    }
    tunnel_options opts;
    opts.idle_timeout = plan_.idle_timeout;
    const auto initial = plan_.initial.data();
    const tunnel_result r = co_await run_tunnel(
        down_, *up, opts, std::span(static_cast<const std::byte*>(initial.data()), initial.size()));
    out_.rx = r.from_downstream;
    out_.tx = r.to_downstream;
    switch (r.end) {
        case tunnel_result::end_t::idle_timeout: out_.flags |= flag_si; break;
        case tunnel_result::end_t::upstream_reset: out_.flags |= flag_uc; break;
        case tunnel_result::end_t::downstream_reset:
        case tunnel_result::end_t::closed: break;
    }
    if (up->is_tls() && plan_.upstream_tls != nullptr && r.to_downstream > 0 && out_.upstream) {
        // TLS 1.3 tickets arrive after the handshake; by now they were read (session_cache.hpp).
        w_.tls_sessions().save(up->tls(), *plan_.upstream_tls, endpoint_text(*out_.upstream));
    }
    finish();
}

}  // namespace

tcp_plan plan_tcp_refusal(worker& w, std::uint32_t flags, std::string reason) {
    tcp_plan p = base_plan(w);
    p.kind = tcp_plan::kind_t::refuse;
    p.refuse_flags = flags;
    p.refuse_reason = std::move(reason);
    return p;
}

tcp_plan plan_tcp_target(worker& w, const routing::tcp_decision& d) {
    using outcome_t = routing::tcp_decision::outcome_t;
    if (d.outcome != outcome_t::routed) {
        std::string why;
        std::uint32_t flags = flag_nr;
        const std::string service = d.service != nullptr ? d.service->aws_name : std::string("-");
        const unsigned port = d.port != nullptr ? d.port->port : 0;
        switch (d.outcome) {
            case outcome_t::no_route:
                why = fmt::format("virtual service \"{}\": {} has no tcpRoute for port {}", service,
                                  d.service != nullptr ? d.service->provider_name : "-", port);
                break;
            case outcome_t::no_provider:
                why = fmt::format("virtual service \"{}\" has no provider", service);
                flags = flag_uh;
                break;
            default:
                why = d.service != nullptr
                          ? fmt::format("virtual service \"{}\" has no tcp listener on that port", service)
                          : std::string("the port is not a TCP backend of this node");
                break;
        }
        tcp_plan p = plan_tcp_refusal(w, flags, std::move(why));
        p.service = d.service;
        return p;
    }
    tcp_plan p = base_plan(w);
    const routing::upstream_target& t = *d.target;
    p.kind = tcp_plan::kind_t::target;
    p.target = &t;
    p.host = t.endpoints.hostname;
    p.port = t.port;
    p.all_addresses = t.endpoints.all_addresses;
    p.retry = d.retry;
    if (d.idle_timeout) {
        p.idle_timeout = *d.idle_timeout;
    }
    p.service = d.service;
    p.route = d.route;
    p.cluster = t.cluster_name;
    p.what = t.display;
    if (t.endpoints.kind == routing::endpoint_source::kind_t::none) {
        tcp_plan r = plan_tcp_refusal(w, flag_uh, fmt::format("{} has no service discovery", t.display));
        r.service = d.service;
        r.route = d.route;
        r.cluster = t.cluster_name;
        return r;
    }
    if (t.tls.mode != routing::tls_origination::mode_t::plaintext) {
        p.upstream_tls = p.tls ? p.tls->client(t) : nullptr;
        if (p.upstream_tls == nullptr) {
            p.upstream_tls_error = p.tls && !p.tls->client_error(t).empty()
                                       ? p.tls->client_error(t)
                                       : std::string("no TLS context for this target");
        }
    }
    if (p.ops && p.ops->stats && t.id < p.ops->stats->tcp_targets.size() &&
        p.ops->stats->tcp_targets[t.id] != UINT32_MAX) {
        p.tcp_slot = p.ops->stats->tcp_targets[t.id];
    }
    return p;
}

tcp_plan plan_tcp_passthrough(worker& w, const tcp::endpoint& destination, std::string sni) {
    tcp_plan p = base_plan(w);
    p.kind = tcp_plan::kind_t::passthrough;
    p.address = destination;
    p.host = destination.address().to_string();
    p.port = destination.port();
    p.cluster = "egress_passthrough";
    p.what = fmt::format("unmodelled egress {}", endpoint_text(destination));
    p.sni = std::move(sni);
    p.original_destination = destination;
    // No retries: the app's own connect would not have retried; a refusal reaches it as a close.
    return p;
}

std::optional<tcp_plan> plan_tcp_ingress(worker& w, std::uint16_t port) {
    const auto& snap = w.snapshot();
    if (!snap) {
        return std::nullopt;
    }
    std::size_t idx = snap->ingress.size();
    for (std::size_t i = 0; i < snap->ingress.size(); ++i) {
        if (snap->ingress[i].port == port) {
            idx = i;
            break;
        }
    }
    if (idx == snap->ingress.size() || snap->ingress[idx].proto != routing::protocol::tcp) {
        return std::nullopt;
    }
    const routing::ingress_listener& l = snap->ingress[idx];
    tcp_plan p = base_plan(w);
    p.kind = tcp_plan::kind_t::app;
    p.listener = "ingress";
    p.host = w.config().app_address;
    p.port = port;
    p.what = l.display;
    p.cluster = fmt::format("cds_ingress_{}_{}_tcp_{}", snap->mesh_name, snap->node_aws_name, port);
    if (l.idle_timeout) {
        p.idle_timeout = *l.idle_timeout;
    }
    if (l.pool && l.pool->kind == "tcp" && l.pool->max_connections > 0) {
        p.max_connections = l.pool->max_connections;
        p.limit = w.pool_limits() != nullptr ? w.pool_limits()->find(port) : nullptr;
    }
    if (l.tls && (l.tls->mode == "STRICT" || l.tls->mode == "PERMISSIVE")) {
        p.downstream_tls = p.tls ? p.tls->listener_context(idx) : nullptr;
        p.downstream_plaintext_ok = l.tls->mode == "PERMISSIVE";
        if (p.downstream_tls == nullptr && !p.downstream_plaintext_ok) {
            // STRICT without a usable context: refuse rather than accept plaintext.
            tcp_plan r = plan_tcp_refusal(w, flag_dpe,
                                          fmt::format("{} requires TLS and has no usable certificate", l.display));
            r.listener = "ingress";
            return r;
        }
    }
    if (p.ops && p.ops->stats && idx < p.ops->stats->tcp_ingress.size() &&
        p.ops->stats->tcp_ingress[idx] != UINT32_MAX) {
        p.tcp_slot = p.ops->stats->tcp_ingress[idx];
    }
    return p;
}

net::awaitable<void> run_tcp_session(worker& w, tcp::socket down, tcp_plan plan) {
    session s(w, std::move(down), std::move(plan));
    co_await s.run();
}

}  // namespace outrigger::proxy
