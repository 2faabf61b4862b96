// Pure pieces of the resilience path, table-tested: retry backoff windows, endpoint choice,
// outlier detection with an injected clock.
#include <catch2/catch.hpp>

#include "proxy/endpoint_select.hpp"
#include "proxy/outlier_detector.hpp"
#include "proxy/retry_policy.hpp"

using namespace outrigger::proxy;
using namespace std::chrono_literals;

TEST_CASE("retry backoff is jittered exponential with base 25 ms and cap 250 ms", "[unit][retry]") {
    const struct {
        std::uint32_t retry;
        long window_ms;
    } rows[] = {{1, 25}, {2, 50}, {3, 100}, {4, 200}, {5, 250}, {6, 250}, {40, 250}};
    for (const auto& row : rows) {
        CAPTURE(row.retry);
        long max_seen = 0;
        for (std::uint64_t r = 0; r < 1000; ++r) {
            const auto ms = retry_backoff(row.retry, r * 7919).count();
            CHECK(ms >= 0);
            CHECK(ms < row.window_ms);
            max_seen = std::max<long>(max_seen, ms);
        }
        CHECK(max_seen == row.window_ms - 1);  // the whole window is reachable
    }
}

TEST_CASE("select_endpoint skips unusable endpoints and prefers untried ones", "[unit][endpoints]") {
    const auto all = [](std::size_t) { return true; };
    const auto none = [](std::size_t) { return false; };
    CHECK(select_endpoint(3, 1, all, none) == std::optional<std::size_t>(1));
    CHECK(select_endpoint(3, 4, all, none) == std::optional<std::size_t>(1));
    CHECK(select_endpoint(3, 0, [](std::size_t i) { return i != 0; }, none) == std::optional<std::size_t>(1));
    CHECK(select_endpoint(3, 0, all, [](std::size_t i) { return i == 0; }) == std::optional<std::size_t>(1));
    // Everything tried: the first usable one again.
    CHECK(select_endpoint(2, 1, all, all) == std::optional<std::size_t>(1));
    CHECK_FALSE(select_endpoint(3, 0, none, none).has_value());
    CHECK_FALSE(select_endpoint(0, 0, all, none).has_value());
}

TEST_CASE("outlier detector: consecutive failures, cap, ejection multiplier and decay", "[unit][outlier]") {
    using ep_t = boost::asio::ip::tcp::endpoint;
    const ep_t a(boost::asio::ip::make_address("127.0.0.1"), 1);
    const ep_t b(boost::asio::ip::make_address("127.0.0.1"), 2);
    const ep_t peers[] = {a, b};
    outrigger::routing::outlier_detection cfg;
    cfg.max_server_errors = 3;
    cfg.interval.value = 100;
    cfg.base_ejection_duration.value = 1000;
    cfg.max_ejection_percent = 50;
    outlier_detector d;
    auto t = std::chrono::steady_clock::time_point{} + 1h;

    SECTION("a success resets the count") {
        CHECK_FALSE(d.record(a, cfg, true, peers, t));
        CHECK_FALSE(d.record(a, cfg, true, peers, t));
        CHECK_FALSE(d.record(a, cfg, false, peers, t));
        CHECK_FALSE(d.record(a, cfg, true, peers, t));
        CHECK_FALSE(d.record(a, cfg, true, peers, t));
        CHECK(d.record(a, cfg, true, peers, t));
        CHECK(d.is_ejected(a, cfg, t));
        CHECK(d.ejections_total() == 1);
    }
    SECTION("returns at the first sweep after base x count, and the second ejection lasts twice as long") {
        for (int i = 0; i < 3; ++i) {
            d.record(a, cfg, true, peers, t);
        }
        CHECK(d.is_ejected(a, cfg, t + 999ms));
        CHECK_FALSE(d.is_ejected(a, cfg, t + 1000ms));
        t += 1000ms;
        for (int i = 0; i < 3; ++i) {
            d.record(a, cfg, true, peers, t);
        }
        CHECK(d.is_ejected(a, cfg, t + 1999ms));
        CHECK_FALSE(d.is_ejected(a, cfg, t + 2000ms));
        // After 20 healthy intervals the multiplier decayed back: the next ejection is 1 s.
        t += 2000ms + 20 * 100ms;
        for (int i = 0; i < 3; ++i) {
            d.record(a, cfg, true, peers, t);
        }
        CHECK(d.is_ejected(a, cfg, t + 999ms));
        CHECK_FALSE(d.is_ejected(a, cfg, t + 1000ms));
    }
    SECTION("maxEjectionPercent 50 of two endpoints: the second is not ejected while the first is") {
        for (int i = 0; i < 3; ++i) {
            d.record(a, cfg, true, peers, t);
            d.record(b, cfg, true, peers, t);
        }
        CHECK(d.is_ejected(a, cfg, t));
        CHECK_FALSE(d.is_ejected(b, cfg, t));
    }
    SECTION("maxEjectionPercent 0: one host is still ejectable") {
        cfg.max_ejection_percent = 0;
        for (int i = 0; i < 3; ++i) {
            d.record(a, cfg, true, peers, t);
            d.record(b, cfg, true, peers, t);
        }
        CHECK(d.is_ejected(a, cfg, t));
        CHECK_FALSE(d.is_ejected(b, cfg, t));
    }
}
