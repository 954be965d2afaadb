// The subscription registry of a Subscriber.
#include "resilience/subscriptions.hpp"

namespace rcache::detail {

bool Subscriptions::add(Kind kind, std::string_view name, Handler handler, std::uint64_t op) {
  Table& t = table(kind);
  auto it = t.find(name);
  if (it != t.end()) {
    it->second.handler = std::move(handler);
    it->second.op = op;
    return false;
  }
  t.emplace(std::string(name), Entry{std::move(handler), op, false});
  return true;
}

void Subscriptions::confirm(Kind kind, std::string_view name, std::uint64_t op) {
  Table& t = table(kind);
  auto it = t.find(name);
  if (it != t.end() && it->second.op == op) it->second.confirmed = true;
}

void Subscriptions::abandon(Kind kind, std::string_view name, std::uint64_t op) {
  Table& t = table(kind);
  auto it = t.find(name);
  if (it != t.end() && it->second.op == op && !it->second.confirmed) t.erase(it);
}

bool Subscriptions::remove(Kind kind, std::string_view name) {
  Table& t = table(kind);
  auto it = t.find(name);
  if (it == t.end()) return false;
  t.erase(it);
  return true;
}

const MessageHandler* Subscriptions::find(Kind kind, std::string_view name) const {
  const Table& t = table(kind);
  auto it = t.find(name);
  return it == t.end() ? nullptr : it->second.handler.get();
}

std::vector<std::string> Subscriptions::to_restore(Kind kind) const {
  std::vector<std::string> out;
  for (const auto& [name, e] : table(kind)) {
    if (e.confirmed) out.push_back(name);
  }
  return out;
}

}  // namespace rcache::detail
