#pragma once
// TCP decisions (spec §5.5, §10.2 step 2, §10.3 last point): which TCP backend a connection goes
// to, which weighted target of its tcpRoute (or its virtual-node provider) serves it, and with
// which retry policy and idle timeout. Pure, like `decide`: the random number is passed in.
//
// At L4 there is no host name, so in transparent mode the original destination *port* alone names
// the backend: the backend virtual service whose provider (router listener or node listener)
// listens with protocol tcp on that port. App Mesh allows one TCP destination per port on a
// client; when several backends of this node claim the same port, the first one (the node's
// backend order, or mesh document order for the mesh-wide client) owns it, the others are
// recorded as shadowed (explain prints them, validate warns).
//
// Explicit mode (`--tcp-listen [ADDR:]LOCALPORT=SERVICE:PORT`) names the service and its port,
// so shadowing does not apply there.
//
// Thread-affinity: stateless; reads an immutable snapshot.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "routing/snapshot.hpp"

namespace outrigger::routing {

/// Fills `snap.tcp_ports` from `snap.services` (compile calls it once, after the services).
void index_tcp_ports(snapshot& snap);

struct tcp_decision {
    enum class outcome_t {
        routed,       // target chosen
        not_tcp,      // no TCP backend owns the port (transparent), or the named service has no
                      // tcp listener on that port / is not a backend (explicit): egress filter
        no_route,     // router provider without a tcpRoute for the port: refused (NR)
        no_provider,  // virtual service without (resolvable) provider: refused (UH)
    };
    outcome_t outcome = outcome_t::not_tcp;
    const service_entry* service = nullptr;
    const service_port* port = nullptr;
    const compiled_route* route = nullptr;    // null for node providers
    const upstream_target* target = nullptr;  // routed only
    std::size_t target_index = 0;             // index into route->target_ids (routed, router)
    /// Retry of the connect (spec §10.9: the tcpRoute has no retryPolicy, so this is the default
    /// policy, or none with --no-default-retry). Never null when routed.
    const retry_spec* retry = nullptr;
    /// tcpRoute `timeout.idle`, or a node provider's listener `timeout.tcp.idle`; unset: the
    /// caller's default (DECISIONS §3.3: 300 s). 0 = off.
    std::optional<std::chrono::milliseconds> idle_timeout;
};

/// Transparent mode: the TCP backend that owns original destination port `port`.
[[nodiscard]] tcp_decision decide_tcp(const snapshot& snap, std::uint16_t port,
                                      std::uint32_t random);

/// Explicit mode: backend virtual service `service` (awsName, Host rules of DECISIONS §2) on
/// `port`. `not_tcp` with `service` set when the service exists but does not listen with protocol
/// tcp on `port`; with `service` null when it is not a backend of this node.
[[nodiscard]] tcp_decision decide_tcp_service(const snapshot& snap, std::string_view service,
                                              std::uint16_t port, std::uint32_t random);

/// The routing step shared by both: provider → route → weighted target for one tcp service port.
[[nodiscard]] tcp_decision decide_tcp_port(const snapshot& snap, const service_entry& service,
                                           const service_port& port, std::uint32_t random);

}  // namespace outrigger::routing
