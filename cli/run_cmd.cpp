// `outrigger run` (the sidecar) and `outrigger demo-upstream` (a tiny HTTP server for the demo).
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "proxy/admin_server.hpp"
#include "proxy/config.hpp"
#include "proxy/control_plane.hpp"
#include "proxy/log.hpp"
#include "proxy/server.hpp"
#include "proxy/tcp/tcp_listen.hpp"
#include "routing/compile.hpp"
#include "routing/gateway_compile.hpp"
#include "routing/resolve.hpp"

namespace outrigger::cli {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr const char* run_usage =
    "usage: outrigger run --mesh PATH [--mesh PATH]... [--node NODE] [options]\n"
    "\n"
    "Runs the sidecar proxy for NODE (or as the mesh-wide client when no node is given).\n"
    "\n"
    "options:\n"
    "  --mesh PATH               YAML file or directory (repeatable; env OUTRIGGER_MESH, ':'-separated)\n"
    "  --node NODE               name, namespace/name or mesh/M/virtualNode/N (env OUTRIGGER_NODE,\n"
    "                            APPMESH_RESOURCE_ARN, APPMESH_VIRTUAL_NODE_NAME)\n"
    "  --gateway GATEWAY         run as the ingress VirtualGateway GATEWAY: name, namespace/name,\n"
    "                            mesh/M/virtualGateway/N or its ARN (env OUTRIGGER_GATEWAY, or\n"
    "                            APPMESH_RESOURCE_ARN / APPMESH_VIRTUAL_NODE_NAME naming a\n"
    "                            virtualGateway, as App Mesh's controller sets them)\n"
    "  --gateway-address ADDR    gateway listeners' address (default 0.0.0.0)\n"
    "  --gateway-port L=P        bind gateway listener port L on local port P instead (repeatable;\n"
    "                            P 0 = any free port)\n"
    "  --egress-port N           outbound listener port (default 15001; 0 = any free port)\n"
    "  --egress-address ADDR     outbound listener address (default 127.0.0.1)\n"
    "  --ingress-port N          inbound listener port (default 15000; 0 = any free port)\n"
    "  --ingress-address ADDR    inbound listener address (default 0.0.0.0)\n"
    "  --app-address ADDR        where the local app listens (default 127.0.0.1)\n"
    "  --admin-port N            admin API on 127.0.0.1:N (default 9901; 0 = off): /ready, /stats,\n"
    "                            /stats/prometheus, /config_dump, /clusters, POST /reload ...\n"
    "  --drain-time DURATION     on SIGTERM, keep accepting this long before closing the listeners\n"
    "                            (default 5s; e.g. 20s, 500ms); a second SIGTERM exits at once\n"
    "  --no-watch                do not reload when the mesh files change (SIGHUP still reloads)\n"
    "  --workers N               worker threads (default: number of CPUs)\n"
    "  --connect-to H:P:A:P      connect to A:P wherever discovery says H:P (repeatable)\n"
    "  --egress-allow PATTERN    unmodelled hosts allowed under DROP_ALL: *.suffix or exact\n"
    "                            (repeatable; default *.amazonaws.com; 'none' clears the list)\n"
    "  --no-default-retry        do not emulate App Mesh's default retry policy\n"
    "  --log-level LEVEL         error|warn|info|debug (default warn)\n"
    "  --access-log PATH|-       one line per request to PATH or stdout (overrides the node's\n"
    "                            logging.accessLog.file.path); SIGUSR1 reopens the file\n"
    "  --access-log-format F     envoy|json (overrides the node's format; default: the node's, else\n"
    "                            Envoy's default text format)\n"
    "  --tcp-listen [A:]L=SVC:P  bind local port L (on A, default 127.0.0.1; L 0 = any free port)\n"
    "                            and send its connections to the TCP backend SVC on its tcp port P\n"
    "                            (repeatable; explicit mode, as kubectl port-forward)\n"
    "  --transparent             egress takes the original destination (SO_ORIGINAL_DST) of\n"
    "                            connections redirected by iptables (deploy/iptables-init.sh)\n"
    "  --header-timeout D       a request head, once begun, must arrive within D (default 10s;\n"
    "                            0 = off), else 408 and close\n"
    "  --max-request-body BYTES  larger request bodies get 413 (default 0 = unlimited)\n"
    "  --max-connections N       downstream connections per process; more are answered 503 and\n"
    "                            closed (default 0 = unlimited)\n"
    "  --help                    this text\n";

constexpr const char* demo_usage =
    "usage: outrigger demo-upstream --port N [--address 127.0.0.1] --name NAME\n"
    "\n"
    "Answers every request with 200 and the body \"NAME\\n\" (keep-alive). --port 0 picks a free\n"
    "port and prints it.\n";

bool parse_port(const std::string& s, std::uint16_t& out, bool allow_zero) {
    if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) {
        return false;
    }
    const unsigned long v = std::stoul(s);
    if (v > 65535 || (v == 0 && !allow_zero)) {
        return false;
    }
    out = static_cast<std::uint16_t>(v);
    return true;
}

std::string to_lower(std::string s) {
    for (auto& ch : s) {
        if (ch >= 'A' && ch <= 'Z') {
            ch = static_cast<char>(ch - 'A' + 'a');
        }
    }
    return s;
}

/// HOST:PORT:ADDR:PORT, ADDR may be a bracketed IPv6 literal; empty HOST or PORT match any.
bool parse_connect_to(const std::string& v, proxy::connect_to_rule& r) {
    const auto c1 = v.find(':');
    if (c1 == std::string::npos) {
        return false;
    }
    const auto c2 = v.find(':', c1 + 1);
    if (c2 == std::string::npos) {
        return false;
    }
    r.host = to_lower(v.substr(0, c1));
    const std::string port = v.substr(c1 + 1, c2 - c1 - 1);
    if (!port.empty() && !parse_port(port, r.port, false)) {
        return false;
    }
    const std::string rest = v.substr(c2 + 1);
    const auto c3 = rest.rfind(':');
    if (c3 == std::string::npos) {
        return false;
    }
    r.addr = rest.substr(0, c3);
    if (r.addr.size() >= 2 && r.addr.front() == '[' && r.addr.back() == ']') {
        r.addr = r.addr.substr(1, r.addr.size() - 2);
    }
    const std::string aport = rest.substr(c3 + 1);
    if (!aport.empty() && !parse_port(aport, r.addr_port, false)) {
        return false;
    }
    return !r.addr.empty();
}

/// LISTENER_PORT=LOCAL_PORT of --gateway-port.
bool parse_gateway_port(const std::string& v, proxy::gateway_port_rule& r) {
    const auto eq = v.find('=');
    return eq != std::string::npos && parse_port(v.substr(0, eq), r.listener_port, false) &&
           parse_port(v.substr(eq + 1), r.local_port, true);
}

/// A decimal count without sign or suffix.
bool parse_count(const std::string& v, std::uint64_t& out) {
    if (v.empty() || v.size() > 19) {
        return false;
    }
    std::uint64_t n = 0;
    for (const char ch : v) {
        if (ch < '0' || ch > '9') {
            return false;
        }
        n = n * 10 + static_cast<std::uint64_t>(ch - '0');
    }
    out = n;
    return true;
}

/// "5s", "500ms", "2m", or a bare number of seconds.
bool parse_duration(const std::string& v, std::chrono::milliseconds& out) {
    std::size_t i = 0;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') {
        ++i;
    }
    if (i == 0 || i > 9) {
        return false;
    }
    const auto n = static_cast<std::int64_t>(std::stoll(v.substr(0, i)));
    const std::string unit = v.substr(i);
    if (unit.empty() || unit == "s") {
        out = std::chrono::seconds(n);
    } else if (unit == "ms") {
        out = std::chrono::milliseconds(n);
    } else if (unit == "m") {
        out = std::chrono::minutes(n);
    } else {
        return false;
    }
    return true;
}

/// The control thread: signals, file watching and the drain sequence, until the process should
/// exit. SIGHUP reloads, SIGUSR1 reopens the access log, SIGTERM drains (a second one stops at
/// once), SIGINT stops at once.
/// The control thread's io_context and signal handlers. Made before the server starts, so a
/// signal that arrives as soon as the proxy is ready (listening lines printed, /ready 200) is
/// queued by the signal_set instead of killing the process with the default action.
struct control_context {
    net::io_context ioc{1};
    net::signal_set signals{ioc, SIGINT, SIGTERM, SIGHUP};
    control_context() { signals.add(SIGUSR1); }
};

void run_control_loop(control_context& ctl, proxy::server& srv, proxy::control_plane& cp,
                      bool watch, std::chrono::milliseconds drain_time) {
    net::io_context& ioc = ctl.ioc;
    net::signal_set& signals = ctl.signals;
    bool draining = false;
    std::function<void()> wait_signal;
    wait_signal = [&] {
        signals.async_wait([&](const boost::system::error_code& ec, int sig) {
            if (ec) {
                return;
            }
            if (sig == SIGHUP) {
                (void)cp.reload();
            } else if (sig == SIGUSR1) {
                if (srv.log() != nullptr) {
                    srv.log()->reopen();
                }
            } else if (sig == SIGINT || draining) {
                ioc.stop();
                return;
            } else {
                draining = true;
                cp.drain(ioc, drain_time, [&] { ioc.stop(); });
            }
            wait_signal();
        });
    };
    wait_signal();
    if (watch) {
        std::string err;
        if (!cp.watch(ioc, std::chrono::milliseconds(200), err)) {
            proxy::log(proxy::log_level::warn, "outrigger: not watching the mesh files: {}", err);
        }
    }
    ioc.run();
    cp.unwatch();  // before `ioc` goes: the watcher's descriptor and timer belong to it
}

/// `run --gateway`: loads, validates and compiles the gateway (so a bad mesh or a bad
/// --gateway-port is reported exactly as it will be once served), then stops: the gateway
/// listeners are not wired into the data path yet.
int run_gateway(routing::load_options lo, const proxy::server_config& cfg,
                const std::optional<std::vector<std::string>>& allow, std::ostream& err) {
    lo.gateway = cfg.gateway;
    if (allow) {
        lo.compile.egress_allow = *allow;
    }
    routing::mesh_input in;
    routing::diagnostics diags;
    auto gw = routing::load_and_compile_gateway(lo, in, diags);
    if (!gw) {
        print_diagnostics(err, diags, in.files);
        return 1;
    }
    if (!diags.items().empty()) {
        print_diagnostics(err, diags, in.files);  // warnings only
    }
    std::vector<std::string> ports;
    for (const auto& l : gw->listeners) {
        ports.push_back(fmt::format("{} ({})", l.port, routing::to_string(l.proto)));
    }
    for (const auto& r : cfg.gateway_ports) {
        if (gw->find_listener(r.listener_port) == nullptr) {
            return usage_error(err, "run",
                               fmt::format("--gateway-port {}={}: gateway {} has no listener {} "
                                           "(listeners: {})",
                                           r.listener_port, r.local_port, gw->gateway_name,
                                           r.listener_port, fmt::join(ports, ", ")));
        }
    }
    err << "outrigger run: gateway " << gw->gateway_name << " (mesh " << gw->mesh_name << ", "
        << gw->routes.size() << " gateway routes, listeners "
        << fmt::format("{}", fmt::join(ports, ", "))
        << ") is valid, but serving gateway listeners is not implemented yet (issue 18); "
           "`outrigger explain --gateway "
        << cfg.gateway << " METHOD URL` shows how a request would be routed\n";
    return 1;
}

}  // namespace

int run_command(const args_t& args, std::ostream& out, std::ostream& err) {
    static constexpr std::initializer_list<const char*> known = {
        "--mesh", "--node", "--egress-port", "--egress-address", "--ingress-port",
        "--ingress-address", "--admin-port", "--app-address", "--workers", "--connect-to",
        "--egress-allow", "--no-default-retry", "--log-level", "--access-log",
        "--access-log-format", "--transparent", "--drain-time", "--no-watch", "--header-timeout",
        "--max-request-body", "--max-connections", "--gateway", "--gateway-address",
        "--gateway-port", "--tcp-listen", "--help"};
    routing::load_options lo;
    proxy::server_config cfg;
    cfg.workers = std::max(1u, std::thread::hardware_concurrency());
    std::optional<std::vector<std::string>> allow;
    std::optional<std::string> node;
    std::uint16_t admin_port = 9901;
    bool admin_port_given = false;
    std::chrono::milliseconds drain_time{5000};
    bool watch = true;
    bool gateway_flags = false;  // --gateway-address / --gateway-port given

    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string flag = args[i];
        std::optional<std::string> inline_value;
        if (flag.rfind("--", 0) == 0) {
            const auto eq = flag.find('=');
            if (eq != std::string::npos) {
                inline_value = flag.substr(eq + 1);
                flag = flag.substr(0, eq);
            }
        }
        auto value = [&](std::string& v) -> bool {
            if (inline_value) {
                v = *inline_value;
                return true;
            }
            if (i + 1 >= args.size()) {
                return false;
            }
            v = args[++i];
            return true;
        };
        std::string v;
        if (flag == "--help" || flag == "-h") {
            out << run_usage;
            return 0;
        }
        if (flag == "--no-watch") {
            watch = false;
            continue;
        }
        if (flag == "--no-default-retry") {
            lo.compile.default_retry = false;
            continue;
        }
        if (flag == "--transparent") {
            cfg.transparent = true;
            continue;
        }
        const bool takes_value =
            std::find_if(known.begin(), known.end(), [&](const char* k) { return flag == k; }) !=
            known.end();
        if (!takes_value) {
            return usage_error(err, "run", unknown_flag_message(flag, known));
        }
        if (!value(v)) {
            return usage_error(err, "run", "flag " + flag + " needs a value");
        }
        if (flag == "--mesh") {
            lo.paths.push_back(v);
        } else if (flag == "--node") {
            node = v;
        } else if (flag == "--gateway") {
            cfg.gateway = v;
        } else if (flag == "--gateway-address") {
            cfg.gateway_address = v;
            gateway_flags = true;
        } else if (flag == "--gateway-port") {
            proxy::gateway_port_rule r;
            if (!parse_gateway_port(v, r)) {
                return usage_error(err, "run",
                                   "invalid --gateway-port \"" + v +
                                       "\" (expected LISTENER_PORT=LOCAL_PORT, e.g. 8088=18088)");
            }
            for (const auto& x : cfg.gateway_ports) {
                if (x.listener_port == r.listener_port) {
                    return usage_error(err, "run",
                                       fmt::format("--gateway-port names listener {} twice",
                                                   r.listener_port));
                }
            }
            cfg.gateway_ports.push_back(r);
            gateway_flags = true;
        } else if (flag == "--tcp-listen") {
            proxy::tcp_listen_spec spec;
            std::string perr;
            if (!proxy::parse_tcp_listen(v, spec, perr)) {
                return usage_error(err, "run", perr);
            }
            cfg.tcp_listen.push_back(std::move(spec));
        } else if (flag == "--egress-port") {
            if (!parse_port(v, cfg.egress_port, true)) {
                return usage_error(err, "run", "invalid --egress-port \"" + v + "\"");
            }
        } else if (flag == "--ingress-port") {
            if (!parse_port(v, cfg.ingress_port, true)) {
                return usage_error(err, "run", "invalid --ingress-port \"" + v + "\"");
            }
        } else if (flag == "--admin-port") {
            if (!parse_port(v, admin_port, true)) {
                return usage_error(err, "run", "invalid --admin-port \"" + v + "\"");
            }
            admin_port_given = true;
        } else if (flag == "--drain-time") {
            if (!parse_duration(v, drain_time)) {
                return usage_error(err, "run", "invalid --drain-time \"" + v + "\" (e.g. 5s, 500ms)");
            }
        } else if (flag == "--egress-address") {
            cfg.egress_address = v;
        } else if (flag == "--ingress-address") {
            cfg.ingress_address = v;
        } else if (flag == "--app-address") {
            cfg.app_address = v;
        } else if (flag == "--workers") {
            std::uint16_t n = 0;
            if (!parse_port(v, n, false) || n > 256) {
                return usage_error(err, "run", "invalid --workers \"" + v + "\" (1..256)");
            }
            cfg.workers = n;
        } else if (flag == "--connect-to") {
            proxy::connect_to_rule r;
            if (!parse_connect_to(v, r)) {
                return usage_error(err, "run",
                                   "invalid --connect-to \"" + v + "\" (expected HOST:PORT:ADDR:PORT)");
            }
            cfg.connect_to.push_back(r);
        } else if (flag == "--egress-allow") {
            if (!allow) {
                allow.emplace();
            }
            if (v == "none") {
                allow->clear();
            } else {
                allow->push_back(to_lower(v));
            }
        } else if (flag == "--log-level") {
            if (v == "error") {
                cfg.level = proxy::log_level::error;
            } else if (v == "warn") {
                cfg.level = proxy::log_level::warn;
            } else if (v == "info") {
                cfg.level = proxy::log_level::info;
            } else if (v == "debug") {
                cfg.level = proxy::log_level::debug;
            } else {
                return usage_error(err, "run", "invalid --log-level \"" + v + "\" (error|warn|info|debug)");
            }
        } else if (flag == "--access-log") {
            cfg.access_log_path = v;
        } else if (flag == "--access-log-format") {
            if (v != "envoy" && v != "json") {
                return usage_error(err, "run", "invalid --access-log-format \"" + v + "\" (envoy|json)");
            }
            cfg.access_log_format = v;
            cfg.access_log_format_set = true;
        } else if (flag == "--header-timeout") {
            if (!parse_duration(v, cfg.header_timeout)) {
                return usage_error(err, "run",
                                   "invalid --header-timeout \"" + v + "\" (e.g. 10s, 500ms; 0 = off)");
            }
        } else if (flag == "--max-request-body") {
            if (!parse_count(v, cfg.max_request_body)) {
                return usage_error(err, "run", "invalid --max-request-body \"" + v + "\" (bytes; 0 = unlimited)");
            }
        } else if (flag == "--max-connections") {
            std::uint64_t n = 0;
            if (!parse_count(v, n)) {
                return usage_error(err, "run", "invalid --max-connections \"" + v + "\" (0 = unlimited)");
            }
            cfg.max_connections = static_cast<std::size_t>(n);
        }
    }
    if (lo.paths.empty()) {
        if (const char* env = std::getenv("OUTRIGGER_MESH"); env != nullptr && *env != '\0') {
            std::stringstream ss(env);
            std::string part;
            while (std::getline(ss, part, ':')) {
                if (!part.empty()) {
                    lo.paths.push_back(part);
                }
            }
        }
    }
    if (lo.paths.empty()) {
        return usage_error(err, "run", "no mesh given: pass --mesh PATH or set OUTRIGGER_MESH");
    }
    if (node && !cfg.gateway.empty()) {
        return usage_error(err, "run",
                           "--node and --gateway exclude each other: a proxy is one or the other");
    }
    if (!node && cfg.gateway.empty()) {
        // The first variable set decides. App Mesh's controller sets APPMESH_RESOURCE_ARN and
        // APPMESH_VIRTUAL_NODE_NAME to mesh/M/virtualGateway/GW in a gateway pod (ECS: the ARN).
        for (const char* name :
             {"OUTRIGGER_NODE", "OUTRIGGER_GATEWAY", "APPMESH_RESOURCE_ARN",
              "APPMESH_VIRTUAL_NODE_NAME"}) {
            if (const char* env = std::getenv(name); env != nullptr && *env != '\0') {
                const std::string value = env;
                const bool is_gateway = std::string_view(name) == "OUTRIGGER_GATEWAY" ||
                                        (std::string_view(name).starts_with("APPMESH_") &&
                                         routing::names_virtual_gateway(value));
                if (is_gateway) {
                    cfg.gateway = value;
                } else {
                    node = value;
                }
                break;
            }
        }
    }
    if (gateway_flags && cfg.gateway.empty()) {
        return usage_error(err, "run",
                           "--gateway-address and --gateway-port need gateway mode (--gateway)");
    }
    if (!cfg.gateway.empty()) {
        return run_gateway(lo, cfg, allow, err);
    }
    if (node && node->rfind("arn:", 0) == 0) {
        // arn:aws:appmesh:REGION:ACCOUNT:mesh/M/virtualNode/N → mesh/M/virtualNode/N
        const auto pos = node->find(":mesh/");
        if (pos != std::string::npos) {
            *node = node->substr(pos + 1);
        }
    }
    lo.node = node.value_or("");
    if (allow) {
        lo.compile.egress_allow = *allow;
    }
    proxy::g_log_level.store(static_cast<int>(cfg.level));

    routing::mesh_input in;
    routing::diagnostics diags;
    auto snap = routing::load_and_compile(lo, in, diags);
    diags.sort_and_dedupe(in.files);
    if (!snap) {
        print_diagnostics(err, diags, in.files);
        return 1;
    }
    if (!diags.items().empty()) {
        print_diagnostics(err, diags, in.files);  // warnings only
    }

    for (const auto& spec : cfg.tcp_listen) {
        // A flag that names no TCP backend of this node is a usage error, reported before any
        // port is bound (a later reload that drops it refuses its connections, NR).
        if (std::string why = proxy::check_tcp_listen(*snap, spec); !why.empty()) {
            return usage_error(err, "run", why);
        }
    }

    control_context ctl;  // first: signals are handled from here on (see control_context)
    proxy::server srv(cfg, snap);
    if (!srv.start()) {
        err << "outrigger run: " << srv.error() << '\n';
        return 1;
    }
    proxy::control_plane cp(srv, lo);
    std::optional<proxy::admin_server> admin;
    if (admin_port != 0) {
        std::string cmdline = "outrigger run";
        for (const auto& a : args) {
            cmdline += ' ';
            cmdline += a;
        }
        admin.emplace(srv, &cp, proxy::admin_info{OUTRIGGER_VERSION, cmdline});
        std::string aerr;
        if (!admin->start("127.0.0.1", admin_port, aerr)) {
            if (admin_port_given) {
                err << "outrigger run: " << aerr << '\n';
                return 1;
            }
            // The default port is taken (another sidecar, a test): run without admin rather
            // than refuse to proxy; an explicit --admin-port is an error instead.
            err << "outrigger run: warning: " << aerr << "; running without the admin API\n";
            admin.reset();
        }
    }
    out << "outrigger: egress listening on " << cfg.egress_address << ':' << srv.egress_port()
        << (cfg.transparent ? " (transparent, workers " : " (workers ") << cfg.workers << ", node "
        << (snap->node_name ? *snap->node_name : std::string("<mesh-wide client>")) << ", mesh "
        << snap->mesh_name << ")\n"
        << "outrigger: ingress listening on " << cfg.ingress_address << ':' << srv.ingress_port()
        << " (local app at " << cfg.app_address << ")\n";
    for (std::size_t t = 0; t < cfg.tcp_listen.size(); ++t) {
        const auto& spec = cfg.tcp_listen[t];
        out << "outrigger: tcp-listen on "
            << (spec.address.find(':') != std::string::npos ? "[" + spec.address + "]" : spec.address)
            << ':' << srv.tcp_listen_ports()[t] << " -> " << spec.service << ':' << spec.port << '\n';
    }
    if (admin) {
        out << "outrigger: admin listening on 127.0.0.1:" << admin->port() << '\n';
    }
    out << std::flush;
    run_control_loop(ctl, srv, cp, watch, drain_time);
    if (admin) {
        admin->stop();
    }
    srv.stop();
    // Resilience counters of the run (the metrics endpoint of the operations issue may export
    // them live; this line is what bench/fault.sh reads).
    const auto& rc = srv.resilience_totals();
    out << "outrigger: resilience: retries " << rc.retries << ", reused-connection retries "
        << rc.reused_retries << ", outlier ejections " << rc.ejections
        << ", unhealthy/ejected endpoints skipped " << rc.unhealthy_skips
        << ", retries refused (body not replayable) " << rc.not_replayable
        << ", pool overflows " << rc.overflows << ", health probes " << srv.health_probes()
        << '\n'
        << std::flush;
    return 0;
}

// ---- demo-upstream ----------------------------------------------------------------------------

namespace {

net::awaitable<void> demo_session(tcp::socket socket, std::string body) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buf;
    constexpr auto tok = net::as_tuple(net::use_awaitable);
    for (;;) {
        http::request<http::string_body> req;
        stream.expires_after(std::chrono::seconds(300));
        auto [ec, n] = co_await http::async_read(stream, buf, req, tok);
        if (ec) {
            break;
        }
        http::response<http::string_body> res{http::status::ok, req.version()};
        res.set(http::field::content_type, "text/plain");
        res.body() = body;
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        auto [wec, wn] = co_await http::async_write(stream, res, tok);
        if (wec || !res.keep_alive()) {
            break;
        }
    }
    boost::system::error_code ignored;  // closing; the peer may be gone already
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

net::awaitable<void> demo_accept(tcp::acceptor& acceptor, std::string body) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
        if (ec) {
            co_return;
        }
        boost::system::error_code opt_ec;
        socket.set_option(tcp::no_delay(true), opt_ec);  // best effort
        net::co_spawn(acceptor.get_executor(), demo_session(std::move(socket), body), net::detached);
    }
}

}  // namespace

int demo_upstream_command(const args_t& args, std::ostream& out, std::ostream& err) {
    static constexpr std::initializer_list<const char*> known = {"--port", "--address", "--name",
                                                                 "--help"};
    std::optional<std::uint16_t> port;
    std::string address = "127.0.0.1";
    std::string name;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string flag = args[i];
        std::optional<std::string> inline_value;
        if (const auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
            inline_value = flag.substr(eq + 1);
            flag = flag.substr(0, eq);
        }
        if (flag == "--help" || flag == "-h") {
            out << demo_usage;
            return 0;
        }
        if (flag != "--port" && flag != "--address" && flag != "--name") {
            return usage_error(err, "demo-upstream", unknown_flag_message(flag, known));
        }
        std::string v;
        if (inline_value) {
            v = *inline_value;
        } else if (i + 1 < args.size()) {
            v = args[++i];
        } else {
            return usage_error(err, "demo-upstream", "flag " + flag + " needs a value");
        }
        if (flag == "--port") {
            std::uint16_t p = 0;
            if (!parse_port(v, p, true)) {
                return usage_error(err, "demo-upstream", "invalid --port \"" + v + "\"");
            }
            port = p;
        } else if (flag == "--address") {
            address = v;
        } else {
            name = v;
        }
    }
    if (!port || name.empty()) {
        return usage_error(err, "demo-upstream", "--port and --name are required");
    }
    net::io_context ioc{1};
    boost::system::error_code ec;
    const auto addr = net::ip::make_address(address, ec);
    if (ec) {
        return usage_error(err, "demo-upstream", "invalid --address \"" + address + "\"");
    }
    tcp::acceptor acceptor(ioc);
    acceptor.open(addr.is_v4() ? tcp::v4() : tcp::v6(), ec);
    if (!ec) {
        acceptor.set_option(net::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
        acceptor.bind(tcp::endpoint(addr, *port), ec);
    }
    if (!ec) {
        acceptor.listen(net::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        err << "outrigger demo-upstream: cannot listen on " << address << ':' << *port << ": "
            << ec.message() << '\n';
        return 1;
    }
    out << "outrigger: demo upstream \"" << name << "\" listening on " << address << ':'
        << acceptor.local_endpoint().port() << '\n'
        << std::flush;
    net::co_spawn(ioc, demo_accept(acceptor, name + "\n"), net::detached);
    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code&, int) { ioc.stop(); });
    ioc.run();
    return 0;
}

}  // namespace outrigger::cli
