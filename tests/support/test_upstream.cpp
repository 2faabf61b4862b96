#include "tests/support/test_upstream.hpp"

#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

namespace outrigger::test {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

struct test_upstream::impl {
    static net::awaitable<void> session(test_upstream& up, tcp::socket socket) {
        constexpr auto tok = net::as_tuple(net::use_awaitable);
        beast::tcp_stream stream(std::move(socket));
        beast::flat_buffer buf;
        std::vector<char> chunk(64 * 1024);
        for (;;) {
            http::request_parser<http::buffer_body> p;
            p.body_limit(boost::none);
            stream.expires_after(std::chrono::seconds(60));
            auto [ec, n] = co_await http::async_read_header(stream, buf, p, tok);
            if (ec) {
                break;
            }
            std::string body;
            while (!p.is_done()) {
                p.get().body().data = chunk.data();
                p.get().body().size = chunk.size();
                auto [rec, rn] = co_await http::async_read_some(stream, buf, p, tok);
                const std::size_t got = chunk.size() - p.get().body().size;
                if (body.size() < up.keep_body_bytes) {
                    body.append(chunk.data(), std::min(got, up.keep_body_bytes - body.size()));
                }
                if (got > 0) {
                    up.body_bytes_ += got;
                    std::lock_guard lk(up.mu_);
                    up.cv_.notify_all();
                }
                if (rec == http::error::need_buffer) {
                    continue;
                }
                if (rec) {
                    co_return;
                }
            }
            http::request<http::string_body> req;
            req.method_string(p.get().method_string());
            req.target(p.get().target());
            req.version(p.get().version());
            for (const auto& f : p.get()) {
                req.insert(f.name_string(), f.value());
            }
            req.body() = std::move(body);
            const bool keep = p.get().keep_alive();
            ++up.requests_;
            {
                std::lock_guard lk(up.mu_);
                up.last_ = req;
            }
            upstream_reply reply;
            reply.res.set(http::field::content_type, "text/plain");
            if (up.handler_) {
                up.handler_(req, reply);
            } else {
                reply.res.body() = "ok\n";
            }
            if (reply.delay.count() > 0) {
                net::steady_timer t(stream.get_executor());
                t.expires_after(reply.delay);
                auto [tec] = co_await t.async_wait(tok);
                (void)tec;
            }
            if (reply.reset) {
                boost::system::error_code ig;
                stream.socket().set_option(net::socket_base::linger(true, 0), ig);
                stream.socket().close(ig);
                co_return;
            }
            if (reply.close_without_response) {
                boost::system::error_code ig;
                stream.socket().shutdown(tcp::socket::shutdown_both, ig);
                stream.socket().close(ig);
                co_return;
            }
            reply.res.keep_alive(keep);
            if (reply.stream_body_bytes > 0) {
                http::response<http::empty_body> head{reply.res.result(), 11};
                for (const auto& f : reply.res) {
                    head.insert(f.name_string(), f.value());
                }
                head.chunked(true);
                head.keep_alive(keep);
                http::response_serializer<http::empty_body> sr{head};
                auto [hec, hn] = co_await http::async_write_header(stream, sr, tok);
                if (hec) {
                    co_return;
                }
                std::fill(chunk.begin(), chunk.end(), 'x');
                std::uint64_t left = reply.stream_body_bytes;
                bool half_done = false;
                while (left > 0) {
                    const std::size_t n2 = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
                    stream.expires_after(std::chrono::seconds(30));
                    auto [wec, wn] = co_await net::async_write(
                        stream, http::make_chunk(net::buffer(chunk.data(), n2)), tok);
                    if (wec) {
                        co_return;
                    }
                    left -= n2;
                    if (!half_done && left <= reply.stream_body_bytes / 2) {
                        half_done = true;
                        if (reply.at_half) {
                            reply.at_half();
                        }
                        if (reply.reset_at_half) {
                            boost::system::error_code ig;
                            stream.socket().set_option(net::socket_base::linger(true, 0), ig);
                            stream.socket().close(ig);
                            co_return;
                        }
                    }
                }
                auto [lec, ln] = co_await net::async_write(stream, http::make_chunk_last(), tok);
                if (lec) {
                    co_return;
                }
            } else {
                reply.res.prepare_payload();
                stream.expires_after(std::chrono::seconds(30));
                auto [wec, wn] = co_await http::async_write(stream, reply.res, tok);
                if (wec) {
                    co_return;
                }
            }
            if (reply.close_after_response) {
                boost::system::error_code ig;
                stream.socket().shutdown(tcp::socket::shutdown_both, ig);
                stream.socket().close(ig);
                ++up.closes_after_;
                co_return;
            }
            if (!keep) {
                break;
            }
        }
        boost::system::error_code ig;
        stream.socket().shutdown(tcp::socket::shutdown_send, ig);
    }

    static net::awaitable<void> accept_loop(test_upstream& up, tcp::acceptor& a) {
        for (;;) {
            auto [ec, socket] = co_await a.async_accept(net::as_tuple(net::use_awaitable));
            if (ec) {
                co_return;
            }
            ++up.accepts_;
            {
                boost::system::error_code lec;
                const auto local = socket.local_endpoint(lec);
                std::lock_guard lk(up.mu_);
                ++up.accepts_by_address_[local.address().to_string()];
            }
            net::co_spawn(a.get_executor(), session(up, std::move(socket)), net::detached);
        }
    }
};

test_upstream::test_upstream(upstream_handler h, std::vector<std::string> addresses)
    : handler_(std::move(h)), ioc_(std::make_unique<net::io_context>(1)) {
    for (const auto& addr : addresses) {
        auto a = std::make_unique<tcp::acceptor>(*ioc_);
        const tcp::endpoint ep(net::ip::make_address(addr), port_);
        a->open(ep.protocol());
        a->set_option(net::socket_base::reuse_address(true));
        a->bind(ep);
        a->listen();
        port_ = a->local_endpoint().port();
        acceptors_.push_back(std::move(a));
    }
    for (auto& a : acceptors_) {
        net::co_spawn(*ioc_, impl::accept_loop(*this, *a), net::detached);
    }
    thread_ = std::thread([this] { ioc_->run(); });
}

test_upstream::~test_upstream() {
    ioc_->stop();
    thread_.join();
    acceptors_.clear();
    ioc_.reset();
}

int test_upstream::accepts_on(const std::string& address) const {
    std::lock_guard lk(mu_);
    auto it = accepts_by_address_.find(address);
    return it == accepts_by_address_.end() ? 0 : it->second;
}

bool test_upstream::wait_for_body_bytes(std::uint64_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return body_bytes_.load() >= n; });
}

http::request<http::string_body> test_upstream::last_request() const {
    std::lock_guard lk(mu_);
    return last_;
}

}  // namespace outrigger::test
