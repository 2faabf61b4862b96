#pragma once
// Helpers shared by the subcommands: usage errors and diagnostics printing.

#include <initializer_list>
#include <iosfwd>
#include <string>
#include <vector>

#include "routing/config_error.hpp"

namespace outrigger::cli {

/// Prints `outrigger CMD: MESSAGE (see outrigger CMD --help)` and returns 2.
int usage_error(std::ostream& err, const std::string& cmd, const std::string& message);

/// `unknown flag "--x" (did you mean "--y"?)`.
std::string unknown_flag_message(const std::string& flag, std::initializer_list<const char*> known);

/// Every diagnostic line, then the count line.
void print_diagnostics(std::ostream& out, const routing::diagnostics& diags,
                       const std::vector<std::string>& files);

}  // namespace outrigger::cli
