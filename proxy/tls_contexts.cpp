#include "proxy/tls_contexts.hpp"

#include <fmt/format.h>

#include "routing/gateway.hpp"

namespace outrigger::proxy {

namespace {

void append_source(std::string& key, const routing::tls_source& s) {
    key += fmt::format("{}|{}|{}|{}|", static_cast<int>(s.kind), s.certificate_chain,
                       s.private_key, s.secret_name);
    for (const auto& a : s.acm_arns) {
        key += a;
        key += ',';
    }
    key += '|';
}

/// Everything a server context is built from (the mode is not part of it).
std::string server_key(const routing::listener_tls& t) {
    std::string key = "server|";
    append_source(key, t.certificate);
    if (t.validation_trust) {
        append_source(key, *t.validation_trust);
    } else {
        key += "no-trust|";
    }
    for (const auto& s : t.validation_sans) {
        key += s;
        key += ',';
    }
    return key;
}

/// The full TLS identity of an origination (STYLE §2.7): mode, SNI, client cert, trust, SANs.
std::string client_key(const routing::tls_origination& t) {
    std::string key = fmt::format("client|{}|{}|{}|{}|{}|", static_cast<int>(t.mode), t.sni,
                                  t.certificate_chain, t.private_key, t.trust_file);
    for (const auto& s : t.sans) {
        key += s;
        key += ',';
    }
    return key;
}

bool is_tls_mode(const std::optional<routing::listener_tls>& t) {
    return t && t->mode != "DISABLED" && !t->mode.empty();
}

bool accepts_plaintext(const std::optional<routing::listener_tls>& t) {
    return !is_tls_mode(t) || t->mode == "PERMISSIVE";
}

/// Gets a context for `key`: reused from `prev` when its files did not change, else built.
/// On a build failure the previous context (if any) is kept and the error recorded.
template <class Ptr, class Make>
Ptr obtain(const std::string& key, const std::map<std::string, Ptr>* prev,
           const std::map<std::string, std::string>* prev_failed, Make&& make,
           std::map<std::string, std::string>& failed, std::vector<std::string>& new_errors,
           const std::string& what, bool& changed) {
    Ptr old;
    if (prev != nullptr) {
        if (auto it = prev->find(key); it != prev->end()) {
            old = it->second;
        }
    }
    if (old && !old->watcher().changed()) {
        return old;
    }
    auto r = make();
    if (r) {
        changed = true;
        return std::move(r).value();
    }
    std::string msg = old ? fmt::format("{}: {} (keeping the previous certificates)", what, r.error())
                          : fmt::format("{}: {}", what, r.error());
    const bool seen = prev_failed != nullptr && [&] {
        auto it = prev_failed->find(key);
        return it != prev_failed->end() && it->second == msg;
    }();
    if (!seen) {
        new_errors.push_back(msg);
    }
    failed[key] = std::move(msg);
    return old;
}

}  // namespace

std::string tls_contexts::ingress_refusal(std::size_t listener, std::string_view conn_key) const {
    if (listener >= listener_key_.size()) {
        return {};
    }
    const auto& l = snap_->ingress[listener];
    if (conn_key.empty()) {
        if (listener_plain_ok_[listener] != 0) {
            return {};
        }
        return fmt::format("listener on port {} requires TLS (mode {}); this connection is "
                           "plaintext",
                           l.port, l.tls ? l.tls->mode : std::string("STRICT"));
    }
    if (listener_key_[listener].empty()) {
        return fmt::format("listener on port {} does not use TLS; send plaintext to it", l.port);
    }
    if (listener_key_[listener] != conn_key) {
        return fmt::format("listener on port {} uses a different TLS configuration than the one "
                           "this connection was accepted with (that of the first TLS listener); "
                           "see docs/decisions.md",
                           l.port);
    }
    return {};
}

const tls::server_context* tls_contexts::listener_context(std::size_t listener) const {
    if (listener >= listener_key_.size() || listener_key_[listener].empty()) {
        return nullptr;
    }
    const auto it = servers_.find(listener_key_[listener]);
    return it == servers_.end() ? nullptr : it->second.get();
}

const std::string& tls_contexts::client_error(const routing::upstream_target& t) const {
    static const std::string none;
    return t.id < target_error_.size() ? target_error_[t.id] : none;
}

bool tls_contexts::files_changed() const {
    if (retry_failed_) {
        return true;  // a context that never built: try again (the file may have appeared)
    }
    for (const auto& [k, c] : servers_) {
        if (c && c->watcher().changed()) {
            return true;
        }
    }
    for (const auto& [k, c] : clients_) {
        if (c && c->watcher().changed()) {
            return true;
        }
    }
    return false;
}

tls_contexts::built build_tls_contexts(tls_contexts::snapshot_ptr snap, const tls_contexts* previous) {
    auto out = std::make_shared<tls_contexts>();
    tls_contexts::built res;
    res.changed = previous == nullptr || previous->snap_ != snap;
    bool changed = false;
    out->snap_ = std::move(snap);
    const routing::snapshot& s = *out->snap_;
    const auto* prev_servers = previous != nullptr ? &previous->servers_ : nullptr;
    const auto* prev_clients = previous != nullptr ? &previous->clients_ : nullptr;
    const auto* prev_failed = previous != nullptr ? &previous->failed_ : nullptr;

    // Server side: this node's listeners; in gateway mode the gateway's listeners instead (each
    // on its own port: a gateway connection handshakes with `listener_context(i)` of its own
    // listener, the single-ingress-port plan below is unused).
    struct server_listener {
        std::uint16_t port;
        const std::optional<routing::listener_tls>& tls;
        routing::protocol proto;  // http2/grpc: ALPN offers h2 first
    };
    std::vector<server_listener> listeners;
    if (s.gateway != nullptr) {
        for (const auto& l : s.gateway->listeners) {
            listeners.push_back({l.port, l.tls, l.proto});
        }
    } else {
        for (const auto& l : s.ingress) {
            listeners.push_back({l.port, l.tls, l.proto});
        }
    }
    bool any_tls = false;
    bool any_plain = false;
    for (const auto& l : listeners) {
        const bool tls_on = is_tls_mode(l.tls);
        out->listener_plain_ok_.push_back(accepts_plaintext(l.tls) ? 1 : 0);
        any_plain = any_plain || accepts_plaintext(l.tls);
        if (!tls_on) {
            out->listener_key_.emplace_back();
            continue;
        }
        any_tls = true;
        const bool h2 = l.proto == routing::protocol::http2 || l.proto == routing::protocol::grpc;
        std::string key = server_key(*l.tls);
        if (h2) {
            key += "|alpn=h2";  // same files, another ALPN offer: another context
        }
        if (out->servers_.find(key) == out->servers_.end()) {
            auto ctx = obtain<tls::server_context_ptr>(
                key, prev_servers, prev_failed,
                [&] {
                    return tls::make_server_context(
                        *l.tls, h2 ? tls::server_alpn::h2_and_http11 : tls::server_alpn::http11);
                },
                out->failed_, res.new_errors, fmt::format("listener {} TLS", l.port), changed);
            if (!ctx) {
                res.ingress_failed = true;
            }
            out->servers_[key] = std::move(ctx);
        }
        if (out->ingress_key_.empty()) {
            out->ingress_key_ = key;
            out->ingress_ctx_ = out->servers_[key].get();
        }
        out->listener_key_.push_back(std::move(key));
    }
    if (!any_tls) {
        out->ingress_mode_ = tls_contexts::ingress_mode::plaintext;
    } else if (out->ingress_ctx_ == nullptr) {
        // The first TLS listener has no context: refuse TLS rather than pick another one.
        out->ingress_mode_ = any_plain ? tls_contexts::ingress_mode::plaintext
                                       : tls_contexts::ingress_mode::tls;
    } else {
        out->ingress_mode_ = any_plain ? tls_contexts::ingress_mode::detect
                                       : tls_contexts::ingress_mode::tls;
    }

    // Client side: one context per distinct origination identity.
    out->by_target_.assign(s.targets.size(), nullptr);
    out->target_error_.assign(s.targets.size(), std::string());
    for (const auto& t : s.targets) {
        if (t.tls.mode == routing::tls_origination::mode_t::plaintext) {
            continue;
        }
        std::string key = client_key(t.tls);
        auto it = out->clients_.find(key);
        if (it == out->clients_.end()) {
            auto ctx = obtain<tls::client_context_ptr>(
                key, prev_clients, prev_failed, [&] { return tls::make_client_context(t.tls); },
                out->failed_, res.new_errors,
                fmt::format("TLS toward virtual node \"{}\" port {}", t.node_name, t.port), changed);
            it = out->clients_.emplace(key, std::move(ctx)).first;
        }
        out->by_target_[t.id] = it->second.get();
        if (!it->second) {
            out->retry_failed_ = true;
            auto f = out->failed_.find(key);
            out->target_error_[t.id] = f != out->failed_.end() ? f->second : std::string("no context");
        }
    }
    // Dropped contexts (a config no longer used) also count as a change only with a new snapshot.
    res.changed = res.changed || changed;
    res.contexts = std::move(out);
    return res;
}

}  // namespace outrigger::proxy
