#pragma once
// The subcommands of `outrigger` (DECISIONS.md §1). Each takes the arguments after the subcommand
// name and returns the process exit code: 0 ok, 1 invalid mesh, 2 usage error, 3 (explain) refused.
// Output goes to the given streams so tests can capture it.

#include <iosfwd>
#include <string>
#include <vector>

namespace outrigger::cli {

using args_t = std::vector<std::string>;

int validate_command(const args_t& args, std::ostream& out, std::ostream& err);
int explain_command(const args_t& args, std::ostream& out, std::ostream& err);
int run_command(const args_t& args, std::ostream& out, std::ostream& err);
/// `outrigger inject`: App Mesh's sidecar injector for files and as an admission webhook.
int inject_command(const args_t& args, std::ostream& out, std::ostream& err);
int version_command(const args_t& args, std::ostream& out, std::ostream& err);
/// The built-in demo upstream (`outrigger demo-upstream --port N --name v1`): answers every
/// request with 200 and its name. Used by the README demo.
int demo_upstream_command(const args_t& args, std::ostream& out, std::ostream& err);

/// Dispatches argv[1]; prints usage on unknown subcommands (exit 2).
int dispatch(int argc, char** argv);

}  // namespace outrigger::cli
