#include "proxy/tcp/transparent_egress.hpp"

#include <fmt/format.h>

#include "proxy/errors.hpp"
#include "proxy/log.hpp"
#include "proxy/tcp/tcp_session.hpp"
#include "proxy/worker.hpp"
#include "routing/tcp_decide.hpp"

namespace outrigger::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;

sniffed_verdict decide_sniffed_egress(const routing::snapshot& snap, const sniff_result& sniffed) {
    sniffed_verdict v;
    if (snap.allow_all_egress) {
        v.pass = true;  // ALLOW_ALL: every unmodelled connection goes to where the app sent it
        return v;
    }
    if (sniffed.proto == first_bytes_protocol::tls) {
        if (sniffed.hello.sni.empty()) {
            v.reason = "TLS without SNI refused: the mesh egress filter is DROP_ALL and only an SNI "
                       "can match --egress-allow";
            return v;
        }
        v.pass = snap.egress_allowed(sniffed.hello.sni);
        if (!v.pass) {
            v.reason = fmt::format("TLS to SNI \"{}\" refused: the mesh egress filter is DROP_ALL and "
                                   "the SNI matches no --egress-allow pattern",
                                   sniffed.hello.sni);
        }
        return v;
    }
    if (sniffed.timed_out) {
        v.reason = "a connection that sent nothing (a server-first protocol) refused: the mesh "
                   "egress filter is DROP_ALL and only TLS by SNI or HTTP can be allowed";
    } else if (sniffed.hello.status == tls::hello_status::malformed) {
        v.reason = fmt::format("a malformed TLS ClientHello ({}) refused: the mesh egress filter is "
                               "DROP_ALL",
                               sniffed.hello.error != nullptr ? sniffed.hello.error : "?");
    } else {
        v.reason = "opaque TCP refused: the mesh egress filter is DROP_ALL (not HTTP, not TLS)";
    }
    return v;
}

net::awaitable<void> run_transparent_egress(worker& w, tcp::socket s, tcp::endpoint original_destination,
                                            http_handoff http) {
    const std::shared_ptr<const routing::snapshot> snap = w.snapshot();
    const std::uint16_t port = original_destination.port();
    // 1. A TCP backend owns the port: no sniffing, the upstream may speak first.
    const routing::tcp_decision d = routing::decide_tcp(*snap, port, w.rng().next32());
    if (d.outcome != routing::tcp_decision::outcome_t::not_tcp) {
        tcp_plan plan = plan_tcp_target(w, d);
        plan.original_destination = original_destination;
        co_await run_tcp_session(w, std::move(s), std::move(plan));
        co_return;
    }
    // 2. Sniff.
    boost::beast::flat_buffer buf;
    const sniff_result r = co_await sniff_first_bytes(s, buf, sniff_deadline(*snap, port, w.config()));
    if (r.error) {
        // Reset before saying anything decisive: nobody to answer, nothing to pass on.
        log(log_level::debug, "outrigger: worker {}: transparent egress connection to {}:{} failed "
            "before its first bytes decided: {}", w.index(), original_destination.address().to_string(),
            port, r.error.message());
        co_return;
    }
    if (r.proto == first_bytes_protocol::http1 || r.proto == first_bytes_protocol::http2) {
        if (http) {
            co_await http(std::move(s), std::move(buf), r.proto);
            co_return;
        }
        // No HTTP path given (the h2 path before it exists): the egress filter decides as for TCP.
    }
    const sniffed_verdict v = decide_sniffed_egress(*snap, r);
    tcp_plan plan = v.pass ? plan_tcp_passthrough(w, original_destination, r.hello.sni)
                           : plan_tcp_refusal(w, flag_nr, v.reason);
    plan.sni = r.hello.sni;
    plan.original_destination = original_destination;
    plan.cluster = "egress_passthrough";
    plan.initial = std::move(buf);
    co_await run_tcp_session(w, std::move(s), std::move(plan));
}

}  // namespace outrigger::proxy
