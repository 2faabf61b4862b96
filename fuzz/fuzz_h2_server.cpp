// libFuzzer target: arbitrary bytes as an HTTP/2 client's side of a connection, fed to the
// proxy's server-side HTTP/2 connection (proxy/http2/h2_connection) without sockets. Every request
// head that completes is answered at once (HEADERS, DATA, trailers on every third), so the
// header callbacks, the stream table, the data source and the rapid-reset accounting all run. The
// session must never crash, leak, or read out of bounds, whatever the frames say.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "proxy/flex_stream.hpp"
#include "proxy/http2/h2_connection.hpp"

namespace h2 = outrigger::proxy::http2;
using outrigger::proxy::message_head;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    boost::asio::io_context ioc;
    outrigger::proxy::flex_stream io(ioc.get_executor());
    h2::limits l;
    l.max_header_bytes = 8 * 1024;
    l.max_headers = 32;
    l.reset_budget = 20;
    int answered = 0;
    std::vector<std::pair<std::shared_ptr<h2::connection>, std::shared_ptr<h2::stream>>> open;
    auto conn = std::make_shared<h2::connection>(
        io, h2::role::server, l,
        [&](std::shared_ptr<h2::connection> c, std::shared_ptr<h2::stream> st) {
            message_head res;
            res.set_status_line(st->head_too_large ? 431 : 200, {}, 20);
            res.append(boost::beast::http::field::content_type, "content-type", "text/plain");
            c->respond(*st, res, false);
            c->send_data(*st, st->head.target(), (answered % 3) != 0);
            if (answered % 3 == 0) {
                message_head t;
                t.append(boost::beast::http::field::unknown, "grpc-status", "0");
                c->send_trailers(*st, t);
            }
            ++answered;
            open.emplace_back(std::move(c), std::move(st));
        });
    std::string preface(h2::client_preface);
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    // Feed in two pieces (a frame split across reads), then drain what the session answers.
    const std::size_t half = in.size() / 2;
    if (conn->feed(preface) && conn->feed(in.substr(0, half))) {
        (void)conn->take_output();
        (void)conn->feed(in.substr(half));
    }
    // Body bytes the handlers would read: give the window back, as the request path does.
    for (auto& [c, st] : open) {
        c->consume(*st, st->in.size());
        st->in.clear();
        c->release(*st);
    }
    (void)conn->take_output();
    return 0;
}
