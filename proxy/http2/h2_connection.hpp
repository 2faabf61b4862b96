#pragma once
// One HTTP/2 connection (RFC 9113) over a `flex_stream`, either side: nghttp2 does the framing,
// HPACK, flow control and the protocol's rules; this class drives its I/O and gives the request
// path streams it can read and write without knowing about frames.
//
// The shape (nghttp2's own asio examples, h2o's http2client.c): one reader coroutine feeds
// `nghttp2_session_mem_recv`; one writer coroutine drains `nghttp2_session_mem_send` whenever
// something is queued; each stream carries its own receive buffer, send buffer and a wake-up
// event, so a stream's coroutine waits only on its stream. Receive windows are given back only as
// the request path consumes the bytes (`consume`), so a slow upstream slows its own stream's
// sender and no buffer grows without bound; sends wait while a stream's send buffer holds more
// than `limits::send_buffer`.
//
// Server role: `run` accepts streams and calls `on_stream` once per request head (the callee
// spawns the stream's coroutine); `run` returns when the peer is gone (or after GOAWAY once every
// stream ended) and every stream coroutine has released its stream.
// Client role: `open` submits a request on a running connection; `can_open` says whether the
// peer's SETTINGS_MAX_CONCURRENT_STREAMS and GOAWAY leave room for one more.
//
// Thread-affinity: everything runs on the executor of the stream it was made with (one worker).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/flex_stream.hpp"
#include "proxy/http_head.hpp"

struct nghttp2_session;

namespace outrigger::proxy::http2 {

using clock_type = std::chrono::steady_clock;

/// The client connection preface's first bytes ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").
inline constexpr std::string_view client_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct limits {
    std::uint32_t max_concurrent_streams = 100;  // what we accept (server) per connection
    std::uint32_t stream_window = 256 * 1024;    // receive window we advertise per stream
    std::uint32_t connection_window = 1024 * 1024;
    std::size_t max_header_bytes = 64 * 1024;    // request/response head, names + values
    std::size_t max_headers = 100;
    std::size_t send_buffer = 64 * 1024;         // per stream, before a sender waits
    std::chrono::milliseconds idle{300000};      // no stream and no frame for this long: GOAWAY
    /// Streams the peer may reset before we answered, per connection, before it is closed with
    /// ENHANCE_YOUR_CALM (CVE-2023-44487, "rapid reset"); refilled at this many per second.
    std::uint32_t reset_budget = 200;
    std::uint32_t reset_refill_per_s = 100;
};

/// A wake-up for one waiter on one strand. `notify` before `wait` is not lost.
class event {
public:
    explicit event(const boost::asio::any_io_executor& ex) : timer_(ex) {}
    void notify() {
        pending_ = true;
        timer_.cancel();
    }
    /// Returns false when `deadline` passed first.
    boost::asio::awaitable<bool> wait(clock_type::time_point deadline = clock_type::time_point::max());

private:
    boost::asio::steady_timer timer_;
    bool pending_ = false;
};

class connection;

/// One stream. Received side: `head` (server: the request, its :authority as Host; client: the
/// response), body bytes, trailers. Sent side: through `connection`'s methods.
struct stream {
    explicit stream(const boost::asio::any_io_executor& ex) : ev(ex) {}
    std::int32_t id = -1;
    message_head head;
    bool head_done = false;
    std::string scheme;              // server: :scheme
    std::string method;              // server: :method, :path (the head gets them at the end)
    std::string path;
    std::string in;                  // received body bytes not yet taken
    bool in_end = false;             // END_STREAM received
    message_head trailers;
    bool has_trailers = false;
    std::size_t header_bytes = 0;
    bool head_too_large = false;     // server: answered 431 by the handler
    // Sent side (the connection's data source reads it).
    std::string out;
    std::size_t out_off = 0;
    bool out_end = false;
    bool out_deferred = false;
    bool out_submitted = false;      // response/request head submitted
    message_head out_trailers;
    bool out_has_trailers = false;
    // End.
    bool closed = false;             // nghttp2 closed the stream (either way)
    std::uint32_t error = 0;         // RST_STREAM / GOAWAY code when it ended abnormally
    bool refused = false;            // never processed by the peer (REFUSED_STREAM, above GOAWAY)
    bool answered = false;           // server: a response head was submitted
    bool reset_after_send = false;   // RST_STREAM(NO_ERROR) once the last DATA is out
    bool eof_sent = false;           // the data source gave its last byte
    event ev;                        // wakes the stream's coroutine
    /// Also woken with `ev` when set: the event of a coroutine that serves this stream together
    /// with another one (the forwarder's HTTP/2 → HTTP/2 exchange waits on one event for both).
    event* watcher = nullptr;

    [[nodiscard]] std::size_t out_pending() const { return out.size() - out_off; }
    void wake() {
        ev.notify();
        if (watcher != nullptr) {
            watcher->notify();
        }
    }
};

enum class role { server, client };

class connection : public std::enable_shared_from_this<connection> {
public:
    using stream_handler = std::function<void(std::shared_ptr<connection>, std::shared_ptr<stream>)>;

    /// `io` must outlive `run`. Server: `on_stream` is called once per request head.
    connection(flex_stream& io, role r, const limits& l, stream_handler on_stream = {});
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Runs the connection until it ends; `preread`: bytes already read from `io` (the preface).
    boost::asio::awaitable<void> run(std::string preread = {});

    // ---- Client ------------------------------------------------------------------------------
    /// True when a new stream may be opened now.
    [[nodiscard]] bool can_open() const;
    [[nodiscard]] bool alive() const { return !dead_; }
    [[nodiscard]] std::size_t active_streams() const { return streams_.size(); }
    /// Submits `req` (method, target, Host → :authority) with `scheme`; the body follows through
    /// `send_data` unless `end_stream`. Null when the session refused it (then `can_open` is false).
    std::shared_ptr<stream> open(const message_head& req, std::string_view scheme, bool end_stream);

    // ---- Both --------------------------------------------------------------------------------
    /// Server: submits the response head. The body follows unless `end_stream`.
    void respond(stream& s, const message_head& res, bool end_stream);
    /// Queues body bytes (and the end of the body). Returns false when the stream is gone.
    bool send_data(stream& s, std::string_view data, bool end_stream);
    /// Ends the body with trailers.
    bool send_trailers(stream& s, const message_head& trailers);
    /// Waits until the stream's send buffer drained below the limit (or the stream ended).
    boost::asio::awaitable<bool> wait_send_room(stream& s, clock_type::time_point deadline);
    /// Whether `send_data` on `s` would stay within the send buffer limit now.
    [[nodiscard]] bool has_send_room(const stream& s) const {
        return s.out_pending() <= limits_.send_buffer;
    }
    /// Gives `n` received bytes back to the peer's window (after the request path took them).
    void consume(stream& s, std::size_t n);
    /// RST_STREAM with `code` (nghttp2 error code; 8 = CANCEL, 2 = INTERNAL_ERROR).
    void reset(stream& s, std::uint32_t code);
    /// GOAWAY (graceful: streams already open finish).
    void go_away();
    /// Called by the stream's coroutine when it is done with the stream.
    void release(stream& s);

    // ---- Without I/O (fuzz/fuzz_h2_server.cpp, unit tests) ------------------------------------
    /// Hands `bytes` to the session as if read from the peer. False once the session refused
    /// them (a connection error: its GOAWAY is in `take_output`).
    bool feed(std::string_view bytes);
    /// What the session would write to the peer now.
    std::string take_output();

    [[nodiscard]] bool is_tls() const { return io_.is_tls(); }
    [[nodiscard]] flex_stream& io() { return io_; }

    // nghttp2 callbacks (C linkage shims call these).
    int on_begin_headers(std::int32_t id);
    int on_header(std::int32_t id, std::uint8_t cat, std::string_view name, std::string_view value);
    int on_frame_recv(std::int32_t id, std::uint8_t type, std::uint8_t flags, std::uint8_t cat);
    int on_data(std::int32_t id, std::string_view data);
    int on_stream_close(std::int32_t id, std::uint32_t code);
    long read_body(stream& s, std::int32_t id, std::uint8_t* buf, std::size_t len, std::uint32_t* flags);

private:
    boost::asio::awaitable<void> writer();
    boost::asio::awaitable<void> watchdog();
    void wake_writer() { write_ev_.notify(); }
    void fail_all(std::uint32_t code);
    void submit_head(stream& s, const message_head& h, bool request, std::string_view scheme,
                     bool end_stream, std::int32_t& id_out);

    flex_stream& io_;
    role role_;
    limits limits_;
    stream_handler on_stream_;
    nghttp2_session* session_ = nullptr;
    std::unordered_map<std::int32_t, std::shared_ptr<stream>> streams_;
    event write_ev_;
    event done_ev_;        // writer ended / handlers released
    event idle_ev_;        // wakes the idle watchdog at the end
    bool dead_ = false;
    bool reading_done_ = false;
    bool writer_done_ = false;
    bool goaway_received_ = false;
    bool goaway_sent_ = false;
    std::size_t handlers_ = 0;   // server: stream coroutines not yet released
    clock_type::time_point last_activity_ = clock_type::now();
    double reset_tokens_ = 0;
    clock_type::time_point reset_refill_at_ = clock_type::now();
    std::string wbuf_;
    std::string scratch_;
};

}  // namespace outrigger::proxy::http2
