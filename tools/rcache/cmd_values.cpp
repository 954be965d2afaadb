// rcache CLI: get and inspect: one key's value, and what is stored under it.
#include <optional>

#include "cli.hpp"
#include "text.hpp"

namespace rcache::cli {
namespace {

// The KEY argument, unescaped with --escaped; nullopt (reported, exit code in `code`) if bad.
std::optional<std::string> key_argument(const Context& ctx, std::string_view cmd, int& code) {
  const std::string& arg = ctx.inv().positionals.at(0);
  if (!ctx.inv().flag("--escaped")) return arg;
  auto key = unescape_key(arg);
  if (!key) {
    code = ctx.fail(kUsage, std::string(cmd) + ": KEY: malformed escape in '" + arg +
                                "' (--escaped understands \\\\, \\n, \\r, \\t, \\xHH)");
  }
  return key;
}

std::string json_bytes_member(std::string_view name, std::string_view bytes) {
  if (is_utf8(bytes)) return json_string(name) + ":" + json_string(bytes);
  return json_string(std::string(name) + "_b64") + ":" + json_string(base64_encode(bytes));
}

std::optional<std::int64_t> integer_reply(Client& c, const std::vector<std::string>& argv) {
  auto r = c.command(argv);
  if (!r || r->kind != Reply::Kind::integer) return std::nullopt;
  return r->integer;
}

std::string json_optional(const std::optional<std::int64_t>& v) {
  return v ? std::to_string(*v) : "null";
}

}  // namespace

int run_get(Context& ctx) {
  int code = kUsage;
  const auto key = key_argument(ctx, "get", code);
  if (!key) return code;
  auto opened = open_client(ctx, "get");
  if (const int* c = std::get_if<int>(&opened)) return *c;
  auto v = std::get<Client*>(opened)->get(*key);
  if (!v) return ctx.fail(v.error(), "get " + escape_key(*key));
  const std::optional<std::string>& value = *v;
  if (ctx.json()) {
    std::string j = "{\"ok\":true,\"command\":\"get\"," + json_bytes_member("key", *key) +
                    ",\"found\":" + (value ? "true" : "false");
    if (value)
      j += ",\"bytes\":" + std::to_string(value->size()) + "," + json_bytes_member("value", *value);
    ctx.out(j + "}\n");
  } else if (value) {
    ctx.out(*value);
  }
  if (!value) {
    ctx.warn("get: no such key: " + escape_key(*key));
    return kNotFound;
  }
  return kOk;
}

int run_inspect(Context& ctx) {
  int code = kUsage;
  const auto key = key_argument(ctx, "inspect", code);
  if (!key) return code;
  auto opened = open_client(ctx, "inspect");
  if (const int* c = std::get_if<int>(&opened)) return *c;
  Client& client = *std::get<Client*>(opened);
  const std::string shown = escape_key(*key);

  auto type = client.command({"TYPE", *key});
  if (!type) return ctx.fail(type.error(), "inspect " + shown);
  if (type->str == "none") {
    if (ctx.json()) {
      ctx.out("{\"ok\":true,\"command\":\"inspect\"," + json_bytes_member("key", *key) +
              ",\"found\":false}\n");
    }
    ctx.warn("inspect: no such key: " + shown);
    return kNotFound;
  }
  const std::optional<std::int64_t> pttl = integer_reply(client, {"PTTL", *key});
  const std::optional<std::int64_t> memory = integer_reply(client, {"MEMORY", "USAGE", *key});
  std::string encoding;
  if (auto e = client.command({"OBJECT", "ENCODING", *key}); e && e->kind == Reply::Kind::string) {
    encoding = e->str;
  }
  // Persistent (-1) and vanished (-2) keys have no TTL to show.
  const std::optional<std::int64_t> ttl_ms = pttl && *pttl >= 0 ? pttl : std::nullopt;

  std::string text = "key:       " + shown + "\ntype:      " + type->str;
  if (!encoding.empty()) text += " (encoding " + encoding + ")";
  text += "\nttl:       " +
          (ttl_ms ? fixed(static_cast<double>(*ttl_ms) / 1000.0, 3) + " s" : std::string("none"));
  text += "\nmemory:    " + (memory ? with_commas(static_cast<std::uint64_t>(*memory)) + " bytes"
                                    : std::string("n/a (MEMORY USAGE not available)"));
  std::string json = "{\"ok\":true,\"command\":\"inspect\"," + json_bytes_member("key", *key) +
                     ",\"found\":true,\"type\":" + json_string(type->str) +
                     ",\"encoding\":" + json_string(encoding) +
                     ",\"ttl_ms\":" + json_optional(ttl_ms) +
                     ",\"memory_usage\":" + json_optional(memory);

  if (type->str == "string") {
    auto raw = client.command({"GET", *key});
    if (!raw) return ctx.fail(raw.error(), "inspect " + shown);
    if (raw->kind != Reply::Kind::string) {  // gone since TYPE
      ctx.warn("inspect: no such key: " + shown);
      return kNotFound;
    }
    const bool legacy = client.config().legacy_hex;
    auto info = inspect_stored(raw->str, legacy);
    text += "\nstored:    " + with_commas(raw->str.size()) + " bytes";
    json += ",\"stored_bytes\":" + std::to_string(raw->str.size());
    if (!info) {
      text += "\ncodec:     unreadable envelope: " + info.error().message;
      json += ",\"codec\":null,\"envelope_error\":" + json_string(info.error().message);
    } else {
      auto decoded = info->codec == StoredValueInfo::Codec::not_found
                         ? Result<std::string>(std::string())
                         : decode_stored(raw->str, legacy, client.config().max_decompressed_size);
      // legacy_hex declares no length: the decoded value tells it.
      const std::uint64_t original = info->codec == StoredValueInfo::Codec::legacy_hex && decoded
                                         ? decoded->size()
                                         : info->original_bytes;
      const double ratio =
          raw->str.empty() ? 1.0
                           : static_cast<double>(original) / static_cast<double>(raw->str.size());
      const std::string codec(to_string(info->codec));
      text += "\ncodec:     " + codec;
      if (info->codec == StoredValueInfo::Codec::not_found) {
        text += " (get_or_load's cached \"not found\" marker)";
      }
      text += "\noriginal:  " + with_commas(original) + " bytes";
      text += "\nratio:     " + fixed(ratio, 2) + " (original / stored)";
      text += "\ndecodes:   " + (decoded ? std::string("yes") : "no: " + decoded.error().message);
      json += ",\"codec\":" + json_string(codec) +
              ",\"original_bytes\":" + std::to_string(original) + ",\"ratio\":" + fixed(ratio, 4) +
              ",\"decodes\":" + (decoded ? "true" : "false");
    }
  } else {
    const char* len_cmd = type->str == "hash"   ? "HLEN"
                          : type->str == "list" ? "LLEN"
                          : type->str == "set"  ? "SCARD"
                          : type->str == "zset" ? "ZCARD"
                                                : "XLEN";
    const auto n = integer_reply(client, {len_cmd, *key});
    text += "\nelements:  " + (n ? with_commas(static_cast<std::uint64_t>(*n)) : "n/a");
    json += ",\"elements\":" + json_optional(n);
  }
  if (ctx.json()) {
    ctx.out(json + "}\n");
  } else {
    ctx.out(text + "\n");
  }
  return kOk;
}

}  // namespace rcache::cli
