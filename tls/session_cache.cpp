#include "tls/session_cache.hpp"

#include <openssl/ssl.h>

#include <ctime>
#include <utility>

namespace outrigger::tls {

session::session(const session& other) noexcept : s_(other.s_) {
    if (s_ != nullptr) {
        SSL_SESSION_up_ref(s_);
    }
}

session& session::operator=(const session& other) noexcept {
    if (this != &other) {
        session copy(other);
        *this = std::move(copy);
    }
    return *this;
}

session& session::operator=(session&& other) noexcept {
    if (this != &other) {
        if (s_ != nullptr) {
            SSL_SESSION_free(s_);
        }
        s_ = other.s_;
        other.s_ = nullptr;
    }
    return *this;
}

session::~session() {
    if (s_ != nullptr) {
        SSL_SESSION_free(s_);
    }
}

bool session::is_resumable() const noexcept {
    if (s_ == nullptr || SSL_SESSION_is_resumable(s_) != 1) {
        return false;
    }
    const long start = static_cast<long>(SSL_SESSION_get_time(s_));
    const long lifetime = static_cast<long>(SSL_SESSION_get_timeout(s_));
    return static_cast<long>(std::time(nullptr)) < start + lifetime;
}

namespace detail {

session get_session_ssl(SSL* ssl) {
    SSL_SESSION* live = ssl == nullptr ? nullptr : SSL_get0_session(ssl);
    if (live == nullptr) {
        return {};
    }
    // A copy, not a reference: when an SSL is freed without a close_notify having been sent,
    // OpenSSL marks its session "not resumable" (ssl_clear_bad_session, an old RFC 2246 rule).
    // Upstream connections are often closed abruptly (idle timeout, pool eviction), which would
    // silently kill every cached session; a fatal TLS error is excluded by only saving after a
    // successful read instead.
    return session(SSL_SESSION_dup(live));
}

bool set_session_ssl(SSL* ssl, const session& s) {
    return ssl != nullptr && !s.empty() && SSL_set_session(ssl, s.native_handle()) == 1;
}

}  // namespace detail

session_cache::session_cache(std::size_t max_entries) : max_entries_(max_entries == 0 ? 1 : max_entries) {}

std::string session_cache::make_key(const client_context& ctx, std::string_view endpoint) {
    std::string key = std::to_string(ctx.id());
    key += '|';
    key += endpoint;
    return key;
}

session session_cache::get(const client_context& ctx, std::string_view endpoint) {
    const auto it = index_.find(make_key(ctx, endpoint));
    if (it == index_.end()) {
        return {};
    }
    if (!it->second->value.is_resumable()) {
        lru_.erase(it->second);
        index_.erase(it);
        return {};
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->value;
}

bool session_cache::put(const client_context& ctx, std::string_view endpoint, session s) {
    if (!s.is_resumable()) {
        return false;
    }
    std::string key = make_key(ctx, endpoint);
    if (const auto it = index_.find(key); it != index_.end()) {
        it->second->value = std::move(s);
        lru_.splice(lru_.begin(), lru_, it->second);
        return true;
    }
    while (index_.size() >= max_entries_ && !lru_.empty()) {
        index_.erase(lru_.back().key);
        lru_.pop_back();
    }
    lru_.push_front(entry{key, std::move(s)});
    index_.emplace(std::move(key), lru_.begin());
    return true;
}

void session_cache::erase(const client_context& ctx, std::string_view endpoint) {
    const auto it = index_.find(make_key(ctx, endpoint));
    if (it != index_.end()) {
        lru_.erase(it->second);
        index_.erase(it);
    }
}

void session_cache::clear() {
    index_.clear();
    lru_.clear();
}

}  // namespace outrigger::tls
