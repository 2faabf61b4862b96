#include "tests/support/http_client.hpp"

#include <sys/socket.h>
#include <cerrno>
#include <sys/time.h>
#include <unistd.h>

#include <fstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace outrigger::test {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {

void set_timeouts(tcp::socket& s, std::chrono::milliseconds t) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(t.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

template <class Parser>
client_response to_response(Parser& p) {
    client_response r;
    r.ok = true;
    r.status = p.get().result_int();
    r.body = p.get().body();
    r.headers = p.get().base();
    r.keep_alive = p.get().keep_alive();
    return r;
}

}  // namespace

std::size_t timed_socket::recv_raw(void* data, std::size_t n, boost::system::error_code& ec) {
    for (;;) {
        const ssize_t r = ::recv(s_.native_handle(), data, n, 0);
        if (r > 0) {
            ec = {};
            return static_cast<std::size_t>(r);
        }
        if (r == 0) {
            ec = net::error::eof;
            return 0;
        }
        if (errno == EINTR) {
            continue;
        }
        ec = (errno == EAGAIN || errno == EWOULDBLOCK) ? make_error_code(net::error::timed_out)
                                                        : boost::system::error_code(errno, boost::system::system_category());
        return 0;
    }
}

std::size_t timed_socket::send_raw(const void* data, std::size_t n, boost::system::error_code& ec) {
    for (;;) {
        const ssize_t r = ::send(s_.native_handle(), data, n, MSG_NOSIGNAL);
        if (r >= 0) {
            ec = {};
            return static_cast<std::size_t>(r);
        }
        if (errno == EINTR) {
            continue;
        }
        ec = (errno == EAGAIN || errno == EWOULDBLOCK) ? make_error_code(net::error::timed_out)
                                                        : boost::system::error_code(errno, boost::system::system_category());
        return 0;
    }
}

std::size_t raw_connection::read_some(char* data, std::size_t n, boost::system::error_code& ec) {
    if (buffer_.size() > 0) {
        const std::size_t k = net::buffer_copy(net::buffer(data, n), buffer_.data());
        buffer_.consume(k);
        ec = {};
        return k;
    }
    return timed_.read_some(net::buffer(data, n), ec);
}

http_client::http_client(std::uint16_t port, std::chrono::milliseconds timeout)
    : port_(port), timeout_(timeout), socket_(ioc_) {}

void http_client::connect() {
    boost::system::error_code ec;
    socket_ = tcp::socket(ioc_);
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
    if (!ec) {
        set_timeouts(socket_, timeout_);
        socket_.set_option(tcp::no_delay(true), ec);
    }
    buffer_.clear();
    connected_ = !ec;
}

void http_client::close() {
    boost::system::error_code ec;
    socket_.close(ec);
    connected_ = false;
}

client_response http_client::request(http::verb method, const std::string& target,
                                     const std::string& host, const header_list& headers,
                                     const std::string& body) {
    client_response r;
    if (!connected_) {
        connect();
        if (!connected_) {
            r.error = "connect failed";
            return r;
        }
    }
    http::request<http::string_body> req{method, target, 11};
    if (!host.empty()) {
        req.set(http::field::host, host);
    }
    for (const auto& [k, v] : headers) {
        req.insert(k, v);
    }
    if (!body.empty() || method == http::verb::post || method == http::verb::put) {
        req.body() = body;
        req.prepare_payload();
    }
    boost::system::error_code ec;
    http::write(timed_, req, ec);
    if (ec) {
        r.error = "write: " + ec.message();
        close();
        return r;
    }
    http::response_parser<http::string_body> p;
    p.body_limit(64 * 1024 * 1024);
    if (method == http::verb::head) {
        p.skip(true);
    }
    http::read(timed_, buffer_, p, ec);
    if (ec) {
        r.error = "read: " + ec.message();
        close();
        return r;
    }
    r = to_response(p);
    if (!r.keep_alive) {
        close();
    }
    return r;
}

client_response http_get(std::uint16_t port, const std::string& host, const std::string& target,
                         const header_list& headers) {
    http_client c(port);
    return c.get(target, host, headers);
}

raw_connection::raw_connection(std::uint16_t port, std::chrono::milliseconds timeout)
    : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    set_timeouts(socket_, timeout);
}

bool raw_connection::send(const std::string& bytes) { return send(bytes.data(), bytes.size()); }

bool raw_connection::send(const char* data, std::size_t n) {
    boost::system::error_code ec;
    net::write(timed_, net::buffer(data, n), ec);
    return !ec;
}

std::string raw_connection::read_until_close() {
    std::string out = beast::buffers_to_string(buffer_.data());
    buffer_.clear();
    char b[4096];
    for (;;) {
        boost::system::error_code ec;
        const std::size_t n = timed_.read_some(net::buffer(b), ec);
        out.append(b, n);
        if (ec) {
            break;
        }
    }
    return out;
}

std::string raw_connection::read_until(const std::string& needle) {
    boost::system::error_code ec;
    for (;;) {
        const std::string have = beast::buffers_to_string(buffer_.data());
        const auto pos = have.find(needle);
        if (pos != std::string::npos) {
            buffer_.consume(pos + needle.size());
            return have.substr(0, pos + needle.size());
        }
        auto mb = buffer_.prepare(4096);
        const std::size_t n = timed_.read_some(mb, ec);
        buffer_.commit(n);
        if (ec) {
            return beast::buffers_to_string(buffer_.data());
        }
    }
}

client_response raw_connection::read_response(bool head_request) {
    http::response_parser<http::string_body> p;
    p.body_limit(64 * 1024 * 1024);
    if (head_request) {
        p.skip(true);
    }
    boost::system::error_code ec;
    http::read(timed_, buffer_, p, ec);
    if (ec) {
        client_response r;
        r.error = ec.message();
        return r;
    }
    return to_response(p);
}

std::string raw_exchange(std::uint16_t port, const std::string& bytes) {
    raw_connection c(port);
    c.send(bytes);
    return c.read_until_close();
}

std::uint64_t current_rss_bytes() {
    std::ifstream f("/proc/self/statm");
    std::uint64_t size = 0;
    std::uint64_t resident = 0;
    f >> size >> resident;
    return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace outrigger::test
