// rcache CLI: the flat JSON object parser of backup lines.
#include "json_line.hpp"

#include <limits>

namespace rcache::cli {
namespace {

class Parser {
 public:
  Parser(std::string_view text, JsonError& error) : s_(text), error_(error) {}

  std::optional<FlatJson> object() {
    FlatJson out;
    skip_space();
    if (!take('{')) return fail("expected '{' at the start of the line");
    skip_space();
    if (take('}')) return finish(std::move(out));
    for (;;) {
      skip_space();
      std::string name;
      if (!string(name)) return std::nullopt;
      skip_space();
      if (!take(':')) return fail("expected ':' after a member name");
      skip_space();
      JsonValue v;
      if (!value(v)) return std::nullopt;
      out.members.emplace_back(std::move(name), std::move(v));
      skip_space();
      if (take('}')) return finish(std::move(out));
      if (!take(',')) return fail("expected ',' or '}' after a value");
    }
  }

 private:
  std::optional<FlatJson> finish(FlatJson out) {
    skip_space();
    if (i_ != s_.size()) return fail("unexpected text after the object");
    return out;
  }

  std::nullopt_t fail(std::string what) {
    error_.what = std::move(what);
    error_.offset = i_;
    return std::nullopt;
  }

  bool bad(std::string what) {
    fail(std::move(what));
    return false;
  }

  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }
  bool take(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  bool value(JsonValue& v) {
    if (i_ >= s_.size()) return bad("a value is missing");
    const char c = s_[i_];
    if (c == '"') {
      v.kind = JsonValue::Kind::string;
      return string(v.string);
    }
    if (literal("null")) {
      v.kind = JsonValue::Kind::null;
      return true;
    }
    if (literal("true") || literal("false")) {
      v.kind = JsonValue::Kind::boolean;
      v.boolean = s_[i_ - 2] == 'u';  // tr[u]e, fal[s]e
      return true;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return integer(v);
    if (c == '{' || c == '[') return bad("nested objects and arrays are not expected");
    return bad("not a JSON value");
  }

  bool integer(JsonValue& v) {
    const bool negative = take('-');
    const std::size_t start = i_;
    std::uint64_t n = 0;
    constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      n = n * 10 + static_cast<std::uint64_t>(s_[i_] - '0');
      if (n > kMax) return bad("number out of range");
      ++i_;
    }
    if (i_ == start) return bad("a digit is expected");
    if (i_ < s_.size() && (s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E')) {
      return bad("only integers are expected");
    }
    v.kind = JsonValue::Kind::integer;
    v.integer = negative ? -static_cast<std::int64_t>(n) : static_cast<std::int64_t>(n);
    return true;
  }

  bool hex4(std::uint32_t& out) {
    if (i_ + 4 > s_.size()) return false;
    out = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      out <<= 4;
      if (c >= '0' && c <= '9') {
        out |= static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        out |= static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        out |= static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool escape(std::string& out) {
    if (i_ >= s_.size()) return bad("unterminated string");
    const char c = s_[i_++];
    switch (c) {
      case '"':
      case '\\':
      case '/':
        out += c;
        return true;
      case 'b':
        out += '\b';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'n':
        out += '\n';
        return true;
      case 'r':
        out += '\r';
        return true;
      case 't':
        out += '\t';
        return true;
      case 'u':
        break;
      default:
        return bad("bad escape in a string");
    }
    std::uint32_t cp = 0;
    if (!hex4(cp)) return bad("bad \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {  // a high surrogate: its low half must follow
      std::uint32_t low = 0;
      if (!literal("\\u") || !hex4(low) || low < 0xDC00 || low > 0xDFFF) {
        return bad("unpaired surrogate in a \\u escape");
      }
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return bad("unpaired surrogate in a \\u escape");
    }
    append_utf8(out, cp);
    return true;
  }

  bool string(std::string& out) {
    if (!take('"')) return bad("expected a string");
    for (;;) {
      if (i_ >= s_.size()) return bad("unterminated string");
      const char c = s_[i_];
      if (c == '"') {
        ++i_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return bad("a control character inside a string");
      }
      if (c == '\\') {
        ++i_;
        if (!escape(out)) return false;
        continue;
      }
      // Plain bytes in bulk up to the next quote, backslash or control byte.
      const std::size_t start = i_;
      while (i_ < s_.size() && s_[i_] != '"' && s_[i_] != '\\' &&
             static_cast<unsigned char>(s_[i_]) >= 0x20) {
        ++i_;
      }
      out.append(s_.substr(start, i_ - start));
    }
  }

  std::string_view s_;
  JsonError& error_;
  std::size_t i_ = 0;
};

}  // namespace

const JsonValue* FlatJson::find(std::string_view name) const {
  const JsonValue* found = nullptr;
  for (const auto& [n, v] : members) {
    if (n == name) found = &v;
  }
  return found;
}

std::optional<FlatJson> parse_flat_json(std::string_view text, JsonError& error) {
  return Parser(text, error).object();
}

}  // namespace rcache::cli
