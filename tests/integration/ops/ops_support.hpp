#pragma once
// Helpers of the operations tests: a Prometheus text-format parser (the exposition line grammar,
// strict: a malformed line fails the test), an Envoy default access-log line parser, and an
// in-process admin server next to a proxy_under_test.
#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <catch2/catch.hpp>

namespace outrigger::test {

struct prom_sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

/// Parses the Prometheus text exposition format 0.0.4: `# HELP`/`# TYPE` comments, then
/// `name{label="value",...} number` lines. Returns nullopt (with `error`) on any malformed line.
inline std::optional<std::vector<prom_sample>> parse_prometheus(const std::string& text, std::string& error) {
    std::vector<prom_sample> out;
    std::map<std::string, std::string> types;
    std::istringstream in(text);
    std::string line;
    int lineno = 0;
    auto is_name_start = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; };
    auto is_name_char = [&](char c) { return is_name_start(c) || std::isdigit(static_cast<unsigned char>(c)); };
    while (std::getline(in, line)) {
        ++lineno;
        if (line.empty()) {
            continue;
        }
        auto fail = [&](const std::string& why) {
            error = "line " + std::to_string(lineno) + ": " + why + ": " + line;
            return std::nullopt;
        };
        if (line[0] == '#') {
            std::istringstream ls(line);
            std::string hash, kw, name, rest;
            ls >> hash >> kw >> name;
            if (kw == "TYPE") {
                ls >> rest;
                if (rest != "counter" && rest != "gauge" && rest != "histogram" && rest != "summary" &&
                    rest != "untyped") {
                    return fail("bad TYPE");
                }
                if (types.count(name) != 0) {
                    return fail("TYPE given twice");
                }
                types[name] = rest;
            }
            continue;
        }
        std::size_t i = 0;
        if (!is_name_start(line[0])) {
            return fail("bad metric name");
        }
        while (i < line.size() && is_name_char(line[i])) {
            ++i;
        }
        prom_sample s;
        s.name = line.substr(0, i);
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (i < line.size() && line[i] != '}') {
                const std::size_t ns = i;
                while (i < line.size() && is_name_char(line[i])) {
                    ++i;
                }
                const std::string lname = line.substr(ns, i - ns);
                if (lname.empty() || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
                    return fail("bad label");
                }
                i += 2;
                std::string v;
                while (i < line.size() && line[i] != '"') {
                    if (line[i] == '\\' && i + 1 < line.size()) {
                        const char e = line[i + 1];
                        v.push_back(e == 'n' ? '\n' : e);
                        i += 2;
                        continue;
                    }
                    v.push_back(line[i++]);
                }
                if (i >= line.size()) {
                    return fail("unterminated label value");
                }
                ++i;  // closing quote
                if (s.labels.count(lname) != 0) {
                    return fail("duplicate label");
                }
                s.labels[lname] = v;
                if (i < line.size() && line[i] == ',') {
                    ++i;
                }
            }
            if (i >= line.size()) {
                return fail("unterminated label set");
            }
            ++i;
        }
        if (i >= line.size() || line[i] != ' ') {
            return fail("missing value");
        }
        const std::string value = line.substr(i + 1);
        try {
            std::size_t used = 0;
            s.value = value == "+Inf" ? 1e308 : std::stod(value, &used);
            if (value != "+Inf" && used != value.size()) {
                return fail("trailing characters after the value");
            }
        } catch (const std::exception&) {
            return fail("bad value");
        }
        // Every sample belongs to a declared family (histograms add _bucket/_sum/_count).
        std::string family = s.name;
        for (const char* suf : {"_bucket", "_sum", "_count"}) {
            const std::string sf = suf;
            if (types.count(family) == 0 && family.size() > sf.size() &&
                family.compare(family.size() - sf.size(), sf.size(), sf) == 0) {
                family = family.substr(0, family.size() - sf.size());
            }
        }
        if (types.count(family) == 0) {
            return fail("sample without a # TYPE line");
        }
        out.push_back(std::move(s));
    }
    return out;
}

/// The value of the one sample named `name` whose labels include `want`; nullopt if none or
/// several match.
inline std::optional<double> prom_value(const std::vector<prom_sample>& v, const std::string& name,
                                        const std::map<std::string, std::string>& want) {
    std::optional<double> found;
    for (const auto& s : v) {
        if (s.name != name) {
            continue;
        }
        bool ok = true;
        for (const auto& [k, val] : want) {
            const auto it = s.labels.find(k);
            if (it == s.labels.end() || it->second != val) {
                ok = false;
                break;
            }
        }
        if (ok) {
            if (found) {
                return std::nullopt;
            }
            found = s.value;
        }
    }
    return found;
}

/// One line of Envoy's default access-log format.
struct envoy_line {
    std::string start, method, path, protocol, flags, service_time, xff, user_agent, request_id,
        authority, upstream_host;
    unsigned status = 0;
    std::uint64_t bytes_received = 0, bytes_sent = 0, duration = 0;
};

inline std::optional<envoy_line> parse_envoy_line(const std::string& line) {
    static const std::regex re(
        R"re(^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\] "(\S+) (\S+) (\S+)" (\d{3}) (\S+) (\d+) (\d+) (\d+) (\S+) "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)"$)re");
    std::smatch m;
    if (!std::regex_match(line, m, re)) {
        return std::nullopt;
    }
    envoy_line l;
    l.start = m[1];
    l.method = m[2];
    l.path = m[3];
    l.protocol = m[4];
    l.status = static_cast<unsigned>(std::stoul(m[5]));
    l.flags = m[6];
    l.bytes_received = std::stoull(m[7]);
    l.bytes_sent = std::stoull(m[8]);
    l.duration = std::stoull(m[9]);
    l.service_time = m[10];
    l.xff = m[11];
    l.user_agent = m[12];
    l.request_id = m[13];
    l.authority = m[14];
    l.upstream_host = m[15];
    return l;
}

/// A fresh empty file under /tmp named after `stem`.
inline std::string temp_path(const char* stem) {
    std::string tmpl = std::string("/tmp/") + stem + "-XXXXXX";
    const int fd = ::mkstemp(tmpl.data());
    REQUIRE(fd >= 0);
    ::close(fd);
    return tmpl;
}

inline std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream f(path);
    std::vector<std::string> out;
    std::string line;
    while (std::getline(f, line)) {
        out.push_back(line);
    }
    return out;
}

}  // namespace outrigger::test
