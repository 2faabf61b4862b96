// The pure retry decision (proxy/retry_policy) as a table: every event bit against every outcome.
#include <catch2/catch.hpp>

#include "proxy/retry_policy.hpp"

using namespace outrigger;
using proxy::attempt_outcome;
using proxy::retry_state;
using ev = routing::retry_spec;

namespace {

routing::retry_spec spec(std::uint32_t events, std::uint32_t max_retries = 2, bool is_default = false) {
    routing::retry_spec s;
    s.events = events;
    s.max_retries = max_retries;
    s.present = true;
    s.is_default = is_default;
    return s;
}

attempt_outcome status(unsigned s) { return {attempt_outcome::kind_t::response, s}; }
const attempt_outcome connect_error{attempt_outcome::kind_t::connect_error, 0};
const attempt_outcome reset{attempt_outcome::kind_t::reset, 0};
const attempt_outcome per_try{attempt_outcome::kind_t::per_try_timeout, 0};

}  // namespace

TEST_CASE("retry table: events x outcomes", "[retry][unit]") {
    struct row {
        std::uint32_t events;
        attempt_outcome outcome;
        bool expected;
    };
    const row rows[] = {
        // server-error: 500-508, 510, 511 and no response
        {ev::server_error, status(500), true},  {ev::server_error, status(503), true},
        {ev::server_error, status(508), true},  {ev::server_error, status(509), false},
        {ev::server_error, status(510), true},  {ev::server_error, status(511), true},
        {ev::server_error, status(409), false}, {ev::server_error, status(200), false},
        {ev::server_error, reset, true},        {ev::server_error, per_try, true},
        {ev::server_error, connect_error, true},
        // gateway-error: 502-504 and no response
        {ev::gateway_error, status(500), false}, {ev::gateway_error, status(502), true},
        {ev::gateway_error, status(503), true},  {ev::gateway_error, status(504), true},
        {ev::gateway_error, reset, true},        {ev::gateway_error, per_try, true},
        {ev::gateway_error, connect_error, true},
        // client-error: 409 only
        {ev::client_error, status(409), true},  {ev::client_error, status(400), false},
        {ev::client_error, status(503), false}, {ev::client_error, reset, false},
        {ev::client_error, connect_error, false},
        // connection-error: connect failure only
        {ev::connection_error, connect_error, true}, {ev::connection_error, reset, false},
        {ev::connection_error, status(503), false},  {ev::connection_error, per_try, false},
        // default policy bits: 503 + reset
        {ev::status_503 | ev::reset, status(503), true}, {ev::status_503 | ev::reset, status(502), false},
        {ev::status_503 | ev::reset, reset, true},       {ev::status_503 | ev::reset, connect_error, true},
        {ev::status_503, status(500), false},
        // stream-error alone never matches HTTP/1.1 outcomes
        {ev::stream_error, status(503), false}, {ev::stream_error, reset, false},
        {0, status(503), false}, {0, connect_error, false},
    };
    for (const auto& r : rows) {
        const auto s = spec(r.events);
        INFO("events=" << r.events << " kind=" << static_cast<int>(r.outcome.kind)
                       << " status=" << r.outcome.status);
        CHECK(proxy::should_retry(&s, r.outcome, retry_state{}) == r.expected);
    }
}

TEST_CASE("retry table: the default policy retries connect failures", "[retry][unit]") {
    const auto s = spec(ev::status_503, 2, /*is_default=*/true);
    CHECK(proxy::should_retry(&s, connect_error, retry_state{}));
}

TEST_CASE("retry table: budget and downstream bytes and unbuffered bodies stop retries", "[retry][unit]") {
    const auto s = spec(ev::server_error, 2);
    CHECK(proxy::should_retry(&s, status(503), retry_state{0, false, true}));
    CHECK(proxy::should_retry(&s, status(503), retry_state{1, false, true}));
    CHECK_FALSE(proxy::should_retry(&s, status(503), retry_state{2, false, true}));
    CHECK_FALSE(proxy::should_retry(&s, status(503), retry_state{0, true, true}));
    CHECK_FALSE(proxy::should_retry(&s, status(503), retry_state{0, false, false}));
    CHECK_FALSE(proxy::should_retry(nullptr, status(503), retry_state{}));
    auto absent = s;
    absent.present = false;
    CHECK_FALSE(proxy::should_retry(&absent, status(503), retry_state{}));
    const auto zero = spec(ev::server_error, 0);
    CHECK_FALSE(proxy::should_retry(&zero, status(503), retry_state{}));
}
