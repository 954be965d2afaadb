// What a Subscriber is subscribed to: a handler per channel and per pattern, which of them Redis
// confirmed, and so what a new connection must subscribe again.
//
// A name is added before its SUBSCRIBE is sent (so that a message arriving between the
// confirmation and the end of the call finds its handler) with the id of the call that sent it;
// it is confirmed by that call's reply, or abandoned if the call failed (removed unless an
// earlier call had confirmed it). Only confirmed names are restored on a new connection: an
// unconfirmed one belongs to a call still under way, which sends its own command.
//
// Thread safety: none (the subscriber's loop thread owns it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rcache/pubsub.hpp"

namespace rcache::detail {

class Subscriptions {
 public:
  using Handler = std::shared_ptr<const MessageHandler>;
  enum class Kind : std::uint8_t { channel, pattern };

  // Adds `name` or replaces its handler; the call `op` now owns its confirmation. True if new.
  bool add(Kind kind, std::string_view name, Handler handler, std::uint64_t op);
  // Redis confirmed `name` for the call `op`.
  void confirm(Kind kind, std::string_view name, std::uint64_t op);
  // The call `op` failed for `name`: removed if that call added it and nobody confirmed it.
  void abandon(Kind kind, std::string_view name, std::uint64_t op);
  // Forgets `name` (unsubscribe). True if it was there.
  bool remove(Kind kind, std::string_view name);

  // The handler of `name`, or null.
  const MessageHandler* find(Kind kind, std::string_view name) const;
  // The confirmed names of `kind`: what a new connection subscribes again.
  std::vector<std::string> to_restore(Kind kind) const;
  std::size_t size(Kind kind) const noexcept { return table(kind).size(); }
  bool empty() const noexcept { return channels_.empty() && patterns_.empty(); }

 private:
  struct Entry {
    Handler handler;
    std::uint64_t op = 0;  // the call that last subscribed it
    bool confirmed = false;
  };
  using Table = std::map<std::string, Entry, std::less<>>;
  Table& table(Kind kind) noexcept { return kind == Kind::channel ? channels_ : patterns_; }
  const Table& table(Kind kind) const noexcept {
    return kind == Kind::channel ? channels_ : patterns_;
  }

  Table channels_;
  Table patterns_;
};

}  // namespace rcache::detail
