#pragma once
// Per-worker HTTP/2 upstream connections, keyed like upstream_pool (endpoint, TLS identity).
// Unlike HTTP/1.1 a connection is shared: every request to the endpoint opens a stream on the
// first live connection whose peer still allows one more (SETTINGS_MAX_CONCURRENT_STREAMS, no
// GOAWAY received); when all are full a new connection is made. Connections close themselves
// when idle (`limits::idle`) or when the peer ends them; `find` forgets the dead ones.
//
// Thread-affinity: worker-local.

#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/flex_stream.hpp"
#include "proxy/http2/h2_connection.hpp"

namespace outrigger::proxy::http2 {

/// One upstream HTTP/2 connection. While it is being connected (`connecting`), requests that
/// find it wait on `ready` instead of each opening their own connection (a burst of concurrent
/// first requests would otherwise open one connection apiece).
struct client_connection {
    explicit client_connection(const boost::asio::any_io_executor& ex)
        : io(ex), ready(ex, boost::asio::steady_timer::time_point::max()) {}
    flex_stream io;
    std::shared_ptr<connection> h2;  // set by client_pool::add
    bool connecting = true;
    std::string failure;             // why connecting failed ("" while connecting or once up)
    std::size_t waiting = 0;         // requests waiting for `ready`
    boost::asio::steady_timer ready; // cancelled (every waiter wakes) when connecting ends
    boost::asio::ip::tcp::endpoint peer;
    std::uint64_t tls_identity = 0;  // client context id, 0 = plaintext
    bool tls_session_saved = false;
};

class client_pool {
public:
    client_pool() = default;
    client_pool(const client_pool&) = delete;
    client_pool& operator=(const client_pool&) = delete;

    /// A live connection to `peer` made with `tls_identity` that can take one more stream.
    [[nodiscard]] std::shared_ptr<client_connection> find(const boost::asio::ip::tcp::endpoint& peer,
                                                          std::uint64_t tls_identity);
    /// Keeps a connection that is being connected, for `find` (waiters share it).
    void add_connecting(const std::shared_ptr<client_connection>& c);
    /// Starts HTTP/2 on a connected (and handshaken) connection and wakes its waiters.
    void start(const std::shared_ptr<client_connection>& c, const limits& l);
    /// Connecting failed: wakes the waiters (they read `failure`) and forgets the connection.
    void failed(const std::shared_ptr<client_connection>& c, std::string why);
    /// Sends GOAWAY on every connection and forgets them (worker stop, reload of nothing).
    void clear();
    [[nodiscard]] std::size_t size() const { return conns_.size(); }

private:
    std::vector<std::shared_ptr<client_connection>> conns_;
};

}  // namespace outrigger::proxy::http2
