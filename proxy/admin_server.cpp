#include "proxy/admin_server.hpp"

#include <map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "proxy/errors.hpp"
#include "routing/gateway.hpp"

namespace outrigger::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;

namespace {

constexpr auto tok = net::as_tuple(net::use_awaitable);

net::awaitable<void> admin_session(admin_server& a, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buf;
    for (;;) {
        http::request_parser<http::string_body> p;
        p.header_limit(8 * 1024);
        p.body_limit(64 * 1024);
        stream.expires_after(std::chrono::seconds(30));
        auto [ec, n] = co_await http::async_read(stream, buf, p, tok);
        if (ec) {
            break;
        }
        const auto& req = p.get();
        const auto target = req.target();
        const auto method = req.method_string();
        admin_server::reply r = a.handle(std::string_view(method.data(), method.size()),
                                         std::string_view(target.data(), target.size()));
        http::response<http::string_body> res{static_cast<http::status>(r.status), req.version()};
        res.set(http::field::content_type, r.content_type);
        res.set(http::field::cache_control, "no-cache, max-age=0");
        res.keep_alive(req.keep_alive());
        if (req.method() != http::verb::head) {
            res.body() = std::move(r.body);
        }
        res.prepare_payload();
        auto [wec, wn] = co_await http::async_write(stream, res, tok);
        if (wec || !res.keep_alive()) {
            break;
        }
    }
    boost::system::error_code ignored;  // closing; the peer may be gone
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

net::awaitable<void> admin_accept(admin_server& a, tcp::acceptor& acceptor) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(tok);
        if (ec) {
            if (ec == net::error::operation_aborted || !acceptor.is_open()) {
                co_return;
            }
            continue;
        }
        net::co_spawn(acceptor.get_executor(), admin_session(a, std::move(socket)), net::detached);
    }
}

std::string_view label(const metrics::member& m, std::string_view name) {
    for (const auto& [k, v] : m.labels) {
        if (k == name) {
            return v;
        }
    }
    return {};
}

}  // namespace

admin_server::admin_server(server& srv, control_plane* cp, admin_info info)
    : srv_(srv), cp_(cp), info_(std::move(info)) {}

admin_server::~admin_server() { stop(); }

bool admin_server::start(const std::string& address, std::uint16_t port, std::string& err) {
    boost::system::error_code ec;
    const auto addr = net::ip::make_address(address, ec);
    if (ec) {
        err = fmt::format("invalid admin address {}", address);
        return false;
    }
    ioc_ = std::make_unique<net::io_context>(1);
    acceptor_ = std::make_unique<tcp::acceptor>(*ioc_);
    acceptor_->open(addr.is_v4() ? tcp::v4() : tcp::v6(), ec);
    if (!ec) {
        acceptor_->set_option(net::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
        acceptor_->bind(tcp::endpoint(addr, port), ec);
    }
    if (!ec) {
        acceptor_->listen(net::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        err = fmt::format("cannot listen on {}:{} (admin): {}", address, port, ec.message());
        acceptor_.reset();
        ioc_.reset();
        return false;
    }
    port_ = acceptor_->local_endpoint().port();
    net::co_spawn(*ioc_, admin_accept(*this, *acceptor_), net::detached);
    thread_ = std::thread([this] { ioc_->run(); });
    return true;
}

void admin_server::stop() {
    if (ioc_) {
        ioc_->stop();
    }
    if (thread_.joinable()) {
        thread_.join();
    }
    acceptor_.reset();
    ioc_.reset();
}

admin_server::reply admin_server::handle(std::string_view method, std::string_view target) {
    const std::string_view path = target.substr(0, target.find('?'));
    const bool get = method == "GET" || method == "HEAD";
    const bool post = method == "POST";
    auto only_post = [&]() -> std::optional<reply> {
        if (!post) {
            return reply{405, "text/plain; charset=UTF-8", fmt::format("{} requires POST\n", path)};
        }
        return std::nullopt;
    };
    auto only_get = [&]() -> std::optional<reply> {
        if (!get) {
            return reply{405, "text/plain; charset=UTF-8", fmt::format("{} requires GET\n", path)};
        }
        return std::nullopt;
    };
    if (path == "/ready") {
        if (auto r = only_get()) {
            return *r;
        }
        if (srv_.ready()) {
            return {200, "text/plain; charset=UTF-8", "LIVE\n"};
        }
        return {503, "text/plain; charset=UTF-8", srv_.draining() ? "DRAINING\n" : "NOT READY\n"};
    }
    if (path == "/server_info") {
        if (auto r = only_get()) {
            return *r;
        }
        return {200, "application/json", server_info()};
    }
    if (path == "/config_dump") {
        if (auto r = only_get()) {
            return *r;
        }
        return {200, "application/json", config_dump()};
    }
    if (path == "/clusters") {
        if (auto r = only_get()) {
            return *r;
        }
        return {200, "text/plain; charset=UTF-8", clusters()};
    }
    if (path == "/stats") {
        if (auto r = only_get()) {
            return *r;
        }
        return {200, "text/plain; charset=UTF-8", srv_.stats().render_envoy(srv_.server_gauges())};
    }
    if (path == "/stats/prometheus" || path == "/metrics") {
        if (auto r = only_get()) {
            return *r;
        }
        return {200, "text/plain; version=0.0.4; charset=utf-8",
                srv_.stats().render_prometheus(srv_.server_gauges())};
    }
    if (path == "/healthcheck/fail") {
        if (auto r = only_post()) {
            return *r;
        }
        srv_.fail_healthcheck();
        return {200, "text/plain; charset=UTF-8", "OK\n"};
    }
    if (path == "/drain_listeners") {
        if (auto r = only_post()) {
            return *r;
        }
        srv_.begin_drain();
        srv_.close_listeners();
        return {200, "text/plain; charset=UTF-8", "OK\n"};
    }
    if (path == "/reload") {
        if (auto r = only_post()) {
            return *r;
        }
        if (cp_ == nullptr) {
            return {501, "text/plain; charset=UTF-8", "reload is not available\n"};
        }
        const auto res = cp_->reload();
        using o = control_plane::reload_result::outcome_t;
        const unsigned status = res.outcome == o::failed ? 400 : 200;
        std::string body = res.message;
        if (body.empty() || body.back() != '\n') {
            body.push_back('\n');
        }
        return {status, "text/plain; charset=UTF-8", body};
    }
    if (path == "/" || path == "/help") {
        return {200, "text/plain; charset=UTF-8",
                "admin commands:\n  GET /ready\n  GET /server_info\n  GET /config_dump\n  GET /clusters\n"
                "  GET /stats\n  GET /stats/prometheus (/metrics)\n  POST /healthcheck/fail\n"
                "  POST /drain_listeners\n  POST /reload\n"};
    }
    return {404, "text/plain; charset=UTF-8", fmt::format("unknown admin path {} (see /help)\n", path)};
}

std::string admin_server::server_info() {
    const auto snap = srv_.store().current();
    const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now() - srv_.started_at())
                            .count();
    const auto& cfg = srv_.config();
    json::object o{
        {"version", info_.version},
        {"state", srv_.draining() ? "DRAINING" : (srv_.ready() ? "LIVE" : "PRE_INITIALIZING")},
        {"uptime_current_epoch", fmt::format("{}s", uptime)},
        {"node", snap && snap->node_name ? json::value(*snap->node_name) : json::value(nullptr)},
        {"gateway", snap && snap->gateway_name ? json::value(*snap->gateway_name) : json::value(nullptr)},
        {"mesh", snap ? json::value(snap->mesh_name) : json::value(nullptr)},
        {"snapshot_generation", srv_.generation()},
        {"command_line", info_.command_line},
        {"command_line_options",
         json::object{{"egress", fmt::format("{}:{}", cfg.egress_address, srv_.egress_port())},
                      {"ingress", fmt::format("{}:{}", cfg.ingress_address, srv_.ingress_port())},
                      {"workers", cfg.workers},
                      {"app_address", cfg.app_address},
                      {"access_log", srv_.log() ? json::value(srv_.log()->path()) : json::value(nullptr)}}},
    };
    return json::serialize(o) + "\n";
}

std::string admin_server::config_dump() {
    const auto snap = srv_.store().current();
    json::object o;
    o["generation"] = srv_.generation();
    if (cp_ != nullptr) {
        const auto src = cp_->current_sources();
        json::array files;
        for (const auto& f : src.files) {
            files.push_back(json::value(f));
        }
        o["sources"] = json::object{{"files", files},
                                    {"content_hash", fmt::format("{:016x}", src.hash)},
                                    {"reloads", src.reloads},
                                    {"last_reload_error", src.last_error}};
    }
    if (!snap) {
        o["snapshot"] = nullptr;
        return json::serialize(o) + "\n";
    }
    json::object s;
    s["mesh"] = snap->mesh_name;
    s["node"] = snap->node_name ? json::value(*snap->node_name) : json::value(nullptr);
    s["egress_filter"] = snap->allow_all_egress ? "ALLOW_ALL" : "DROP_ALL";
    json::array allow;
    for (const auto& a : snap->egress_allow) {
        allow.push_back(json::value(a));
    }
    s["egress_allow"] = allow;
    if (snap->gateway != nullptr) {
        // Gateway mode: the listeners (manifest port → bound port) and the gateway routes in
        // each listener's evaluation order.
        const routing::gateway_snapshot& gw = *snap->gateway;
        json::array listeners;
        for (const auto& l : gw.listeners) {
            std::uint16_t bound = 0;
            for (const auto& b : srv_.gateway_bindings()) {
                if (b.listener_port == l.port) {
                    bound = b.local_port;
                }
            }
            json::array routes;
            for (const auto id : l.route_ids) {
                const auto& r = gw.routes[id];
                routes.push_back(json::object{{"name", r.name},
                                              {"match", routing::describe_match(r)},
                                              {"rewrite", routing::describe_rewrite(r)},
                                              {"target", r.target_service},
                                              {"priority", r.effective_priority}});
            }
            listeners.push_back(json::object{
                {"port", l.port},
                {"bound_port", bound},
                {"protocol", routing::to_string(l.proto)},
                {"tls", l.tls ? json::value(l.tls->mode) : json::value(nullptr)},
                {"health_check_path", l.health_check && l.health_check->path
                                          ? json::value(*l.health_check->path)
                                          : json::value(nullptr)},
                {"routes", routes}});
        }
        s["gateway"] = json::object{{"name", gw.gateway_name}, {"listeners", listeners}};
    }
    json::array services;
    for (const auto& vs : snap->services) {
        json::array ports;
        for (const auto& p : vs.ports) {
            json::array routes;
            for (const auto id : p.route_ids) {
                routes.push_back(json::value(snap->routes[id].name));
            }
            ports.push_back(json::object{{"port", p.port},
                                         {"protocol", routing::to_string(p.proto)},
                                         {"routes", routes},
                                         {"node_target", p.node_target ? json::value(snap->targets[*p.node_target].cluster_name)
                                                                       : json::value(nullptr)}});
        }
        const char* provider = vs.provider == routing::service_entry::provider_t::router
                                   ? "virtualRouter"
                                   : (vs.provider == routing::service_entry::provider_t::node ? "virtualNode" : "none");
        services.push_back(json::object{{"name", vs.name},
                                        {"aws_name", vs.aws_name},
                                        {"provider", provider},
                                        {"provider_name", vs.provider_name},
                                        {"ports", ports}});
    }
    s["virtual_services"] = services;
    json::array routes;
    for (const auto& r : snap->routes) {
        json::array targets;
        for (std::size_t i = 0; i < r.target_ids.size(); ++i) {
            targets.push_back(json::object{{"cluster", snap->targets[r.target_ids[i]].cluster_name},
                                           {"virtual_node", snap->targets[r.target_ids[i]].node_name},
                                           {"weight", r.weights[i]}});
        }
        const char* pk = r.path_type == routing::compiled_route::path_kind::exact
                             ? "exact"
                             : (r.path_type == routing::compiled_route::path_kind::regex ? "regex" : "prefix");
        routes.push_back(json::object{
            {"name", r.name},
            {"virtual_router", r.router_name},
            {"kind", routing::to_string(r.kind)},
            {"priority", r.priority ? json::value(*r.priority) : json::value(nullptr)},
            {"match", json::object{{pk, r.path_value},
                                   {"method", r.method ? json::value(*r.method) : json::value(nullptr)},
                                   {"headers", r.headers.size()},
                                   {"port", r.port ? json::value(*r.port) : json::value(nullptr)}}},
            {"weighted_targets", targets},
            {"retry", r.retry.present ? json::value(json::object{{"max_retries", r.retry.max_retries},
                                                                  {"per_try_timeout_ms", r.retry.per_try_timeout.count()},
                                                                  {"default_policy", r.retry.is_default}})
                                      : json::value(nullptr)},
            {"per_request_timeout_ms", r.per_request_timeout.count()},
        });
    }
    s["routes"] = routes;
    json::array targets;
    for (const auto& t : snap->targets) {
        targets.push_back(json::object{{"cluster", t.cluster_name},
                                       {"virtual_node", t.node_name},
                                       {"port", t.port},
                                       {"protocol", routing::to_string(t.proto)},
                                       {"hostname", t.endpoints.hostname},
                                       {"response_type", t.endpoints.all_addresses ? "ENDPOINTS" : "LOADBALANCER"},
                                       {"tls", t.tls.mode == routing::tls_origination::mode_t::plaintext ? "plaintext" : "tls"}});
    }
    s["targets"] = targets;
    json::array ingress;
    for (const auto& l : snap->ingress) {
        ingress.push_back(json::object{{"port", l.port},
                                       {"protocol", routing::to_string(l.proto)},
                                       {"per_request_timeout_ms", l.per_request_timeout.count()}});
    }
    s["ingress_listeners"] = ingress;
    if (snap->access_log) {
        json::object al{{"path", snap->access_log->path}};
        if (snap->access_log->text_format) {
            al["text"] = *snap->access_log->text_format;
        }
        if (!snap->access_log->json_format.empty()) {
            json::object jf;
            for (const auto& [k, v] : snap->access_log->json_format) {
                jf[k] = v;
            }
            al["json"] = jf;
        }
        s["access_log"] = al;
    }
    o["snapshot"] = s;
    return json::serialize(o) + "\n";
}

std::string admin_server::clusters() {
    // Envoy's text form: cluster::endpoint::stat::value. Endpoints are those traffic reached
    // (addresses are resolved per worker and appear here once used); health is "healthy" unless
    // the outlier detector ejected the endpoint (ejections counter).
    const auto members = srv_.stats().collect();
    std::map<std::uint32_t, std::string> cluster_names;
    std::string out;
    std::uint32_t ci = 0;
    for (const auto& m : members) {
        if (m.family != stat_family::cluster) {
            continue;
        }
        const std::string name(label(m, "envoy_cluster_name"));
        cluster_names[ci++] = name;
        out += fmt::format("{}::observability_name::{}\n", name, name);
        out += fmt::format("{}::virtual_node::{}\n", name, label(m, "virtual_node"));
        out += fmt::format("{}::upstream_rq_total::{}\n", name, m.t.rq_total);
        out += fmt::format("{}::upstream_rq_active::{}\n", name, m.t.rq_active);
        out += fmt::format("{}::outlier::ejections_total::{}\n", name, m.t.ejections);
    }
    for (const auto& m : members) {
        if (m.family != stat_family::endpoint) {
            continue;
        }
        const std::string_view cname = label(m, "envoy_cluster_name");
        const std::string_view ep = label(m, "endpoint");
        const std::uint64_t errors = m.t.rq_xx[4];
        out += fmt::format("{}::{}::rq_total::{}\n", cname, ep, m.t.rq_total);
        out += fmt::format("{}::{}::rq_success::{}\n", cname, ep, m.t.rq_total - errors);
        out += fmt::format("{}::{}::rq_error::{}\n", cname, ep, errors);
        out += fmt::format("{}::{}::rq_active::{}\n", cname, ep, m.t.rq_active);
        out += fmt::format("{}::{}::ejections::{}\n", cname, ep, m.t.ejections);
        out += fmt::format("{}::{}::health_flags::healthy\n", cname, ep);
    }
    return out;
}

}  // namespace outrigger::proxy
