// Limits for JSON that other people wrote: model-file metadata, checkpoints, metrics logs.
//
// nlohmann::json parses and destroys values iteratively, but copying, comparing and dumping
// one recurse once per level of nesting: a recur.vocab nested 100,000 arrays deep crashed
// `recur info` with a stack overflow when an error message dumped it. recur's own JSON
// nests three levels at most, so anything deeper is refused before it is parsed.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace recur::io {

constexpr int kMaxJsonDepth = 64;

// The deepest nesting of arrays and objects in `text` (0 for a scalar), counting brackets
// outside strings. Malformed text gets a number too; the parser rejects it afterwards.
inline int json_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;  // the escaped character cannot end the string
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// `text` parsed, or a discarded value (is_discarded()) when it is not JSON or nests deeper
// than kMaxJsonDepth.
template <class Json = nlohmann::json>
Json parse_untrusted_json(std::string_view text) {
  if (json_depth(text) > kMaxJsonDepth) return Json(Json::value_t::discarded);
  return Json::parse(text, nullptr, false);
}

// At most `limit` bytes of `text` (a dumped JSON value quoted in an error message), with
// "..." when it was longer.
inline std::string excerpt(std::string_view text, std::size_t limit = 60) {
  if (text.size() <= limit) return std::string(text);
  return std::string(text.substr(0, limit)) + "...";
}

}  // namespace recur::io
