#include "routing/mesh_model.hpp"

#include <algorithm>

namespace outrigger::routing {

namespace {

bool contains(const std::vector<std::string>& values, const std::string& v) {
    return std::find(values.begin(), values.end(), v) != values.end();
}

/// Kubernetes LabelSelectorRequirement semantics (apimachinery `labels.Requirement.Matches`).
bool expression_holds(const label_selector::expression& e,
                      const std::map<std::string, std::string>& labels) {
    const auto it = labels.find(e.key);
    const bool has = it != labels.end();
    if (e.op == "In") {
        return has && contains(e.values, it->second);
    }
    if (e.op == "NotIn") {
        return !has || !contains(e.values, it->second);
    }
    if (e.op == "Exists") {
        return has;
    }
    if (e.op == "DoesNotExist") {
        return !has;
    }
    // An unknown operator selects nothing (validate.cpp reports it).
    return false;
}

/// Drops the last `.field` or `[n]` part of a field path.
void strip_last_part(std::string& path) {
    const auto cut = path.find_last_of(".[");
    path.resize(cut == std::string::npos ? 0 : cut);
}

}  // namespace

bool label_selector::matches(const std::map<std::string, std::string>& labels) const {
    for (const auto& [key, value] : match_labels) {
        const auto it = labels.find(key);
        if (it == labels.end() || it->second != value) {
            return false;
        }
    }
    for (const auto& e : match_expressions) {
        if (!expression_holds(e, labels)) {
            return false;
        }
    }
    return true;
}

source_loc object_meta::where(const std::string& path) const {
    std::string p = path;
    while (!p.empty()) {
        for (const auto& [field, loc] : field_locs) {
            if (field == p) {
                return loc;
            }
        }
        strip_last_part(p);
    }
    return loc;
}

const char* to_string(protocol p) {
    switch (p) {
    case protocol::http:
        return "http";
    case protocol::http2:
        return "http2";
    case protocol::grpc:
        return "grpc";
    case protocol::tcp:
        return "tcp";
    }
    return "?";
}

const char* to_string(route_kind k) {
    switch (k) {
    case route_kind::http:
        return "http";
    case route_kind::http2:
        return "http2";
    case route_kind::grpc:
        return "grpc";
    case route_kind::tcp:
        return "tcp";
    }
    return "?";
}

}  // namespace outrigger::routing
