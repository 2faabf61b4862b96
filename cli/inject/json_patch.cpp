#include "cli/inject/json_patch.hpp"

#include <boost/json.hpp>

#include "cli/inject/yaml_to_json.hpp"

namespace outrigger::inject {

namespace json = boost::json;

namespace {

json::object op(std::string_view name, const std::string& path) {
    json::object o;
    o["op"] = name;
    o["path"] = path;
    return o;
}

void diff(const json::value& a, const json::value& b, const std::string& path, json::array& out) {
    if (a == b) {
        return;
    }
    if (a.is_object() && b.is_object()) {
        const json::object& ao = a.get_object();
        const json::object& bo = b.get_object();
        for (const auto& kv : ao) {
            if (!bo.contains(kv.key())) {
                out.push_back(op("remove", path + "/" + escape_pointer_token(kv.key())));
            }
        }
        for (const auto& kv : bo) {
            const std::string p = path + "/" + escape_pointer_token(kv.key());
            if (const json::value* old = ao.if_contains(kv.key())) {
                diff(*old, kv.value(), p, out);
            } else {
                json::object o = op("add", p);
                o["value"] = kv.value();
                out.push_back(std::move(o));
            }
        }
        return;
    }
    if (a.is_array() && b.is_array()) {
        const json::array& aa = a.get_array();
        const json::array& ba = b.get_array();
        bool grew = ba.size() > aa.size();
        for (std::size_t i = 0; grew && i < aa.size(); ++i) {
            grew = aa[i] == ba[i];
        }
        if (grew) {
            for (std::size_t i = aa.size(); i < ba.size(); ++i) {
                json::object o = op("add", path + "/" + std::to_string(i));
                o["value"] = ba[i];
                out.push_back(std::move(o));
            }
            return;
        }
    }
    // The root cannot be replaced by path "" in every applier; the webhook never needs it.
    json::object o = op("replace", path);
    o["value"] = b;
    out.push_back(std::move(o));
}

}  // namespace

json::array json_patch(const json::value& before, const json::value& after) {
    json::array out;
    diff(before, after, "", out);
    return out;
}

}  // namespace outrigger::inject
