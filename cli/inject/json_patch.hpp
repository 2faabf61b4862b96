#pragma once
// RFC 6902 JSON Patch between two JSON values, for the admission webhook's answer: the API server
// applies it to the pod it sent. Objects are compared key by key; an array that only grew at its
// end gets one `add` per new element (`/spec/initContainers/2`); any other changed array, and any
// changed scalar, is replaced whole. The patch applied to `before` gives `after`, exactly.
//
// Thread-affinity: none (pure function).

#include <string>

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

namespace outrigger::inject {

[[nodiscard]] boost::json::array json_patch(const boost::json::value& before,
                                            const boost::json::value& after);

}  // namespace outrigger::inject
