#include "routing/validate.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "routing/gateway_membership.hpp"
#include "routing/matchers.hpp"

namespace outrigger::routing {
namespace {

/// What an ACM or SDS source is worth at one place (DECISIONS §3.10): an error for the node that
/// is run (or validated with --node), a warning when validating everything, nothing for the other
/// objects when a node is selected (they are not run here).
enum class aws_use { error, warning, ignore };

/// The three kinds of TLS source places; they differ in the file-based alternative they suggest.
enum class source_role { server_cert, client_cert, trust };

constexpr std::array<std::string_view, 9> http_methods = {
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"};
constexpr std::array<std::string_view, 4> http_retry_events = {
    "server-error", "gateway-error", "client-error", "stream-error"};
constexpr std::array<std::string_view, 5> grpc_retry_events = {
    "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"};
constexpr std::array<std::string_view, 3> tls_modes = {"STRICT", "PERMISSIVE", "DISABLED"};
constexpr std::array<std::string_view, 4> health_protocols = {"grpc", "http", "http2", "tcp"};

constexpr std::size_t max_match_items = 10;   // headers, metadata, queryParameters
constexpr std::size_t max_targets = 10;
constexpr std::size_t max_value_len = 255;    // string match values, paths
constexpr std::size_t max_header_name_len = 50;
constexpr std::size_t max_hostname_len = 253;

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& allowed, std::string_view v) {
    return std::find(allowed.begin(), allowed.end(), v) != allowed.end();
}

template <std::size_t N>
std::string join(const std::array<std::string_view, N>& items) {
    return fmt::format("{}", fmt::join(items, ", "));
}

std::string at(const std::string& base, std::string_view key) {
    return fmt::format("{}.{}", base, key);
}

std::string at(const std::string& base, std::string_view key, std::size_t i) {
    return fmt::format("{}.{}[{}]", base, key, i);
}

/// True when the loader recorded `path` or anything below it (the field was written in the YAML).
bool has_field(const object_meta& m, const std::string& path) {
    for (const auto& entry : m.field_locs) {
        const std::string& p = entry.first;
        if (p.size() >= path.size() && p.compare(0, path.size(), path) == 0 &&
            (p.size() == path.size() || p[path.size()] == '.' || p[path.size()] == '[')) {
            return true;
        }
    }
    return false;
}

const char* route_key(route_kind k) {
    switch (k) {
        case route_kind::http:
            return "httpRoute";
        case route_kind::http2:
            return "http2Route";
        case route_kind::grpc:
            return "grpcRoute";
        case route_kind::tcp:
            return "tcpRoute";
    }
    return "httpRoute";
}

protocol proto_of(route_kind k) {
    switch (k) {
        case route_kind::http:
            return protocol::http;
        case route_kind::http2:
            return protocol::http2;
        case route_kind::grpc:
            return protocol::grpc;
        case route_kind::tcp:
            return protocol::tcp;
    }
    return protocol::http;
}

route_kind kind_of(protocol p) {
    switch (p) {
        case protocol::http:
            return route_kind::http;
        case protocol::http2:
            return route_kind::http2;
        case protocol::grpc:
            return route_kind::grpc;
        case protocol::tcp:
            return route_kind::tcp;
    }
    return route_kind::http;
}

std::string ref_name(const object_meta& m) {
    return m.ns.empty() ? m.name : fmt::format("{}/{}", m.ns, m.name);
}

template <typename Listener>
std::string port_list(const std::vector<Listener>& listeners) {
    std::vector<std::int64_t> ports;
    for (const auto& l : listeners) {
        if constexpr (std::is_same_v<Listener, port_mapping>) {
            ports.push_back(l.port);
        } else {
            ports.push_back(l.port_mapping.port);
        }
    }
    return fmt::format("{}", fmt::join(ports, ", "));
}

std::int64_t listener_port(const port_mapping& l) {
    return l.port;
}
std::int64_t listener_port(const node_listener& l) {
    return l.port_mapping.port;
}
std::int64_t listener_port(const gateway_listener& l) {
    return l.port_mapping.port;
}

template <typename Listener>
bool has_port(const std::vector<Listener>& listeners, std::int64_t port) {
    return std::any_of(listeners.begin(), listeners.end(),
                       [&](const Listener& l) { return listener_port(l) == port; });
}

/// True when `policy` decides TLS origination toward `port` (spec §10.7 step 2).
bool policy_applies(const std::optional<client_policy>& policy, std::int64_t port) {
    if (!policy || !policy->tls || !policy->tls->enforce) {
        return false;
    }
    const auto& ports = policy->tls->ports;
    return ports.empty() || std::find(ports.begin(), ports.end(), port) != ports.end();
}

class validator {
public:
    validator(const mesh_input& in, const mesh_index& index, const validate_options& opts,
              diagnostics& diags)
        : in_(in), index_(index), opts_(opts), diags_(diags) {}

    void run() {
        for (const auto& m : in_.meshes) {
            check_mesh(m);
        }
        for (const auto& vs : in_.virtual_services) {
            check_service(vs);
        }
        for (const auto& r : in_.virtual_routers) {
            check_router(r);
        }
        for (std::size_t i = 0; i < in_.virtual_nodes.size(); ++i) {
            check_node(i, in_.virtual_nodes[i]);
        }
        for (std::size_t i = 0; i < in_.virtual_gateways.size(); ++i) {
            check_gateway(i, in_.virtual_gateways[i]);
        }
        for (const auto& gr : in_.gateway_routes) {
            check_gateway_route(gr);
        }
    }

private:
    void error(const object_meta& m, const std::string& field, std::string message) {
        diags_.error(m, field, std::move(message));
    }
    void warning(const object_meta& m, const std::string& field, std::string message) {
        diags_.warning(m, field, std::move(message));
    }

    // ---- building blocks ----------------------------------------------------------------------

    void check_range(const object_meta& m, const std::string& path, std::string_view what,
                     std::int64_t v, std::int64_t lo, std::int64_t hi) {
        if (v < lo || v > hi) {
            error(m, path, fmt::format("{} {} is out of range {}-{}", what, v, lo, hi));
        }
    }

    void check_port(const object_meta& m, const std::string& path, std::int64_t port) {
        check_range(m, path, "port", port, 1, 65535);
    }

    /// Range check of a required field, skipped when the field is absent (the loader reported it).
    void check_given_range(const object_meta& m, const std::string& path, std::string_view what,
                           std::int64_t v, std::int64_t lo, std::int64_t hi) {
        if (has_field(m, path)) {
            check_range(m, path, what, v, lo, hi);
        }
    }

    void check_min(const object_meta& m, const std::string& path, std::string_view what,
                   std::int64_t v, std::int64_t lo) {
        if (has_field(m, path) && v < lo) {
            error(m, path, fmt::format("{} {} must be {} or more", what, v, lo));
        }
    }

    void check_duration(const object_meta& m, const std::string& path, const duration& d) {
        if (d.value < 0) {
            error(m, at(path, "value"),
                  fmt::format("duration value {} is negative; use 0 or more", d.value));
        }
    }

    void check_duration(const object_meta& m, const std::string& path,
                        const std::optional<duration>& d) {
        if (d) {
            check_duration(m, path, *d);
        }
    }

    void check_length(const object_meta& m, const std::string& path, std::string_view what,
                      const std::string& v, std::size_t lo, std::size_t hi) {
        if (v.size() < lo || v.size() > hi) {
            error(m, path,
                  fmt::format("{} must be {}-{} characters long (got {})", what, lo, hi, v.size()));
        }
    }

    void check_regex(const object_meta& m, const std::string& path, const std::string& pattern) {
        check_length(m, path, "regex", pattern, 1, max_value_len);
        if (pattern.empty()) {
            return;
        }
        const std::string err = regex_error(pattern);
        if (!err.empty()) {
            error(m, path, fmt::format("regex \"{}\" does not compile: {}", pattern, err));
        }
    }

    /// `base` is the path of the `match` block of one header or metadata entry.
    void check_string_match(const object_meta& m, const std::string& base, const string_match& sm) {
        if (sm.kinds_given > 1) {
            error(m, base,
                  fmt::format("exactly one of exact, prefix, suffix, regex, range is allowed ({} "
                              "given)",
                              sm.kinds_given));
            return;
        }
        switch (sm.kind) {
            case string_match::kind_t::present:
                break;
            case string_match::kind_t::exact:
                check_length(m, at(base, "exact"), "exact", sm.value, 1, max_value_len);
                break;
            case string_match::kind_t::prefix:
                check_length(m, at(base, "prefix"), "prefix", sm.value, 1, max_value_len);
                break;
            case string_match::kind_t::suffix:
                check_length(m, at(base, "suffix"), "suffix", sm.value, 1, max_value_len);
                break;
            case string_match::kind_t::regex:
                check_regex(m, at(base, "regex"), sm.value);
                break;
            case string_match::kind_t::range:
                if (sm.range_start >= sm.range_end) {
                    error(m, at(base, "range"),
                          fmt::format("range start {} must be less than end {} (end is exclusive)",
                                      sm.range_start, sm.range_end));
                }
                break;
        }
    }

    /// `match` is the path of the route's match block; `key` is `headers` or `metadata`.
    void check_headers(const object_meta& m, const std::string& match, std::string_view key,
                       const std::vector<header_match>& headers) {
        const std::string base = at(match, key);
        if (headers.size() > max_match_items) {
            error(m, base,
                  fmt::format("{} {} given; at most {} are allowed", headers.size(), key,
                              max_match_items));
        }
        for (std::size_t k = 0; k < headers.size(); ++k) {
            const auto& h = headers[k];
            const std::string item = at(match, key, k);
            if (h.name.empty() || h.name.size() > max_header_name_len) {
                error(m, at(item, "name"),
                      fmt::format("name must be 1-{} characters long (got {})",
                                  max_header_name_len, h.name.size()));
            } else if (h.name.find(':') != std::string::npos) {
                error(m, at(item, "name"),
                      fmt::format("name \"{}\" contains ':'; pseudo-headers cannot be matched",
                                  h.name));
            }
            check_string_match(m, at(item, "match"), h.match);
        }
    }

    void check_query(const object_meta& m, const std::string& match,
                     const std::vector<query_match>& query) {
        const std::string base = at(match, "queryParameters");
        if (query.size() > max_match_items) {
            error(m, base,
                  fmt::format("{} queryParameters given; at most {} are allowed", query.size(),
                              max_match_items));
        }
        for (std::size_t k = 0; k < query.size(); ++k) {
            const auto& q = query[k];
            const std::string item = at(match, "queryParameters", k);
            if (q.name.empty() && has_field(m, at(item, "name"))) {
                error(m, at(item, "name"), "name must not be empty");
            }
            if (q.match_block && !q.exact) {
                error(m, at(item, "match"),
                      "match needs exact (the only query parameter match); omit match to test "
                      "presence");
            }
        }
    }

    void check_method_scheme(const object_meta& m, const std::string& match,
                             const route_match& rm) {
        if (rm.method && !one_of(http_methods, *rm.method)) {
            error(m, at(match, "method"),
                  fmt::format("method \"{}\" is not allowed; use one of {}", *rm.method,
                              join(http_methods)));
        }
        if (rm.scheme && *rm.scheme != "http" && *rm.scheme != "https") {
            error(m, at(match, "scheme"),
                  fmt::format("scheme \"{}\" is not allowed; use http or https", *rm.scheme));
        }
    }

    /// The `path` block of http matches (router and gateway routes).
    void check_path_block(const object_meta& m, const std::string& match, const route_match& rm) {
        const std::string base = at(match, "path");
        const int kinds = (rm.path_exact ? 1 : 0) + (rm.path_regex ? 1 : 0);
        if (kinds != 1) {
            error(m, base,
                  kinds == 0 ? std::string("path needs one of exact or regex")
                             : std::string("path allows only one of exact or regex, not both"));
        }
        if (rm.path_exact) {
            check_length(m, at(base, "exact"), "path", *rm.path_exact, 1, max_value_len);
        }
        if (rm.path_regex) {
            check_regex(m, at(base, "regex"), *rm.path_regex);
        }
    }

    static bool has_path(const route_match& rm) {
        return rm.path_block || rm.path_exact || rm.path_regex;
    }

    void check_duration_block(const object_meta& m, const std::string& base,
                              const timeout_block& t) {
        check_duration(m, at(base, "perRequest"), t.per_request);
        check_duration(m, at(base, "idle"), t.idle);
    }

    // ---- TLS sources --------------------------------------------------------------------------

    aws_use aws_for_node(std::size_t node_index) const {
        if (opts_.gateway) {
            return aws_use::ignore;
        }
        if (!opts_.node) {
            return aws_use::warning;
        }
        return *opts_.node == node_index ? aws_use::error : aws_use::ignore;
    }

    aws_use aws_for_gateway(std::size_t gateway_index) const {
        if (opts_.gateway) {
            return *opts_.gateway == gateway_index ? aws_use::error : aws_use::ignore;
        }
        return opts_.node ? aws_use::ignore : aws_use::warning;
    }

    void report_aws(const object_meta& m, const std::string& path, aws_use use,
                    std::string message) {
        if (use == aws_use::error) {
            error(m, path, std::move(message));
        } else if (use == aws_use::warning) {
            warning(m, path, std::move(message) + " (an error when this node is run)");
        }
    }

    /// `base` is the path of the source block (`...tls.certificate`, `...validation.trust`).
    void check_source(const object_meta& m, const std::string& base, const tls_source& src,
                      source_role role, aws_use use) {
        const char* alternatives = role == source_role::server_cert ? "acm, file, sds"
                                   : role == source_role::client_cert ? "file, sds"
                                                                      : "acm, file, sds";
        if (src.kinds_given == 0) {
            error(m, base, fmt::format("one of {} is required", alternatives));
            return;
        }
        if (src.kinds_given > 1) {
            error(m, base,
                  fmt::format("exactly one of {} is allowed ({} given)", alternatives,
                              src.kinds_given));
            return;
        }
        const std::string file_alt = role == source_role::trust
                                         ? std::string("validation.trust.file.certificateChain")
                                         : std::string("certificate.file {certificateChain, "
                                                       "privateKey}");
        switch (src.kind) {
            case tls_source::kind_t::none:
                break;
            case tls_source::kind_t::file: {
                // Missing keys are reported by the loader (required scalars); empty ones here.
                const std::string chain = at(base, "file.certificateChain");
                const std::string key = at(base, "file.privateKey");
                if (src.certificate_chain.empty() && has_field(m, chain)) {
                    error(m, chain, "certificateChain must name a PEM file (it is empty)");
                }
                if (role != source_role::trust && src.private_key.empty() && has_field(m, key)) {
                    error(m, key, "privateKey must name a PEM file (it is empty)");
                }
                break;
            }
            case tls_source::kind_t::sds:
                report_aws(m, at(base, "sds.secretName"), use,
                           fmt::format("SDS secret \"{}\" needs an SDS agent; use {} instead",
                                       src.secret_name, file_alt));
                break;
            case tls_source::kind_t::acm: {
                const std::string arns = fmt::format("{}", fmt::join(src.acm_arns, ", "));
                if (role == source_role::trust) {
                    report_aws(m, at(base, "acm.certificateAuthorityARNs"), use,
                               fmt::format("ACM certificate authorities need AWS "
                                           "(certificateAuthorityARNs {}); use {} with a PEM CA "
                                           "bundle instead",
                                           arns, file_alt));
                } else {
                    report_aws(m, at(base, "acm.certificateARN"), use,
                               fmt::format("ACM certificates need AWS (certificateARN {}); use "
                                           "tls.{} with a PEM file instead",
                                           arns, file_alt));
                }
                break;
            }
        }
    }

    /// `base` is the path of the listener's `tls` block.
    void check_listener_tls(const object_meta& m, const std::string& base, const listener_tls& tls,
                            aws_use use) {
        // A missing mode is the loader's (required scalar); a bad one may come through as text.
        if (!tls.mode.empty() && !one_of(tls_modes, tls.mode)) {
            error(m, at(base, "mode"),
                  fmt::format("mode \"{}\" is not allowed; use STRICT, PERMISSIVE or DISABLED",
                              tls.mode));
        }
        if (tls.certificate.kinds_given == 0) {
            error(m, at(base, "certificate"),
                  "certificate is required (one of acm, file, sds), even with mode DISABLED");
        } else {
            check_source(m, at(base, "certificate"), tls.certificate, source_role::server_cert,
                         use);
        }
        if (tls.validation_trust) {
            const std::string trust = at(base, "validation.trust");
            if (tls.validation_trust->kind == tls_source::kind_t::acm &&
                tls.validation_trust->kinds_given == 1) {
                error(m, at(trust, "acm"),
                      "acm trust is not accepted on a listener; use file or sds");
            } else {
                check_source(m, trust, *tls.validation_trust, source_role::trust, use);
            }
        }
    }

    /// `base` is the path of the `clientPolicy` block.
    void check_client_policy(const object_meta& m, const std::string& base,
                             const client_policy& policy, aws_use use) {
        if (!policy.tls) {
            return;
        }
        const std::string tls = at(base, "tls");
        for (std::size_t k = 0; k < policy.tls->ports.size(); ++k) {
            check_port(m, at(tls, "ports", k), policy.tls->ports[k]);
        }
        if (policy.tls->certificate) {
            check_source(m, at(tls, "certificate"), *policy.tls->certificate,
                         source_role::client_cert, use);
        }
        const std::string trust = at(tls, "validation.trust");
        if (policy.tls->validation_trust.kinds_given == 0) {
            error(m, trust, "validation.trust is required (one of acm, file, sds)");
        } else {
            check_source(m, trust, policy.tls->validation_trust, source_role::trust, use);
        }
    }

    // ---- listener parts -----------------------------------------------------------------------

    void check_health_check(const object_meta& m, const std::string& base, const health_check& hc,
                            bool gateway) {
        const bool allowed =
            gateway ? (hc.protocol == "grpc" || hc.protocol == "http" || hc.protocol == "http2")
                    : one_of(health_protocols, hc.protocol);
        if (!hc.protocol.empty() && !allowed) {
            error(m, at(base, "protocol"),
                  fmt::format("protocol \"{}\" is not allowed; use {}", hc.protocol,
                              gateway ? "grpc, http or http2" : "grpc, http, http2 or tcp"));
        }
        if (hc.port) {
            check_port(m, at(base, "port"), *hc.port);
        }
        // App Mesh ignores the path of other protocols (API HealthCheckPolicy), and a walkthrough
        // sets one on a grpc check: a warning, not an error.
        if (hc.path && hc.protocol != "http" && hc.protocol != "http2") {
            warning(m, at(base, "path"),
                    fmt::format("path is ignored: only http and http2 health checks use it "
                                "(protocol is {})",
                                hc.protocol));
        }
        check_given_range(m, at(base, "intervalMillis"), "intervalMillis", hc.interval_ms, 5000,
                          300000);
        check_given_range(m, at(base, "timeoutMillis"), "timeoutMillis", hc.timeout_ms, 2000,
                          60000);
        check_given_range(m, at(base, "healthyThreshold"), "healthyThreshold",
                          hc.healthy_threshold, 2, 10);
        check_given_range(m, at(base, "unhealthyThreshold"), "unhealthyThreshold",
                          hc.unhealthy_threshold, 2, 10);
    }

    void check_outlier(const object_meta& m, const std::string& base, const outlier_detection& od) {
        check_min(m, at(base, "maxServerErrors"), "maxServerErrors", od.max_server_errors, 1);
        const auto check_positive = [&](const char* key, const duration& d) {
            const std::string path = at(base, key);
            if (!has_field(m, path)) {
                return;
            }
            if (d.value < 0) {
                check_duration(m, path, d);
            } else if (d.value == 0) {
                error(m, at(path, "value"),
                      fmt::format("{} of 0 is not allowed; use a positive duration", key));
            }
        };
        check_positive("interval", od.interval);
        check_positive("baseEjectionDuration", od.base_ejection_duration);
        check_given_range(m, at(base, "maxEjectionPercent"), "maxEjectionPercent",
                          od.max_ejection_percent, 0, 100);
    }

    void check_pool(const object_meta& m, const std::string& base, const connection_pool& pool,
                    protocol listener_proto) {
        if (pool.kinds_given > 1) {
            error(m, base,
                  fmt::format("only one connection pool kind is allowed per listener ({} given)",
                              pool.kinds_given));
            return;
        }
        if (pool.kind.empty()) {
            return;
        }
        const std::string kb = at(base, pool.kind);
        if (pool.kind != to_string(listener_proto)) {
            error(m, kb,
                  fmt::format("connectionPool.{} on a {} listener; the pool kind must match the "
                              "listener protocol (use connectionPool.{})",
                              pool.kind, to_string(listener_proto), to_string(listener_proto)));
        }
        if (pool.kind == "tcp" || pool.kind == "http") {
            check_min(m, at(kb, "maxConnections"), "maxConnections", pool.max_connections, 1);
        }
        if (pool.kind == "http" && pool.max_pending_requests) {
            check_min(m, at(kb, "maxPendingRequests"), "maxPendingRequests",
                      *pool.max_pending_requests, 1);
        }
        if (pool.kind == "http2" || pool.kind == "grpc") {
            check_min(m, at(kb, "maxRequests"), "maxRequests", pool.max_requests, 1);
        }
    }

    void check_logging(const object_meta& m, const std::optional<access_log>& log) {
        if (!log) {
            return;
        }
        const std::string base = "spec.logging.accessLog.file";
        if (has_field(m, at(base, "path"))) {
            check_length(m, at(base, "path"), "path", log->path, 1, max_value_len);
        }
        if (log->text_format && !log->json_format.empty()) {
            error(m, at(base, "format"), "format allows only one of text or json, not both");
        }
    }

    template <typename Listener>
    void check_duplicate_ports(const object_meta& m, const std::vector<Listener>& listeners) {
        for (std::size_t i = 0; i < listeners.size(); ++i) {
            for (std::size_t j = 0; j < i; ++j) {
                if (listener_port(listeners[i]) == listener_port(listeners[j])) {
                    error(m, fmt::format("spec.listeners[{}].portMapping.port", i),
                          fmt::format("port {} is already used by listeners[{}]",
                                      listener_port(listeners[i]), j));
                    break;
                }
            }
        }
    }

    // ---- objects ------------------------------------------------------------------------------

    void check_mesh(const mesh& m) {
        if (!m.ip_preference.empty() && m.ip_preference != "IPv4_ONLY" &&
            m.ip_preference != "IPv6_ONLY") {
            error(m.meta, "spec.meshServiceDiscovery.ipPreference",
                  fmt::format("ipPreference \"{}\" is not allowed; use IPv4_ONLY or IPv6_ONLY",
                              m.ip_preference));
        }
    }

    void check_service(const virtual_service& vs) {
        if (vs.providers_given > 1) {
            error(vs.meta, "spec.provider",
                  fmt::format("exactly one of virtualNode or virtualRouter is allowed ({} given)",
                              vs.providers_given));
        }
    }

    void check_router(const virtual_router& r) {
        const object_meta& m = r.meta;
        if (r.listeners.empty()) {
            error(m, "spec.listeners", "a virtual router needs at least one listener");
        }
        for (std::size_t i = 0; i < r.listeners.size(); ++i) {
            check_port(m, fmt::format("spec.listeners[{}].portMapping.port", i),
                       r.listeners[i].port);
        }
        check_duplicate_ports(m, r.listeners);
        for (std::size_t i = 0; i < r.routes.size(); ++i) {
            const route& rt = r.routes[i];
            for (std::size_t j = 0; j < i; ++j) {
                if (!rt.name.empty() && r.routes[j].name == rt.name) {
                    error(m, fmt::format("spec.routes[{}].name", i),
                          fmt::format("duplicate route name \"{}\" (also routes[{}]); route names "
                                      "must be unique within a router",
                                      rt.name, j));
                    break;
                }
            }
            check_route(r, rt, i);
        }
    }

    void check_route(const virtual_router& r, const route& rt, std::size_t i) {
        const object_meta& m = r.meta;
        const std::string rbase = fmt::format("spec.routes[{}]", i);
        if (rt.priority) {
            check_range(m, at(rbase, "priority"), "priority", *rt.priority, 0, 1000);
        }
        if (rt.kinds_given != 1) {
            error(m, rbase,
                  rt.kinds_given == 0
                      ? std::string("one of httpRoute, http2Route, grpcRoute, tcpRoute is required")
                      : fmt::format("exactly one of httpRoute, http2Route, grpcRoute, tcpRoute is "
                                    "allowed ({} given)",
                                    rt.kinds_given));
            return;
        }
        const std::string base = at(rbase, route_key(rt.kind));
        const std::string match = at(base, "match");
        const route_match& rm = rt.match;

        switch (rt.kind) {
            case route_kind::http:
            case route_kind::http2: {
                const int kinds = (rm.prefix ? 1 : 0) + (has_path(rm) ? 1 : 0);
                if (kinds == 0) {
                    error(m, match, "one of prefix or path is required");
                } else if (kinds == 2) {
                    error(m, match, "prefix and path cannot both be given; use one");
                }
                if (rm.prefix && (rm.prefix->empty() || rm.prefix->front() != '/')) {
                    error(m, at(match, "prefix"),
                          fmt::format("prefix \"{}\" must start with '/'", *rm.prefix));
                }
                if (has_path(rm)) {
                    check_path_block(m, match, rm);
                }
                check_method_scheme(m, match, rm);
                check_headers(m, match, "headers", rm.headers);
                check_query(m, match, rm.query);
                break;
            }
            case route_kind::grpc:
                if (rm.method_name) {
                    if (!rm.service_name) {
                        error(m, at(match, "methodName"), "methodName requires serviceName");
                    }
                    check_length(m, at(match, "methodName"), "methodName", *rm.method_name, 1,
                                 max_header_name_len);
                }
                check_headers(m, match, "metadata", rm.headers);
                break;
            case route_kind::tcp:
                break;
        }

        // Port and protocol against the router's listeners.
        if (rm.port) {
            check_port(m, at(match, "port"), *rm.port);
        }
        const port_mapping* listener = nullptr;
        if (rm.port) {
            for (const auto& l : r.listeners) {
                if (l.port == *rm.port) {
                    listener = &l;
                }
            }
            if (listener == nullptr && !r.listeners.empty()) {
                error(m, at(match, "port"),
                      fmt::format("port {} is not a listener port of this router (ports: {})",
                                  *rm.port, port_list(r.listeners)));
            }
        } else if (r.listeners.size() > 1) {
            error(m, at(match, "port"),
                  fmt::format("match.port is required: the router has {} listeners (ports: {})",
                              r.listeners.size(), port_list(r.listeners)));
        } else if (r.listeners.size() == 1) {
            listener = &r.listeners.front();
        }
        if (listener != nullptr && listener->proto != proto_of(rt.kind)) {
            error(m, base,
                  fmt::format("{} on a {} listener (port {}); the route kind must match the "
                              "router listener protocol",
                              route_key(rt.kind), to_string(listener->proto), listener->port));
        }

        check_targets(m, at(base, "action.weightedTargets"), rt.kind, rt.targets);

        if (rt.retry && rt.kind != route_kind::tcp) {
            check_retry(m, at(base, "retryPolicy"), rt.kind, *rt.retry);
        }
        check_duration_block(m, at(base, "timeout"), rt.timeout);
    }

    void check_targets(const object_meta& m, const std::string& base, route_kind kind,
                       const std::vector<weighted_target>& targets) {
        if (targets.empty()) {
            error(m, base, "at least one weighted target is required (1-10)");
            return;
        }
        if (targets.size() > max_targets) {
            error(m, base,
                  fmt::format("{} weighted targets given; at most {} are allowed", targets.size(),
                              max_targets));
        }
        std::int64_t sum = 0;
        for (std::size_t j = 0; j < targets.size(); ++j) {
            const weighted_target& t = targets[j];
            const std::string item = fmt::format("{}[{}]", base, j);
            check_range(m, at(item, "weight"), "weight", t.weight, 0, 100);
            if (t.weight > 0) {
                sum += t.weight;
            }
            if (t.port) {
                check_port(m, at(item, "port"), *t.port);
            }
            check_target_node(m, item, kind, t);
        }
        if (sum == 0) {
            error(m, base, "the weights sum to 0; at least one target needs a weight above 0");
        }
    }

    void check_target_node(const object_meta& m, const std::string& item, route_kind kind,
                           const weighted_target& t) {
        const virtual_node* node = index_.node(t.node);
        if (node == nullptr) {
            return;  // resolve reported the dangling reference
        }
        const std::string name = ref_name(node->meta);
        if (node->listeners.empty()) {
            error(m, item,
                  fmt::format("target node {} has no listeners; there is nothing to send to",
                              name));
            return;
        }
        const node_listener* listener = nullptr;
        if (t.port) {
            for (const auto& l : node->listeners) {
                if (l.port_mapping.port == *t.port) {
                    listener = &l;
                }
            }
            if (listener == nullptr) {
                error(m, at(item, "port"),
                      fmt::format("port {} is not a listener port of node {} (ports: {})", *t.port,
                                  name, port_list(node->listeners)));
                return;
            }
        } else if (node->listeners.size() > 1) {
            error(m, at(item, "port"),
                  fmt::format("target port is required: node {} has {} listeners (ports: {})",
                              name, node->listeners.size(), port_list(node->listeners)));
            return;
        } else {
            listener = &node->listeners.front();
        }
        if (listener->port_mapping.proto != proto_of(kind)) {
            error(m, item,
                  fmt::format("{} targets node {} whose listener on port {} is {}; the route kind "
                              "must match the target listener protocol",
                              route_key(kind), name, listener->port_mapping.port,
                              to_string(listener->port_mapping.proto)));
        }
    }

    void check_retry(const object_meta& m, const std::string& base, route_kind kind,
                     const retry_policy& rp) {
        if (rp.max_retries < 0) {
            error(m, at(base, "maxRetries"),
                  fmt::format("maxRetries {} must be 0 or more", rp.max_retries));
        }
        if (!rp.per_retry_timeout) {
            error(m, at(base, "perRetryTimeout"), "perRetryTimeout is required in a retry policy");
        } else {
            check_duration(m, at(base, "perRetryTimeout"), *rp.per_retry_timeout);
        }
        const bool grpc = kind == route_kind::grpc;
        if (rp.http_events.empty() && rp.tcp_events.empty() && rp.grpc_events.empty()) {
            error(m, base,
                  grpc ? "at least one of httpRetryEvents, tcpRetryEvents, grpcRetryEvents is "
                         "required"
                       : "at least one of httpRetryEvents or tcpRetryEvents is required");
        }
        if (rp.http_events.size() > 25) {
            error(m, at(base, "httpRetryEvents"),
                  fmt::format("{} httpRetryEvents given; at most 25 are allowed",
                              rp.http_events.size()));
        }
        for (std::size_t k = 0; k < rp.http_events.size(); ++k) {
            if (!one_of(http_retry_events, rp.http_events[k])) {
                error(m, at(base, "httpRetryEvents", k),
                      fmt::format("unknown http retry event \"{}\"; use {}", rp.http_events[k],
                                  join(http_retry_events)));
            }
        }
        if (!rp.tcp_events.empty() &&
            (rp.tcp_events.size() != 1 || rp.tcp_events.front() != "connection-error")) {
            error(m, at(base, "tcpRetryEvents"),
                  fmt::format("tcpRetryEvents must be exactly [connection-error] (got [{}])",
                              fmt::join(rp.tcp_events, ", ")));
        }
        if (rp.grpc_events.size() > grpc_retry_events.size()) {
            error(m, at(base, "grpcRetryEvents"),
                  fmt::format("{} grpcRetryEvents given; at most 5 are allowed",
                              rp.grpc_events.size()));
        }
        for (std::size_t k = 0; k < rp.grpc_events.size(); ++k) {
            if (!one_of(grpc_retry_events, rp.grpc_events[k])) {
                error(m, at(base, "grpcRetryEvents", k),
                      fmt::format("unknown grpc retry event \"{}\"; use {}", rp.grpc_events[k],
                                  join(grpc_retry_events)));
            }
        }
    }

    void check_node(std::size_t ni, const virtual_node& n) {
        const object_meta& m = n.meta;
        const aws_use use = aws_for_node(ni);
        for (std::size_t i = 0; i < n.listeners.size(); ++i) {
            const node_listener& l = n.listeners[i];
            const std::string base = fmt::format("spec.listeners[{}]", i);
            check_port(m, at(base, "portMapping.port"), l.port_mapping.port);
            if (l.tls) {
                check_listener_tls(m, at(base, "tls"), *l.tls, use);
            }
            if (l.health_check) {
                check_health_check(m, at(base, "healthCheck"), *l.health_check, false);
            }
            if (l.outlier_detection) {
                check_outlier(m, at(base, "outlierDetection"), *l.outlier_detection);
            }
            if (l.connection_pool) {
                check_pool(m, at(base, "connectionPool"), *l.connection_pool,
                           l.port_mapping.proto);
            }
            for (const auto& [proto, t] : l.timeouts) {
                check_duration_block(m, at(base, "timeout." + proto), t);
            }
        }
        check_duplicate_ports(m, n.listeners);

        const service_discovery& sd = n.service_discovery;
        if (sd.kinds_given > 1) {
            error(m, "spec.serviceDiscovery",
                  fmt::format("exactly one of dns or awsCloudMap is allowed ({} given)",
                              sd.kinds_given));
        } else if (sd.kinds_given == 0 && !n.listeners.empty()) {
            error(m, "spec.serviceDiscovery",
                  "serviceDiscovery is required when the node has listeners (dns or awsCloudMap)");
        }
        if (sd.kind == service_discovery::kind_t::cloud_map) {
            warning(m, "spec.serviceDiscovery.awsCloudMap",
                    fmt::format("Cloud Map needs AWS; resolved through DNS as {}.{}",
                                sd.service_name, sd.namespace_name));
        }

        for (std::size_t j = 0; j < n.backends.size(); ++j) {
            const backend& b = n.backends[j];
            const std::string base = fmt::format("spec.backends[{}].virtualService", j);
            // Backends added by BackendGroup expansion have no position of their own; only the
            // ones written in spec.backends are checked for duplicates (the webhook's rule).
            if (has_field(m, fmt::format("spec.backends[{}]", j))) {
                for (std::size_t k = 0; k < j; ++k) {
                    if (same_ref(n.backends[k].virtual_service, b.virtual_service)) {
                        error(m, base,
                              fmt::format("duplicate backend {} (also backends[{}])",
                                          describe(b.virtual_service), k));
                        break;
                    }
                }
            }
            if (b.client_policy) {
                check_client_policy(m, at(base, "clientPolicy"), *b.client_policy, use);
            }
        }
        if (n.backend_defaults) {
            check_client_policy(m, "spec.backendDefaults.clientPolicy", *n.backend_defaults, use);
        }
        check_logging(m, n.logging);

        if (!n.backends.empty() && !opts_.gateway && (!opts_.node || *opts_.node == ni)) {
            check_unverified_tls(n);
            check_tcp_ports(n);
        }
    }

    /// Spec §10.3: at L4 only the port names a destination, so one TCP backend per port. A second
    /// backend whose provider listens with protocol tcp on the same port is unreachable by port
    /// (transparent mode sends the port to the first); explicit `--tcp-listen` still reaches it.
    void check_tcp_ports(const virtual_node& n) {
        std::map<std::int64_t, std::size_t> owner;  // port -> backend index
        for (std::size_t j = 0; j < n.backends.size(); ++j) {
            const virtual_service* vs = index_.service(n.backends[j].virtual_service);
            if (vs == nullptr) {
                continue;
            }
            std::vector<std::int64_t> ports;
            if (vs->provider == virtual_service::provider_t::router) {
                if (const virtual_router* r = index_.router(vs->provider_ref)) {
                    for (const auto& l : r->listeners) {
                        if (l.proto == protocol::tcp) {
                            ports.push_back(l.port);
                        }
                    }
                }
            } else if (vs->provider == virtual_service::provider_t::node) {
                if (const virtual_node* tn = index_.node(vs->provider_ref)) {
                    for (const auto& l : tn->listeners) {
                        if (l.port_mapping.proto == protocol::tcp) {
                            ports.push_back(l.port_mapping.port);
                        }
                    }
                }
            }
            for (const std::int64_t p : ports) {
                const auto [it, first] = owner.emplace(p, j);
                if (first || it->second == j) {
                    continue;
                }
                const std::string explicit_path = fmt::format("spec.backends[{}]", j);
                const std::string path = has_field(n.meta, explicit_path)
                                             ? at(explicit_path, "virtualService")
                                             : std::string("spec.backendGroups");
                const virtual_service* first_vs = index_.service(n.backends[it->second].virtual_service);
                warning(n.meta, path,
                        fmt::format("virtual services {} and {} both listen with protocol tcp on "
                                    "port {}; a TCP connection names only its port, so in "
                                    "transparent mode port {} goes to {} (one TCP backend per "
                                    "port, as in App Mesh); --tcp-listen can still reach {}",
                                    first_vs != nullptr ? first_vs->aws_name : std::string("?"),
                                    vs->aws_name, p, p,
                                    first_vs != nullptr ? first_vs->aws_name : std::string("?"),
                                    vs->aws_name));
            }
        }
    }

    static bool same_ref(const object_ref& a, const object_ref& b) {
        if (!a.name.empty() || !b.name.empty()) {
            return a.name == b.name && a.ns == b.ns;
        }
        return a.arn == b.arn;
    }

    static std::string describe(const object_ref& r) {
        if (r.name.empty()) {
            return r.arn;
        }
        return r.ns.empty() ? r.name : fmt::format("{}/{}", r.ns, r.name);
    }

    /// DECISIONS §3.5: a target listener with file certificates and STRICT/PERMISSIVE mode,
    /// reached without an applicable client policy, gets TLS without server verification.
    void check_unverified_tls(const virtual_node& n) {
        for (std::size_t j = 0; j < n.backends.size(); ++j) {
            const backend& b = n.backends[j];
            const virtual_service* vs = index_.service(b.virtual_service);
            if (vs == nullptr) {
                continue;
            }
            const std::optional<client_policy>& policy =
                b.client_policy ? b.client_policy : n.backend_defaults;
            std::vector<std::pair<const virtual_node*, const node_listener*>> reached;
            collect_targets(*vs, reached);
            for (const auto& [tn, l] : reached) {
                if (!l->tls || (l->tls->mode != "STRICT" && l->tls->mode != "PERMISSIVE") ||
                    l->tls->certificate.kind != tls_source::kind_t::file ||
                    policy_applies(policy, l->port_mapping.port)) {
                    continue;
                }
                const std::string explicit_path = fmt::format("spec.backends[{}]", j);
                const std::string path = has_field(n.meta, explicit_path)
                                             ? at(explicit_path, "virtualService")
                                             : std::string("spec.backendGroups");
                warning(n.meta, path,
                        fmt::format("TLS to node {} port {} is originated without verifying the "
                                    "server certificate (its listener uses file certificates "
                                    "and no client policy applies), as App Mesh did; add "
                                    "clientPolicy.tls.validation to verify it",
                                    ref_name(tn->meta), l->port_mapping.port));
                break;
            }
        }
    }

    void collect_targets(const virtual_service& vs,
                         std::vector<std::pair<const virtual_node*, const node_listener*>>& out) {
        if (vs.provider == virtual_service::provider_t::node) {
            const virtual_node* tn = index_.node(vs.provider_ref);
            if (tn != nullptr) {
                for (const auto& l : tn->listeners) {
                    out.emplace_back(tn, &l);
                }
            }
            return;
        }
        if (vs.provider != virtual_service::provider_t::router) {
            return;
        }
        const virtual_router* r = index_.router(vs.provider_ref);
        if (r == nullptr) {
            return;
        }
        for (const auto& rt : r->routes) {
            for (const auto& t : rt.targets) {
                const virtual_node* tn = index_.node(t.node);
                if (tn == nullptr) {
                    continue;
                }
                for (const auto& l : tn->listeners) {
                    if (t.port ? l.port_mapping.port == *t.port : tn->listeners.size() == 1) {
                        out.emplace_back(tn, &l);
                    }
                }
            }
        }
    }

    void check_gateway(std::size_t index, const virtual_gateway& g) {
        const object_meta& m = g.meta;
        const aws_use use = aws_for_gateway(index);
        for (std::size_t i = 0; i < g.listeners.size(); ++i) {
            const gateway_listener& l = g.listeners[i];
            const std::string base = fmt::format("spec.listeners[{}]", i);
            check_port(m, at(base, "portMapping.port"), l.port_mapping.port);
            if (l.port_mapping.proto == protocol::tcp) {
                error(m, at(base, "portMapping.protocol"),
                      "tcp listeners are not allowed on a virtual gateway; use http, http2 or "
                      "grpc");
            }
            if (l.tls) {
                check_listener_tls(m, at(base, "tls"), *l.tls, use);
            }
            if (l.health_check) {
                check_health_check(m, at(base, "healthCheck"), *l.health_check, true);
            }
            if (l.connection_pool) {
                check_pool(m, at(base, "connectionPool"), *l.connection_pool,
                           l.port_mapping.proto);
            }
        }
        check_duplicate_ports(m, g.listeners);
        if (g.backend_defaults) {
            check_client_policy(m, "spec.backendDefaults.clientPolicy", *g.backend_defaults, use);
        }
        check_logging(m, g.logging);
    }

    void check_gateway_route(const gateway_route& gr) {
        const object_meta& m = gr.meta;
        if (gr.priority) {
            check_range(m, "spec.priority", "priority", *gr.priority, 0, 1000);
        }
        if (gr.kinds_given != 1) {
            error(m, "spec",
                  gr.kinds_given == 0
                      ? std::string("one of httpRoute, http2Route, grpcRoute is required")
                      : fmt::format("exactly one of httpRoute, http2Route, grpcRoute is allowed "
                                    "({} given)",
                                    gr.kinds_given));
            return;
        }
        const std::string base = at("spec", route_key(gr.kind));
        const std::string match = at(base, "match");
        const route_match& rm = gr.match;

        if (gr.kind == route_kind::grpc) {
            if (!rm.service_name && !rm.hostname_exact && !rm.hostname_suffix) {
                error(m, match, "at least one of serviceName or hostname is required");
            }
            if (rm.service_name &&
                (rm.service_name->rfind("aws.app-mesh", 0) == 0 ||
                 rm.service_name->rfind("aws.appmesh", 0) == 0)) {
                error(m, at(match, "serviceName"),
                      fmt::format("serviceName \"{}\" is reserved (aws.appmesh*, aws.app-mesh*)",
                                  *rm.service_name));
            }
            check_headers(m, match, "metadata", rm.headers);
        } else {
            const bool hostname = rm.hostname_exact || rm.hostname_suffix;
            if (rm.prefix && has_path(rm)) {
                error(m, match, "prefix and path cannot both be given; use one");
            } else if (!rm.prefix && !has_path(rm) && !hostname) {
                error(m, match, "at least one of prefix, path or hostname is required");
            }
            if (rm.prefix) {
                const std::string& p = *rm.prefix;
                if (p.empty() || p.front() != '/') {
                    error(m, at(match, "prefix"),
                          fmt::format("prefix \"{}\" must start with '/'", p));
                } else if (p.rfind("/aws-appmesh", 0) == 0 || p.rfind("/aws-app-mesh", 0) == 0) {
                    error(m, at(match, "prefix"),
                          fmt::format("prefix \"{}\" is reserved (/aws-appmesh*, /aws-app-mesh*)",
                                      p));
                }
            }
            if (has_path(rm)) {
                check_path_block(m, match, rm);
            }
            check_method_scheme(m, match, rm);
            check_headers(m, match, "headers", rm.headers);
            check_query(m, match, rm.query);
        }
        check_hostname(m, at(match, "hostname"), rm);

        if (rm.port) {
            check_port(m, at(match, "port"), *rm.port);
        }
        if (const virtual_gateway* g = check_membership(gr); g != nullptr) {
            if (rm.port && !g->listeners.empty() && !has_port(g->listeners, *rm.port)) {
                error(m, at(match, "port"),
                      fmt::format("port {} is not a listener port of gateway {} (ports: {})",
                                  *rm.port, ref_name(g->meta), port_list(g->listeners)));
            } else if (!rm.port && g->listeners.size() > 1) {
                error(m, at(match, "port"),
                      fmt::format("match.port is required: gateway {} has {} listeners (ports: "
                                  "{})",
                                  ref_name(g->meta), g->listeners.size(),
                                  port_list(g->listeners)));
            } else {
                check_route_protocol(gr, *g, base);
            }
        }

        check_gateway_target(gr, at(base, "action.target"));
        check_rewrite(gr, at(base, "action.rewrite"));
    }

    /// The controller's rule (spec §9): a GatewayRoute belongs to exactly one VirtualGateway, of
    /// its own mesh. Returns that gateway, or null (with the error reported).
    const virtual_gateway* check_membership(const gateway_route& gr) {
        const object_meta& m = gr.meta;
        const gateway_membership gm = gateway_of(in_, index_, gr);
        if (gm.by_ref) {
            if (gm.gateway == nullptr) {
                const object_ref& r = *gr.virtual_gateway_ref;
                std::vector<std::string> names;
                for (const auto& g : in_.virtual_gateways) {
                    names.push_back(ref_name(g.meta));
                }
                error(m, "spec.virtualGatewayRef.name",
                      fmt::format("virtualGatewayRef names VirtualGateway {}/{}, which is not in "
                                  "the input (gateways: {})",
                                  r.ns, r.name,
                                  names.empty() ? std::string("none")
                                                : fmt::format("{}", fmt::join(names, ", "))));
                return nullptr;
            }
        } else if (gm.candidates.empty()) {
            std::vector<std::string> why;
            for (const auto& g : in_.virtual_gateways) {
                why.push_back(fmt::format("{}: {}", ref_name(g.meta),
                                          why_not_selected(in_, g, gr)));
            }
            error(m, "metadata.namespace",
                  in_.virtual_gateways.empty()
                      ? std::string("no VirtualGateway selects this GatewayRoute: the input "
                                    "defines no VirtualGateway")
                      : fmt::format("no VirtualGateway selects this GatewayRoute; a GatewayRoute "
                                    "must belong to exactly one ({})",
                                    fmt::join(why, "; ")));
            return nullptr;
        } else if (gm.candidates.size() > 1) {
            std::vector<std::string> names;
            for (const auto* g : gm.candidates) {
                names.push_back(ref_name(g->meta));
            }
            error(m, "metadata.namespace",
                  fmt::format("{} VirtualGateways select this GatewayRoute ({}); a GatewayRoute "
                              "must belong to exactly one: narrow their namespaceSelector or "
                              "gatewayRouteSelector{}, or set spec.virtualGatewayRef",
                              names.size(), fmt::join(names, ", "),
                              gm.namespace_labels_known
                                  ? std::string()
                                  : fmt::format(" (namespace \"{}\" has no Namespace document, "
                                                "so its labels are unknown and every "
                                                "namespaceSelector is taken to match it)",
                                                m.ns)));
            return nullptr;
        }
        const virtual_gateway* g = gm.gateway;
        if (g->meta.mesh_ref && m.mesh_ref && *g->meta.mesh_ref != *m.mesh_ref) {
            error(m, gm.by_ref ? "spec.virtualGatewayRef.name" : "metadata.namespace",
                  fmt::format("the route belongs to mesh \"{}\", but its VirtualGateway {} to mesh "
                              "\"{}\"",
                              *m.mesh_ref, ref_name(g->meta), *g->meta.mesh_ref));
            return nullptr;
        }
        return g;
    }

    /// App Mesh's rule that a route's kind is its listener's protocol (spec §9): an httpRoute on
    /// an http listener, http2Route on http2, grpcRoute on grpc.
    void check_route_protocol(const gateway_route& gr, const virtual_gateway& g,
                              const std::string& base) {
        const gateway_listener* l = nullptr;
        for (const auto& x : g.listeners) {
            if (gr.match.port ? x.port_mapping.port == *gr.match.port : g.listeners.size() == 1) {
                l = &x;
            }
        }
        if (l == nullptr || l->port_mapping.proto == proto_of(gr.kind)) {
            return;
        }
        error(gr.meta, base,
              fmt::format("a {} on gateway {} listener {} ({}) never matches: the route kind must "
                          "be the listener's protocol ({})",
                          route_key(gr.kind), ref_name(g.meta), l->port_mapping.port,
                          to_string(l->port_mapping.proto),
                          route_key(kind_of(l->port_mapping.proto))));
    }

    void check_hostname(const object_meta& m, const std::string& base, const route_match& rm) {
        if (rm.hostname_exact && rm.hostname_suffix) {
            error(m, base, "hostname allows only one of exact or suffix, not both");
        }
        if (rm.hostname_exact) {
            check_length(m, at(base, "exact"), "hostname", *rm.hostname_exact, 1,
                         max_hostname_len);
        }
        if (rm.hostname_suffix) {
            check_length(m, at(base, "suffix"), "hostname suffix", *rm.hostname_suffix, 1,
                         max_hostname_len);
        }
    }

    void check_gateway_target(const gateway_route& gr, const std::string& base) {
        const object_meta& m = gr.meta;
        const std::string port_path = at(base, "port");
        if (gr.target_port) {
            check_port(m, port_path, *gr.target_port);
        }
        const virtual_service* vs = index_.service(gr.target_service);
        if (vs == nullptr) {
            return;
        }
        std::vector<std::int64_t> ports;
        std::string provider;
        if (vs->provider == virtual_service::provider_t::node) {
            const virtual_node* n = index_.node(vs->provider_ref);
            if (n == nullptr) {
                return;
            }
            provider = "node " + ref_name(n->meta);
            for (const auto& l : n->listeners) {
                ports.push_back(l.port_mapping.port);
            }
        } else if (vs->provider == virtual_service::provider_t::router) {
            const virtual_router* r = index_.router(vs->provider_ref);
            if (r == nullptr) {
                return;
            }
            provider = "router " + ref_name(r->meta);
            for (const auto& l : r->listeners) {
                ports.push_back(l.port);
            }
        } else {
            return;
        }
        if (ports.empty()) {
            return;
        }
        if (gr.target_port) {
            if (std::find(ports.begin(), ports.end(), *gr.target_port) == ports.end()) {
                error(m, port_path,
                      fmt::format("port {} is not a listener port of the target's provider {} "
                                  "(ports: {})",
                                  *gr.target_port, provider, fmt::join(ports, ", ")));
            }
        } else if (ports.size() > 1) {
            error(m, port_path,
                  fmt::format("target port is required: the target's provider {} has {} listeners "
                              "(ports: {})",
                              provider, ports.size(), fmt::join(ports, ", ")));
        }
    }

    void check_rewrite(const gateway_route& gr, const std::string& base) {
        const object_meta& m = gr.meta;
        const bool prefix = gr.rewrite_default_prefix || gr.rewrite_prefix_value ||
                            has_field(m, at(base, "prefix"));
        const bool path = gr.rewrite_path_exact.has_value() || has_field(m, at(base, "path"));
        const bool hostname = gr.rewrite_default_target_hostname.has_value() ||
                              has_field(m, at(base, "hostname"));
        if (gr.rewrite_block && !prefix && !path && !hostname) {
            error(m, base, "rewrite needs at least one of prefix, path or hostname");
        }
        if (gr.rewrite_prefix_value) {
            const std::string& v = *gr.rewrite_prefix_value;
            const std::string vpath = at(base, "prefix.value");
            check_length(m, vpath, "prefix value", v, 1, max_value_len);
            if (!v.empty() && (v.front() != '/' || v.back() != '/')) {
                error(m, vpath, fmt::format("prefix value \"{}\" must start and end with '/'", v));
            }
            if (gr.rewrite_default_prefix) {
                error(m, at(base, "prefix"),
                      "prefix allows only one of defaultPrefix or value, not both");
            }
        }
        if (gr.rewrite_path_exact) {
            const std::string& v = *gr.rewrite_path_exact;
            check_length(m, at(base, "path.exact"), "path", v, 1, max_value_len);
            if (!v.empty() && v.front() != '/') {
                error(m, at(base, "path.exact"),
                      fmt::format("path \"{}\" must start with '/'", v));
            }
        }
        // A prefix rewrite replaces the matched prefix: a path match has none (docs/gateway.md).
        if (has_path(gr.match) && gr.rewrite_prefix_value) {
            error(m, at(base, "prefix.value"),
                  "a prefix rewrite needs a prefix match (the route matches a path); use "
                  "rewrite.path.exact to replace the path");
        } else if (has_path(gr.match) && gr.rewrite_default_prefix) {
            warning(m, at(base, "prefix.defaultPrefix"),
                    "defaultPrefix is ignored: the route matches a path, not a prefix (a path "
                    "match is never rewritten unless rewrite.path.exact is given)");
        }
        if (path && prefix) {
            error(m, at(base, "path"), "a path rewrite cannot be combined with a prefix rewrite");
        }
    }

    const mesh_input& in_;
    const mesh_index& index_;
    const validate_options& opts_;
    diagnostics& diags_;
};

}  // namespace

void validate(const mesh_input& in, const mesh_index& index, const validate_options& opts,
              diagnostics& diags) {
    validator v(in, index, opts, diags);
    v.run();
}

}  // namespace outrigger::routing
