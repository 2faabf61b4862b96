#include "proxy/downstream_session.hpp"

#include <boost/asio/co_spawn.hpp>

#include "proxy/http2/h2_connection.hpp"

#include <array>
#include <span>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

#include "proxy/access_log.hpp"
#include "proxy/access_log_format.hpp"
#include "proxy/connection_limit.hpp"
#include "proxy/errors.hpp"
#include "proxy/metrics.hpp"
#include "proxy/worker.hpp"
#include "proxy/flex_stream.hpp"
#include "proxy/forwarder.hpp"
#include "proxy/gateway_listener.hpp"
#include "proxy/http_head.hpp"
#include "proxy/http_util.hpp"
#include "proxy/http_wire.hpp"
#include "proxy/local_reply.hpp"
#include "proxy/log.hpp"
#include "proxy/original_dst.hpp"
#include "proxy/request_ctx.hpp"
#include "proxy/tcp/tunnel.hpp"
#include "proxy/tls_contexts.hpp"
#include "routing/gateway.hpp"
#include "tls/detect.hpp"

namespace outrigger::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto tok = net::as_tuple(net::use_awaitable);

/// Everything one connection owns, reused across its requests.
struct session_state {
    session_state(worker& wk, flex_stream& d, listener_kind k) : w(wk), kind(k), down(d) {}
    worker& w;
    listener_kind kind;
    // Gateway listeners: the manifest's listener port, its name for metrics and logs, and the
    // per-request rewrite (proxy/gateway_listener.hpp).
    std::uint16_t gateway_port = 0;
    std::string listener_label;
    routing::gateway_rewrite gw_rewrite;
    std::string original_target;
    /// The connection (owned by run_downstream_session). For an HTTP/2 stream: the connection
    /// the stream rides on, read and written only through `h2`.
    flex_stream& down;
    /// Set for one HTTP/2 stream's state (proxy/http2/h2_connection.hpp).
    h2_downstream h2;
    beast::flat_buffer buf;
    std::string tls_key;  // TLS identity the connection was accepted with ("" = plaintext)
    message_head req_head;   // the request being handled (storage reused across requests)
    message_head resp_head;  // its upstream response head
    std::optional<request_head_parser> parser;
    std::vector<char> replay;
    std::vector<char> chunk;
    std::string head;
    std::vector<routing::header_view> headers;
    std::string norm_path;
    std::string host_buf;
    std::string authority_buf;
    std::string origin_buf;
    std::string what_buf;
    std::string port_list;
    // Transparent mode: where the app sent this connection before iptables REDIRECT (read once
    // after accept); unset for explicit mode and for connections that were not redirected.
    std::optional<tcp::endpoint> orig_dst;
    std::string orig_host;  // orig_dst's address as text, the passthrough "host"
    std::string remote;            // "addr:port" of the client, for the access log
    message_head resp_headers;     // upstream response head, when the log format reads it
    std::string upstream_host_buf;
    fmt::memory_buffer line;       // access-log line, reused
};

void append_fmt(std::string& out, fmt::string_view f, fmt::format_args args) {
    fmt::vformat_to(std::back_inserter(out), f, args);
}

template <typename... Args>
std::string& assign_fmt(std::string& out, fmt::format_string<Args...> f, Args&&... args) {
    out.clear();
    append_fmt(out, f, fmt::make_format_args(args...));
    return out;
}

/// Request headers for %REQ(...)%: the (rewritten) request head plus pseudo-headers.
class request_headers final : public header_source {
public:
    explicit request_headers(const message_head& h) : req_(h) {}
    [[nodiscard]] std::optional<std::string_view> find(std::string_view name) const override {
        if (!name.empty() && name.front() == ':') {
            // Empty when the head was refused before these were parsed: logged as "-".
            if (name == ":method") {
                return non_empty(req_.method_string());
            }
            if (name == ":path") {
                return non_empty(req_.target());
            }
            if (name == ":authority") {
                return req_.find(http::field::host);
            }
            if (name == ":scheme") {
                return std::string_view("http");
            }
            return std::nullopt;
        }
        return req_.find(name);
    }

private:
    static std::optional<std::string_view> non_empty(std::string_view v) {
        return v.empty() ? std::nullopt : std::optional<std::string_view>(v);
    }
    const message_head& req_;
};

/// Response headers for %RESP(...)%; x-envoy-upstream-service-time is synthesised from the
/// time to the upstream's response head, as Envoy sets it.
class response_headers final : public header_source {
public:
    response_headers(const message_head* f, std::string_view service_time)
        : f_(f), service_time_(service_time) {}
    [[nodiscard]] std::optional<std::string_view> find(std::string_view name) const override {
        if (f_ != nullptr) {
            if (auto v = f_->find(name)) {
                return v;
            }
        }
        if (name == "x-envoy-upstream-service-time" && !service_time_.empty()) {
            return service_time_;
        }
        return std::nullopt;
    }

private:
    const message_head* f_;
    std::string_view service_time_;
};

std::chrono::microseconds micros(clock_type::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d);
}

/// The listener-family slot of the session's listener (UINT32_MAX: none, e.g. a gateway
/// listener a reload removed).
std::uint32_t listener_slot_of(const session_state& s, const stats_map& map) {
    switch (s.kind) {
    case listener_kind::egress:
        return map.listener_egress;
    case listener_kind::ingress:
        return map.listener_ingress;
    case listener_kind::gateway:
        return map.gateway_listener_slot(s.gateway_port);
    }
    return UINT32_MAX;
}

/// Counters of one finished request: listener, virtual service, route, cluster and endpoint.
void record_metrics(session_state& s, const request_ctx& c, const routing::snapshot* snap,
                    const worker::ops_state& ops, std::uint32_t cluster_slot,
                    std::chrono::microseconds duration) {
    metrics* m = s.w.stats();
    if (m == nullptr || !ops.stats) {
        return;
    }
    const stats_map& map = *ops.stats;
    const unsigned w = s.w.index();
    const std::uint32_t listener = listener_slot_of(s, map);
    if (listener != UINT32_MAX) {
        m->at(w, stat_family::listener, listener).record(c.status, c.flags, c.attempts, duration);
    }
    if (snap == nullptr) {
        return;
    }
    if (c.gateway_route != nullptr && c.gateway_route->id < map.gateway_routes.size()) {
        m->at(w, stat_family::gateway_route, map.gateway_routes[c.gateway_route->id])
            .record(c.status, c.flags, c.attempts, duration);
    }
    if (c.service != nullptr) {
        const auto i = static_cast<std::size_t>(c.service - snap->services.data());
        if (i < map.services.size()) {
            m->at(w, stat_family::vhost, map.services[i]).record(c.status, c.flags, c.attempts, duration);
        }
    }
    if (c.route != nullptr && c.route->id < map.routes.size()) {
        m->at(w, stat_family::route, map.routes[c.route->id]).record(c.status, c.flags, c.attempts, duration);
    }
    if (cluster_slot != UINT32_MAX) {
        stat_slot& cluster = m->at(w, stat_family::cluster, cluster_slot);
        cluster.record(c.status, c.flags, c.attempts, duration);
        if (c.ejections > 0) {
            stat_slot::inc(cluster.ejections, c.ejections);
        }
        if (c.upstream_ep.port() != 0) {
            const std::uint32_t e = s.w.endpoint_slot(cluster_slot, c.upstream_ep);
            m->at(w, stat_family::endpoint, e).record(c.status, c.flags, c.attempts, duration);
        }
    }
}

/// The cluster slot a request was sent to (or would have been): target, local app or passthrough.
std::uint32_t cluster_slot_of(const request_ctx& c, const routing::snapshot* snap, const stats_map* map) {
    if (map == nullptr || snap == nullptr) {
        return UINT32_MAX;
    }
    if (c.up.kind == upstream_choice::kind_t::target && c.up.target != nullptr &&
        c.up.target->id < map->targets.size()) {
        return map->targets[c.up.target->id];
    }
    if (c.up.kind == upstream_choice::kind_t::app && c.ingress != nullptr) {
        const auto i = static_cast<std::size_t>(c.ingress - snap->ingress.data());
        return i < map->ingress.size() ? map->ingress[i] : UINT32_MAX;
    }
    if (c.up.kind == upstream_choice::kind_t::passthrough && c.up.port != 0) {
        return map->passthrough;
    }
    return UINT32_MAX;
}

std::string_view cluster_name_of(const request_ctx& c) {
    if (c.up.kind == upstream_choice::kind_t::target && c.up.target != nullptr) {
        return c.up.target->cluster_name;
    }
    if (c.up.kind == upstream_choice::kind_t::passthrough && c.up.port != 0) {
        return "egress_passthrough";
    }
    if (c.up.kind == upstream_choice::kind_t::app && c.ingress != nullptr) {
        return "local_app";
    }
    return {};
}

void write_access_log(session_state& s, const request_ctx& c, const log_format* fmt_ops,
                      std::chrono::system_clock::time_point start_wall, clock_type::time_point start,
                      clock_type::time_point end) {
    access_log* log = s.w.log();
    if (log == nullptr || fmt_ops == nullptr) {
        return;
    }
    char flags[64];
    const std::size_t fl = format_flags(c.flags, flags);
    s.upstream_host_buf.clear();
    if (c.upstream_ep.port() != 0) {
        fmt::format_to(std::back_inserter(s.upstream_host_buf), "{}:{}",
                       c.upstream_ep.address().to_string(), c.upstream_ep.port());
    }
    char service_time[24];
    std::string_view service_time_sv;
    log_record r;
    r.start = start_wall;
    r.protocol = c.client_version >= 20 ? "HTTP/2" : c.client_version >= 11 ? "HTTP/1.1" : "HTTP/1.0";
    r.status = c.status;
    r.flags = std::string_view(flags, fl);
    r.bytes_received = c.bytes_in;
    r.bytes_sent = c.bytes_out;
    r.duration = micros(end - start);
    if (c.upstream_first_byte) {
        r.response_duration = micros(*c.upstream_first_byte - start);
        const auto res = fmt::format_to_n(service_time, sizeof(service_time), "{}",
                                          r.response_duration->count() / 1000);
        service_time_sv = std::string_view(service_time, res.size);
    }
    r.upstream_host = s.upstream_host_buf;
    r.upstream_cluster = cluster_name_of(c);
    r.downstream_remote = s.remote;
    r.attempts = c.attempts;
    r.grpc_status = c.grpc_status;
    r.route_name = c.route != nullptr ? std::string_view(c.route->name) : std::string_view{};
    r.virtual_service = c.service != nullptr ? std::string_view(c.service->name) : std::string_view{};
    r.gateway_route =
        c.gateway_route != nullptr ? std::string_view(c.gateway_route->name) : std::string_view{};
    r.listener = s.kind == listener_kind::egress    ? std::string_view("egress")
                 : s.kind == listener_kind::ingress ? std::string_view("ingress")
                                                    : std::string_view(s.listener_label);
    const request_headers rq(s.req_head);
    const response_headers rs(fmt_ops->wants_response_headers ? &s.resp_headers : nullptr,
                              service_time_sv);
    r.request = &rq;
    r.response = &rs;
    s.line.clear();
    render(*fmt_ops, r, s.line);
    log->append(s.w.index(), std::string_view(s.line.data(), s.line.size()));
}

/// Writes a local reply. Keeps the connection only if the client wants it and the request body
/// was fully consumed (otherwise its unread bytes would be parsed as the next request).
net::awaitable<bool> write_local_reply(session_state& s, request_ctx& c, errc e,
                                       std::string_view sentence, std::uint32_t extra_flags) {
    if (s.h2 && s.req_head[http::field::content_type].starts_with("application/grpc")) {
        // A gRPC caller gets a gRPC status: HTTP 200, "trailers-only" (one HEADERS frame with
        // grpc-status and grpc-message, END_STREAM). The access log keeps the HTTP status the
        // reply stands for (its flags too), so operators read it as for any other request.
        auto res = make_local_reply(e, sentence, extra_flags, true, c.flags);
        c.status = res.result_int();
        message_head h;
        h.set_status_line(200, {}, 20);
        h.append(http::field::content_type, "content-type", "application/grpc");
        c.grpc_status = static_cast<int>(grpc_status_of(e));
        const std::string code = std::to_string(c.grpc_status);
        h.append(http::field::unknown, "grpc-status", code);
        std::string msg(sentence);
        char flag_text[64];
        msg.append(" [").append(flag_text, format_flags(c.flags, flag_text)).append("]");
        const std::string encoded = grpc_message(msg);
        h.append(http::field::unknown, "grpc-message", encoded);
        s.h2.conn->respond(*s.h2.st, h, true);
        c.response_started = true;
        co_return true;
    }
    if (s.h2) {
        // HTTP/2: the reply ends this stream only; the connection stays.
        auto res = make_local_reply(e, sentence, extra_flags, true, c.flags);
        c.status = res.result_int();
        message_head h;
        h.set_status_line(c.status, {}, 20);
        for (const auto& f : res.base()) {
            const std::string_view n(f.name_string().data(), f.name_string().size());
            if (f.name() == http::field::connection || f.name() == http::field::content_length) {
                continue;
            }
            h.append(f.name(), n, std::string_view(f.value().data(), f.value().size()));
        }
        const std::string& body = res.body();
        if (!c.head_request) {
            h.content_length(body.size());
        }
        const bool bodyless = c.head_request || body.empty();
        s.h2.conn->respond(*s.h2.st, h, bodyless);
        if (!bodyless) {
            s.h2.conn->send_data(*s.h2.st, body, true);
            c.bytes_out += body.size();
        }
        c.response_started = true;
        co_return true;
    }
    // A malformed request may have left the stream in an unknown state: close after a DPE reply.
    const bool keep = c.client_keep_alive && s.parser->is_done() && !c.close_after &&
                      classify(e).flag != flag_dpe;
    auto res = make_local_reply(e, sentence, extra_flags, keep, c.flags);
    c.status = res.result_int();
    s.down.expires_after(s.w.config().downstream_idle);
    auto [ec, n] = co_await http::async_write(s.down, res, tok);
    c.bytes_out += n;
    c.response_started = true;
    co_return keep && !ec;
}

/// A reply for a request whose head could not be used at all (400, 408, 413, 431, 501, and the
/// --max-connections 503); the connection is closed after it. It is logged and counted on the
/// listener like every other response, with what is known of the request.
net::awaitable<void> write_bare_reply(session_state& s, errc e, std::string_view sentence) {
    const auto start = clock_type::now();
    const auto start_wall = std::chrono::system_clock::now();
    if (!s.parser) {
        s.parser.emplace(s.req_head);  // refused before any head was read: an empty request
    }
    request_ctx c{s.w, s.down, s.buf, *s.parser, s.replay, s.chunk, s.head, s.resp_head};
    c.client_version = s.req_head.version();
    c.client_keep_alive = false;
    auto res = make_local_reply(e, sentence, 0, false, c.flags);
    c.status = res.result_int();
    s.down.expires_after(s.w.config().downstream_idle);
    auto [ec, n] = co_await http::async_write(s.down, res, tok);
    (void)ec;  // the connection is closed next either way
    c.bytes_out = n;
    c.response_started = true;
    const auto end = clock_type::now();
    const std::shared_ptr<const worker::ops_state> ops = s.w.ops();
    if (ops) {
        record_metrics(s, c, nullptr, *ops, UINT32_MAX, micros(end - start));
    }
    write_access_log(s, c, ops ? ops->format.get() : nullptr, start_wall, start, end);
}

// ---- CONNECT tunnels (the relay is proxy/tcp/tunnel.hpp) ---------------------------------------

net::awaitable<void> handle_connect(session_state& s, request_ctx& c,
                                    const routing::snapshot& snap) {
    const auto& req = s.req_head;
    authority a;
    if (!parse_authority(req.target(), a)) {
        co_await write_local_reply(s, c, errc::downstream_protocol_error,
                                   "malformed CONNECT target, expected host:port", 0);
        co_return;
    }
    const std::uint16_t port = a.port.value_or(443);
    s.host_buf.assign(a.host);
    if (!snap.egress_allowed(s.host_buf)) {
        c.close_after = true;
        co_await write_local_reply(
            s, c, errc::connect_denied,
            assign_fmt(s.what_buf,
                       "CONNECT to \"{}:{}\" refused: the mesh egress filter is DROP_ALL and the "
                       "host matches no --egress-allow pattern",
                       s.host_buf, port),
            0);
        co_return;
    }
    const tcp::endpoint ep = co_await s.w.endpoints().pick(s.host_buf, port, false);
    c.upstream_ep = ep;
    if (ep.port() == 0) {
        c.close_after = true;
        co_await write_local_reply(
            s, c, errc::no_endpoint,
            assign_fmt(s.what_buf, "no address for CONNECT target \"{}:{}\"", s.host_buf, port), 0);
        co_return;
    }
    flex_stream up(s.w.ioc().get_executor());
    up.expires_after(s.w.config().connect_timeout);
    ++c.attempts;
    auto [cec] = co_await up.async_connect(ep, tok);
    if (cec) {
        c.close_after = true;
        co_await write_local_reply(
            s, c, errc::upstream_connect_failed,
            assign_fmt(s.what_buf, "cannot connect to \"{}:{}\" at {}:{}: {}", s.host_buf, port,
                       ep.address().to_string(), ep.port(), cec.message()),
            0);
        co_return;
    }
    up.expires_never();
    s.down.expires_never();
    static constexpr std::string_view established = "HTTP/1.1 200 Connection Established\r\n\r\n";
    auto [wec, wn] = co_await net::async_write(s.down.socket(), net::buffer(established.data(),
                                                                            established.size()),
                                               tok);
    c.status = 200;
    c.response_started = true;
    c.close_after = true;
    if (wec) {
        co_return;
    }
    // Bytes the client sent right after its CONNECT head belong to the tunnel: sent upstream first.
    tunnel_options opts;
    opts.idle_timeout = s.w.config().downstream_idle;
    const auto early = s.buf.data();
    const tunnel_result r = co_await run_tunnel(
        s.down, up, opts, std::span(static_cast<const std::byte*>(early.data()), early.size()));
    (void)r;  // the access-log line of a CONNECT is written when its 200 was (bytes: the head)
    s.buf.consume(s.buf.size());
}

// ---- Request classification -------------------------------------------------------------------

/// Rewrites the request head for the upstream: origin-form target, Host, hop-by-hop removal,
/// x-forwarded-proto, x-request-id, HTTP/1.1.
void prepare_upstream_head(session_state& s, bool absolute) {
    message_head& req = s.req_head;
    if (absolute) {
        req.target(s.origin_buf);
        req.set(http::field::host, s.authority_buf);
    }
    strip_hop_by_hop(req);
    req.set("x-forwarded-proto", s.down.is_tls() ? "https" : "http");
    if (!req.find(std::string_view("x-request-id"))) {
        char id[36];
        s.w.rng().uuid_v4(id);
        req.set("x-request-id", std::string_view(id, sizeof(id)));
    }
    req.version(11);
}

/// The request target of the head: origin-form with a Host header, absolute-form (then
/// `s.authority_buf`/`s.origin_buf` hold its parts for prepare_upstream_head), or `*`.
struct parsed_target {
    std::string_view origin;  // path and query
    authority a;
    bool absolute = false;
};

/// A local reply a decider chose; the caller writes it (the sentence lives in the session's
/// buffers or is a literal).
/// A gRPC request: content-type application/grpc, or one of its +proto, +json… forms.
bool is_grpc_request(const message_head& req) {
    return req[http::field::content_type].starts_with("application/grpc");
}

struct local_answer {
    errc e = errc::ok;
    std::string_view sentence;
};

/// Parses the target and authority of the request. Returns false (with `out`, the 400 to write)
/// when they are malformed. Plain functions, not coroutines: no frame per request.
bool parse_request_target(session_state& s, parsed_target& t, local_answer& out) {
    const message_head& req = s.req_head;
    const std::string_view target = req.target();
    std::string_view authority_text;
    std::string_view origin;
    bool absolute = false;
    if (!target.empty() && target.front() == '/') {
        origin = target;
        authority_text = req[http::field::host];
    } else if (split_absolute_form(target, authority_text, origin)) {
        absolute = true;
    } else if (target == "*") {
        origin = target;
        authority_text = req[http::field::host];
    } else {
        out = local_answer{errc::downstream_protocol_error,
            assign_fmt(s.what_buf, "malformed request target \"{}\": use origin-form with a Host "
                                   "header or absolute-form http://host:port/path",
                       target.substr(0, 200))};
        return false;
    }
    if (authority_text.empty() && s.orig_dst) {
        authority_text = s.orig_host;  // no Host (HTTP/1.0): the original address names it
    }
    authority a;
    if (!parse_authority(authority_text, a)) {
        out = local_answer{errc::downstream_protocol_error,
            authority_text.empty()
                ? std::string_view("request names no host: send a Host header or an absolute URI")
                : std::string_view(assign_fmt(s.what_buf, "malformed host \"{}\"",
                                              authority_text.substr(0, 200)))};
        return false;
    }
    if (absolute) {
        s.authority_buf.assign(authority_text);
        s.origin_buf.clear();
        if (origin.empty() || origin.front() != '/') {
            s.origin_buf.push_back('/');
        }
        s.origin_buf.append(origin);
    }
    t.origin = origin;
    t.a = a;
    t.absolute = absolute;
    return true;
}

/// The routing view of the request (routing::request_view): normalised path into a reused
/// buffer, query split off, host and port from the authority, headers as views.
routing::request_view routing_view(session_state& s, const parsed_target& t) {
    const message_head& req = s.req_head;
    const std::string_view origin = t.origin;
    const authority& a = t.a;
    const auto qpos = origin.find('?');
    std::string_view path = origin.substr(0, qpos);
    const std::string_view query = qpos == std::string_view::npos ? std::string_view{}
                                                                  : origin.substr(qpos + 1);
    if (path.empty()) {
        path = "/";
    }
    routing::normalize_path(path, s.norm_path);
    s.headers.clear();
    for (const auto& f : req.fields()) {
        s.headers.push_back({req.name(f), req.value(f)});
    }
    routing::request_view view;
    view.method = req.method_string();
    view.path = s.norm_path;
    view.query = query;
    view.host = a.host;
    view.port = a.port;
    if (s.orig_dst) {
        view.port = s.orig_dst->port();  // DECISIONS §2: P is the original destination port
    }
    view.headers = s.headers;
    return view;
}

/// Serves decision `d` of `snap` (host `host`, port `port` as routed): a target (its TLS
/// origination context), passthrough under the egress filter, or the local reply of each
/// refusal. Shared by the egress and gateway listeners: the gateway's request continues exactly
/// as an outbound request (spec §10.15). `passthrough` false (gateway): never unmodelled egress.
/// Returns false (with `out`, the local reply to write) when the request is answered locally.
bool serve_decision(session_state& s, request_ctx& c, const routing::snapshot& snap,
                    const tls_contexts* tls, const routing::route_decision& d, std::string_view host,
                    std::uint16_t port, std::optional<std::uint16_t> authority_port, bool absolute,
                    bool passthrough, local_answer& out) {
    const message_head& req = s.req_head;
    c.service = d.service;
    c.route = d.route;
    using outcome = routing::route_decision::outcome_t;
    if (d.port != nullptr && d.port->proto == routing::protocol::grpc &&
        (d.outcome == outcome::routed || d.outcome == outcome::no_route) && !is_grpc_request(req)) {
        // gRPC over HTTP/2: "if content-type does not begin with application/grpc, gRPC servers
        // SHOULD respond with HTTP status 415". Said before any route is tried (docs/grpc.md).
        out = local_answer{errc::not_grpc,
            assign_fmt(s.origin_buf, "virtual service \"{}\" listens with protocol grpc on port {}: "
                                     "this request is not gRPC (content-type \"{}\"; gRPC sends "
                                     "application/grpc)",
                       host, d.port->port, req[http::field::content_type].substr(0, 100))};
        return false;
    }

    switch (d.outcome) {
    case outcome::routed: {
        const routing::upstream_target* t = d.target;
        if (t == nullptr) {
            break;  // defensive: treated as no route below
        }
        c.up.kind = upstream_choice::kind_t::target;
        c.up.target = t;
        // The target node's listener protocol says what to speak (spec §10.2): h2 for http2/grpc.
        c.up.h2 = t->proto == routing::protocol::http2 || t->proto == routing::protocol::grpc;
        c.up.host = t->endpoints.hostname;
        c.up.port = t->port;
        c.up.all_addresses = t->endpoints.all_addresses;
        c.up.retry = d.retry;
        c.up.per_request_timeout = d.per_request_timeout;
        c.up.idle_timeout = d.route != nullptr && d.route->idle_timeout ? *d.route->idle_timeout
                                                                         : std::chrono::milliseconds{0};
        c.up.what = t->display;
        if (t->endpoints.kind == routing::endpoint_source::kind_t::none ||
            t->endpoints.hostname.empty()) {
            out = local_answer{errc::no_endpoint,
                assign_fmt(s.origin_buf, "no healthy upstream: virtual node \"{}\" has no service "
                                         "discovery",
                           t->node_name)};
        return false;
        }
        if (t->tls.mode != routing::tls_origination::mode_t::plaintext) {
            // TLS origination (spec §10.7): the context was built with the snapshot. Without one
            // (its files could not be loaded) refuse rather than send plaintext to a listener
            // that expects TLS.
            c.up.tls = tls != nullptr ? tls->client(*t) : nullptr;
            if (c.up.tls == nullptr) {
                out = local_answer{errc::upstream_tls_failed,
                    assign_fmt(s.origin_buf, "no TLS context toward virtual node \"{}\" ({}): {}",
                               t->node_name, t->tls.source,
                               tls != nullptr ? std::string_view(tls->client_error(*t))
                                              : std::string_view("TLS contexts not loaded"))};
        return false;
            }
        }
        prepare_upstream_head(s, absolute);
        return true;
    }
    case outcome::unmodelled:
    case outcome::wrong_port: {
        if (passthrough && snap.egress_allowed(host)) {
            c.up.kind = upstream_choice::kind_t::passthrough;
            c.up.host = host;
            c.up.port = authority_port.value_or(80);
            if (s.orig_dst) {
                // DECISIONS §3.6: unmodelled egress goes to the original destination.
                c.up.host = s.orig_host;
                c.up.port = s.orig_dst->port();
            }
            c.up.all_addresses = false;
            c.up.retry = nullptr;
            c.up.per_request_timeout = std::chrono::milliseconds{0};
            c.up.what = "the requested host";
            prepare_upstream_head(s, absolute);
            return true;
        }
        std::string& msg = s.origin_buf;
        msg.clear();
        if (d.outcome == outcome::wrong_port && d.service != nullptr) {
            s.port_list.clear();
            for (const auto& sp : d.service->ports) {
                append_fmt(s.port_list, s.port_list.empty() ? "{}" : ", {}",
                           fmt::make_format_args(sp.port));
            }
            assign_fmt(msg, "virtual service \"{}\" does not listen on port {} (it listens on {})",
                       host, port, s.port_list);
        } else {
            const std::string closest = snap.closest_service(host);
            const std::string canon = routing::canonical_host(host);
            if (!closest.empty() && closest == canon) {
                assign_fmt(msg, "virtual service \"{}\" is not among this node's backends and the "
                                "egress filter refuses unmodelled egress",
                           host);
            } else {
                if (port != 0) {
                    assign_fmt(msg, "no virtual service \"{}\" among this node's backends on port {}",
                               host, port);
                } else {
                    assign_fmt(msg, "no virtual service \"{}\" among this node's backends", host);
                }
                if (!closest.empty()) {
                    append_fmt(msg, " (did you mean \"{}\"?)", fmt::make_format_args(closest));
                }
            }
        }
        out = local_answer{errc::egress_denied, msg};
        return false;
    }
    case outcome::ambiguous_port: {
        s.port_list.clear();
        if (d.service != nullptr) {
            for (const auto& sp : d.service->ports) {
                append_fmt(s.port_list, s.port_list.empty() ? "{}" : ", {}",
                           fmt::make_format_args(sp.port));
            }
        }
        out = local_answer{errc::ambiguous_port,
            assign_fmt(s.origin_buf, "virtual service \"{}\" listens on ports {}: name one in the "
                                     "Host header or URI",
                       host, s.port_list)};
        return false;
    }
    case outcome::no_route:
        break;
    case outcome::no_provider:
        out = local_answer{errc::no_provider,
            assign_fmt(s.origin_buf, "virtual service \"{}\" has no provider", host)};
        return false;
    }
    const std::string_view router =
        d.service != nullptr ? std::string_view(d.service->provider_name) : std::string_view("?");
    out = local_answer{errc::no_route,
        assign_fmt(s.origin_buf, "no route of virtual router \"{}\" matches {} {} for virtual "
                                 "service \"{}\"",
                   router, req.method_string(), s.norm_path.substr(0, 200), host)};
        return false;
}

/// Egress: route with the snapshot or apply the egress filter. Returns false (with the reply
/// already written) when the request is answered locally.
net::awaitable<bool> classify_egress(session_state& s, request_ctx& c, const routing::snapshot& snap,
                                     const tls_contexts* tls, bool& keep) {
    parsed_target t;
    local_answer out;
    bool go = parse_request_target(s, t, out);
    if (go) {
        const routing::request_view view = routing_view(s, t);
        const routing::route_decision d = routing::decide(snap, view, s.w.rng().next32());
        s.host_buf.assign(t.a.host);
        go = serve_decision(s, c, snap, tls, d, s.host_buf, view.port.value_or(0), t.a.port,
                            t.absolute, true, out);
    }
    if (!go) {
        keep = co_await write_local_reply(s, c, out.e, out.sentence, 0);
    }
    co_return go;
}

/// Writes the gateway listener's health-check answer (proxy/gateway_listener.hpp).
net::awaitable<bool> write_health_reply(session_state& s, request_ctx& c,
                                        const routing::gateway_listener_entry& l) {
    const bool keep = c.client_keep_alive && s.parser->is_done() && !c.close_after;
    auto res = make_gateway_health_reply(l, s.w.draining(), s.w.health_failed(), c.client_version, keep);
    c.status = res.result_int();
    if (c.head_request) {
        const auto n = res.body().size();
        res.body().clear();
        res.content_length(n);  // HEAD: the length of the GET answer, no body
    }
    s.down.expires_after(s.w.config().downstream_idle);
    auto [ec, n] = co_await http::async_write(s.down, res, tok);
    c.bytes_out += n;
    c.response_started = true;
    co_return keep && !ec;
}

/// Gateway listener (spec §10.15, proxy/gateway_listener.hpp): the listener's health check, the
/// GatewayRoute match and rewrite, then the outbound decision, served exactly as the egress
/// listener serves one (serve_decision). Returns false (with the reply already written) when
/// the request is answered locally.
net::awaitable<bool> classify_gateway(session_state& s, request_ctx& c, const routing::snapshot& snap,
                                      const tls_contexts* tls, bool& keep) {
    const routing::gateway_snapshot* gw = snap.gateway;
    if (gw == nullptr) {
        // Cannot happen: gateway mode publishes only gateway snapshots.
        keep = co_await write_local_reply(s, c, errc::no_listener,
                                          "this proxy runs no virtual gateway", 0);
        co_return false;
    }
    parsed_target t;
    local_answer out;
    if (!parse_request_target(s, t, out)) {
        keep = co_await write_local_reply(s, c, out.e, out.sentence, 0);
        co_return false;
    }
    const routing::request_view view = routing_view(s, t);
    const gateway_step step =
        gateway_route_request(*gw, s.gateway_port, view, s.w.rng().next32(), s.gw_rewrite);
    switch (step.kind) {
    case gateway_step::kind_t::health_check:
        keep = co_await write_health_reply(s, c, *step.listener);
        co_return false;
    case gateway_step::kind_t::no_listener:
    case gateway_step::kind_t::no_route:
        s.what_buf = no_gateway_route_sentence(*gw, step.listener, s.gateway_port, view.method,
                                               view.path, view.host);
        keep = co_await write_local_reply(s, c, errc::no_route, s.what_buf, 0);
        co_return false;
    case gateway_step::kind_t::routed:
        break;
    }
    c.gateway_route = step.route;
    const routing::compiled_gateway_route& route = *step.route;
    const routing::gateway_rewrite& rw = s.gw_rewrite;
    // The rewritten request (docs/gateway.md "Rewrites"): origin-form target = rewritten path
    // plus the query unchanged; Host = the target's awsName unless defaultTargetHostname is
    // DISABLED; Envoy's x-envoy-original-path when the path changed. Everything is copied out
    // of the head before the head is changed (the views point into it).
    gateway_upstream_target(rw, view.query, t.origin.find('?') != std::string_view::npos, s.origin_buf);
    if (rw.authority_rewritten) {
        s.authority_buf.assign(rw.authority);
    } else if (!t.absolute) {
        s.authority_buf.assign(s.req_head[http::field::host]);
    }  // absolute-form: authority_buf already holds the URI's authority
    if (rw.path_rewritten) {
        s.original_target.assign(t.origin);
        s.req_head.set("x-envoy-original-path", s.original_target);
    }
    s.norm_path.assign(rw.path);  // the outbound step's reply sentences name the rewritten path
    const std::uint16_t port =
        route.target_port.value_or(step.outbound.port != nullptr ? step.outbound.port->port : 0);
    if (!serve_decision(s, c, snap, tls, step.outbound, route.target_service, port, std::nullopt,
                        true, false, out)) {
        keep = co_await write_local_reply(s, c, out.e, out.sentence, 0);
        co_return false;
    }
    // connectionPool (spec §10.12): on a gateway it limits the internal hop, here the upstream
    // connections this listener opens (toward every target together) and its waiting requests.
    const routing::gateway_listener_entry& l = *step.listener;
    if (l.connection_pool && s.w.pool_limits() != nullptr) {
        c.up.pool_limit = &*l.connection_pool;
        c.up.limit_counters = s.w.pool_limits()->find(l.port);
    }
    co_return true;
}

/// Ingress: pick the node listener (Host port with several listeners) and the local app.
net::awaitable<bool> classify_ingress(session_state& s, request_ctx& c,
                                      const routing::snapshot& snap, const tls_contexts* tls,
                                      bool& keep) {
    const message_head& req = s.req_head;
    const routing::ingress_listener* l = nullptr;
    std::uint16_t port = 0;
    if (snap.ingress.size() == 1) {
        l = &snap.ingress.front();
    } else {
        authority a;
        if (parse_authority(req[http::field::host], a) && a.port) {
            port = *a.port;
            l = snap.find_ingress(port);
        }
    }
    if (l == nullptr) {
        keep = co_await write_local_reply(
            s, c, errc::no_listener,
            snap.ingress.empty()
                ? std::string_view("this proxy runs no virtual node, so it has no inbound listener")
                : std::string_view(assign_fmt(s.origin_buf,
                                              "virtual node \"{}\" has no listener on port {} "
                                              "(name the port in the Host header)",
                                              snap.node_name.value_or(""), port)),
            0);
        co_return false;
    }
    if (tls != nullptr) {
        // The listener's tls.mode decides which transports it accepts (docs/decisions.md).
        const auto idx = static_cast<std::size_t>(l - snap.ingress.data());
        std::string why = tls->ingress_refusal(idx, s.tls_key);
        if (!why.empty()) {
            c.close_after = true;
            keep = co_await write_local_reply(s, c, errc::listener_tls_mismatch,
                                              assign_fmt(s.origin_buf, "virtual node \"{}\": {}",
                                                         snap.node_name.value_or(""), why),
                                              0);
            co_return false;
        }
    }
    if (l->proto == routing::protocol::grpc && !is_grpc_request(req)) {
        keep = co_await write_local_reply(
            s, c, errc::not_grpc,
            assign_fmt(s.origin_buf, "the listener on port {} of virtual node \"{}\" is grpc: this "
                                     "request is not gRPC (content-type \"{}\"; gRPC sends "
                                     "application/grpc)",
                       l->port, snap.node_name.value_or(""), req[http::field::content_type].substr(0, 100)),
            0);
        co_return false;
    }
    c.up.kind = upstream_choice::kind_t::app;
    c.ingress = l;
    // Behind an http2/grpc listener the local app is spoken to in h2c (App Mesh's Envoy does).
    c.up.h2 = l->proto == routing::protocol::http2 || l->proto == routing::protocol::grpc;
    c.up.host = s.w.config().app_address;
    c.up.port = l->port;
    c.up.all_addresses = false;
    c.up.retry = nullptr;
    c.up.per_request_timeout = l->per_request_timeout;
    c.up.idle_timeout = l->idle_timeout.value_or(std::chrono::milliseconds{0});
    if (l->pool && s.w.pool_limits() != nullptr) {
        c.up.pool_limit = &*l->pool;
        c.up.limit_counters = s.w.pool_limits()->find(l->port);
    }
    c.up.what = l->display;
    std::string_view authority_text;
    std::string_view origin;
    const bool absolute = split_absolute_form(req.target(), authority_text, origin);
    if (absolute) {
        s.authority_buf.assign(authority_text);
        s.origin_buf.clear();
        if (origin.empty() || origin.front() != '/') {
            s.origin_buf.push_back('/');
        }
        s.origin_buf.append(origin);
    }
    prepare_upstream_head(s, absolute);
    co_return true;
}

/// Handles one request whose head was read. Returns true to keep the connection.
net::awaitable<bool> handle_request(session_state& s) {
    const auto start = clock_type::now();
    const auto start_wall = std::chrono::system_clock::now();
    const message_head& req = s.req_head;
    // Pin the snapshot for the whole request (STYLE §2.6).
    const std::shared_ptr<const routing::snapshot> snap = s.w.snapshot();
    // The counter slots and log format that belong to this snapshot, pinned with it.
    const std::shared_ptr<const worker::ops_state> ops = s.w.ops();
    // ... and its TLS contexts (published together with it; a mismatch means none).
    std::shared_ptr<const tls_contexts> tls = s.w.tls();
    if (tls && tls->snapshot() != snap) {
        tls.reset();
    }
    request_ctx c{s.w, s.down, s.buf, *s.parser, s.replay, s.chunk, s.head, s.resp_head};
    c.client_version = req.version();
    c.h2 = s.h2;
    // While draining, every response closes its connection (the client reconnects elsewhere).
    // An HTTP/2 stream never closes its connection (drain sends GOAWAY instead).
    c.client_keep_alive = s.h2 || (s.parser->keep_alive() && !s.w.draining());
    if (ops && ops->format && ops->format->wants_response_headers && s.w.log() != nullptr) {
        s.resp_headers.clear();
        c.response_headers = &s.resp_headers;
    }
    metrics* m = s.w.stats();
    stat_slot* listener_slot = nullptr;
    if (m != nullptr && ops && ops->stats) {
        const std::uint32_t ls = listener_slot_of(s, *ops->stats);
        if (ls != UINT32_MAX) {
            listener_slot = &m->at(s.w.index(), stat_family::listener, ls);
            stat_slot::inc(listener_slot->rq_active);
        }
    }
    c.head_request = req.method() == http::verb::head;
    // HTTP/2 clients do not wait for 100 Continue before DATA here (the body simply flows).
    c.expect_continue = !s.h2 && iequals_ascii(req[http::field::expect], "100-continue");

    bool keep = false;
    if (s.h2 && s.h2.st->head_too_large) {
        keep = co_await write_local_reply(
            s, c, errc::header_too_large,
            fmt::format("request headers exceed the limit of {} bytes or {} fields",
                        s.w.config().header_limit, s.w.config().max_headers),
            0);
    } else if (!snap) {
        keep = co_await write_local_reply(s, c, errc::no_route, "no routing snapshot loaded", 0);
    } else if (s.h2 && req.method() == http::verb::connect) {
        keep = co_await write_local_reply(s, c, errc::unsupported,
                                          "CONNECT over HTTP/2 is not supported: use HTTP/1.1", 0);
    } else if (s.kind == listener_kind::egress && req.method() == http::verb::connect) {
        co_await handle_connect(s, c, *snap);
        keep = false;
    } else {
        // Statements, not a nested conditional around co_await (GCC 12 coroutine bugs with
        // temporaries in conditional expressions).
        bool go = false;
        if (s.kind == listener_kind::egress) {
            go = co_await classify_egress(s, c, *snap, tls.get(), keep);
        } else if (s.kind == listener_kind::gateway) {
            go = co_await classify_gateway(s, c, *snap, tls.get(), keep);
        } else {
            go = co_await classify_ingress(s, c, *snap, tls.get(), keep);
        }
        if (go) {
            stat_slot* cluster = nullptr;
            const std::uint32_t cs = cluster_slot_of(c, snap.get(), ops ? ops->stats.get() : nullptr);
            if (m != nullptr && cs != UINT32_MAX) {
                cluster = &m->at(s.w.index(), stat_family::cluster, cs);
                stat_slot::inc(cluster->rq_active);
            }
            const forward_result r = co_await forward(c);
            if (cluster != nullptr) {
                stat_slot::dec(cluster->rq_active);
            }
            if (r.error == errc::ok) {
                keep = c.client_keep_alive && !c.close_after;
            } else if (r.error == errc::downstream_reset) {
                c.flags |= flag_dc;  // the client reset its stream: there is no one to answer
                keep = true;
            } else if (c.response_started) {
                keep = false;  // cannot happen: forward only fails before writing
            } else {
                keep = co_await write_local_reply(s, c, r.error, r.message, r.extra_flags);
            }
        }
    }
    const auto end = clock_type::now();
    if (ops) {
        record_metrics(s, c, snap.get(), *ops,
                       cluster_slot_of(c, snap.get(), ops->stats.get()), micros(end - start));
    }
    if (listener_slot != nullptr) {
        stat_slot::dec(listener_slot->rq_active);
    }
    write_access_log(s, c, ops ? ops->format.get() : nullptr, start_wall, start, end);
    co_return keep;
}

/// Handshakes with `ctx` (`detect`: only when the first bytes are a TLS ClientHello; plaintext
/// stays in `buf` for the HTTP parser). `key` is the identity the connection remembers.
net::awaitable<bool> accept_tls(session_state& s, const tls::server_context& ctx, bool detect,
                                std::string_view key) {
    const auto deadline = s.w.config().connect_timeout;
    bool use_tls = !detect;
    if (!use_tls) {
        s.down.expires_after(deadline);
        for (;;) {
            const auto data = s.buf.data();
            const auto kind = tls::classify_first_bytes(
                std::span(static_cast<const std::byte*>(data.data()), data.size()));
            if (kind != tls::first_bytes_kind::need_more) {
                use_tls = kind == tls::first_bytes_kind::tls;
                break;
            }
            auto [ec, n] = co_await s.down.async_read_some(s.buf.prepare(512), tok);
            s.buf.commit(n);
            if (ec) {
                co_return false;  // closed or silent before saying anything
            }
        }
    }
    if (!use_tls) {
        co_return true;  // the bytes read stay in `buf` for the HTTP parser
    }
    auto& ts = s.down.start_tls(ctx.native());
    s.down.expires_after(deadline);
    auto [ec, used] = co_await ts.async_handshake(net::ssl::stream_base::server, s.buf.data(), tok);
    if (ec) {
        if (log_enabled(log_level::info)) {
            std::string why = tls::verify_failure_reason(ts);
            log(log_level::info, "outrigger: worker {}: inbound TLS handshake refused: {}",
                s.w.index(), why.empty() ? ec.message() : why);
        }
        co_return false;
    }
    s.buf.consume(used);
    s.tls_key = key;
    co_return true;
}

/// Ingress transport (spec §10.8): TLS handshake, plaintext, or (PERMISSIVE) whichever the first
/// bytes say. The handshake context is the one published when the connection arrived; the
/// connection keeps it for its lifetime (rotation only affects new connections). Bad client
/// certificates (missing, wrong CA, expired, SAN not accepted) fail the handshake here. Returns
/// false when the connection must be closed.
net::awaitable<bool> accept_ingress_tls(session_state& s) {
    std::shared_ptr<const tls_contexts> tls = s.w.tls();
    if (!tls || tls->ingress() == tls_contexts::ingress_mode::plaintext ||
        tls->ingress_context() == nullptr) {
        co_return true;
    }
    co_return co_await accept_tls(s, *tls->ingress_context(),
                                  tls->ingress() != tls_contexts::ingress_mode::tls, tls->ingress_key());
}

/// Gateway listener transport (spec §7 `listeners[].tls`): the listener's own server context,
/// mode STRICT (TLS only), PERMISSIVE (TLS or plaintext by the first bytes) or DISABLED / no tls
/// (plaintext). A STRICT listener whose context is missing refuses the connection.
net::awaitable<bool> accept_gateway_tls(session_state& s) {
    std::shared_ptr<const tls_contexts> tls = s.w.tls();
    if (!tls || !tls->snapshot() || tls->snapshot()->gateway == nullptr) {
        co_return true;
    }
    const routing::gateway_snapshot& gw = *tls->snapshot()->gateway;
    const routing::gateway_listener_entry* l = gw.find_listener(s.gateway_port);
    if (l == nullptr) {
        co_return true;  // removed by a reload: plaintext, and every request gets the 404
    }
    const auto idx = static_cast<std::size_t>(l - gw.listeners.data());
    const tls::server_context* ctx = tls->listener_context(idx);
    const bool plain_ok = tls->listener_accepts_plaintext(idx);
    if (ctx == nullptr) {
        if (!plain_ok) {
            log(log_level::warn, "outrigger: worker {}: {}: no TLS context, connection refused",
                s.w.index(), l->display);
        }
        co_return plain_ok;
    }
    co_return co_await accept_tls(s, *ctx, plain_ok, l->display);
}

bool is_http_error(const boost::system::error_code& ec) {
    static const auto& cat = http::make_error_code(http::error::end_of_stream).category();
    return ec.category() == cat;
}

// ---- HTTP/2 -----------------------------------------------------------------------------------

/// How far the first bytes of a connection agree with the HTTP/2 client preface.
enum class preface_match { no, partial, full };

preface_match match_preface(const beast::flat_buffer& buf) {
    const auto data = buf.data();
    const std::string_view have(static_cast<const char*>(data.data()),
                                std::min(data.size(), http2::client_preface.size()));
    if (have.empty() || http2::client_preface.substr(0, have.size()) != have) {
        return preface_match::no;
    }
    return have.size() == http2::client_preface.size() ? preface_match::full : preface_match::partial;
}

/// One HTTP/2 stream: its request goes through the same `handle_request` as an HTTP/1 one, with
/// the stream as its downstream (body in, response out). `parent` (the connection's state)
/// outlives it: the connection's `run` waits for every stream to be released.
net::awaitable<void> serve_h2_stream(std::shared_ptr<http2::connection> conn,
                                     std::shared_ptr<http2::stream> st, session_state& parent) {
    session_state s(parent.w, parent.down, parent.kind);
    s.orig_dst = parent.orig_dst;
    s.orig_host = parent.orig_host;
    s.remote = parent.remote;
    s.tls_key = parent.tls_key;
    s.gateway_port = parent.gateway_port;
    s.listener_label = parent.listener_label;
    s.h2 = h2_downstream{conn.get(), st.get(), 0};
    s.parser.emplace(s.req_head);  // never fed: HTTP/2 framing is nghttp2's
    s.req_head = st->head;
    co_await handle_request(s);
    // The stream's relay and replay buffers serve the worker's next request (buffer_cache).
    s.w.buffers().give(s.chunk);
    s.w.buffers().give(s.replay);
    if (parent.w.draining()) {
        conn->go_away();  // drain: the client finishes its streams and reconnects elsewhere
    }
}

/// An HTTP/2 connection (h2c prior knowledge, or h2 chosen by ALPN): nghttp2 runs the protocol;
/// each request head starts a stream coroutine on this worker.
net::awaitable<void> serve_h2(session_state& s, std::string preread) {
    const auto& cfg = s.w.config();
    http2::limits l;
    l.max_header_bytes = cfg.header_limit;
    l.max_headers = cfg.max_headers;
    l.idle = cfg.downstream_idle;
    auto conn = std::make_shared<http2::connection>(
        s.down, http2::role::server, l,
        [&s](std::shared_ptr<http2::connection> c, std::shared_ptr<http2::stream> st) {
            net::co_spawn(s.w.ioc(), serve_h2_stream(c, st, s),
                          [c, st](const std::exception_ptr& e) {
                              if (e) {
                                  log(log_level::warn, "outrigger: HTTP/2 stream {} failed", st->id);
                              }
                              c->release(*st);
                          });
        });
    co_await conn->run(std::move(preread));
}

}  // namespace

net::awaitable<void> run_downstream_session(worker& w, tcp::socket socket, listener_kind kind,
                                            beast::flat_buffer initial,
                                            std::uint16_t gateway_listener) {
    flex_stream down(std::move(socket));
    session_state s(w, down, kind);
    s.buf = std::move(initial);
    if (kind == listener_kind::gateway) {
        s.gateway_port = gateway_listener;
        s.listener_label = gateway_listener_label(gateway_listener);
    }
    const auto& cfg = w.config();
    if (kind == listener_kind::egress && cfg.transparent) {
        s.orig_dst = original_destination(s.down.socket());
        if (s.orig_dst) {
            s.orig_host = s.orig_dst->address().to_string();
        }
    }
    {
        boost::system::error_code rec;
        const auto rep = s.down.socket().remote_endpoint(rec);
        if (!rec) {
            s.remote = rep.address().is_v6() ? fmt::format("[{}]:{}", rep.address().to_string(), rep.port())
                                             : fmt::format("{}:{}", rep.address().to_string(), rep.port());
        }
    }
    // Connection gauges on the listener slot (constant across snapshots: slots keep their names).
    stat_slot* cx = nullptr;
    if (w.stats() != nullptr && w.ops() && w.ops()->stats) {
        const std::uint32_t ls = listener_slot_of(s, *w.ops()->stats);
        if (ls != UINT32_MAX) {
            cx = &w.stats()->at(w.index(), stat_family::listener, ls);
            stat_slot::inc(cx->cx_total);
            stat_slot::inc(cx->cx_active);
        }
    }
    struct cx_guard {
        stat_slot* slot;
        ~cx_guard() {
            if (slot != nullptr) {
                stat_slot::dec(slot->cx_active);
            }
        }
    } guard{cx};
    // --max-connections (docs/decisions.md "Hardening"): accept, then refuse with a 503 at once.
    connection_limit* limit = w.conn_limit();
    if (limit != nullptr && !limit->try_acquire()) {
        co_await write_bare_reply(
            s, errc::pool_overflow,
            fmt::format("this proxy already serves its maximum of {} connections "
                        "(--max-connections); retry later",
                        limit->max()));
        boost::system::error_code ignored;  // refused: the peer's state does not matter
        s.down.socket().shutdown(tcp::socket::shutdown_send, ignored);
        s.down.close();
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
    net::steady_timer head_timer(w.ioc());
    // Shared with the timer's handler, which may run after the read it guarded has completed
    // (or after this coroutine ended): it touches the socket only while a head is being read.
    struct head_watch {
        bool reading = false;  // a request head is being read (header_timeout)
        bool idle = false;     // waiting for the next request (downstream_idle)
        bool fired = false;
    };
    const auto watch = std::make_shared<head_watch>();
    if (kind == listener_kind::ingress || kind == listener_kind::gateway) {
        bool accepted = false;
        if (kind == listener_kind::ingress) {
            accepted = co_await accept_ingress_tls(s);
        } else {
            accepted = co_await accept_gateway_tls(s);
        }
        if (!accepted) {
            s.down.close();
            co_return;
        }
    }
    // HTTP/2: chosen by ALPN under TLS, or (h2c, prior knowledge) told by the first bytes.
    bool h2 = s.down.is_tls() && tls::negotiated_alpn(s.down.tls()) == "h2";
    bool first = !h2;
    for (; !h2;) {
        s.parser.emplace(s.req_head);
        s.parser->header_limit(static_cast<std::uint32_t>(cfg.header_limit));
        // Bodies are streamed, never held whole; --max-request-body bounds them (413).
        if (cfg.max_request_body > 0) {
            s.parser->body_limit(cfg.max_request_body);
        } else {
            s.parser->body_limit(boost::none);
        }
        if (s.buf.size() == 0) {
            // Idle between requests: downstream_idle, then a silent close (tcp_stream's timer).
            // A read now would usually be one failed recv (Asio tries the socket before it
            // waits): the client sends its next request only after it has read the response
            // just written. So the session first goes to the back of the worker's queue (the
            // event loop polls, other connections run) and reads after that, when the request
            // has often arrived. Issue 7: 4 recv calls per proxied request became 2.
            co_await net::post(s.w.ioc().get_executor(), net::use_awaitable);
            // Then a plain recv (cheaper than Asio's recvmsg, and no timer to arm); the
            // asynchronous read, bounded by downstream_idle, only when nothing is there yet.
            if (try_read_now(s.down, s.buf, 4096) == 0 && !s.down.is_tls()) {
                // Idle (issue 15): the read, relay and replay buffers go back to the worker
                // while the connection waits for readiness, bounded by downstream_idle; this
                // frame and the socket are all it holds. Then one recv takes the request.
                s.w.buffers().give(s.buf);
                s.w.buffers().give(s.chunk);
                s.w.buffers().give(s.replay);
                watch->idle = true;
                watch->fired = false;
                head_timer.expires_after(cfg.downstream_idle);
                head_timer.async_wait([&s, watch](const boost::system::error_code& tec) {
                    if (!tec && watch->idle) {
                        watch->fired = true;
                        boost::system::error_code ignored;  // the wait ends with operation_aborted
                        s.down.socket().cancel(ignored);
                    }
                });
                auto [wec] = co_await s.down.socket().async_wait(tcp::socket::wait_read, tok);
                watch->idle = false;
                head_timer.cancel();
                s.buf = s.w.buffers().take_read();
                if (wec || watch->fired) {
                    break;  // idle past downstream_idle (a silent close), or the socket failed
                }
                try_read_now(s.down, s.buf, 4096);  // readable: the request, or 0 at EOF
            }
            if (s.buf.size() == 0) {
                s.down.expires_after(cfg.downstream_idle);
                auto [rec, rn] = co_await s.down.async_read_some(s.buf.prepare(4096), tok);
                s.buf.commit(rn);
                if (rec && s.buf.size() == 0) {
                    break;
                }
            }
        }
        if (first) {
            first = false;
            // The HTTP/2 preface begins "PRI * HTTP/2.0": an HTTP/1 request line never does
            // (Beast would refuse the version). One compare on the usual path.
            preface_match m = match_preface(s.buf);
            while (m == preface_match::partial) {
                s.down.expires_after(cfg.downstream_idle);
                auto [pec, pn] = co_await s.down.async_read_some(s.buf.prepare(512), tok);
                s.buf.commit(pn);
                if (pec) {
                    break;
                }
                m = match_preface(s.buf);
            }
            if (m == preface_match::full) {
                h2 = true;
                break;
            }
        }
        // Usually the whole head came in that one read: parse it without I/O or a timer.
        boost::system::error_code ec = parse_buffered_header(*s.parser, s.buf);
        watch->fired = false;
        if (!ec && !s.parser->is_header_done()) {
            // A head has begun: it must be complete within header_timeout, else 408 (slowloris).
            if (cfg.header_timeout.count() > 0) {
                watch->reading = true;
                head_timer.expires_after(cfg.header_timeout);
                head_timer.async_wait([&s, watch](const boost::system::error_code& tec) {
                    if (!tec && watch->reading) {
                        watch->fired = true;
                        boost::system::error_code ignored;  // the read fails with operation_aborted
                        s.down.socket().cancel(ignored);
                    }
                });
            }
            s.down.expires_after(cfg.downstream_idle);
            do {
                ec = co_await read_and_parse(s.down, s.buf, *s.parser, true);
            } while (!ec && !s.parser->is_header_done());
            watch->reading = false;
            head_timer.cancel();
        }
        if (ec) {
            if (watch->fired) {
                co_await write_bare_reply(
                    s, errc::idle_timeout,
                    fmt::format("request head not complete within {} ms (--header-timeout)",
                                cfg.header_timeout.count()));
                break;
            }
            if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
                break;
            }
            if (ec == beast::error::timeout) {
                // tcp_stream closes the socket when its timer fires: nothing can be sent.
                break;
            }
            if (ec == http::error::body_limit) {
                co_await write_bare_reply(
                    s, errc::body_too_large,
                    fmt::format("request body exceeds the limit of {} bytes (--max-request-body)",
                                cfg.max_request_body));
                break;
            }
            if (ec == http::error::header_limit) {
                co_await write_bare_reply(
                    s, errc::header_too_large,
                    fmt::format("request headers exceed the limit of {} bytes", cfg.header_limit));
                break;
            }
            if (is_http_error(ec)) {
                co_await write_bare_reply(s, errc::downstream_protocol_error,
                                          fmt::format("malformed request: {}", ec.message()));
            }
            break;  // socket errors: the peer is gone
        }
        const message_head& req = s.req_head;
        const std::size_t header_count = req.size();
        if (header_count > cfg.max_headers) {
            co_await write_bare_reply(s, errc::header_too_large,
                                      fmt::format("request has {} headers, more than the limit of {}",
                                                  header_count, cfg.max_headers));
            break;
        }
        const bool has_te = req.count(http::field::transfer_encoding) > 0;
        if (has_te && req.count(http::field::content_length) > 0) {
            co_await write_bare_reply(s, errc::downstream_protocol_error,
                                      "malformed request: both Content-Length and "
                                      "Transfer-Encoding");
            break;
        }
        if (has_te && !is_chunked_final(req[http::field::transfer_encoding])) {
            co_await write_bare_reply(s, errc::downstream_protocol_error,
                                      "malformed request: Transfer-Encoding does not end in chunked");
            break;
        }
        if (has_te && !is_chunked_only(req[http::field::transfer_encoding])) {
            // RFC 9112 §6.1: a coding the proxy does not implement → 501 (never passed on: the
            // upstream might frame the body differently).
            co_await write_bare_reply(
                s, errc::unsupported,
                fmt::format("transfer coding \"{}\" is not supported: only chunked is",
                            req[http::field::transfer_encoding].substr(0, 100)));
            break;
        }
        if (req.count(http::field::host) > 1) {
            // RFC 9112 §3.2: more than one Host line → 400 (the upstream might read another one).
            co_await write_bare_reply(s, errc::downstream_protocol_error,
                                      "malformed request: more than one Host header");
            break;
        }
        if (!has_te && s.parser->content_length() &&
            (req.count(http::field::content_length) > 1 ||
             req[http::field::content_length].find(',') != std::string_view::npos)) {
            // Identical duplicates (Beast rejects differing ones) are one value (RFC 9112 §6.3):
            // the upstream sees a single Content-Length.
            s.req_head.content_length(*s.parser->content_length());
        }
        if (!co_await handle_request(s)) {
            break;
        }
    }
    if (h2) {
        const auto data = s.buf.data();
        std::string preread(static_cast<const char*>(data.data()), data.size());
        s.buf.consume(data.size());
        co_await serve_h2(s, std::move(preread));
        s.down.close();
        co_return;
    }
    // Graceful close: send FIN so that the client reads the whole last response, then drain
    // what it still sends (bounded: 1 s, 256 KiB). Closing with unread bytes would send a RST
    // that can destroy the response in flight (nginx's lingering close).
    boost::system::error_code ignored;  // the peer may already be gone; nothing left to do
    s.down.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (s.down.socket().is_open()) {
        s.down.expires_after(std::chrono::seconds(1));
        std::array<char, 4096> sink;
        std::size_t drained = 0;
        while (drained < 256 * 1024) {
            auto [ec, n] = co_await s.down.async_read_some(net::buffer(sink), tok);
            drained += n;
            if (ec) {
                break;
            }
        }
    }
    s.down.close();
}

}  // namespace outrigger::proxy
