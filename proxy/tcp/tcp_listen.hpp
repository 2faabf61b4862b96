#pragma once
// Explicit-mode TCP backends (DECISIONS §5): `--tcp-listen [ADDR:]LOCALPORT=SERVICE:PORT`
// (repeatable) binds LOCALPORT (on ADDR, default 127.0.0.1) and sends every connection to the TCP
// backend SERVICE (a virtual service awsName, Host rules of DECISIONS §2) on its port PORT, as
// `kubectl port-forward` or Consul's upstreams do. The weighted target is picked per connection.
//
// Thread-affinity: parsing and checking are pure; the session runs on the accepting worker.

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proxy/config.hpp"
#include "routing/snapshot.hpp"

namespace outrigger::proxy {

class worker;

/// Parses `[ADDR:]LOCALPORT=SERVICE:PORT` (ADDR may be `[v6]`). False with `error` set to one
/// sentence naming the part that is wrong.
[[nodiscard]] bool parse_tcp_listen(std::string_view text, tcp_listen_spec& out, std::string& error);

/// "" when `spec` names a TCP backend of `snap` (start-up check), else why not, e.g.
/// `--tcp-listen 6379=redis:6379: "redis" is not a virtual service among this node's backends`.
[[nodiscard]] std::string check_tcp_listen(const routing::snapshot& snap, const tcp_listen_spec& spec);

/// One connection accepted on a `--tcp-listen` port: decided against the worker's current
/// snapshot (a reload changes the next connection), then `run_tcp_session`.
[[nodiscard]] boost::asio::awaitable<void> run_tcp_listen_session(worker& w,
                                                                  boost::asio::ip::tcp::socket s,
                                                                  const tcp_listen_spec& spec);

}  // namespace outrigger::proxy
