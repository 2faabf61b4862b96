#pragma once
// The TLS contexts of one routing snapshot (STYLE §2.8): a server context per distinct TLS
// configuration of this node's listeners, and a client context per distinct TLS origination of
// the snapshot's targets (spec §10.7, as compiled into `upstream_target::tls`). Built on the
// control thread (reads files), published to every worker together with the snapshot it was
// built for (`worker::publish_tls` sets both in one step), never modified afterwards.
//
// Ingress plan (docs/decisions.md "One ingress port, several node listeners"): the single ingress
// port handshakes with the server context of the *first* node listener (snapshot order) whose
// tls.mode is not DISABLED; the port accepts plaintext too (detected from the first bytes) when
// some listener is PERMISSIVE, DISABLED or has no TLS. Once the request's listener is known
// (Host port), `ingress_refusal` checks that the connection's transport is one that listener
// accepts: STRICT needs TLS with that listener's own configuration, DISABLED needs plaintext.
//
// Thread-affinity: immutable, shared by all workers as `shared_ptr<const tls_contexts>`.

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "routing/snapshot.hpp"
#include "tls/context_factory.hpp"

namespace outrigger::proxy {

class tls_contexts {
public:
    using snapshot_ptr = std::shared_ptr<const routing::snapshot>;

    /// How the ingress port treats a new connection.
    enum class ingress_mode { plaintext, tls, detect };

    /// The snapshot these contexts were built for (kept alive: pointers into it stay valid).
    [[nodiscard]] const snapshot_ptr& snapshot() const noexcept { return snap_; }

    [[nodiscard]] ingress_mode ingress() const noexcept { return ingress_mode_; }
    /// The handshake context of the ingress port (null when `ingress() == plaintext`).
    [[nodiscard]] const tls::server_context* ingress_context() const noexcept {
        return ingress_ctx_;
    }
    /// Identity of the ingress handshake context ("" when none); a connection remembers it.
    [[nodiscard]] const std::string& ingress_key() const noexcept { return ingress_key_; }
    /// "" when a request for `snapshot()->ingress[listener]` may be served on a connection whose
    /// TLS identity is `conn_key` ("" = plaintext); otherwise the reason (one sentence).
    [[nodiscard]] std::string ingress_refusal(std::size_t listener, std::string_view conn_key) const;
    /// The server context of `snapshot()->ingress[listener]` itself (null: no TLS, or it could
    /// not be built). TCP listeners handshake with their own context (proxy/tcp/tcp_session.hpp).
    /// In gateway mode `listener` indexes `snapshot()->gateway->listeners` instead (here and in
    /// `listener_accepts_plaintext`): each gateway listener uses its own context.
    [[nodiscard]] const tls::server_context* listener_context(std::size_t listener) const;
    /// True when that listener accepts plaintext (no TLS, DISABLED or PERMISSIVE).
    [[nodiscard]] bool listener_accepts_plaintext(std::size_t listener) const {
        return listener >= listener_plain_ok_.size() || listener_plain_ok_[listener] != 0;
    }

    /// The client context for `target` (by `target.id`), null for plaintext or when it could not
    /// be built (then `client_error` says why).
    [[nodiscard]] const tls::client_context* client(const routing::upstream_target& t) const noexcept {
        return t.id < by_target_.size() ? by_target_[t.id] : nullptr;
    }
    [[nodiscard]] const std::string& client_error(const routing::upstream_target& t) const;

    /// True when a file of any context changed on disk (one stat() per file).
    [[nodiscard]] bool files_changed() const;

    struct built;
    tls_contexts() = default;
    tls_contexts(const tls_contexts&) = delete;
    tls_contexts& operator=(const tls_contexts&) = delete;

private:
    friend struct built;
    friend built build_tls_contexts(snapshot_ptr snap, const tls_contexts* previous);

    snapshot_ptr snap_;
    std::map<std::string, tls::server_context_ptr> servers_;  // identity key → context
    std::map<std::string, tls::client_context_ptr> clients_;
    std::map<std::string, std::string> failed_;               // identity key → last error
    std::vector<std::string> listener_key_;   // per snapshot ingress listener ("" = no TLS)
    std::vector<char> listener_plain_ok_;     // per listener: accepts plaintext
    std::vector<const tls::client_context*> by_target_;
    std::vector<std::string> target_error_;
    ingress_mode ingress_mode_ = ingress_mode::plaintext;
    const tls::server_context* ingress_ctx_ = nullptr;
    std::string ingress_key_;
    bool retry_failed_ = false;  // some target has no context at all
};

struct tls_contexts::built {
    std::shared_ptr<const tls_contexts> contexts;
    /// Errors not seen in `previous` (log them once): "listener 8080: ...", "target ...: ...".
    std::vector<std::string> new_errors;
    /// A listener with TLS has no usable context (start-up must fail; reload keeps the old).
    bool ingress_failed = false;
    /// False when every context was reused from `previous` (nothing to publish on rotation).
    bool changed = true;
};

/// Builds the contexts of `snap`, reusing every context of `previous` with the same identity
/// whose files did not change. A context that must be rebuilt and fails keeps the previous one
/// when there is one (rotation with a half-written file); otherwise its slot stays empty with the
/// error. Control thread only (reads files). Never throws.
[[nodiscard]] tls_contexts::built build_tls_contexts(tls_contexts::snapshot_ptr snap,
                                                     const tls_contexts* previous);

}  // namespace outrigger::proxy
