#include "proxy/retry_policy.hpp"

#include <algorithm>

namespace outrigger::proxy {

bool is_server_error_status(unsigned status) noexcept {
    return (status >= 500 && status <= 508) || status == 510 || status == 511;
}

bool should_retry(const routing::retry_spec* spec, attempt_outcome outcome,
                  const retry_state& state) noexcept {
    using ev = routing::retry_spec;
    if (spec == nullptr || !spec->present) {
        return false;
    }
    if (state.response_started || !state.request_replayable) {
        return false;
    }
    if (state.retries_done >= spec->max_retries) {
        return false;
    }
    const std::uint32_t e = spec->events;
    // "No response at all" is covered by server-error, gateway-error and Envoy's reset.
    const std::uint32_t no_response_events = ev::server_error | ev::gateway_error | ev::reset;
    switch (outcome.kind) {
    case attempt_outcome::kind_t::connect_error:
        // Nothing was sent, so this is always safe; the default policy covers it explicitly
        // (DECISIONS §3.9) even when its bits only say "503 + reset".
        return (e & (no_response_events | ev::connection_error)) != 0 || spec->is_default;
    case attempt_outcome::kind_t::reset:
    case attempt_outcome::kind_t::per_try_timeout:
        return (e & no_response_events) != 0;
    case attempt_outcome::kind_t::response: {
        const unsigned s = outcome.status;
        if ((e & ev::server_error) != 0 && is_server_error_status(s)) {
            return true;
        }
        if ((e & ev::gateway_error) != 0 && (s == 502 || s == 503 || s == 504)) {
            return true;
        }
        if ((e & ev::status_503) != 0 && s == 503) {
            return true;
        }
        if ((e & ev::client_error) != 0 && s == 409) {
            return true;
        }
        switch (outcome.grpc_status) {
        case 1:
            return (e & ev::grpc_cancelled) != 0;
        case 4:
            return (e & ev::grpc_deadline_exceeded) != 0;
        case 8:
            return (e & ev::grpc_resource_exhausted) != 0;
        case 13:
            return (e & ev::grpc_internal) != 0;
        case 14:
            return (e & ev::grpc_unavailable) != 0;
        default:
            return false;
        }
    }
    }
    return false;
}

std::chrono::milliseconds retry_backoff(std::uint32_t retries_done, std::uint64_t random) noexcept {
    constexpr std::uint64_t base_ms = 25;
    constexpr std::uint64_t cap_ms = 250;
    const std::uint32_t n = retries_done == 0 ? 0 : retries_done - 1;
    const std::uint64_t window = n >= 4 ? cap_ms : std::min(cap_ms, base_ms << n);
    return std::chrono::milliseconds(random % window);
}

}  // namespace outrigger::proxy
