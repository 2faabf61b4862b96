#pragma once
// Client-side TLS session resumption: a small, bounded, per-worker store of sessions keyed by
// (client context, endpoint), so a new upstream connection to the same peer can do an
// abbreviated handshake.
//
// TLS 1.3 note: the server sends its session tickets *after* the handshake, and OpenSSL only
// processes them while reading. So call `save` after the first application data has been read
// (e.g. after the response head), not right after the handshake; `put` ignores sessions that
// are not resumable yet. After a failed handshake on a resumed session, `erase` the entry.
//
// Thread-affinity: worker-local, not thread-safe (one cache per worker, like the upstream pool).
// A `session` is immutable and may be shared.

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include <openssl/types.h>

#include "tls/context_factory.hpp"

namespace outrigger::tls {

/// An SSL_SESSION, owned (RAII). Copies share it (OpenSSL reference count).
class session {
public:
    session() = default;
    /// Takes ownership of `s` (no reference added).
    explicit session(SSL_SESSION* s) noexcept : s_(s) {}
    session(const session& other) noexcept;
    session& operator=(const session& other) noexcept;
    session(session&& other) noexcept : s_(other.s_) { other.s_ = nullptr; }
    session& operator=(session&& other) noexcept;
    ~session();

    [[nodiscard]] bool empty() const noexcept { return s_ == nullptr; }
    /// Resumable and not expired.
    [[nodiscard]] bool is_resumable() const noexcept;
    /// For tls/ internals only.
    [[nodiscard]] SSL_SESSION* native_handle() const noexcept { return s_; }

private:
    SSL_SESSION* s_ = nullptr;
};

namespace detail {
session get_session_ssl(SSL* ssl);
bool set_session_ssl(SSL* ssl, const session& s);
}  // namespace detail

/// A copy of the stream's current session (after the handshake; empty before), unaffected by how
/// the connection later ends.
template <class SslStream>
[[nodiscard]] session current_session(SslStream& stream) {
    return detail::get_session_ssl(stream.native_handle());
}

/// Offers `s` for resumption on the next client handshake of `stream`. False when `s` is empty
/// or OpenSSL refused it.
template <class SslStream>
bool offer_session(SslStream& stream, const session& s) {
    return detail::set_session_ssl(stream.native_handle(), s);
}

class session_cache {
public:
    explicit session_cache(std::size_t max_entries = 512);
    session_cache(const session_cache&) = delete;
    session_cache& operator=(const session_cache&) = delete;

    /// The stored session for (ctx, endpoint), or empty. Expired entries are dropped.
    [[nodiscard]] session get(const client_context& ctx, std::string_view endpoint);
    /// Stores `s` (replacing any older one). Returns false, storing nothing, when `s` is empty or
    /// not resumable. Evicts the least recently used entry when full.
    bool put(const client_context& ctx, std::string_view endpoint, session s);
    void erase(const client_context& ctx, std::string_view endpoint);
    void clear();
    [[nodiscard]] std::size_t size() const noexcept { return index_.size(); }

    /// Before the handshake: offers the stored session, if any. True when one was offered.
    template <class SslStream>
    bool resume(SslStream& stream, const client_context& ctx, std::string_view endpoint) {
        const session s = get(ctx, endpoint);
        return !s.empty() && offer_session(stream, s);
    }

    /// After the first read (see the TLS 1.3 note): stores the stream's session.
    template <class SslStream>
    bool save(SslStream& stream, const client_context& ctx, std::string_view endpoint) {
        return put(ctx, endpoint, current_session(stream));
    }

private:
    struct entry {
        std::string key;
        session value;
    };
    [[nodiscard]] static std::string make_key(const client_context& ctx, std::string_view endpoint);

    std::size_t max_entries_;
    std::list<entry> lru_;  // front = most recently used
    std::unordered_map<std::string, std::list<entry>::iterator> index_;
};

}  // namespace outrigger::tls
