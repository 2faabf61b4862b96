#include "routing/snapshot.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "routing/config_error.hpp"

namespace outrigger::routing {

namespace {

constexpr char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) {
            return false;
        }
    }
    return true;
}

/// Lower-cases `host` into `buf` and drops one trailing dot; empty view when it does not fit.
std::string_view lower_host(std::string_view host, std::array<char, 256>& buf) {
    if (!host.empty() && host.back() == '.') {
        host.remove_suffix(1);
    }
    if (host.size() > buf.size()) {
        return {};
    }
    for (std::size_t i = 0; i < host.size(); ++i) {
        buf[i] = ascii_lower(host[i]);
    }
    return {buf.data(), host.size()};
}

}  // namespace

// Header and query matching, shared with gateway routes (declared in snapshot.hpp).

std::optional<std::string_view> header_value(const request_view& req, std::string_view name_lower,
                                             std::string& joined) {
    std::optional<std::string_view> first;
    bool repeated = false;
    for (const auto& h : req.headers) {
        if (!iequals(h.name, name_lower)) {
            continue;
        }
        if (!first) {
            first = h.value;
        } else {
            if (!repeated) {
                joined.assign(*first);
                repeated = true;
            }
            joined.append(",").append(h.value);
        }
    }
    if (repeated) {
        return std::string_view(joined);
    }
    return first;
}

std::optional<std::string_view> query_value(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        auto eq = pair.find('=');
        std::string_view key = pair.substr(0, eq);
        if (key == name) {
            return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        }
    }
    return std::nullopt;
}

bool header_matches(const compiled_header_match& m, std::optional<std::string_view> value) {
    bool result = false;
    if (value) {
        const std::string_view v = *value;
        switch (m.kind) {
            case string_match::kind_t::present: result = true; break;
            case string_match::kind_t::exact: result = v == m.value; break;
            case string_match::kind_t::prefix: result = v.starts_with(m.value); break;
            case string_match::kind_t::suffix: result = v.ends_with(m.value); break;
            case string_match::kind_t::regex: result = m.regex.full_match(v); break;
            case string_match::kind_t::range: {
                std::int64_t n = 0;
                result = parse_int64(v, n) && n >= m.range_start && n < m.range_end;
                break;
            }
        }
    }
    return m.invert ? !result : result;
}

std::string describe(const compiled_header_match& m) {
    std::string test;
    switch (m.kind) {
        case string_match::kind_t::present: test = "is present"; break;
        case string_match::kind_t::exact: test = fmt::format("equals \"{}\"", m.value); break;
        case string_match::kind_t::prefix: test = fmt::format("starts with \"{}\"", m.value); break;
        case string_match::kind_t::suffix: test = fmt::format("ends with \"{}\"", m.value); break;
        case string_match::kind_t::regex: test = fmt::format("matches /{}/", m.value); break;
        case string_match::kind_t::range:
            test = fmt::format("is an integer in [{}, {})", m.range_start, m.range_end);
            break;
    }
    return fmt::format("header {} {}{}", m.name_lower, m.invert ? "NOT (" : "", test) +
           (m.invert ? ")" : "");
}

namespace {

/// Evaluates one route; on failure writes the first failing condition into `why` (if non-null).
bool route_matches(const compiled_route& r, const request_view& req, std::uint16_t port,
                   std::string* why, std::string& scratch) {
    if (r.port && *r.port != port) {
        if (why) *why = fmt::format("port {} is not {}", port, *r.port);
        return false;
    }
    switch (r.path_type) {
        case compiled_route::path_kind::prefix:
            if (!req.path.starts_with(r.path_value)) {
                if (why) *why = fmt::format("path {} does not start with {}", req.path, r.path_value);
                return false;
            }
            break;
        case compiled_route::path_kind::exact:
            if (req.path != r.path_value) {
                if (why) *why = fmt::format("path {} is not {}", req.path, r.path_value);
                return false;
            }
            break;
        case compiled_route::path_kind::regex:
            if (!r.path_regex.full_match(req.path)) {
                if (why) *why = fmt::format("path {} does not match /{}/", req.path, r.path_value);
                return false;
            }
            break;
    }
    if (r.method && req.method != *r.method) {
        if (why) *why = fmt::format("method {} is not {}", req.method, *r.method);
        return false;
    }
    if (r.scheme && !iequals(req.scheme, *r.scheme)) {
        if (why) *why = fmt::format("scheme {} is not {}", req.scheme, *r.scheme);
        return false;
    }
    for (const auto& h : r.headers) {
        if (!header_matches(h, header_value(req, h.name_lower, scratch))) {
            if (why) *why = fmt::format("{}: false", describe(h));
            return false;
        }
    }
    for (const auto& q : r.query) {
        auto v = query_value(req.query, q.name);
        if (!v) {
            if (why) *why = fmt::format("query parameter {} is absent", q.name);
            return false;
        }
        if (q.exact && *v != *q.exact) {
            if (why) *why = fmt::format("query parameter {}={} is not \"{}\"", q.name, *v, *q.exact);
            return false;
        }
    }
    return true;
}

}  // namespace

std::string canonical_host(std::string_view host) {
    std::string out(host);
    for (auto& c : out) {
        c = ascii_lower(c);
    }
    if (!out.empty() && out.back() == '.') {
        out.pop_back();
    }
    return out;
}

const service_entry* snapshot::find_service(std::string_view host) const {
    std::array<char, 256> buf{};
    const std::string_view key = lower_host(host, buf);
    if (key.empty()) {
        return nullptr;
    }
    if (host_table.empty()) {
        return nullptr;
    }
    const std::uint64_t h = hash_host(key);
    const std::size_t mask = host_table.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
        const host_slot& slot = host_table[i];
        if (!slot.used) {
            return nullptr;
        }
        if (slot.hash == h && services[slot.service].key == key) {
            return &services[slot.service];
        }
    }
}

std::uint64_t snapshot::hash_host(std::string_view lower_host) {
    // FNV-1a: short keys, no allocation, good enough spread for linear probing.
    std::uint64_t h = 14695981039346656037ull;
    for (const char c : lower_host) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

void snapshot::index_hosts() {
    std::size_t size = 16;
    while (size < services.size() * 2) {
        size *= 2;
    }
    host_table.assign(size, host_slot{});
    const std::size_t mask = size - 1;
    for (std::uint32_t s = 0; s < services.size(); ++s) {
        const std::uint64_t h = hash_host(services[s].key);
        std::size_t i = h & mask;
        while (host_table[i].used) {
            i = (i + 1) & mask;
        }
        host_table[i] = host_slot{h, s, true};
    }
}

const ingress_listener* snapshot::find_ingress(std::uint16_t port) const {
    for (const auto& l : ingress) {
        if (l.port == port) {
            return &l;
        }
    }
    return nullptr;
}

bool snapshot::egress_allowed(std::string_view host) const {
    if (allow_all_egress) {
        return true;
    }
    std::array<char, 256> buf{};
    const std::string_view h = lower_host(host, buf);
    if (h.empty()) {
        return false;
    }
    for (const auto& p : egress_allow) {
        if (p.starts_with("*.")) {
            const std::string_view suffix = std::string_view(p).substr(1);  // ".example.com"
            if (h.size() > suffix.size() && h.ends_with(suffix)) {
                return true;
            }
        } else if (h == p) {
            return true;
        }
    }
    return false;
}

std::string snapshot::closest_service(std::string_view host) const {
    const std::string h = canonical_host(host);
    // A short name (`checkout`, `checkout.shop`) of a longer awsName
    // (`checkout.shop.svc.cluster.local`) is the commonest miss: App Mesh never matched it.
    for (const auto& name : all_service_names) {
        if (name.size() > h.size() && name[h.size()] == '.' && canonical_host(name).starts_with(h)) {
            return name;
        }
    }
    return closest(h, all_service_names);
}

std::size_t pick_weighted(std::span<const std::uint64_t> cumulative, std::uint64_t total,
                          std::uint32_t random) {
    // Scale the 32-bit random value onto [0, total) without modulo bias worth mentioning
    // (total ≤ 1000 here).
    const std::uint64_t point = (static_cast<std::uint64_t>(random) * total) >> 32;
    auto it = std::upper_bound(cumulative.begin(), cumulative.end(), point);
    if (it == cumulative.end()) {
        return cumulative.size() - 1;
    }
    return static_cast<std::size_t>(it - cumulative.begin());
}

void normalize_path(std::string_view path, std::string& out) {
    out.clear();
    // Fast path: nothing to remove or merge.
    if (path.starts_with('/') && path.find("//") == std::string_view::npos &&
        path.find("/.") == std::string_view::npos) {
        out.assign(path);
        return;
    }
    // RFC 3986 §5.2.4 remove_dot_segments, with runs of '/' merged (Envoy merge_slashes).
    out.reserve(path.size() + 1);
    bool trailing_slash = false;
    std::size_t i = 0;
    for (;;) {
        std::size_t end = path.find('/', i);
        const bool last = end == std::string_view::npos;
        if (last) {
            end = path.size();
        }
        const std::string_view seg = path.substr(i, end - i);
        if (seg.empty() || seg == ".") {
            trailing_slash = last;
        } else if (seg == "..") {
            const auto pos = out.rfind('/');
            out.resize(pos == std::string::npos ? 0 : pos);
            trailing_slash = last;
        } else {
            out.push_back('/');
            out.append(seg);
            trailing_slash = false;
        }
        if (last) {
            break;
        }
        i = end + 1;
    }
    if (out.empty() || trailing_slash) {
        out.push_back('/');
    }
}

route_decision decide(const snapshot& snap, const request_view& req, std::uint32_t random,
                      std::vector<route_trace_entry>* trace) {
    route_decision d;
    d.service = snap.find_service(req.host);
    if (d.service == nullptr) {
        d.outcome = route_decision::outcome_t::unmodelled;
        return d;
    }
    const auto& ports = d.service->ports;
    if (req.port) {
        for (const auto& p : ports) {
            if (p.port == *req.port) {
                d.port = &p;
                break;
            }
        }
        if (d.port == nullptr) {
            d.outcome = route_decision::outcome_t::wrong_port;
            return d;
        }
    } else if (ports.size() == 1) {
        d.port = &ports.front();
    } else {
        d.outcome = ports.empty() ? route_decision::outcome_t::no_provider
                                  : route_decision::outcome_t::ambiguous_port;
        return d;
    }
    switch (d.service->provider) {
        case service_entry::provider_t::none:
            d.outcome = route_decision::outcome_t::no_provider;
            return d;
        case service_entry::provider_t::node:
            d.target = &snap.targets[*d.port->node_target];
            d.retry = &d.port->node_retry;
            d.per_request_timeout = d.port->node_timeout;
            d.outcome = route_decision::outcome_t::routed;
            return d;
        case service_entry::provider_t::router:
            break;
    }
    std::string scratch;
    for (const std::uint32_t id : d.port->route_ids) {
        const compiled_route& r = snap.routes[id];
        std::string why;
        const bool ok = route_matches(r, req, d.port->port, trace ? &why : nullptr, scratch);
        if (trace) {
            trace->push_back(route_trace_entry{&r, ok, std::move(why)});
        }
        if (!ok) {
            continue;
        }
        d.route = &r;
        const std::size_t i = pick_weighted(r.cumulative, r.total_weight, random);
        d.target = &snap.targets[r.target_ids[i]];
        d.retry = &r.retry;
        d.per_request_timeout = r.per_request_timeout;
        d.outcome = route_decision::outcome_t::routed;
        return d;
    }
    d.outcome = route_decision::outcome_t::no_route;
    return d;
}

}  // namespace outrigger::routing
