// The hardening flags of `outrigger run`: documented in --help, bad values refused before start.
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "cli/commands.hpp"

using outrigger::cli::run_command;

TEST_CASE("hardening: run documents and validates --header-timeout --max-request-body --max-connections",
          "[integration][hardening]") {
    {
        std::ostringstream out;
        std::ostringstream err;
        CHECK(run_command({"--help"}, out, err) == 0);
        CHECK(out.str().find("--header-timeout D") != std::string::npos);
        CHECK(out.str().find("--max-request-body BYTES") != std::string::npos);
        CHECK(out.str().find("--max-connections N") != std::string::npos);
    }
    const struct {
        const char* flag;
        const char* value;
    } bad[] = {{"--header-timeout", "soon"}, {"--max-request-body", "-1"},
               {"--max-request-body", "1k"}, {"--max-connections", "many"}};
    for (const auto& b : bad) {
        std::ostringstream out;
        std::ostringstream err;
        CHECK(run_command({"--mesh", "/nonexistent", b.flag, b.value}, out, err) != 0);
        CHECK(err.str().find(std::string("invalid ") + b.flag) != std::string::npos);
    }
}
