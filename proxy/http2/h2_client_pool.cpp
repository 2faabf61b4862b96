#include "proxy/http2/h2_client_pool.hpp"

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace outrigger::proxy::http2 {

std::shared_ptr<client_connection> client_pool::find(const boost::asio::ip::tcp::endpoint& peer,
                                                     std::uint64_t tls_identity) {
    std::erase_if(conns_, [](const std::shared_ptr<client_connection>& c) {
        return !c->connecting && (!c->h2 || !c->h2->alive());
    });
    for (const auto& c : conns_) {
        if (c->peer != peer || c->tls_identity != tls_identity) {
            continue;
        }
        // A connection still connecting takes as many waiters as a usual peer allows streams.
        if (c->connecting ? c->waiting < 100 : c->h2->can_open()) {
            return c;
        }
    }
    return nullptr;
}

void client_pool::add_connecting(const std::shared_ptr<client_connection>& c) {
    conns_.push_back(c);
}

void client_pool::start(const std::shared_ptr<client_connection>& c, const limits& l) {
    c->h2 = std::make_shared<connection>(c->io, role::client, l);
    c->connecting = false;
    // The coroutine keeps the connection (and its socket) alive until it ends.
    boost::asio::co_spawn(
        c->io.get_executor(), [c]() -> boost::asio::awaitable<void> { co_await c->h2->run(); },
        boost::asio::detached);
    c->ready.cancel();
}

void client_pool::failed(const std::shared_ptr<client_connection>& c, std::string why) {
    c->connecting = false;
    c->failure = std::move(why);
    c->ready.cancel();
    std::erase(conns_, c);
}

void client_pool::clear() {
    for (const auto& c : conns_) {
        if (c->h2) {
            c->h2->go_away();
        }
    }
    conns_.clear();
}

}  // namespace outrigger::proxy::http2
