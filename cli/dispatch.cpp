#include <iostream>
#include <string_view>

#include "cli/commands.hpp"

namespace outrigger::cli {

namespace {

constexpr std::string_view usage =
    "usage: outrigger <command> [options]\n"
    "\n"
    "commands:\n"
    "  run       --mesh PATH [--mesh PATH]... [--node NODE] [options]   run the sidecar proxy\n"
    "  validate  [--node NODE] PATH...                                  check manifests\n"
    "  explain   --mesh PATH... [--node NODE] [-H 'Name: value']... METHOD URL\n"
    "                                                                   show how a request routes\n"
    "  inject    --mesh PATH... FILE|DIR|-...                           add the sidecar to pods\n"
    "            --webhook --mesh PATH... --listen ADDR:PORT --tls-cert F --tls-key F\n"
    "  version                                                          print the version\n"
    "\n"
    "`outrigger <command> --help` describes each command's options.\n";

}  // namespace

int dispatch(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << usage;
        return 2;
    }
    const std::string_view cmd = argv[1];
    args_t args(argv + 2, argv + argc);
    if (cmd == "run") {
        return run_command(args, std::cout, std::cerr);
    }
    if (cmd == "validate") {
        return validate_command(args, std::cout, std::cerr);
    }
    if (cmd == "explain") {
        return explain_command(args, std::cout, std::cerr);
    }
    if (cmd == "inject") {
        return inject_command(args, std::cout, std::cerr);
    }
    if (cmd == "version" || cmd == "--version") {
        return version_command(args, std::cout, std::cerr);
    }
    if (cmd == "demo-upstream") {
        return demo_upstream_command(args, std::cout, std::cerr);
    }
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        std::cout << usage;
        return 0;
    }
    std::cerr << "outrigger: unknown command \"" << cmd
              << "\" (expected run, validate, explain, inject or version; see outrigger --help)\n";
    return 2;
}

}  // namespace outrigger::cli
