// rcache CLI: SCAN pages, counting and deleting by pattern, through the library's KeyScan,
// count (delete_pattern's dry run) and delete_pattern: every master of a cluster included.
#include "keyspace.hpp"

#include <utility>

namespace rcache::cli {

namespace {
ScanOptions scan_options(const ScanRequest& r) {
  ScanOptions o;
  o.match = r.pattern;
  o.count = r.count;
  o.type = r.type;
  return o;
}
}  // namespace

PageScan::PageScan(Client& client, ScanRequest options)
    : client_(client), options_(std::move(options)), scan_(client.scan(scan_options(options_))) {}

Result<void> PageScan::next(std::vector<std::string>& page) {
  page.clear();
  auto r = scan_.next_page();
  if (!r) return std::move(r).error();
  if (!r->has_value()) {
    done_ = true;
    return {};
  }
  page = std::move(**r);
  done_ = scan_.done();
  return {};
}

Result<std::uint64_t> count_keys(Client& client, const ScanRequest& options,
                                 const ProgressFn& progress) {
  if (options.type.empty()) {
    PatternOptions o;
    o.dry_run = true;
    o.count = options.count;
    o.progress = progress;  // runs on the client's loop thread, one page at a time
    return client.delete_pattern(options.pattern, o);
  }
  PageScan scan(client, options);  // SCAN's TYPE filter: page by page here
  std::vector<std::string> page;
  std::uint64_t n = 0;
  while (!scan.done()) {
    if (auto r = scan.next(page); !r) return std::move(r).error();
    n += page.size();
    if (progress) progress(n);
  }
  return n;
}

Result<std::uint64_t> delete_keys(Client& client, const ScanRequest& options,
                                  const ProgressFn& progress) {
  if (options.type.empty()) {
    PatternOptions o;
    o.count = options.count;
    o.progress = progress;
    return client.delete_pattern(options.pattern, o);
  }
  PageScan scan(client, options);
  std::vector<std::string> page;
  std::uint64_t removed = 0;
  const auto stopped = [&removed](Error e) {
    e.message = "stopped after deleting " + std::to_string(removed) + " keys: " + e.message;
    return e;
  };
  while (!scan.done()) {
    if (auto r = scan.next(page); !r) return stopped(std::move(r).error());
    if (page.empty()) continue;
    auto n = client.unlink(page);  // split by slot with a cluster
    if (!n) return stopped(std::move(n).error());
    removed += static_cast<std::uint64_t>(*n);
    if (progress) progress(removed);
  }
  return removed;
}

}  // namespace rcache::cli
