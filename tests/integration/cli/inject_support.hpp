#pragma once
// Helpers of the `outrigger inject` tests: run the real binary with stdin and separate
// stdout/stderr, read YAML output back as JSON, check that a document survived inside another,
// and apply an RFC 6902 patch (our own small applier, independent of the code under test).

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "cli/inject/yaml_to_json.hpp"

namespace outrigger::test::inject {

namespace fs = std::filesystem;
namespace json = boost::json;

/// A temporary directory removed at the end of the test.
struct scratch {
    fs::path path;
    scratch() {
        std::string tmpl = (fs::temp_directory_path() / "outrigger-inject-XXXXXX").string();
        path = ::mkdtemp(tmpl.data());
    }
    ~scratch() {
        std::error_code ec;
        fs::remove_all(path, ec);  // a leftover temp dir is harmless
    }
    scratch(const scratch&) = delete;
    scratch& operator=(const scratch&) = delete;
    std::string write(const std::string& name, const std::string& text) const {
        const fs::path p = path / name;
        fs::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << text;
        return p.string();
    }
};

inline std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

inline std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (const char c : s) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    return out + "'";
}

struct run_result {
    int code = -1;
    std::string out;
    std::string err;
};

/// Runs `outrigger ARGS...` in `cwd` (when given) with `stdin_text` on stdin.
inline run_result run_outrigger(const std::vector<std::string>& args,
                                const std::string& stdin_text = "", const std::string& cwd = "") {
    scratch io;
    const std::string in = io.write("stdin", stdin_text);
    std::string cmd;
    if (!cwd.empty()) {
        cmd += "cd " + shell_quote(cwd) + " && ";
    }
    cmd += shell_quote(OUTRIGGER_BINARY);
    for (const auto& a : args) {
        cmd += ' ';  // not `" " + ...`: g++ 12's -Wrestrict false positive at -O3 (Release)
        cmd += shell_quote(a);
    }
    cmd += " <" + shell_quote(in) + " >" + shell_quote((io.path / "out").string()) + " 2>" +
           shell_quote((io.path / "err").string());
    const int status = std::system(cmd.c_str());
    run_result r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_file(io.path / "out");
    r.err = read_file(io.path / "err");
    return r;
}

/// Every document of `yaml` as JSON (empty documents dropped); fails the test on a YAML error.
inline std::vector<json::value> documents(const std::string& yaml) {
    auto r = outrigger::inject::parse_yaml_documents(yaml);
    INFO(r.error << " at " << r.error_at.line << ":" << r.error_at.col);
    REQUIRE(r.error.empty());
    std::vector<json::value> out;
    for (auto& d : r.documents) {
        if (!d.root.is_null()) {
            out.push_back(std::move(d.root));
        }
    }
    return out;
}

/// Whether everything in `original` is in `injected`: same scalars, every key of every object,
/// and every array of `injected` starting with the elements of `original` (the injector only
/// appends). Writes the first difference to `where`.
inline bool survives(const json::value& original, const json::value& injected, std::string& where,
                     const std::string& path = "") {
    if (original.is_object() && injected.is_object()) {
        for (const auto& kv : original.get_object()) {
            const json::value* v = injected.get_object().if_contains(kv.key());
            if (v == nullptr) {
                where = path + "/" + std::string(kv.key()) + " is gone";
                return false;
            }
            if (!survives(kv.value(), *v, where, path + "/" + std::string(kv.key()))) {
                return false;
            }
        }
        return true;
    }
    if (original.is_array() && injected.is_array()) {
        const auto& a = original.get_array();
        const auto& b = injected.get_array();
        if (b.size() < a.size()) {
            where = path + " lost elements";
            return false;
        }
        for (std::size_t i = 0; i < a.size(); ++i) {
            if (!survives(a[i], b[i], where, path + "/" + std::to_string(i))) {
                return false;
            }
        }
        return true;
    }
    if (original != injected) {
        where = path + ": " + json::serialize(original) + " became " + json::serialize(injected);
        return false;
    }
    return true;
}

inline std::string base64_decode(const std::string& in) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    std::string out;
    int bits = 0;
    unsigned acc = 0;
    for (const char c : in) {
        const int v = value(c);
        if (v < 0) {
            continue;  // padding
        }
        acc = (acc << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    return out;
}

/// RFC 6901 pointer tokens.
inline std::vector<std::string> pointer_tokens(const std::string& pointer) {
    std::vector<std::string> out;
    REQUIRE((pointer.empty() || pointer[0] == '/'));
    std::size_t i = 1;
    while (i <= pointer.size() && !pointer.empty()) {
        const auto next = pointer.find('/', i);
        std::string t = pointer.substr(i, next == std::string::npos ? std::string::npos : next - i);
        std::string u;
        for (std::size_t k = 0; k < t.size(); ++k) {
            if (t[k] == '~' && k + 1 < t.size()) {
                u += t[k + 1] == '1' ? '/' : '~';
                ++k;
            } else {
                u += t[k];
            }
        }
        out.push_back(u);
        if (next == std::string::npos) {
            break;
        }
        i = next + 1;
    }
    return out;
}

/// Applies add/remove/replace operations (RFC 6902 §4.1-4.3); fails the test on anything else
/// or on a path that does not exist.
inline json::value apply_patch(json::value doc, const json::array& patch) {
    for (const auto& op_v : patch) {
        const auto& op = op_v.as_object();
        const std::string name(op.at("op").as_string());
        const auto tokens = pointer_tokens(std::string(op.at("path").as_string()));
        REQUIRE(!tokens.empty());
        json::value* parent = &doc;
        for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
            if (parent->is_object()) {
                parent = parent->as_object().if_contains(tokens[i]);
            } else {
                REQUIRE(parent->is_array());
                const auto idx = std::stoul(tokens[i]);
                REQUIRE(idx < parent->as_array().size());
                parent = &parent->as_array()[idx];
            }
            REQUIRE(parent != nullptr);
        }
        const std::string& last = tokens.back();
        if (parent->is_object()) {
            auto& o = parent->as_object();
            if (name == "add" || name == "replace") {
                if (name == "replace") {
                    REQUIRE(o.contains(last));
                }
                o[last] = op.at("value");
            } else {
                REQUIRE(name == "remove");
                REQUIRE(o.erase(last) == 1);
            }
        } else {
            REQUIRE(parent->is_array());
            auto& a = parent->as_array();
            const std::size_t idx = last == "-" ? a.size() : std::stoul(last);
            if (name == "add") {
                REQUIRE(idx <= a.size());
                a.insert(a.begin() + static_cast<std::ptrdiff_t>(idx), op.at("value"));
            } else if (name == "replace") {
                REQUIRE(idx < a.size());
                a[idx] = op.at("value");
            } else {
                REQUIRE(name == "remove");
                REQUIRE(idx < a.size());
                a.erase(a.begin() + static_cast<std::ptrdiff_t>(idx));
            }
        }
    }
    return doc;
}

}  // namespace outrigger::test::inject
