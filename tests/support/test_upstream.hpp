#pragma once
// In-process HTTP/1.1 upstream for integration tests: a Beast server on 127.0.0.1:0 (optionally
// also on more loopback addresses, same port) with its own io_context thread. A lambda decides
// each reply; accepts and requests are counted with atomics. Request bodies are streamed and
// counted (only the first `keep_body_bytes` are kept for the handler), so a 10 MB upload does not
// grow the test process. Stops and joins in its destructor.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace outrigger::test {

namespace http = boost::beast::http;

/// What the handler decides for one request.
struct upstream_reply {
    http::response<http::string_body> res{http::status::ok, 11};
    bool close_without_response = false;  // close the connection instead of answering
    bool reset = false;                    // RST instead of answering (SO_LINGER 0)
    std::chrono::milliseconds delay{0};    // answer after this delay (timer, not sleep)
    std::uint64_t stream_body_bytes = 0;   // > 0: chunked body of this many 'x' bytes instead
    /// With stream_body_bytes: called on the upstream thread after half of the body was sent;
    /// may block (bounded) to prove the proxy streams.
    std::function<void()> at_half;
    /// With stream_body_bytes: reset the connection (RST) after half of the body was sent.
    bool reset_at_half = false;
    /// Answer with keep-alive, then close the connection (FIN) right after the response: the
    /// client's pooled connection is dead before its next request. Counted in closes_after().
    bool close_after_response = false;
};

using upstream_handler = std::function<void(const http::request<http::string_body>&, upstream_reply&)>;

class test_upstream {
public:
    explicit test_upstream(upstream_handler h = {},
                           std::vector<std::string> addresses = {"127.0.0.1"});
    ~test_upstream();
    test_upstream(const test_upstream&) = delete;
    test_upstream& operator=(const test_upstream&) = delete;

    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] int accepts() const { return accepts_.load(); }
    [[nodiscard]] int requests() const { return requests_.load(); }
    [[nodiscard]] int accepts_on(const std::string& address) const;
    [[nodiscard]] std::uint64_t body_bytes() const { return body_bytes_.load(); }
    /// Connections closed because of `close_after_response`.
    [[nodiscard]] int closes_after() const { return closes_after_.load(); }
    /// Waits until at least `n` request body bytes arrived (all requests together).
    [[nodiscard]] bool wait_for_body_bytes(std::uint64_t n, std::chrono::milliseconds timeout);
    /// The last request head seen (copy, thread-safe).
    [[nodiscard]] http::request<http::string_body> last_request() const;

    std::size_t keep_body_bytes = 1 << 20;

private:
    struct impl;
    friend struct impl;
    upstream_handler handler_;
    std::unique_ptr<boost::asio::io_context> ioc_;
    std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
    std::thread thread_;
    std::uint16_t port_ = 0;
    std::atomic<int> accepts_{0};
    std::atomic<int> requests_{0};
    std::atomic<std::uint64_t> body_bytes_{0};
    std::atomic<int> closes_after_{0};
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::map<std::string, int> accepts_by_address_;
    http::request<http::string_body> last_;
};

}  // namespace outrigger::test
