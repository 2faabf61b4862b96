#include "cli/common.hpp"

#include <ostream>

namespace outrigger::cli {

int usage_error(std::ostream& err, const std::string& cmd, const std::string& message) {
    err << "outrigger " << cmd << ": " << message << " (see outrigger " << cmd << " --help)\n";
    return 2;
}

std::string unknown_flag_message(const std::string& flag, std::initializer_list<const char*> known) {
    std::vector<std::string> names(known.begin(), known.end());
    const std::string bare = flag.substr(0, flag.find('='));
    const std::string near = routing::closest(bare, names);
    std::string msg = "unknown flag \"" + bare + "\"";
    if (!near.empty()) {
        msg += " (did you mean \"" + near + "\"?)";
    }
    return msg;
}

void print_diagnostics(std::ostream& out, const routing::diagnostics& diags,
                       const std::vector<std::string>& files) {
    for (const auto& d : diags.items()) {
        out << routing::format(d, files) << '\n';
    }
    out << routing::format_count(diags) << '\n';
}

}  // namespace outrigger::cli
