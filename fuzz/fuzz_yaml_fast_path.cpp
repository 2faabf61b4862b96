// libFuzzer target: the loader's fast YAML subset parser against yaml-cpp
// (routing/yaml_tree.hpp, differential_check). Whenever the fast parser accepts an input, yaml-cpp
// must read the same documents from it: node types, scalar values, lines and columns (the loader's
// error positions). A difference aborts with both sides printed; fix the fast parser so that it
// bails on such input, and add the input to the regression test in
// tests/unit/routing/test_loader.cpp ("loader: the fast YAML path agrees with yaml-cpp").
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "routing/yaml_tree.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 256 * 1024) {
        return 0;
    }
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto r = outrigger::routing::yaml_tree::differential_check(text);
    if (!r.difference.empty()) {
        std::fprintf(stderr, "fuzz_yaml_fast_path: %s\n", r.difference.c_str());
        std::abort();
    }
    return 0;
}
