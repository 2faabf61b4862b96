#pragma once
// Test PKI made once per test binary run by scripts/gen-test-certs.sh into a temp directory
// (removed at exit). `certs_dir("prefix")` returns that directory.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace outrigger::test {

class generated_certs {
public:
    explicit generated_certs(const std::string& prefix) {
        dir_ = std::filesystem::temp_directory_path() / (prefix + "-" + std::to_string(::getpid()));
        const std::string cmd = "bash '" OUTRIGGER_SOURCE_DIR "/scripts/gen-test-certs.sh' '" +
                                dir_.string() + "'";
        if (std::system(cmd.c_str()) != 0) {
            throw std::runtime_error("scripts/gen-test-certs.sh failed: " + cmd);
        }
    }
    ~generated_certs() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);  // best effort: a leftover temp dir is harmless
    }
    generated_certs(const generated_certs&) = delete;
    generated_certs& operator=(const generated_certs&) = delete;
    [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }

private:
    std::filesystem::path dir_;
};

}  // namespace outrigger::test
