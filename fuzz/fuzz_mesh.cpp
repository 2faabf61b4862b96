// libFuzzer target: arbitrary bytes as a manifest file → load, resolve, validate, compile, and
// one route decision. Nothing may crash, hang or leak; errors are values.
#include <cstddef>
#include <cstdint>
#include <string>

#include "routing/compile.hpp"
#include "routing/resolve.hpp"
#include "routing/validate.hpp"
#include "routing/yaml_loader.hpp"

using namespace outrigger::routing;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 256 * 1024) {
        return 0;
    }
    const std::string yaml(reinterpret_cast<const char*>(data), size);
    mesh_input in;
    diagnostics diags;
    load_string(yaml, "fuzz.yaml", in, diags);
    const auto which = resolve(in, resolve_options{}, diags);
    const mesh_index index(in);
    validate(in, index, validate_options{}, diags);
    diags.sort_and_dedupe(in.files);
    for (const auto& d : diags.items()) {
        (void)format(d, in.files);
    }
    if (diags.has_errors() || !which.mesh) {
        return 0;
    }
    auto snap = compile(in, index, which, compile_options{});
    if (!snap) {
        return 0;
    }
    // Route a request to every service the snapshot knows.
    const header_view headers[] = {{"user-agent", "fuzz"}, {"x-canary", "yes"}};
    for (const auto& s : snap->services) {
        request_view r;
        r.method = "GET";
        r.path = "/api/x";
        r.query = "a=1&preview=true";
        r.host = s.aws_name;
        r.headers = headers;
        (void)decide(*snap, r, static_cast<std::uint32_t>(size * 2654435761u));
    }
    return 0;
}
