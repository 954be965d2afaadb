// rcache CLI: scan, count and delete: the key space by glob pattern (through keyspace.hpp).
#include "keyspace.hpp"
#include "progress.hpp"
#include "text.hpp"

namespace rcache::cli {
namespace {

ScanRequest scan_options(const Context& ctx) {
  ScanRequest o;
  o.pattern = ctx.inv().positionals.at(0);
  o.count = static_cast<std::size_t>(ctx.inv().number("--count", 1000));
  o.type = ctx.inv().text("--type").value_or("");
  return o;
}

// {"key":"..."} for a UTF-8 key, else {"key_b64":"..."}: JSON strings cannot hold other bytes.
std::string json_key_member(std::string_view key, std::string_view name = "key") {
  if (is_utf8(key)) return json_string(name) + ":" + json_string(key);
  return json_string(std::string(name) + "_b64") + ":" + json_string(base64_encode(key));
}

}  // namespace

int run_scan(Context& ctx) {
  auto opened = open_client(ctx, "scan");
  if (const int* code = std::get_if<int>(&opened)) return *code;
  Client& client = *std::get<Client*>(opened);
  const auto limit = static_cast<std::uint64_t>(ctx.inv().number("--limit", 0));
  PageScan scan(client, scan_options(ctx));
  std::vector<std::string> page;
  std::uint64_t shown = 0;
  std::string out;
  while (!scan.done() && (limit == 0 || shown < limit)) {
    if (auto r = scan.next(page); !r) {
      ctx.out(out);
      return ctx.fail(r.error(), "scan stopped after " + std::to_string(shown) + " keys");
    }
    out.clear();
    for (const auto& k : page) {
      if (limit != 0 && shown == limit) break;
      out += ctx.json() ? "{" + json_key_member(k) + "}" : escape_key(k);
      out += '\n';
      ++shown;
    }
    ctx.out(out);
  }
  return kOk;
}

int run_count(Context& ctx) {
  auto opened = open_client(ctx, "count");
  if (const int* code = std::get_if<int>(&opened)) return *code;
  const ScanRequest o = scan_options(ctx);
  Progress progress(ctx);
  auto n = count_keys(*std::get<Client*>(opened), o, [&](std::uint64_t so_far) {
    progress.tick([&] { return "counting: " + count_of(so_far, "key") + " so far"; });
  });
  progress.done();
  if (!n) return ctx.fail(n.error(), "count");
  if (ctx.json()) {
    ctx.out("{\"ok\":true,\"command\":\"count\"," + json_key_member(o.pattern, "pattern") +
            ",\"count\":" + std::to_string(*n) + "}\n");
  } else {
    ctx.out(std::to_string(*n) + "\n");
  }
  return kOk;
}

int run_delete(Context& ctx) {
  auto opened = open_client(ctx, "delete");
  if (const int* code = std::get_if<int>(&opened)) return *code;
  Client& client = *std::get<Client*>(opened);
  const auto start = std::chrono::steady_clock::now();
  const ScanRequest o = scan_options(ctx);
  const bool dry_run = ctx.inv().flag("--dry-run");
  const std::string shown = escape_key(o.pattern);

  std::uint64_t matched = 0;
  {
    Progress progress(ctx);
    auto n = count_keys(client, o, [&](std::uint64_t so_far) {
      progress.tick([&] { return "counting: " + count_of(so_far, "key") + " so far"; });
    });
    if (!n) return ctx.fail(n.error(), "delete: counting the keys");
    matched = *n;
  }
  ctx.note(count_of(matched, "key") + (matched == 1 ? " matches " : " match ") + shown);
  const auto summary = [&](std::uint64_t deleted) {
    if (!ctx.json()) return;
    ctx.out("{\"ok\":true,\"command\":\"delete\"," + json_key_member(o.pattern, "pattern") +
            ",\"matched\":" + std::to_string(matched) + ",\"deleted\":" + std::to_string(deleted) +
            ",\"dry_run\":" + (dry_run ? "true" : "false") +
            ",\"seconds\":" + fixed(seconds_since(start), 3) + "}\n");
  };
  if (dry_run) {
    ctx.note("dry run: nothing deleted");
    summary(0);
    return kOk;
  }
  if (matched == 0) {
    ctx.note("nothing to delete");
    summary(0);
    return kOk;
  }
  if (!ctx.inv().flag("--yes")) {
    return ctx.fail(kNeedsConfirm, "delete: nothing deleted; add --yes to delete the " +
                                       count_of(matched, "key") + " matching " + shown);
  }
  Progress progress(ctx);
  auto deleted = delete_keys(client, o, [&](std::uint64_t so_far) {
    progress.tick(
        [&] { return "deleting: " + with_commas(so_far) + " of ~" + count_of(matched, "key"); });
  });
  progress.done();
  if (!deleted) return ctx.fail(deleted.error(), "delete");
  ctx.note("deleted " + count_of(*deleted, "key") + " matching " + shown + " in " +
           fixed(seconds_since(start), 1) + " s");
  summary(*deleted);
  return kOk;
}

}  // namespace rcache::cli
