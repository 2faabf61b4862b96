#include "cli/inject/workloads.hpp"

#include <string_view>

#include <boost/json.hpp>

namespace outrigger::inject {

namespace json = boost::json;

namespace {

std::string string_field(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

json::object* object_field(json::object& o, std::string_view key) {
    json::value* v = o.if_contains(key);
    return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
}

/// The API group of `apiVersion` ("" for the core group's "v1").
std::string_view group_of(std::string_view api_version) {
    const auto slash = api_version.find('/');
    return slash == std::string_view::npos ? std::string_view() : api_version.substr(0, slash);
}

bool is_list(const json::object& o) {
    const std::string kind = string_field(o, "kind");
    const json::value* items = o.if_contains("items");
    return kind.ends_with("List") && items != nullptr && items->is_array();
}

/// The pod template of a workload object, or null when the object has none we know.
json::object* pod_template(json::object& o, const std::string& kind) {
    const std::string api = string_field(o, "apiVersion");
    const std::string_view group = group_of(api);
    if (kind == "Pod" && group.empty()) {
        return &o;
    }
    json::object* spec = object_field(o, "spec");
    if (spec == nullptr) {
        return nullptr;
    }
    const bool apps = group == "apps" || group == "extensions";
    if ((apps && (kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" ||
                  kind == "ReplicaSet")) ||
        (group.empty() && kind == "ReplicationController") ||
        (group == "batch" && kind == "Job")) {
        return object_field(*spec, "template");
    }
    if (group == "batch" && kind == "CronJob") {
        json::object* jt = object_field(*spec, "jobTemplate");
        json::object* js = jt != nullptr ? object_field(*jt, "spec") : nullptr;
        return js != nullptr ? object_field(*js, "template") : nullptr;
    }
    return nullptr;
}

void walk(const injector& inj, json::value& v, const std::string& pointer,
          const std::string& default_ns, std::vector<workload_result>& out) {
    if (!v.is_object()) {
        return;
    }
    json::object& o = v.get_object();
    if (is_list(o)) {
        json::array& items = o["items"].get_array();
        for (std::size_t i = 0; i < items.size(); ++i) {
            walk(inj, items[i], pointer + "/items/" + std::to_string(i), default_ns, out);
        }
        return;
    }
    const std::string kind = string_field(o, "kind");
    json::object* tmpl = pod_template(o, kind);
    if (tmpl == nullptr) {
        return;
    }
    workload_result w;
    w.kind = kind;
    w.pointer = pointer;
    if (const json::object* meta = object_field(o, "metadata")) {
        w.ns = string_field(*meta, "namespace");
        w.name = string_field(*meta, "name");
        if (w.name.empty() && !string_field(*meta, "generateName").empty()) {
            w.name = string_field(*meta, "generateName") + "*";
        }
    }
    if (w.ns.empty()) {
        w.ns = default_ns;
    }
    w.result = inj.inject(*tmpl, w.ns);
    out.push_back(std::move(w));
}

}  // namespace

std::vector<workload_result> inject_document(const injector& inj, json::value& document,
                                             const std::string& default_namespace) {
    std::vector<workload_result> out;
    walk(inj, document, "", default_namespace, out);
    return out;
}

void collect_namespaces(const json::value& document, std::map<std::string, label_map>& out) {
    if (!document.is_object()) {
        return;
    }
    const json::object& o = document.get_object();
    if (is_list(o)) {
        for (const auto& item : o.at("items").get_array()) {
            collect_namespaces(item, out);
        }
        return;
    }
    if (string_field(o, "kind") != "Namespace" ||
        !group_of(string_field(o, "apiVersion")).empty()) {
        return;
    }
    const json::value* meta = o.if_contains("metadata");
    if (meta == nullptr || !meta->is_object()) {
        return;
    }
    const std::string name = string_field(meta->get_object(), "name");
    if (name.empty()) {
        return;
    }
    label_map& labels = out[name];
    labels.clear();
    if (const json::value* l = meta->get_object().if_contains("labels"); l && l->is_object()) {
        for (const auto& kv : l->get_object()) {
            labels[std::string(kv.key())] =
                kv.value().is_string() ? std::string(kv.value().get_string())
                                       : json::serialize(kv.value());
        }
    }
}

}  // namespace outrigger::inject
