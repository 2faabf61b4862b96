#pragma once
// One connection (downstream or upstream) that is plain TCP, or TLS over TCP once `start_tls`
// was called. The TCP layer is always a `beast::tcp_stream`, so every deadline
// (`expires_after`, `expires_at`) keeps working underneath TLS; the TLS layer references it.
// It models AsyncReadStream/AsyncWriteStream, so Beast's http::async_read/async_write and
// Asio's async_write take it like a tcp_stream.
//
// TLS state (the SSL object) is created from a `tls::server_context`/`tls::client_context`'s
// `native()` context: every SSL holds its own reference on its SSL_CTX, so a connection keeps the
// context it was made with even after rotation publishes a new one (tls/cert_watcher.hpp).
//
// Thread-affinity: owned by one coroutine on one worker.

#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace outrigger::proxy {

class flex_stream {
public:
    using executor_type = boost::beast::tcp_stream::executor_type;
    using tls_stream = boost::beast::ssl_stream<boost::beast::tcp_stream&>;

    explicit flex_stream(const executor_type& ex) : tcp_(ex) {}
    explicit flex_stream(boost::asio::ip::tcp::socket&& s) : tcp_(std::move(s)) {}
    flex_stream(const flex_stream&) = delete;
    flex_stream& operator=(const flex_stream&) = delete;

    [[nodiscard]] executor_type get_executor() noexcept { return tcp_.get_executor(); }
    [[nodiscard]] boost::beast::tcp_stream& tcp() noexcept { return tcp_; }
    [[nodiscard]] boost::asio::ip::tcp::socket& socket() noexcept { return tcp_.socket(); }
    [[nodiscard]] bool is_tls() const noexcept { return tls_ != nullptr; }
    /// Precondition: `is_tls()`.
    [[nodiscard]] tls_stream& tls() noexcept { return *tls_; }

    /// Puts a TLS layer made from `ctx` over the TCP connection (no I/O; handshake next). The
    /// context is only read (Asio's constructor wants a non-const reference).
    tls_stream& start_tls(boost::asio::ssl::context& ctx) {
        tls_ = std::make_unique<tls_stream>(tcp_, ctx);
        return *tls_;
    }

    template <class Duration>
    void expires_after(Duration d) {
        tcp_.expires_after(d);
    }
    template <class TimePoint>
    void expires_at(TimePoint tp) {
        tcp_.expires_at(tp);
    }
    void expires_never() { tcp_.expires_never(); }
    void close() { tcp_.close(); }

    template <class Token>
    auto async_connect(const boost::asio::ip::tcp::endpoint& ep, Token&& token) {
        return tcp_.async_connect(ep, std::forward<Token>(token));
    }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& b, Token&& token) {
        if (tls_) {
            return tls_->async_read_some(b, std::forward<Token>(token));
        }
        return tcp_.async_read_some(b, std::forward<Token>(token));
    }

    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& b, Token&& token) {
        if (tls_) {
            return tls_->async_write_some(b, std::forward<Token>(token));
        }
        return tcp_.async_write_some(b, std::forward<Token>(token));
    }

private:
    boost::beast::tcp_stream tcp_;
    std::unique_ptr<tls_stream> tls_;  // declared after tcp_: destroyed first, it references it
};

}  // namespace outrigger::proxy
