#pragma once
// Blocking test clients with a timeout on every call (SO_RCVTIMEO/SO_SNDTIMEO): a keep-alive
// Beast HTTP/1.1 client, and a raw-socket helper for malformed input and pipelining.

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace outrigger::test {

namespace http = boost::beast::http;

/// SyncReadStream/SyncWriteStream over a connected socket's descriptor using recv/send directly,
/// so that SO_RCVTIMEO/SO_SNDTIMEO bound every call (Asio's own sync calls would poll forever).
class timed_socket {
public:
    explicit timed_socket(boost::asio::ip::tcp::socket& s) : s_(s) {}
    template <class MutableBufferSequence>
    std::size_t read_some(const MutableBufferSequence& b, boost::system::error_code& ec) {
        const boost::asio::mutable_buffer first = *boost::asio::buffer_sequence_begin(b);
        return recv_raw(first.data(), first.size(), ec);
    }
    template <class MutableBufferSequence>
    std::size_t read_some(const MutableBufferSequence& b) {
        boost::system::error_code ec;
        const std::size_t n = read_some(b, ec);
        if (ec) {
            throw boost::system::system_error(ec);
        }
        return n;
    }
    template <class ConstBufferSequence>
    std::size_t write_some(const ConstBufferSequence& b, boost::system::error_code& ec) {
        const boost::asio::const_buffer first = *boost::asio::buffer_sequence_begin(b);
        return send_raw(first.data(), first.size(), ec);
    }
    template <class ConstBufferSequence>
    std::size_t write_some(const ConstBufferSequence& b) {
        boost::system::error_code ec;
        const std::size_t n = write_some(b, ec);
        if (ec) {
            throw boost::system::system_error(ec);
        }
        return n;
    }

private:
    std::size_t recv_raw(void* data, std::size_t n, boost::system::error_code& ec);
    std::size_t send_raw(const void* data, std::size_t n, boost::system::error_code& ec);
    boost::asio::ip::tcp::socket& s_;
};
using header_list = std::vector<std::pair<std::string, std::string>>;

struct client_response {
    bool ok = false;          // a complete response was read
    std::string error;        // why not
    unsigned status = 0;
    std::string body;
    http::fields headers;
    bool keep_alive = false;
};

class http_client {
public:
    explicit http_client(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    /// Sends one request on the (kept-alive) connection, reconnecting if needed.
    client_response request(http::verb method, const std::string& target, const std::string& host,
                            const header_list& headers = {}, const std::string& body = {});
    client_response get(const std::string& target, const std::string& host,
                        const header_list& headers = {}) {
        return request(http::verb::get, target, host, headers);
    }
    void close();

private:
    void connect();
    std::uint16_t port_;
    std::chrono::milliseconds timeout_;
    boost::asio::io_context ioc_;
    boost::asio::ip::tcp::socket socket_;
    timed_socket timed_{socket_};
    boost::beast::flat_buffer buffer_;
    bool connected_ = false;
};

/// One request on a fresh connection.
client_response http_get(std::uint16_t port, const std::string& host, const std::string& target,
                         const header_list& headers = {});

/// Raw TCP connection to 127.0.0.1:port with timeouts on every call.
class raw_connection {
public:
    explicit raw_connection(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    bool send(const std::string& bytes);
    bool send(const char* data, std::size_t n);
    /// Reads until the peer closes or the timeout hits; returns everything read.
    std::string read_until_close();
    /// Reads one HTTP response (head + body) with a Beast parser; returns it or ok=false.
    client_response read_response(bool head_request = false);
    /// Reads until `needle` appears (or timeout); returns everything read so far (then consumed).
    std::string read_until(const std::string& needle);
    /// Raw reads with the timeout (for streaming checks).
    std::size_t read_some(char* data, std::size_t n, boost::system::error_code& ec);

private:
    boost::asio::io_context ioc_;
    boost::asio::ip::tcp::socket socket_;
    timed_socket timed_{socket_};
    boost::beast::flat_buffer buffer_;
};

/// Sends `bytes` on a fresh connection and returns everything the server answers until it closes.
std::string raw_exchange(std::uint16_t port, const std::string& bytes);

/// Resident set size of this process in bytes (from /proc/self/statm).
std::uint64_t current_rss_bytes();

// OUTRIGGER_TEST_ASAN: set under AddressSanitizer (g++ defines __SANITIZE_ADDRESS__, clang has
// __has_feature), whose quarantine keeps freed memory resident: RSS bounds do not apply there.
#if defined(__SANITIZE_ADDRESS__)
#define OUTRIGGER_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OUTRIGGER_TEST_ASAN 1
#endif
#endif

}  // namespace outrigger::test
