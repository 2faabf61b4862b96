#include "proxy/tcp/tcp_listen.hpp"

#include <charconv>

#include <boost/asio/ip/address.hpp>
#include <fmt/format.h>

#include "proxy/tcp/tcp_session.hpp"
#include "routing/tcp_decide.hpp"

namespace outrigger::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

bool parse_port(std::string_view s, std::uint16_t& out, bool allow_zero) {
    unsigned v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty() || v > 65535 || (!allow_zero && v == 0)) {
        return false;
    }
    out = static_cast<std::uint16_t>(v);
    return true;
}

}  // namespace

bool parse_tcp_listen(std::string_view text, tcp_listen_spec& out, std::string& error) {
    out = tcp_listen_spec{};
    out.text = std::string(text);
    const auto eq = text.find('=');
    if (eq == std::string_view::npos) {
        error = fmt::format("--tcp-listen {}: expected [ADDR:]LOCALPORT=SERVICE:PORT", text);
        return false;
    }
    std::string_view local = text.substr(0, eq);
    const std::string_view remote = text.substr(eq + 1);
    // Local side: LOCALPORT, ADDR:LOCALPORT or [V6]:LOCALPORT.
    std::string_view port_text = local;
    if (!local.empty() && local.front() == '[') {
        const auto close = local.find(']');
        if (close == std::string_view::npos || close + 1 >= local.size() || local[close + 1] != ':') {
            error = fmt::format("--tcp-listen {}: an IPv6 address is written [ADDR]:LOCALPORT", text);
            return false;
        }
        out.address = std::string(local.substr(1, close - 1));
        port_text = local.substr(close + 2);
    } else if (const auto colon = local.rfind(':'); colon != std::string_view::npos) {
        out.address = std::string(local.substr(0, colon));
        port_text = local.substr(colon + 1);
    }
    boost::system::error_code aec;
    net::ip::make_address(out.address, aec);
    if (aec) {
        error = fmt::format("--tcp-listen {}: \"{}\" is not an IP address", text, out.address);
        return false;
    }
    if (!parse_port(port_text, out.local_port, true)) {
        error = fmt::format("--tcp-listen {}: LOCALPORT \"{}\" is not a port (0-65535)", text, port_text);
        return false;
    }
    const auto colon = remote.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
        error = fmt::format("--tcp-listen {}: expected SERVICE:PORT after '='", text);
        return false;
    }
    out.service = std::string(remote.substr(0, colon));
    if (!parse_port(remote.substr(colon + 1), out.port, false)) {
        error = fmt::format("--tcp-listen {}: PORT \"{}\" is not a port (1-65535)", text,
                            remote.substr(colon + 1));
        return false;
    }
    return true;
}

std::string check_tcp_listen(const routing::snapshot& snap, const tcp_listen_spec& spec) {
    using outcome_t = routing::tcp_decision::outcome_t;
    const auto d = routing::decide_tcp_service(snap, spec.service, spec.port, 0);
    switch (d.outcome) {
        case outcome_t::routed:
            return {};
        case outcome_t::no_route:
            return fmt::format("--tcp-listen {}: {} has no tcpRoute for port {}", spec.text,
                               d.service->provider_name, spec.port);
        case outcome_t::no_provider:
            return fmt::format("--tcp-listen {}: virtual service \"{}\" has no provider", spec.text,
                               d.service->aws_name);
        case outcome_t::not_tcp:
            break;
    }
    if (d.service == nullptr) {
        const std::string near = snap.closest_service(spec.service);
        return fmt::format("--tcp-listen {}: \"{}\" is not a virtual service among this node's "
                           "backends{}",
                           spec.text, spec.service,
                           near.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", near));
    }
    std::string ports;
    for (const auto& p : d.service->ports) {
        ports += fmt::format("{}{} ({})", ports.empty() ? "" : ", ", p.port, routing::to_string(p.proto));
    }
    return fmt::format("--tcp-listen {}: virtual service \"{}\" has no tcp listener on port {}; it "
                       "listens on {}",
                       spec.text, d.service->aws_name, spec.port, ports.empty() ? "no port" : ports);
}

net::awaitable<void> run_tcp_listen_session(worker& w, tcp::socket s, const tcp_listen_spec& spec) {
    const auto d = routing::decide_tcp_service(*w.snapshot(), spec.service, spec.port, w.rng().next32());
    tcp_plan plan = plan_tcp_target(w, d);
    plan.listener = "tcp-listen";
    co_await run_tcp_session(w, std::move(s), std::move(plan));
}

}  // namespace outrigger::proxy
